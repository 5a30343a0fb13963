//! Workloads as data: each client's plan is a list of steps over a small namespace, so that
//! requests collide throughout the fault window (the same volume created twice, a commit racing
//! a delete, a list seeing a rename). Every request kind appears; clients restart (a new
//! instance with a new id) and retry a call whose answer was lost with the same call id.

#[cfg(madsim)]
pub mod client;
pub mod generate;

use om_server::om::OmRequest;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a client sends its reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadRoute {
    /// To the leader it believes in, failing over like any call.
    Leader,
    /// To this node only, one attempt (a follower read when it does not lead).
    Node(u64),
}

/// One thing a client does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// One request, read or write.
    Call(OmRequest),
    /// A two-phase key write: open, then commit with the open id the open answered.
    PutKey {
        volume: String,
        bucket: String,
        key: String,
        size: u64,
    },
    /// The client process restarts: a new instance, with a new client id.
    Restart,
}

/// A step after `think_ms` of idling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedStep {
    pub think_ms: u64,
    pub step: Step,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPlan {
    pub reads: ReadRoute,
    /// A write whose answer was lost is sent again with the same call id until answered.
    /// Without it, the client gives up on the first such write (its outcome stays unknown for
    /// good) and retries every later one.
    pub retry_unknown: bool,
    pub steps: Vec<TimedStep>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub clients: Vec<ClientPlan>,
}

impl Workload {
    /// Steps of every client.
    pub fn len(&self) -> usize {
        self.clients.iter().map(|client| client.steps.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Call(request) => write!(f, "{request:?}"),
            Step::PutKey {
                volume,
                bucket,
                key,
                size,
            } => write!(f, "put {volume}/{bucket}/{key} ({size} bytes)"),
            Step::Restart => write!(f, "restart"),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (number, client) in self.clients.iter().enumerate() {
            writeln!(
                f,
                "client {number} (reads {:?}, retry unknown {}):",
                client.reads, client.retry_unknown
            )?;
            for step in &client.steps {
                writeln!(f, "  +{:>4} ms {}", step.think_ms, step.step)?;
            }
        }
        Ok(())
    }
}
