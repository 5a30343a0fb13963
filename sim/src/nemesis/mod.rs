//! Faults as data: one enum of small, named actions, each with a start and a duration, and a
//! `Schedule` that lists them. A schedule is printable (one action a line), serde JSON, and
//! replayable: nothing in it depends on the run, because targets are *roles* (the leader, a
//! follower, a minority holding the leader) resolved when the action fires.
//!
//! Every action undoes itself after its duration (a partition heals, a killed node restarts, a
//! slow disk recovers), so removing an action while shrinking never leaves a fault behind.

#[cfg(madsim)]
pub mod execute;
pub mod generate;
#[cfg(madsim)]
pub mod network;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which node an action hits, decided when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// The node the running nodes agree leads (the action is skipped when none does).
    Leader,
    /// The n-th node (mod their count) of those that do not lead, in id order.
    Follower(u8),
    /// A node by id.
    Node(u64),
}

/// How a network is cut while a partition lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Partition {
    /// The target cannot reach the other OM nodes; clients still reach it (a deposed leader
    /// that is still asked).
    FromPeers(Target),
    /// Clients cannot reach the target; its peers can.
    FromClients(Target),
    /// The target reaches no one.
    Isolate(Target),
    /// Two sides, nodes of one side reach only each other; the minority holds the leader or not.
    Split { minority_has_leader: bool },
    /// Messages from `from` to `to` are held; the other direction flows.
    OneWay { from: Target, to: Target },
    /// Two halves joined by one node that reaches both.
    Bridge,
    /// Each node reaches only its two neighbours in id order (5 nodes: overlapping majorities).
    Ring,
}

/// What a crash does to the disk's unsynced bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Crash {
    /// Power loss: every unsynced byte is lost.
    PowerLossDrop,
    /// Power loss mid-write: a prefix of the unsynced bytes (this fraction, in ‰) reached the
    /// platter, the cut may fall inside a record.
    PowerLossTear { keep_permille: u16 },
    /// The process dies; the operating system's page cache keeps what it wrote.
    ProcessCrash,
}

/// Which of a node's two stores a disk fault hits (Ozone keeps the Raft log and the OM DB apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Store {
    Log,
    Tables,
}

/// A disk failure aimed at one node's store: the server must stop itself (fail-stop) rather
/// than go on without durability; the nemesis restarts it when the action ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskFailure {
    /// The next sync fails; its unsynced pages are dropped, or (Linux may do either) kept.
    Sync { keep_pending: bool },
    /// The next write fails.
    Write,
}

/// When an armed disk crash fires: at the k-th write or sync of a store after arming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskEvent {
    Write { nth: u64 },
    Sync { nth: u64 },
}

/// One fault. Durations live in [`Action`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// A network partition, healed after the action's duration.
    Partition(Partition),
    /// The partition comes and goes every `period_ms` during the action.
    Flapping {
        partition: Partition,
        period_ms: u64,
    },
    /// Every message takes `min_ms..max_ms` (a latency spike), back to normal afterwards.
    Latency { min_ms: u64, max_ms: u64 },
    /// The node dies and restarts after the duration.
    Kill { target: Target, crash: Crash },
    /// The node stops running (SIGSTOP) and resumes after the duration.
    Pause { target: Target },
    /// Every sync of the node's disk (or of one of its stores: Ozone may keep the Raft log and
    /// the OM DB on separate disks) takes `latency_ms` during the action.
    SlowDisk {
        target: Target,
        latency_ms: u64,
        #[serde(default)]
        store: Option<Store>,
    },
    /// The node's wall clock runs `offset_ms` off during the action (a skew, or a jump and back).
    ClockSkew { target: Target, offset_ms: i64 },
    /// The node's store fails once; the node is restarted at the action's end.
    DiskFailure {
        target: Target,
        store: Store,
        failure: DiskFailure,
    },
    /// The node loses power at a disk event (so crashes land between a write and its sync and
    /// tear real tails); it restarts at the action's end. Disarmed if it never fired.
    DiskCrash {
        target: Target,
        store: Store,
        event: DiskEvent,
        crash: Crash,
    },
}

/// A fault from `at_ms` (simulated, since the safety phase began) for `duration_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub at_ms: u64,
    pub duration_ms: u64,
    pub fault: Fault,
    /// Switched off by the shrinker: the action keeps its slot (its task still starts and
    /// waits, so the simulation's random draws stay where they were) but does nothing. Deleting
    /// it instead would shift every later draw and lose most failures it did not cause.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

impl Action {
    pub fn end_ms(&self) -> u64 {
        self.at_ms + self.duration_ms
    }
}

/// Timed actions, sorted by start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub actions: Vec<Action>,
}

impl Schedule {
    pub fn new(mut actions: Vec<Action>) -> Schedule {
        actions.sort_by_key(|action| (action.at_ms, action.duration_ms));
        Schedule { actions }
    }

    /// The actions that act (not switched off).
    pub fn len(&self) -> usize {
        self.enabled().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Positions of the actions that act, in order.
    pub fn enabled_positions(&self) -> Vec<usize> {
        (self.actions.iter().enumerate())
            .filter(|(_, action)| !action.disabled)
            .map(|(position, _)| position)
            .collect()
    }

    fn enabled(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|action| !action.disabled)
    }

    /// When the last action has undone itself.
    pub fn end_ms(&self) -> u64 {
        self.enabled().map(Action::end_ms).max().unwrap_or(0)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Leader => write!(f, "leader"),
            Target::Follower(n) => write!(f, "follower#{n}"),
            Target::Node(id) => write!(f, "om{id}"),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::FromPeers(target) => write!(f, "isolate {target} from peers"),
            Partition::FromClients(target) => write!(f, "isolate {target} from clients"),
            Partition::Isolate(target) => write!(f, "isolate {target}"),
            Partition::Split {
                minority_has_leader: true,
            } => write!(f, "split, leader in the minority"),
            Partition::Split {
                minority_has_leader: false,
            } => write!(f, "split, leader in the majority"),
            Partition::OneWay { from, to } => write!(f, "one-way {from} -> {to} held"),
            Partition::Bridge => write!(f, "bridge"),
            Partition::Ring => write!(f, "ring"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition(partition) => write!(f, "{partition}"),
            Fault::Flapping {
                partition,
                period_ms,
            } => write!(f, "flapping every {period_ms} ms: {partition}"),
            Fault::Latency { min_ms, max_ms } => write!(f, "latency {min_ms}..{max_ms} ms"),
            Fault::Kill { target, crash } => write!(f, "kill {target} ({crash:?})"),
            Fault::Pause { target } => write!(f, "pause {target}"),
            Fault::SlowDisk {
                target,
                latency_ms,
                store: None,
            } => write!(f, "slow disk on {target}: {latency_ms} ms per sync"),
            Fault::SlowDisk {
                target,
                latency_ms,
                store: Some(store),
            } => write!(
                f,
                "slow {store:?} store on {target}: {latency_ms} ms per sync"
            ),
            Fault::ClockSkew { target, offset_ms } => {
                write!(f, "clock of {target} off by {offset_ms} ms")
            }
            Fault::DiskFailure {
                target,
                store,
                failure,
            } => write!(f, "{failure:?} failure of {target}'s {store:?} store"),
            Fault::DiskCrash {
                target,
                store,
                event,
                crash,
            } => write!(
                f,
                "{crash:?} of {target} at {event:?} of its {store:?} store"
            ),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at {:>6} ms for {:>6} ms: {}",
            self.at_ms, self.duration_ms, self.fault
        )
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for action in self.enabled() {
            writeln!(f, "{action}")?;
        }
        Ok(())
    }
}
