//! One run of a case: boot, safety phase (workload under the fault schedule), heal and
//! liveness phase, power loss of every node at once and restart, final read-back, then the
//! checks. Every failure names its property; the report carries what replays it.

#[cfg(madsim)]
mod phases;
pub mod report;
#[cfg(madsim)]
pub mod world;

pub use report::{RunReport, RunStats};

use crate::config::Case;
use std::time::Duration;

/// How a run is checked.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The linearizability checker's wall-clock budget.
    pub check_budget: Duration,
    /// Print every trace line to stdout as it happens (`--trace`).
    pub print_trace: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check_budget: Duration::from_secs(10),
            print_trace: false,
        }
    }
}

/// Runs `case` on a fresh madsim runtime seeded with its seed, then checks the history.
#[cfg(madsim)]
pub fn run_case(case: &Case, options: &RunOptions) -> RunReport {
    phases::run_case(case, options)
}

/// Without `--cfg madsim` there is no simulator to run on.
#[cfg(not(madsim))]
pub fn run_case(_case: &Case, _options: &RunOptions) -> RunReport {
    panic!("simulations need the madsim build: RUSTFLAGS=\"--cfg madsim\" (ci/sim does this)")
}
