//! `om-bench`: one closed-loop write load generator for our OM cluster and for etcd, so both
//! are measured by the same code in the same run (`ci/bench-cluster` starts the clusters).
//!
//! For each client count it runs our service, then etcd, back to back, and prints one row:
//! writes/s, p50 and p99 latency of each, and the ratio of the two throughputs.

#[cfg(all(feature = "etcd", not(madsim)))]
mod etcd;
#[cfg(not(madsim))]
mod load;
#[cfg(not(madsim))]
mod ours;
#[cfg(not(madsim))]
mod table;

#[cfg(madsim)]
fn main() {}

#[cfg(not(madsim))]
fn main() {
    use clap::Parser;
    let arguments = cli::Arguments::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(arguments.worker_threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(error) = runtime.block_on(cli::run(arguments)) {
        eprintln!("om-bench: {error}");
        std::process::exit(1);
    }
}

#[cfg(not(madsim))]
#[allow(clippy::disallowed_methods)] // a benchmark reads the wall clock and its process id
mod cli {
    use crate::load::{closed_loop, Schedule, Summary};
    use crate::ours::{self, OmWriter};
    use crate::table;
    use clap::Parser;
    use std::path::PathBuf;
    use std::time::Duration;

    #[derive(Parser, Debug)]
    #[command(
        about = "Closed-loop writes against our OM cluster and etcd, one row per client count"
    )]
    pub struct Arguments {
        /// ozone-site.xml of our running cluster (its default service is the target).
        #[arg(long, value_name = "FILE")]
        ozone_config: PathBuf,
        /// etcd client URLs (comma-separated); without them only our cluster is measured.
        #[arg(long, value_delimiter = ',', value_name = "URL")]
        etcd_endpoints: Vec<String>,
        /// gRPC connections the etcd clients share.
        #[arg(long, default_value_t = 4)]
        etcd_connections: usize,
        /// Client counts, one row each.
        #[arg(long, value_delimiter = ',', default_values_t = [16, 64, 256])]
        clients: Vec<usize>,
        /// Seconds of load before the measured window, per service and client count.
        #[arg(long, default_value_t = 3)]
        warmup_secs: u64,
        /// Seconds measured, per service and client count.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Worker threads of the load generator's runtime.
        #[arg(long, default_value_t = 2)]
        pub worker_threads: usize,
    }

    pub async fn run(arguments: Arguments) -> Result<(), String> {
        if !arguments.etcd_endpoints.is_empty() && !cfg!(feature = "etcd") {
            return Err("built without etcd: build with `--features etcd`".to_string());
        }
        let schedule = Schedule {
            warmup: Duration::from_secs(arguments.warmup_secs),
            measured: Duration::from_secs(arguments.duration_secs),
        };
        let nodes = ours::service_nodes(&arguments.ozone_config)?;
        ours::prepare(&nodes).await?;
        println!("{}", table::header());
        for &clients in &arguments.clients {
            let run = format!("c{clients}-{}", std::process::id());
            let writers = (0..clients)
                .map(|number| OmWriter::new(&nodes, &run, number))
                .collect();
            let ours = closed_loop(writers, schedule).await;
            report_failures("ours", clients, &ours);
            let etcd = etcd_point(&arguments, &run, clients, schedule).await?;
            if let Some(etcd) = &etcd {
                report_failures("etcd", clients, etcd);
            }
            println!("{}", table::row(clients, &ours, etcd.as_ref()));
        }
        Ok(())
    }

    fn report_failures(service: &str, clients: usize, summary: &Summary) {
        if let Some(first) = &summary.first_failure {
            eprintln!(
                "{service} at {clients} clients: {} failed writes in the window (first: {first})",
                summary.failures
            );
        }
    }

    #[cfg(feature = "etcd")]
    async fn etcd_point(
        arguments: &Arguments,
        run: &str,
        clients: usize,
        schedule: Schedule,
    ) -> Result<Option<Summary>, String> {
        use crate::etcd::{connections, leader_endpoint, EtcdWriter};
        if arguments.etcd_endpoints.is_empty() {
            return Ok(None);
        }
        let leader = leader_endpoint(&arguments.etcd_endpoints).await?;
        let connections = connections(&leader, arguments.etcd_connections.max(1)).await?;
        let writers = (0..clients)
            .map(|number| EtcdWriter::new(&connections[number % connections.len()], run, number))
            .collect();
        Ok(Some(closed_loop(writers, schedule).await))
    }

    #[cfg(not(feature = "etcd"))]
    async fn etcd_point(
        _arguments: &Arguments,
        _run: &str,
        _clients: usize,
        _schedule: Schedule,
    ) -> Result<Option<Summary>, String> {
        Ok(None)
    }
}
