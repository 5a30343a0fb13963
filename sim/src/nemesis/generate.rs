//! Swarm generation of fault schedules: each seed enables its own subset of the preset's fault
//! kinds and its own rate, so different seeds explore different corners (TigerBeetle's
//! `options_swarm`; "swarm testing": some kinds are disabled completely).

use super::{Action, Crash, DiskEvent, DiskFailure, Fault, Partition, Schedule, Store, Target};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The kinds of fault a schedule may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FaultKind {
    FromPeers,
    FromClients,
    Isolate,
    Split,
    OneWay,
    Bridge,
    Ring,
    Flapping,
    Latency,
    PowerLossDrop,
    PowerLossTear,
    ProcessCrash,
    Pause,
    SlowDisk,
    ClockSkew,
    DiskFailure,
    DiskCrash,
}

impl FaultKind {
    pub const ALL: &'static [FaultKind] = &[
        FaultKind::FromPeers,
        FaultKind::FromClients,
        FaultKind::Isolate,
        FaultKind::Split,
        FaultKind::OneWay,
        FaultKind::Bridge,
        FaultKind::Ring,
        FaultKind::Flapping,
        FaultKind::Latency,
        FaultKind::PowerLossDrop,
        FaultKind::PowerLossTear,
        FaultKind::ProcessCrash,
        FaultKind::Pause,
        FaultKind::SlowDisk,
        FaultKind::ClockSkew,
        FaultKind::DiskFailure,
        FaultKind::DiskCrash,
    ];
}

/// What a seed drew for its schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleOptions {
    pub kinds: Vec<FaultKind>,
    /// Actions in the whole safety phase.
    pub actions: usize,
    pub safety_ms: u64,
    pub nodes: u64,
    /// Clock offsets stay below this (half the retry-cache expiry: a jump past the expiry
    /// legitimately expires retry-cache rows, which is not a bug).
    pub clock_offset_max_ms: u64,
}

impl ScheduleOptions {
    /// Swarm: a non-empty random subset of `pool`, and a random number of actions.
    pub fn draw(
        rng: &mut impl Rng,
        pool: &[FaultKind],
        safety_ms: u64,
        nodes: u64,
        clock_offset_max_ms: u64,
    ) -> ScheduleOptions {
        let mut kinds: Vec<FaultKind> =
            pool.iter().copied().filter(|_| rng.gen_bool(0.5)).collect();
        if kinds.is_empty() {
            kinds.push(*pool.choose(rng).expect("a preset has fault kinds"));
        }
        // Between a quiet run and a busy one: 1 to 12 actions per 30 s.
        let per_30_s = rng.gen_range(1..=12u64);
        let actions = ((per_30_s * safety_ms) / 30_000).max(1) as usize;
        ScheduleOptions {
            kinds,
            actions,
            safety_ms,
            nodes,
            clock_offset_max_ms,
        }
    }
}

fn target(rng: &mut impl Rng, nodes: u64) -> Target {
    match rng.gen_range(0..4) {
        0 | 1 => Target::Leader,
        2 => Target::Follower(rng.gen_range(0..nodes as u8)),
        _ => Target::Node(rng.gen_range(1..=nodes)),
    }
}

fn partition(rng: &mut impl Rng, kind: FaultKind, nodes: u64) -> Partition {
    match kind {
        FaultKind::FromPeers => Partition::FromPeers(target(rng, nodes)),
        FaultKind::FromClients => Partition::FromClients(target(rng, nodes)),
        FaultKind::Isolate => Partition::Isolate(target(rng, nodes)),
        FaultKind::Split => Partition::Split {
            minority_has_leader: rng.gen_bool(0.5),
        },
        FaultKind::OneWay => Partition::OneWay {
            from: target(rng, nodes),
            to: target(rng, nodes),
        },
        FaultKind::Bridge => Partition::Bridge,
        _ => Partition::Ring,
    }
}

fn store(rng: &mut impl Rng) -> Store {
    if rng.gen_bool(0.5) {
        Store::Log
    } else {
        Store::Tables
    }
}

fn crash(rng: &mut impl Rng) -> Crash {
    match rng.gen_range(0..3) {
        0 => Crash::PowerLossDrop,
        1 => Crash::PowerLossTear {
            keep_permille: rng.gen_range(0..1000),
        },
        _ => Crash::ProcessCrash,
    }
}

fn fault(rng: &mut impl Rng, kind: FaultKind, options: &ScheduleOptions) -> Fault {
    let nodes = options.nodes;
    match kind {
        FaultKind::FromPeers
        | FaultKind::FromClients
        | FaultKind::Isolate
        | FaultKind::Split
        | FaultKind::OneWay
        | FaultKind::Bridge
        | FaultKind::Ring => Fault::Partition(partition(rng, kind, nodes)),
        FaultKind::Flapping => {
            let kinds = [FaultKind::FromPeers, FaultKind::Isolate, FaultKind::Split];
            let inner = *kinds.choose(rng).expect("non-empty");
            Fault::Flapping {
                partition: partition(rng, inner, nodes),
                period_ms: rng.gen_range(100..2_000),
            }
        }
        FaultKind::Latency => {
            let min_ms = rng.gen_range(1..50);
            Fault::Latency {
                min_ms,
                max_ms: min_ms + rng.gen_range(1..400),
            }
        }
        FaultKind::PowerLossDrop => Fault::Kill {
            target: target(rng, nodes),
            crash: Crash::PowerLossDrop,
        },
        FaultKind::PowerLossTear => Fault::Kill {
            target: target(rng, nodes),
            crash: Crash::PowerLossTear {
                keep_permille: rng.gen_range(0..1000),
            },
        },
        FaultKind::ProcessCrash => Fault::Kill {
            target: target(rng, nodes),
            crash: Crash::ProcessCrash,
        },
        FaultKind::Pause => Fault::Pause {
            target: target(rng, nodes),
        },
        FaultKind::SlowDisk => Fault::SlowDisk {
            target: target(rng, nodes),
            latency_ms: rng.gen_range(1..200),
            store: rng.gen_bool(0.5).then(|| store(rng)),
        },
        FaultKind::DiskFailure => Fault::DiskFailure {
            target: target(rng, nodes),
            store: store(rng),
            failure: if rng.gen_bool(0.5) {
                DiskFailure::Sync {
                    keep_pending: rng.gen_bool(0.5),
                }
            } else {
                DiskFailure::Write
            },
        },
        FaultKind::DiskCrash => {
            let nth = rng.gen_range(1..20);
            Fault::DiskCrash {
                target: target(rng, nodes),
                store: store(rng),
                event: if rng.gen_bool(0.5) {
                    DiskEvent::Write { nth }
                } else {
                    DiskEvent::Sync { nth }
                },
                crash: crash(rng),
            }
        }
        FaultKind::ClockSkew => {
            let max = options.clock_offset_max_ms as i64;
            Fault::ClockSkew {
                target: target(rng, nodes),
                offset_ms: rng.gen_range(-max..=max),
            }
        }
    }
}

/// How long a fault of `kind` lasts.
fn duration_ms(rng: &mut impl Rng, kind: FaultKind) -> u64 {
    match kind {
        FaultKind::Latency | FaultKind::Pause => rng.gen_range(100..4_000),
        FaultKind::SlowDisk | FaultKind::ClockSkew | FaultKind::Flapping => {
            rng.gen_range(1_000..15_000)
        }
        _ => rng.gen_range(200..10_000),
    }
}

/// A schedule drawn from `options`: every action starts and ends inside the safety phase.
pub fn schedule(rng: &mut impl Rng, options: &ScheduleOptions) -> Schedule {
    let actions = (0..options.actions)
        .map(|_| {
            let kind = *options.kinds.choose(rng).expect("non-empty kinds");
            let duration_ms = duration_ms(rng, kind).min(options.safety_ms / 2);
            let at_ms = rng.gen_range(0..options.safety_ms - duration_ms);
            Action {
                at_ms,
                duration_ms,
                fault: fault(rng, kind, options),
                disabled: false,
            }
        })
        .collect();
    Schedule::new(actions)
}
