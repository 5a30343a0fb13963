//! The bug zoo: defects a programmer could plausibly write, compiled into the server only with
//! the `bug-zoo` feature under `--cfg madsim` (the simulation's build: never a release build)
//! and switched on by name for one simulated run. They prove the testbed's teeth: `om-sim
//! selftest` must catch each one (and never fail the unbroken server on the same seeds).
//!
//! Each defect sits where the mistake would be made, behind `planted(Defect::..)`, which is a
//! constant `false` in every other build.

use serde::{Deserialize, Serialize};

/// One planted defect (kebab-case names on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Defect {
    /// The log store acknowledges an append without syncing it (a later vote or truncation
    /// syncs it).
    AckBeforeLogSync,
    /// The vote is written without a sync.
    VoteWithoutSync,
    /// The double buffer publishes its flushed index before the batch is synced.
    FlushedIndexBeforeDurable,
    /// The table cache forgets a batch before the store holds it.
    EvictBeforeDurable,
    /// The transaction-info record is written and synced in a batch of its own, after the tables.
    TransactionInfoSeparateBatch,
    /// The log is purged up to what the state machine applied, not what the store flushed.
    PurgePastFlushed,
    /// The retry cache is keyed by call id only (two clients' call 7 collide).
    RetryCacheCallIdOnly,
    /// Retry-cache rows expire after a thousandth of the configured time.
    RetryCacheEarlyExpiry,
    /// A LINEARIZABLE read is answered from local state by a node that thinks it leads.
    LinearizableReadLocal,
    /// A new leader serves before its term's first entry is applied.
    LeaderServesBeforeReady,
    /// A snapshot names the applied index while its data is the last flush.
    SnapshotIndexAhead,
    /// A list's `start` is inclusive instead of exclusive.
    ListStartInclusive,
    /// A follower answers a LINEARIZABLE read itself when the leader cannot be reached.
    FollowerReadWithoutLeader,
    /// A restarted leader resumes leading at once (openraft's leader restore), serving from its
    /// last flush.
    LeaderRestore,
    /// Apply stamps times from the replica's own clock instead of the leader's stamp.
    ApplyReadsOwnClock,
    /// A restarted node takes what its crashed process wrote but never synced (still readable:
    /// the page cache outlived the process) as durable, without syncing it first.
    RecoveryTrustsPageCache,
    /// A snapshot install keeps the in-memory retry index of the state it replaced.
    RetryIndexKeptOnInstall,
}

impl Defect {
    pub const ALL: [Defect; 17] = [
        Defect::AckBeforeLogSync,
        Defect::VoteWithoutSync,
        Defect::FlushedIndexBeforeDurable,
        Defect::EvictBeforeDurable,
        Defect::TransactionInfoSeparateBatch,
        Defect::PurgePastFlushed,
        Defect::RetryCacheCallIdOnly,
        Defect::RetryCacheEarlyExpiry,
        Defect::LinearizableReadLocal,
        Defect::LeaderServesBeforeReady,
        Defect::SnapshotIndexAhead,
        Defect::ListStartInclusive,
        Defect::FollowerReadWithoutLeader,
        Defect::LeaderRestore,
        Defect::ApplyReadsOwnClock,
        Defect::RecoveryTrustsPageCache,
        Defect::RetryIndexKeptOnInstall,
    ];

    /// The command-line name (`ack-before-log-sync`).
    pub fn name(self) -> &'static str {
        match self {
            Defect::AckBeforeLogSync => "ack-before-log-sync",
            Defect::VoteWithoutSync => "vote-without-sync",
            Defect::FlushedIndexBeforeDurable => "flushed-index-before-durable",
            Defect::EvictBeforeDurable => "evict-before-durable",
            Defect::TransactionInfoSeparateBatch => "transaction-info-separate-batch",
            Defect::PurgePastFlushed => "purge-past-flushed",
            Defect::RetryCacheCallIdOnly => "retry-cache-call-id-only",
            Defect::RetryCacheEarlyExpiry => "retry-cache-early-expiry",
            Defect::LinearizableReadLocal => "linearizable-read-local",
            Defect::LeaderServesBeforeReady => "leader-serves-before-ready",
            Defect::SnapshotIndexAhead => "snapshot-index-ahead",
            Defect::ListStartInclusive => "list-start-inclusive",
            Defect::FollowerReadWithoutLeader => "follower-read-without-leader",
            Defect::LeaderRestore => "leader-restore",
            Defect::ApplyReadsOwnClock => "apply-reads-own-clock",
            Defect::RecoveryTrustsPageCache => "recovery-trusts-page-cache",
            Defect::RetryIndexKeptOnInstall => "retry-index-kept-on-install",
        }
    }

    pub fn from_name(name: &str) -> Option<Defect> {
        Defect::ALL.into_iter().find(|defect| defect.name() == name)
    }

    /// What the defect does, one line.
    pub fn description(self) -> &'static str {
        match self {
            Defect::AckBeforeLogSync => "the log store acknowledges an append before its sync",
            Defect::VoteWithoutSync => "the vote is written without a sync",
            Defect::FlushedIndexBeforeDurable => {
                "the flushed index is published before the batch is synced"
            }
            Defect::EvictBeforeDurable => "the cache forgets a batch before the store holds it",
            Defect::TransactionInfoSeparateBatch => {
                "the transaction info is written in its own batch after the tables"
            }
            Defect::PurgePastFlushed => {
                "the log is purged up to the applied index, not the flushed"
            }
            Defect::RetryCacheCallIdOnly => "the retry cache is keyed by call id only",
            Defect::RetryCacheEarlyExpiry => "retry-cache rows expire 1000x too early",
            Defect::LinearizableReadLocal => "a LINEARIZABLE read is answered from local state",
            Defect::LeaderServesBeforeReady => {
                "a leader serves before its term's first entry is applied"
            }
            Defect::SnapshotIndexAhead => "a snapshot names an index its data does not hold",
            Defect::ListStartInclusive => "a list's start is inclusive",
            Defect::FollowerReadWithoutLeader => {
                "a follower answers a LINEARIZABLE read when the leader is unreachable"
            }
            Defect::LeaderRestore => "a restarted leader leads at once, from its last flush",
            Defect::ApplyReadsOwnClock => "apply reads the replica's own clock",
            Defect::RecoveryTrustsPageCache => {
                "a restarted node counts unsynced writes of its crashed process as durable"
            }
            Defect::RetryIndexKeptOnInstall => {
                "a snapshot install keeps the retry index of the replaced state"
            }
        }
    }
}

#[cfg(all(feature = "bug-zoo", madsim))]
thread_local! {
    // A simulation runs on the thread that calls `block_on`: parallel runs each have their own.
    static PLANTED: std::cell::Cell<Option<Defect>> = const { std::cell::Cell::new(None) };
}

/// Plants `defect` (or none) for the runs on this thread. Without the `bug-zoo` feature under
/// `--cfg madsim`, planting anything is refused.
pub fn plant(defect: Option<Defect>) -> Result<(), String> {
    #[cfg(all(feature = "bug-zoo", madsim))]
    {
        PLANTED.with(|planted| planted.set(defect));
        Ok(())
    }
    #[cfg(not(all(feature = "bug-zoo", madsim)))]
    match defect {
        None => Ok(()),
        Some(defect) => Err(format!(
            "{}: this build has no bug zoo (feature `bug-zoo` under --cfg madsim)",
            defect.name()
        )),
    }
}

/// Whether `defect` is planted in the current run.
#[inline]
pub fn planted(defect: Defect) -> bool {
    #[cfg(all(feature = "bug-zoo", madsim))]
    {
        PLANTED.with(|planted| planted.get() == Some(defect))
    }
    #[cfg(not(all(feature = "bug-zoo", madsim)))]
    {
        let _unplantable = defect;
        false
    }
}
