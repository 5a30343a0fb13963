//! Membership faults: the leader removes a node from the voters (a leader removing itself steps
//! down); at the action's end the node is added back as a learner and promoted to voter.
//! `restore` makes every node of the cluster a voter again, retrying with a bound until a
//! leader accepts the changes; the heal step calls it too, so the liveness phase and the
//! convergence checks see the whole group.

use super::execute::resolve;
use super::Target;
use crate::runner::world::World;
use crate::scenario::elapsed;
use om_server::raft::NodeId;
use om_server::OmError;
use std::collections::BTreeSet;
use std::time::Duration;

/// Bound on one membership call (a paused or cut-off leader never answers).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Wait between restore attempts.
const RETRY_WAIT: Duration = Duration::from_millis(200);

/// How long the action's end tries to restore the membership (the heal step tries again).
const RESTORE_AT_END: Duration = Duration::from_secs(10);

pub async fn reconfigure(world: &World, number: usize, target: Target, duration: Duration) {
    let chosen = world.leader().and_then(|leader| {
        let id = resolve(world, target)?;
        Some((leader, id, world.cluster.node(leader)?))
    });
    let Some((leader, id, node)) = chosen else {
        return world.note(format_args!(
            "#{number} skipped: remove {target} from the voters"
        ));
    };
    world.note(format_args!(
        "#{number} om{leader} removes om{id} ({target}) from the voters"
    ));
    world.disruption_started();
    match tokio::time::timeout(CALL_TIMEOUT, node.remove(id)).await {
        Ok(Ok(())) => world.note(format_args!("#{number} om{id} removed")),
        Ok(Err(error)) => world.note(format_args!("#{number} removing om{id}: {error}")),
        Err(_elapsed) => world.note(format_args!("#{number} removing om{id}: timed out")),
    }
    drop(node);
    tokio::time::sleep(duration).await;
    match restore(world, RESTORE_AT_END).await {
        Ok(()) => world.note(format_args!("#{number} every node votes again")),
        Err(reason) => world.note(format_args!(
            "#{number} membership not restored ({reason}): left to the heal"
        )),
    }
    world.disruption_ended();
}

/// Makes every node a voter of a uniform (not joint) membership, within `bound`.
pub async fn restore(world: &World, bound: Duration) -> Result<(), String> {
    let deadline = elapsed() + bound;
    loop {
        let reason = match restore_step(world).await {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(reason) => Some(reason),
        };
        if elapsed() >= deadline {
            return Err(reason.unwrap_or_else(|| "still changing".to_string()));
        }
        tokio::time::sleep(RETRY_WAIT).await;
    }
}

/// One attempt through the current leader: `Ok(true)` when every node already votes.
async fn restore_step(world: &World) -> Result<bool, String> {
    let leader = world.leader().ok_or("no leader")?;
    let node = world
        .cluster
        .node(leader)
        .ok_or(format!("om{leader} is down"))?;
    let (voters, joint, known) = {
        let metrics = node.raft().metrics();
        let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
        let membership = metrics.membership_config.membership();
        let configs = membership.get_joint_config();
        let voters: BTreeSet<NodeId> = configs.last().cloned().unwrap_or_default();
        let known: BTreeSet<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
        (voters, configs.len() > 1, known)
    };
    let missing: Vec<NodeId> = (world.cluster.ids().into_iter())
        .filter(|id| !voters.contains(id))
        .collect();
    if missing.is_empty() && !joint {
        return Ok(true);
    }
    for id in &missing {
        if !known.contains(id) {
            let address = world.cluster.members()[id].clone();
            let added = tokio::time::timeout(CALL_TIMEOUT, node.add_learner(*id, address)).await;
            outcome(format_args!("om{leader} adds learner om{id}"), added)?;
        }
        let promoted = tokio::time::timeout(CALL_TIMEOUT, node.promote(*id)).await;
        outcome(format_args!("om{leader} promotes om{id}"), promoted)?;
    }
    if missing.is_empty() {
        // A change cut short left a joint membership: a change that adds no one completes it.
        let completed = tokio::time::timeout(CALL_TIMEOUT, node.promote(leader)).await;
        outcome(
            format_args!("om{leader} completes the joint membership"),
            completed,
        )?;
    }
    Ok(false)
}

/// A bounded membership call's outcome as a reason.
fn outcome(
    what: std::fmt::Arguments<'_>,
    answer: Result<Result<(), OmError>, tokio::time::error::Elapsed>,
) -> Result<(), String> {
    match answer {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("{what}: {error}")),
        Err(_elapsed) => Err(format!("{what}: timed out")),
    }
}
