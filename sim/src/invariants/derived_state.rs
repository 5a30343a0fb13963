//! What a node derives from its tables and keeps in memory must match the tables: sampled on
//! every running node while the run lasts (a derived structure that drifts, e.g. one not
//! rebuilt when a snapshot replaces the state, answers from a state that does not exist).
//! Today that is the retry index (`Applier::retry_index_mismatch`).

use super::{Property, Violation};
use crate::runner::world::World;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A sample rebuilds each node's index from its tables: a scan, so not every few milliseconds.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Default)]
pub struct DerivedStateWatch {
    violations: Arc<Mutex<Vec<Violation>>>,
    /// Nodes already reported (one report each: a drifted index stays drifted).
    reported: Arc<Mutex<BTreeSet<u64>>>,
    stopped: Arc<AtomicBool>,
}

impl DerivedStateWatch {
    pub async fn watch(&self, world: Arc<World>) {
        while !self.stopped.load(Ordering::Relaxed) {
            self.sample(&world);
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub fn sample(&self, world: &World) {
        for id in world.cluster.ids() {
            let Some(node) = world.cluster.node(id) else {
                continue;
            };
            // Unreadable tables (a poisoned store) are the fail-stop watch's to judge.
            let Ok(Some(difference)) = node.applier().retry_index_mismatch() else {
                continue;
            };
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            if reported.insert(id) {
                let mut violations = self.violations.lock().unwrap_or_else(|p| p.into_inner());
                violations.push(Violation::new(
                    Property::DerivedState,
                    format!("om{id}: {difference}"),
                ));
            }
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
