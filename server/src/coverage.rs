//! Coverage marks (FoundationDB's code probes, TigerBeetle's marks): named probes at the events
//! a test run should reach. The server calls `hit` where the event happens; the simulation takes
//! the counts after each run (`take`), and a sweep reports how often each fired, so a testbed
//! that silently stops reaching an event (a snapshot never installed, a flush never failed) is
//! noticed instead of passing vacuously.
//!
//! Counters are thread-local: a madsim simulation runs on the thread that calls `block_on`, so
//! runs on parallel threads keep apart. A hit is one increment of a thread-local cell, and every
//! mark sits on a rare path (an election, a snapshot, a fault), never per request.

use std::cell::Cell;
use std::collections::BTreeMap;

/// One probe (kebab-case names in reports: [`Mark::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    /// A replica applied the blank entry that opens a new leader's term (the group's first
    /// leader is not a change). Counted on every replica that applies it, and again when a
    /// restart replays it.
    LeaderChange,
    /// A leader refused a call with `LEADER_NOT_READY`.
    LeaderNotReady,
    /// A snapshot was built.
    SnapshotBuilt,
    /// A leader sent a whole snapshot to a follower (its last chunk was answered).
    SnapshotSent,
    /// A follower installed a snapshot.
    SnapshotInstalled,
    /// The Raft log was purged up to an index.
    LogPurged,
    /// An applied call was answered from the retry cache.
    RetryCacheHit,
    /// Apply evicted expired retry-cache rows.
    RetryCacheExpired,
    /// A follower serving a LINEARIZABLE read waited to apply up to the leader's read index.
    FollowerReadIndexWait,
    /// The double buffer made an apply wait: the unflushed-entry limit was reached.
    BackPressure,
    /// Recovery discarded a torn record at the end of a store's journal.
    TornTailDiscarded,
    /// The double buffer's flush failed: the node fail-stops.
    FlushFailed,
    /// A replica applied a membership change (any membership entry after the initial one).
    MembershipChange,
    /// A client call timed out and the client failed over to another node.
    ClientFailoverAfterTimeout,
}

const MARKS: usize = 14;

impl Mark {
    pub const ALL: [Mark; MARKS] = [
        Mark::LeaderChange,
        Mark::LeaderNotReady,
        Mark::SnapshotBuilt,
        Mark::SnapshotSent,
        Mark::SnapshotInstalled,
        Mark::LogPurged,
        Mark::RetryCacheHit,
        Mark::RetryCacheExpired,
        Mark::FollowerReadIndexWait,
        Mark::BackPressure,
        Mark::TornTailDiscarded,
        Mark::FlushFailed,
        Mark::MembershipChange,
        Mark::ClientFailoverAfterTimeout,
    ];

    /// The report name (`leader-change`).
    pub fn name(self) -> &'static str {
        match self {
            Mark::LeaderChange => "leader-change",
            Mark::LeaderNotReady => "leader-not-ready",
            Mark::SnapshotBuilt => "snapshot-built",
            Mark::SnapshotSent => "snapshot-sent",
            Mark::SnapshotInstalled => "snapshot-installed",
            Mark::LogPurged => "log-purged",
            Mark::RetryCacheHit => "retry-cache-hit",
            Mark::RetryCacheExpired => "retry-cache-expired",
            Mark::FollowerReadIndexWait => "follower-read-index-wait",
            Mark::BackPressure => "back-pressure",
            Mark::TornTailDiscarded => "torn-tail-discarded",
            Mark::FlushFailed => "flush-failed",
            Mark::MembershipChange => "membership-change",
            Mark::ClientFailoverAfterTimeout => "client-failover-after-timeout",
        }
    }

    pub fn from_name(name: &str) -> Option<Mark> {
        Mark::ALL.into_iter().find(|mark| mark.name() == name)
    }
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

thread_local! {
    static COUNTS: [Cell<u64>; MARKS] = const { [const { Cell::new(0) }; MARKS] };
}

/// Counts one occurrence of `mark` on this thread.
#[inline]
pub fn hit(mark: Mark) {
    COUNTS.with(|counts| {
        let count = &counts[mark as usize];
        count.set(count.get() + 1);
    });
}

/// Every mark's count on this thread since the last `take` (zeros included), and resets them.
pub fn take() -> BTreeMap<Mark, u64> {
    COUNTS.with(|counts| {
        (Mark::ALL.into_iter())
            .map(|mark| (mark, counts[mark as usize].replace(0)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (position, mark) in Mark::ALL.into_iter().enumerate() {
            assert_eq!(mark as usize, position, "ALL lists the marks in order");
            assert_eq!(Mark::from_name(mark.name()), Some(mark));
        }
        assert_eq!(Mark::from_name("no-such-mark"), None);
    }

    #[test]
    fn take_reads_and_resets_this_threads_counts() {
        let _earlier = take();
        hit(Mark::SnapshotBuilt);
        hit(Mark::SnapshotBuilt);
        hit(Mark::FlushFailed);
        let counts = take();
        assert_eq!(counts.len(), Mark::ALL.len(), "every mark, zeros included");
        assert_eq!(counts[&Mark::SnapshotBuilt], 2);
        assert_eq!(counts[&Mark::FlushFailed], 1);
        assert_eq!(counts[&Mark::LeaderChange], 0);
        assert!(take().values().all(|count| *count == 0), "take resets");
    }
}
