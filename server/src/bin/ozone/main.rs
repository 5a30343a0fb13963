//! `ozone`: the OM daemon (`ozone om`), the shell (`ozone sh`) and the admin tool
//! (`ozone admin om`), reading `ozone-site.xml` as Apache Ozone does. Real tokio only: under
//! `--cfg madsim` the binary is an empty stub (the simulation builds nodes in-process).

#[cfg(not(madsim))]
mod admin;
#[cfg(not(madsim))]
mod cli;
#[cfg(not(madsim))]
mod connection;
#[cfg(not(madsim))]
mod daemon;
#[cfg(not(madsim))]
mod failure;
#[cfg(not(madsim))]
mod output;
#[cfg(not(madsim))]
mod raft_log;
#[cfg(not(madsim))]
mod shell;
#[cfg(not(madsim))]
mod uri;

// mimalloc: 10-35% more writes/s than the system malloc at 256 clients (three A/B pairs).
#[cfg(not(madsim))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let command = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(cli::run(command));
    // Shut down without waiting for tasks a failed start may have left behind.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

#[cfg(madsim)]
fn main() {
    eprintln!("ozone: not built for the simulator (build without --cfg madsim)");
    std::process::exit(1);
}
