//! Ozone Manager: the metadata server (volumes, buckets, keys) of Apache Ozone, replicated
//! with Raft. The core is sans-I/O: `om::apply` is a pure function of (state, entry); storage
//! sits behind the `store::Store` trait.

pub mod admin;
pub mod applier;
pub mod bug_zoo;
pub mod buggify;
pub mod client;
pub mod clock;
pub mod config;
pub mod coverage;
pub mod double_buffer;
pub mod error;
pub mod limits;
pub mod node;
pub mod om;
pub mod raft;
pub mod retry_cache;
pub mod store;
pub mod table_cache;
pub mod transaction_info;
pub mod transport;
pub mod types;
pub mod watch;

#[cfg(all(test, not(madsim)))]
mod testing;

pub use error::{OmError, StoreError};
