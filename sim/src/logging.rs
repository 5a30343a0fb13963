//! Server logs in simulation: `tracing-subscriber`'s formatter with the *simulated* time on
//! every line; madsim wraps each node's tasks in a `node{id name}` span, so every server line
//! also names its node (`om2`, `client3`). `RUST_LOG` filters (default: our crates at info).

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::EnvFilter;

/// Prints madsim's simulated time (seconds since the run started) instead of the wall clock.
struct SimulatedTime;

impl FormatTime for SimulatedTime {
    fn format_time(&self, writer: &mut Writer<'_>) -> std::fmt::Result {
        #[cfg(madsim)]
        if let Some(time) = madsim::time::TimeHandle::try_current() {
            return write!(writer, "{:>12.6}", time.elapsed().as_secs_f64());
        }
        write!(writer, "{:>12}", "-")
    }
}

/// Installs the subscriber for this process (once; later calls do nothing). `default` is the
/// filter when `RUST_LOG` is not set.
pub fn install(default: &str) {
    #[allow(clippy::disallowed_methods)] // the user's log filter, read once at start
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_string());
    let _already_installed = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_timer(SimulatedTime)
        .with_target(true)
        .with_writer(std::io::stdout)
        .try_init();
}
