//! Named presets: each aims the swarm at one bug class of `DESIGN.md` (what faults it may draw,
//! which server knobs it shrinks), plus a kitchen sink that may draw everything.

use crate::nemesis::generate::FaultKind;
use serde::{Deserialize, Serialize};

/// Read option the runs of a preset use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reads {
    Default,
    Linearizable,
    /// Drawn per seed.
    Either,
}

#[derive(Clone, Copy, Debug)]
pub struct Preset {
    pub name: &'static str,
    /// What the preset provokes, for `om-sim list`.
    pub provokes: &'static str,
    /// The fault kinds a seed may draw from (swarm: each seed enables a subset).
    pub kinds: &'static [FaultKind],
    pub reads: Reads,
    /// Draws small snapshot thresholds (snapshots and installs happen).
    pub small_snapshots: bool,
    /// Draws a small unflushed-entry limit (back-pressure engages).
    pub small_unflushed: bool,
    /// Server buggify points may be switched on.
    pub buggify: bool,
    /// Buggify points active for the whole run when buggify is on (the preset's race needs
    /// them; others are drawn).
    pub buggify_active: &'static [&'static str],
}

use FaultKind as K;

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "stale-read",
        provokes: "stale reads from a deposed leader: the leader cut from its peers but not from \
                   clients, splits with the leader in the minority, pauses; LINEARIZABLE reads \
                   on leaders and followers",
        kinds: &[K::FromPeers, K::Split, K::OneWay, K::Pause, K::Latency],
        reads: Reads::Linearizable,
        small_snapshots: false,
        small_unflushed: false,
        buggify: true,
        buggify_active: &[],
    },
    Preset {
        name: "lost-write",
        provokes: "acknowledged writes lost by a crash: power loss dropping or tearing unsynced \
                   bytes, process crashes, slow syncs so crashes find unsynced data",
        kinds: &[
            K::PowerLossDrop,
            K::PowerLossTear,
            K::ProcessCrash,
            K::SlowDisk,
        ],
        reads: Reads::Either,
        small_snapshots: true,
        small_unflushed: true,
        buggify: true,
        buggify_active: &[],
    },
    Preset {
        name: "retry-duplicate",
        provokes: "a retried request applied twice across a leader change: the leader killed or \
                   cut off mid-write, clients timing out, retrying and restarting",
        kinds: &[
            K::PowerLossDrop,
            K::Isolate,
            K::FromClients,
            K::FromPeers,
            K::Latency,
        ],
        reads: Reads::Either,
        small_snapshots: false,
        small_unflushed: false,
        buggify: true,
        buggify_active: &[],
    },
    Preset {
        name: "double-buffer",
        provokes: "double-buffer races: small unflushed limit (back-pressure), slow syncs, \
                   crashes between a flush's write and its sync, buggified flush delays",
        kinds: &[
            K::SlowDisk,
            K::PowerLossTear,
            K::ProcessCrash,
            K::Pause,
            K::DiskCrash,
            K::DiskFailure,
        ],
        reads: Reads::Either,
        small_snapshots: true,
        small_unflushed: true,
        buggify: true,
        buggify_active: &[],
    },
    Preset {
        name: "snapshot",
        provokes: "snapshot install races: small snapshot threshold, followers down or cut off \
                   long enough to need a snapshot, crashes around installs",
        kinds: &[
            K::PowerLossDrop,
            K::PowerLossTear,
            K::Isolate,
            K::Pause,
            K::DiskCrash,
        ],
        reads: Reads::Either,
        small_snapshots: true,
        small_unflushed: false,
        buggify: true,
        buggify_active: &[],
    },
    Preset {
        name: "divergence",
        provokes: "replicas diverging: clock skews and jumps on single nodes, buggified apply \
                   delays, restarts replaying the log; replicas compared row by row",
        kinds: &[K::ClockSkew, K::ProcessCrash, K::PowerLossDrop, K::Latency],
        reads: Reads::Either,
        small_snapshots: true,
        small_unflushed: true,
        buggify: true,
        buggify_active: &[],
    },
    Preset {
        name: "leader-ready",
        provokes: "a new leader serving before it applied its term's first entry: leader kills \
                   and isolations with reads right after the election; slow disks and a small \
                   unflushed limit make followers' apply lag, widening the window before a new \
                   leader has applied its term's first entry",
        kinds: &[
            K::PowerLossDrop,
            K::ProcessCrash,
            K::Isolate,
            K::FromPeers,
            K::Pause,
            K::SlowDisk,
        ],
        reads: Reads::Either,
        small_snapshots: false,
        small_unflushed: true,
        buggify: true,
        // Followers' apply lags their commit index: a new leader has entries to apply.
        buggify_active: &["state_machine: apply nobody waits for"],
    },
    Preset {
        name: "liveness",
        provokes: "no leader after healing, or a node that never catches up: flapping, one-way, \
                   bridge and ring partitions; the liveness phase must elect and serve",
        kinds: &[
            K::Flapping,
            K::OneWay,
            K::Bridge,
            K::Ring,
            K::Split,
            K::Latency,
        ],
        reads: Reads::Either,
        small_snapshots: true,
        small_unflushed: false,
        buggify: false,
        buggify_active: &[],
    },
    Preset {
        name: "kitchen-sink",
        provokes: "everything at once: every fault kind, every knob, buggify",
        kinds: FaultKind::ALL,
        reads: Reads::Either,
        small_snapshots: true,
        small_unflushed: true,
        buggify: true,
        buggify_active: &[],
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.name == name)
}
