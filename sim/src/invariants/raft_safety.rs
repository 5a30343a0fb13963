//! Raft safety, watched from outside: every few simulated milliseconds the monitor reads each
//! running node's Raft metrics and checks that at most one node leads per term, that the entry
//! applied at an index is the same (same term) on every node and for ever, and that a node's
//! applied index never goes backwards within one life (a restart starts a new life).

use super::sampled::Sampler;
use super::{Property, Violation};
use crate::cluster::SimCluster;
use crate::trace::Trace;
use om_server::raft::NodeId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Violations past this many are not collected (the first ones explain the run).
const VIOLATIONS_MAX: usize = 16;

#[derive(Default)]
struct Observed {
    leader_of_term: BTreeMap<u64, NodeId>,
    /// Log index -> term of the entry applied there.
    applied_entry: BTreeMap<u64, u64>,
    /// Node -> (its current life, its applied index in that life).
    applied_index: BTreeMap<NodeId, (u64, u64)>,
    violations: Vec<Violation>,
    leader_changes: u64,
}

#[derive(Clone, Default)]
pub struct RaftMonitor {
    observed: Arc<Mutex<Observed>>,
    sampler: Sampler,
    /// Where each newly seen leader goes (part of the run's fingerprint).
    trace: Option<Trace>,
}

impl RaftMonitor {
    /// A monitor that also writes each term's leader, when first seen, into `trace`.
    pub fn recording_into(trace: Trace) -> RaftMonitor {
        RaftMonitor {
            trace: Some(trace),
            ..RaftMonitor::default()
        }
    }

    /// Samples until `stop`.
    pub async fn watch(&self, cluster: Arc<SimCluster>) {
        self.sampler
            .run(SAMPLE_EVERY, || self.sample(&cluster))
            .await;
    }

    pub fn stop(&self) {
        self.sampler.stop();
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.lock().violations.clone()
    }

    /// Terms in which some node was seen leading.
    pub fn leader_changes(&self) -> u64 {
        self.lock().leader_changes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Observed> {
        self.observed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn sample(&self, cluster: &SimCluster) {
        let mut observed = self.lock();
        for id in cluster.ids() {
            let Some(node) = cluster.node(id) else {
                continue;
            };
            let life = cluster.boots(id);
            let metrics = node.raft().metrics();
            let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
            let leads = metrics.state == openraft::ServerState::Leader;
            let term = metrics.current_term;
            let applied = metrics.last_applied;
            drop(metrics);
            if leads && observed.on_leader(term, id) {
                if let Some(trace) = &self.trace {
                    trace.record(
                        crate::scenario::elapsed(),
                        "monitor",
                        format_args!("om{id} leads term {term}"),
                    );
                }
            }
            if let Some(log_id) = applied {
                observed.on_applied(id, life, log_id.index, log_id.leader_id.term);
            }
        }
    }
}

impl Observed {
    fn violate(&mut self, property: Property, detail: String) {
        if self.violations.len() < VIOLATIONS_MAX {
            self.violations.push(Violation::new(property, detail));
        }
    }

    /// Whether `id` is the first leader seen in `term`.
    fn on_leader(&mut self, term: u64, id: NodeId) -> bool {
        match self.leader_of_term.get(&term) {
            None => {
                self.leader_of_term.insert(term, id);
                self.leader_changes += 1;
                return true;
            }
            Some(&other) if other != id => self.violate(
                Property::ElectionSafety,
                format!("om{other} and om{id} both led term {term}"),
            ),
            Some(_) => {}
        }
        false
    }

    fn on_applied(&mut self, id: NodeId, life: u64, index: u64, term: u64) {
        match self.applied_entry.get(&index) {
            None => {
                self.applied_entry.insert(index, term);
            }
            Some(&seen) if seen != term => self.violate(
                Property::CommittedEntryStable,
                format!("index {index} was applied with term {seen}, om{id} applied term {term}"),
            ),
            Some(_) => {}
        }
        let previous = self.applied_index.insert(id, (life, index));
        if let Some((previous_life, previous_index)) = previous {
            if previous_life == life && index < previous_index {
                self.violate(
                    Property::AppliedMonotonic,
                    format!("om{id} applied index went from {previous_index} back to {index}"),
                );
            }
        }
    }
}
