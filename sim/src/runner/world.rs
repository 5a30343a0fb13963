//! What the nemesis, the clients and the checks share during one simulated run.

use crate::cluster::SimCluster;
use crate::nemesis::network::{Link, Network};
use crate::scenario::elapsed;
use crate::trace::Trace;
use madsim::task::NodeId as HostId;
use om_server::raft::NodeId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the nemesis did to a node, so that one action never undoes another's fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Running,
    /// Paused by the action with this number.
    Paused(usize),
    /// Killed by the action with this number (restarted by it).
    Killed(usize),
}

/// Faults that may depose a leader without it knowing (partitions, pauses, latency). A
/// DEFAULT read is judged only when none was in force around it: Ozone documents that a
/// deposed leader may answer DEFAULT reads stale.
#[derive(Default)]
pub struct Disruptions {
    active: u32,
    /// Counts disruption starts: a read that saw it change overlapped one.
    epoch: u64,
    quiet_since: Duration,
}

pub struct World {
    pub cluster: Arc<SimCluster>,
    pub client_hosts: Vec<HostId>,
    pub trace: Trace,
    network: Mutex<Network>,
    nodes: Mutex<BTreeMap<NodeId, NodeState>>,
    disruptions: Mutex<Disruptions>,
    /// How long after a disruption a deposed leader may still believe it leads.
    pub deposed_grace: Duration,
    /// The highest term each node was seen in (running nodes when asked, the others when last
    /// seen): a node down now may hold a higher term than any running one.
    terms_seen: Mutex<BTreeMap<NodeId, u64>>,
    /// Nodes with an injected disk failure or armed crash, until the nemesis restarts them: a
    /// fail-stop there is expected, anywhere else it is a finding.
    injected: Mutex<std::collections::BTreeSet<NodeId>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl World {
    pub fn new(
        cluster: Arc<SimCluster>,
        client_hosts: Vec<HostId>,
        trace: Trace,
        deposed_grace: Duration,
    ) -> World {
        let nodes = cluster
            .ids()
            .into_iter()
            .map(|id| (id, NodeState::Running))
            .collect();
        World {
            cluster,
            client_hosts,
            trace,
            network: Mutex::default(),
            nodes: Mutex::new(nodes),
            disruptions: Mutex::default(),
            deposed_grace,
            terms_seen: Mutex::default(),
            injected: Mutex::default(),
        }
    }

    pub fn note(&self, event: impl std::fmt::Display) {
        self.trace.record(elapsed(), "nemesis", event);
    }

    pub fn node_state(&self, id: NodeId) -> NodeState {
        lock(&self.nodes)[&id]
    }

    pub fn set_node_state(&self, id: NodeId, state: NodeState) {
        lock(&self.nodes).insert(id, state);
    }

    pub fn inject(&self, id: NodeId) {
        lock(&self.injected).insert(id);
    }

    pub fn injection_over(&self, id: NodeId) {
        lock(&self.injected).remove(&id);
    }

    pub fn is_injected(&self, id: NodeId) -> bool {
        lock(&self.injected).contains(&id)
    }

    pub fn hold(&self, links: &[Link]) {
        lock(&self.network).hold(links);
    }

    pub fn release(&self, links: &[Link]) {
        lock(&self.network).release(links);
    }

    pub fn spike(&self, min_ms: u64, max_ms: u64) {
        lock(&self.network).spike(min_ms, max_ms);
    }

    pub fn end_spike(&self) {
        lock(&self.network).end_spike();
    }

    pub fn heal_network(&self) {
        lock(&self.network).heal_all();
    }

    pub fn disruption_started(&self) {
        let mut disruptions = lock(&self.disruptions);
        disruptions.active += 1;
        disruptions.epoch += 1;
    }

    pub fn disruption_ended(&self) {
        let mut disruptions = lock(&self.disruptions);
        disruptions.active = disruptions.active.saturating_sub(1);
        if disruptions.active == 0 {
            disruptions.quiet_since = elapsed();
        }
    }

    /// A token taken when a read is sent; `quiet_throughout` tells at its answer whether no
    /// disruption could have deposed a leader around it.
    pub fn disruption_epoch(&self) -> u64 {
        lock(&self.disruptions).epoch
    }

    pub fn quiet_throughout(&self, epoch_at_invoke: u64, invoked: Duration) -> bool {
        let disruptions = lock(&self.disruptions);
        disruptions.active == 0
            && disruptions.epoch == epoch_at_invoke
            && disruptions.quiet_since + self.deposed_grace <= invoked
    }

    /// Records the terms of the running nodes (the nemesis calls it before it stops a node).
    pub fn observe_terms(&self) {
        self.undisputed_leader(None);
    }

    /// Whether `id` now leads in the highest term any node is in or was last seen in: no
    /// leader of a later term can have committed anything, so once ready, what it reads is
    /// current (a DEFAULT read it answers is judged even while faults are in force).
    pub fn leads_highest_term(&self, id: NodeId) -> bool {
        self.undisputed_leader(Some(id))
    }

    fn undisputed_leader(&self, candidate: Option<NodeId>) -> bool {
        let mut seen = lock(&self.terms_seen);
        let mut leader_term = None;
        for id in self.cluster.ids() {
            let Some(node) = self.cluster.node(id) else {
                continue;
            };
            let metrics = node.raft().metrics();
            let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
            let term = seen.entry(id).or_default();
            *term = (*term).max(metrics.current_term);
            if Some(id) == candidate && metrics.state == openraft::ServerState::Leader {
                leader_term = Some(metrics.current_term);
            }
        }
        leader_term.is_some_and(|leader_term| seen.values().all(|term| *term <= leader_term))
    }

    /// The node that leads in the highest term among running nodes.
    pub fn leader(&self) -> Option<NodeId> {
        let cluster = &self.cluster;
        (cluster.ids().into_iter())
            .filter_map(|id| {
                let node = cluster.node(id)?;
                let metrics = node.raft().metrics();
                let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
                let leads = metrics.state == openraft::ServerState::Leader;
                leads.then_some((metrics.current_term, id))
            })
            .max()
            .map(|(_, id)| id)
    }
}
