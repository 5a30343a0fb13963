//! Simulation testbed for the Ozone Manager: the linearizability checker, and (under
//! `--cfg madsim`) the cluster harness that runs the real server on madsim.

pub mod checker;
#[cfg(madsim)]
pub mod cluster;
pub mod recorder;
#[cfg(madsim)]
pub mod scenario;
pub mod trace;
