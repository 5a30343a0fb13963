//! Replication with openraft: the type configuration and the adapters that connect openraft
//! to our storage, state machine, network and runtime.

pub mod async_runtime;
pub mod watch_channel;
