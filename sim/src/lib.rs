//! Simulation testbed for the Ozone Manager: the linearizability checker, faults and workloads
//! as data, and (under `--cfg madsim`) the cluster harness and the runner that executes a case
//! on madsim and checks it.

pub mod apply_comparison;
pub mod checker;
pub mod cli;
#[cfg(madsim)]
pub mod cluster;
pub mod config;
pub mod fuzzing;
pub mod invariants;
pub mod logging;
pub mod nemesis;
pub mod preset;
pub mod recorder;
pub mod runner;
#[cfg(madsim)]
pub mod scenario;
pub mod shrink;
pub mod trace;
pub mod workload;
