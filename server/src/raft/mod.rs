//! Replication with openraft: the type configuration and the adapters that connect openraft
//! to our storage (`log_store`), state machine (`state_machine`), network (`network`, with
//! `snapshot_transfer`) and runtime (`async_runtime`, `watch_channel`).

pub mod async_runtime;
mod group_commit;
pub mod log_store;
pub mod network;
pub mod snapshot_transfer;
pub mod state_machine;
pub mod watch_channel;

use crate::om::{OmRequest, OmResult};
use crate::retry_cache::Caller;
use crate::types::TimeMs;
use serde::{Deserialize, Serialize};
use std::fmt;

pub type NodeId = u64;

/// Where a node listens: clients and peers use different ports (Ozone's 9862 and 9872).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeAddress {
    pub client_address: String,
    pub raft_address: String,
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {} raft {}",
            self.client_address, self.raft_address
        )
    }
}

/// A replicated write: the leader stamped the time and names the caller for the retry cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftRequest {
    pub caller: Caller,
    pub time: TimeMs,
    pub request: OmRequest,
}

impl fmt::Display for RaftRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} at {} ms: {:?}",
            self.caller, self.time.0, self.request
        )
    }
}

openraft::declare_raft_types!(
    /// openraft's types for the OM: standard Raft (one leader per term), our runtime.
    pub OmRaftConfig:
        D = RaftRequest,
        R = OmResult,
        NodeId = NodeId,
        Node = NodeAddress,
        LeaderId = openraft::impls::leader_id_std::LeaderId<Self::Term, Self::NodeId>,
        AsyncRuntime = async_runtime::OmRuntime,
);

pub type Raft<S> = openraft::Raft<OmRaftConfig, state_machine::StateMachine<S>>;
pub type LogId = openraft::alias::LogIdOf<OmRaftConfig>;
pub type Entry = openraft::alias::EntryOf<OmRaftConfig>;
pub type Vote = openraft::alias::VoteOf<OmRaftConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<OmRaftConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<OmRaftConfig>;
pub type SnapshotData = std::io::Cursor<Vec<u8>>;
pub type Snapshot = openraft::alias::SnapshotOf<OmRaftConfig, SnapshotData>;

/// An io::Error for openraft from one of ours.
pub(crate) fn io_error(error: impl fmt::Display) -> std::io::Error {
    std::io::Error::other(error.to_string())
}
