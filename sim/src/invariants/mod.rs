//! The properties a run is judged by, and what a broken one reports.

#[cfg(madsim)]
pub mod derived_state;
pub mod durable_prefix;
pub mod durable_vote;
#[cfg(madsim)]
pub mod fail_stop;
#[cfg(madsim)]
pub mod raft_safety;
pub mod recoverable;
#[cfg(madsim)]
mod sampled;

use serde::{Deserialize, Serialize};
use std::fmt;

/// One checked property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Property {
    /// The clients' history has a linearization.
    Linearizability,
    /// The checker ran out of budget: an undecided history fails the run.
    Undecided,
    /// Every acknowledged write is there after all nodes lost power at once.
    Durability,
    /// Replicas hold identical tables at one applied index.
    ReplicasIdentical,
    /// At most one leader per term.
    ElectionSafety,
    /// A saved vote's term is never read back older, whatever crashed in between.
    DurableVote,
    /// An entry applied at an index is the same entry on every node, for ever.
    CommittedEntryStable,
    /// A node's applied index never goes backwards while it runs.
    AppliedMonotonic,
    /// After healing: a leader and completed writes within the bound.
    Liveness,
    /// A node stopped itself (or failed to boot) without an injected cause.
    FailStop,
    /// What a node holds durably at a moment (a power loss then) is recoverable.
    Recoverable,
    /// A node's durable tables are the state after the log prefix their transaction info names.
    DurablePrefix,
    /// What a node keeps in memory about its tables (the retry index) matches the tables.
    DerivedState,
    /// Something panicked (the server, or the harness on a broken assumption).
    Panic,
}

impl Property {
    pub fn name(self) -> &'static str {
        match self {
            Property::Linearizability => "linearizability",
            Property::Undecided => "undecided",
            Property::Durability => "durability",
            Property::ReplicasIdentical => "replicas-identical",
            Property::ElectionSafety => "election-safety",
            Property::DurableVote => "durable-vote",
            Property::CommittedEntryStable => "committed-entry-stable",
            Property::AppliedMonotonic => "applied-monotonic",
            Property::Liveness => "liveness",
            Property::FailStop => "fail-stop",
            Property::Recoverable => "recoverable",
            Property::DurablePrefix => "durable-prefix",
            Property::DerivedState => "derived-state",
            Property::Panic => "panic",
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken property and what shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub property: Property,
    pub detail: String,
}

impl Violation {
    pub fn new(property: Property, detail: impl Into<String>) -> Violation {
        Violation {
            property,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.detail)
    }
}
