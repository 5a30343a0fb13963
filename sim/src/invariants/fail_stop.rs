//! No node stops itself unless the nemesis gave it a reason: a fail-stop (fatal storage error,
//! failed flush) on a node without an injected disk fault is a finding, as is a failed boot.

use super::{Property, Violation};
use crate::runner::world::World;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SAMPLE_EVERY: Duration = Duration::from_millis(5);

#[derive(Clone, Default)]
pub struct FailStopWatch {
    violations: Arc<Mutex<Vec<Violation>>>,
    /// Nodes already reported (a stopped node stays stopped: one report each).
    reported: Arc<Mutex<BTreeSet<u64>>>,
    stopped: Arc<AtomicBool>,
}

impl FailStopWatch {
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
        for (id, reason) in world.cluster.fail_stopped() {
            if world.is_injected(id) {
                continue;
            }
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            if reported.insert(id) {
                let mut violations = self.violations.lock().unwrap_or_else(|p| p.into_inner());
                violations.push(Violation::new(
                    Property::FailStop,
                    format!("om{id} stopped itself without an injected fault: {reason}"),
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
