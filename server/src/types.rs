//! Newtypes shared across the server.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Raft log index. Object ids, open-key ids and block ids derive from it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogIndex(pub u64);

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Raft term.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Term(pub u64);

/// The position of an applied entry: what the transaction-info record stores.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct AppliedMark {
    pub term: Term,
    pub index: LogIndex,
}

/// Milliseconds since the Unix epoch, stamped by the leader into each entry.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct TimeMs(pub u64);

/// Identifies one client instance (for the retry cache): 128 random bits, like the UUID an
/// Ozone client sends. A restarted client is a new instance with a new id, so its call ids,
/// which restart at 1, never meet the retry-cache rows of an earlier instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u128);

impl ClientId {
    /// A fresh id from madsim's rng: seeded by the run's seed in simulation (so a replay draws
    /// the same ids), OS-seeded in real runs.
    #[allow(clippy::disallowed_methods)] // madsim's rng: seeded in simulation, OS-seeded for real runs
    pub fn random() -> ClientId {
        use madsim::rand::Rng;
        ClientId(madsim::rand::thread_rng().gen())
    }

    /// The id's bytes, most significant first (how retry-cache keys hold it).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> ClientId {
        ClientId(u128::from_be_bytes(bytes))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Identifies one call of a client; retries reuse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CallId(pub u64);
