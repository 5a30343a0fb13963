//! Carries out a schedule on a running simulation: one task per action, which waits for its
//! start, resolves its target role, does the fault, waits out its duration and undoes it.
//! Every step goes to the trace (a skipped action too: e.g. "kill leader" with no leader).

use super::network::Link;
use super::{Action, Crash, DiskEvent, DiskFailure, Fault, Partition, Schedule, Store, Target};
use crate::runner::world::{NodeState, World};
use crate::scenario::elapsed;
use om_server::raft::NodeId;
use om_server::store::sim_disk::{CrashMode, CrashTrigger, DiskFault, TailLoss};
use om_server::store::Scope;
use std::sync::Arc;
use std::time::Duration;

/// Runs every action of `schedule` (times from now) and returns when all have undone
/// themselves.
pub async fn run(world: Arc<World>, schedule: &Schedule) {
    let start = elapsed();
    let mut tasks = Vec::new();
    for (number, action) in schedule.actions.iter().copied().enumerate() {
        let world = world.clone();
        tasks.push(tokio::spawn(async move {
            let at = start + Duration::from_millis(action.at_ms);
            tokio::time::sleep(at.saturating_sub(elapsed())).await;
            if !action.disabled {
                perform(&world, number, &action).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("nemesis task");
    }
}

/// The node `target` names now, if any.
pub fn resolve(world: &World, target: Target) -> Option<NodeId> {
    let ids = world.cluster.ids();
    match target {
        Target::Node(id) => ids.contains(&id).then_some(id),
        Target::Leader => world.leader(),
        Target::Follower(n) => {
            let leader = world.leader();
            let followers: Vec<NodeId> = ids.into_iter().filter(|id| Some(*id) != leader).collect();
            (!followers.is_empty()).then(|| followers[n as usize % followers.len()])
        }
    }
}

fn both_ways(world: &World, left: &[NodeId], right: &[NodeId]) -> Vec<Link> {
    let mut links = Vec::new();
    for &a in left {
        for &b in right {
            let (a, b) = (world.cluster.host(a), world.cluster.host(b));
            links.extend([(a, b), (b, a)]);
        }
    }
    links
}

fn client_links(world: &World, id: NodeId) -> Vec<Link> {
    let host = world.cluster.host(id);
    (world.client_hosts.iter())
        .flat_map(|&client| [(host, client), (client, host)])
        .collect()
}

/// The links a partition holds, resolved now; `None` when its roles name no node.
fn links(world: &World, partition: Partition) -> Option<Vec<Link>> {
    let ids = world.cluster.ids();
    let others = |id: NodeId| -> Vec<NodeId> { ids.iter().copied().filter(|o| *o != id).collect() };
    Some(match partition {
        Partition::FromPeers(target) => {
            let id = resolve(world, target)?;
            both_ways(world, &[id], &others(id))
        }
        Partition::FromClients(target) => client_links(world, resolve(world, target)?),
        Partition::Isolate(target) => {
            let id = resolve(world, target)?;
            let mut links = both_ways(world, &[id], &others(id));
            links.extend(client_links(world, id));
            links
        }
        Partition::Split {
            minority_has_leader,
        } => {
            let leader = world.leader();
            let mut order: Vec<NodeId> = ids
                .iter()
                .copied()
                .filter(|id| Some(*id) != leader)
                .collect();
            if let Some(leader) = leader {
                // The leader goes first (into the minority) or last (into the majority).
                if minority_has_leader {
                    order.insert(0, leader);
                } else {
                    order.push(leader);
                }
            }
            let minority = (ids.len() - 1) / 2;
            let (small, large) = order.split_at(minority);
            both_ways(world, small, large)
        }
        Partition::OneWay { from, to } => {
            let (from, to) = (resolve(world, from)?, resolve(world, to)?);
            if from == to {
                return None;
            }
            vec![(world.cluster.host(from), world.cluster.host(to))]
        }
        Partition::Bridge => {
            // Halves around the middle node, which reaches both.
            let middle = ids.len() / 2;
            both_ways(world, &ids[..middle], &ids[middle + 1..])
        }
        Partition::Ring => {
            let count = ids.len();
            let mut links = Vec::new();
            for (i, &a) in ids.iter().enumerate() {
                for (j, &b) in ids.iter().enumerate() {
                    let distance = i.abs_diff(j).min(count - i.abs_diff(j));
                    if distance > 1 {
                        links.push((world.cluster.host(a), world.cluster.host(b)));
                    }
                }
            }
            links
        }
    })
}

async fn perform(world: &World, number: usize, action: &Action) {
    let duration = Duration::from_millis(action.duration_ms);
    let fault = action.fault;
    match fault {
        Fault::Partition(partition) => {
            let Some(links) = links(world, partition).filter(|links| !links.is_empty()) else {
                return world.note(format_args!("#{number} skipped: {fault}"));
            };
            world.note(format_args!("#{number} {fault}: {} links", links.len()));
            world.disruption_started();
            world.hold(&links);
            tokio::time::sleep(duration).await;
            world.release(&links);
            world.disruption_ended();
            world.note(format_args!("#{number} healed"));
        }
        Fault::Flapping {
            partition,
            period_ms,
        } => flap(world, number, partition, duration, period_ms).await,
        Fault::Latency { min_ms, max_ms } => {
            world.note(format_args!("#{number} {fault}"));
            world.disruption_started();
            world.spike(min_ms, max_ms);
            tokio::time::sleep(duration).await;
            world.end_spike();
            world.disruption_ended();
            world.note(format_args!("#{number} latency over"));
        }
        Fault::Kill { target, crash } => kill(world, number, target, crash, duration).await,
        Fault::Pause { target } => {
            let Some(id) =
                resolve(world, target).filter(|id| world.node_state(*id) == NodeState::Running)
            else {
                return world.note(format_args!("#{number} skipped: {fault}"));
            };
            world.note(format_args!("#{number} pause om{id} ({target})"));
            world.set_node_state(id, NodeState::Paused(number));
            world.disruption_started();
            world.cluster.pause(id);
            tokio::time::sleep(duration).await;
            world.cluster.resume(id);
            world.set_node_state(id, NodeState::Running);
            world.disruption_ended();
            world.note(format_args!("#{number} resume om{id}"));
        }
        Fault::SlowDisk {
            target,
            latency_ms,
            store,
        } => {
            let Some(id) = resolve(world, target) else {
                return world.note(format_args!("#{number} skipped: {fault}"));
            };
            world.note(format_args!("#{number} {fault} (om{id})"));
            let scopes = match store {
                Some(store) => vec![scope(store)],
                None => Scope::ALL.to_vec(),
            };
            let slow = |latency| {
                for &scope in &scopes {
                    world
                        .cluster
                        .disk(id)
                        .inject(DiskFault::SyncLatency { scope, latency });
                }
            };
            slow(Duration::from_millis(latency_ms));
            tokio::time::sleep(duration).await;
            slow(Duration::ZERO);
            world.note(format_args!("#{number} disk of om{id} fast again"));
        }
        Fault::DiskFailure {
            target,
            store,
            failure,
        } => disk_failure(world, number, target, store, failure, duration).await,
        Fault::DiskCrash {
            target,
            store,
            event,
            crash,
        } => disk_crash(world, number, target, store, event, crash, duration).await,
        Fault::ClockSkew { target, offset_ms } => {
            let Some(id) = resolve(world, target) else {
                return world.note(format_args!("#{number} skipped: {fault}"));
            };
            world.note(format_args!(
                "#{number} clock of om{id} off by {offset_ms} ms"
            ));
            world.cluster.clock(id).set_offset_ms(offset_ms);
            tokio::time::sleep(duration).await;
            world.cluster.clock(id).set_offset_ms(0);
            world.note(format_args!("#{number} clock of om{id} back"));
        }
    }
}

async fn flap(
    world: &World,
    number: usize,
    partition: Partition,
    duration: Duration,
    period_ms: u64,
) {
    let end = elapsed() + duration;
    let period = Duration::from_millis(period_ms.max(1));
    world.note(format_args!(
        "#{number} flapping every {period_ms} ms: {partition}"
    ));
    world.disruption_started();
    while elapsed() < end {
        let links = links(world, partition).unwrap_or_default();
        world.hold(&links);
        tokio::time::sleep(period.min(end.saturating_sub(elapsed()))).await;
        world.release(&links);
        tokio::time::sleep(period.min(end.saturating_sub(elapsed()))).await;
    }
    world.disruption_ended();
    world.note(format_args!("#{number} flapping over"));
}

/// What a crash does to each store's unsynced bytes; a tear keeps the same fraction of each.
pub fn crash_mode(world: &World, id: NodeId, crash: Crash) -> CrashMode {
    match crash {
        Crash::PowerLossDrop => CrashMode::DROP_PENDING,
        Crash::PowerLossTear { keep_permille } => {
            let stats = world.cluster.disk(id).stats();
            let tear = |pending: usize| TailLoss::Tear {
                keep_bytes: pending * usize::from(keep_permille) / 1000,
            };
            CrashMode::PowerLoss {
                log: tear(stats.log.pending_bytes),
                tables: tear(stats.tables.pending_bytes),
            }
        }
        // The page cache survives the process.
        Crash::ProcessCrash => CrashMode::ProcessCrash,
    }
}

fn scope(store: Store) -> Scope {
    match store {
        Store::Log => Scope::Log,
        Store::Tables => Scope::Tables,
    }
}

/// Restarts node `id` if it stopped itself (the operator's answer to a fail-stop).
fn restart_if_stopped(world: &World, number: usize, id: NodeId) {
    let stopped = world
        .cluster
        .fail_stopped()
        .into_iter()
        .find(|(node, _)| *node == id);
    if let Some((_, reason)) = stopped {
        world.note(format_args!(
            "#{number} om{id} had stopped itself ({reason}): restart"
        ));
        world.observe_terms();
        world.cluster.kill(id, CrashMode::ProcessCrash);
        world.cluster.restart(id);
    }
}

async fn disk_failure(
    world: &World,
    number: usize,
    target: Target,
    store: Store,
    failure: DiskFailure,
    duration: Duration,
) {
    let Some(id) = resolve(world, target).filter(|id| world.node_state(*id) == NodeState::Running)
    else {
        return world.note(format_args!("#{number} skipped: disk failure of {target}"));
    };
    let scope = scope(store);
    let fault = match failure {
        DiskFailure::Sync { keep_pending } => DiskFault::FailNextSync {
            scope,
            keep_pending,
        },
        DiskFailure::Write => DiskFault::FailNextWrite { scope },
    };
    world.note(format_args!("#{number} om{id} ({target}): {fault:?}"));
    world.set_node_state(id, NodeState::Killed(number));
    world.inject(id);
    world.cluster.disk(id).inject(fault);
    tokio::time::sleep(duration).await;
    world.cluster.disk(id).clear_faults();
    restart_if_stopped(world, number, id);
    world.injection_over(id);
    world.set_node_state(id, NodeState::Running);
    world.note(format_args!("#{number} disk failure of om{id} over"));
}

async fn disk_crash(
    world: &World,
    number: usize,
    target: Target,
    store: Store,
    event: DiskEvent,
    crash: Crash,
    duration: Duration,
) {
    let Some(id) = resolve(world, target).filter(|id| world.node_state(*id) == NodeState::Running)
    else {
        return world.note(format_args!("#{number} skipped: disk crash of {target}"));
    };
    let scope = scope(store);
    let trigger = match event {
        DiskEvent::Write { nth } => CrashTrigger::Write { scope, nth },
        DiskEvent::Sync { nth } => CrashTrigger::Sync { scope, nth },
    };
    // A tear keeps a fixed share of a small tail: the trip happens at a write, so the cut can
    // fall inside the record just written.
    let mode = match crash {
        Crash::PowerLossDrop => CrashMode::DROP_PENDING,
        Crash::PowerLossTear { keep_permille } => {
            let tear = TailLoss::Tear {
                keep_bytes: usize::from(keep_permille) / 4,
            };
            CrashMode::PowerLoss {
                log: tear,
                tables: tear,
            }
        }
        Crash::ProcessCrash => CrashMode::ProcessCrash,
    };
    world.note(format_args!(
        "#{number} arm om{id} ({target}): {mode:?} at {trigger:?}"
    ));
    world.set_node_state(id, NodeState::Killed(number));
    world.inject(id);
    world.cluster.arm_disk_crash(id, trigger, mode);
    let end = elapsed() + duration;
    let mut tripped = false;
    while elapsed() < end {
        if let Some((_, trip)) =
            (world.cluster.tripped_disks().into_iter()).find(|(node, _)| *node == id)
        {
            world.note(format_args!(
                "#{number} om{id} lost power at {:?} ({:?} unsynced)",
                trip.trigger, trip.pending_bytes
            ));
            // The disk already crashed; the host dies with it.
            world.observe_terms();
            world.cluster.kill(id, CrashMode::ProcessCrash);
            tripped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(end.saturating_sub(elapsed())).await;
    world.cluster.disk(id).clear_faults();
    // A trip after the last look above (inside the final sleep) crashed the disk too: the
    // node must die and restart with it, or it would be left running on a dead disk.
    if !tripped && (world.cluster.tripped_disks().iter()).any(|(node, _)| *node == id) {
        world.note(format_args!(
            "#{number} om{id} lost power at the action's end"
        ));
        world.observe_terms();
        world.cluster.kill(id, CrashMode::ProcessCrash);
        tripped = true;
    }
    if tripped {
        world.cluster.restart(id);
        world.note(format_args!("#{number} restart om{id}"));
    } else {
        world.note(format_args!(
            "#{number} om{id}'s armed crash never fired: disarmed"
        ));
    }
    world.injection_over(id);
    world.set_node_state(id, NodeState::Running);
}

async fn kill(world: &World, number: usize, target: Target, crash: Crash, duration: Duration) {
    let Some(id) = resolve(world, target).filter(|id| world.node_state(*id) == NodeState::Running)
    else {
        return world.note(format_args!("#{number} skipped: kill {target}"));
    };
    let mode = crash_mode(world, id, crash);
    let stats = world.cluster.disk(id).stats();
    let pending = (stats.log.pending_bytes, stats.tables.pending_bytes);
    world.note(format_args!(
        "#{number} kill om{id} ({target}): {mode:?} of {pending:?} unsynced bytes"
    ));
    world.set_node_state(id, NodeState::Killed(number));
    world.observe_terms();
    world.cluster.kill(id, mode);
    tokio::time::sleep(duration).await;
    world.cluster.restart(id);
    world.set_node_state(id, NodeState::Running);
    world.note(format_args!("#{number} restart om{id}"));
}
