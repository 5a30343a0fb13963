//! What a node derives from its tables and keeps in memory must match the tables: sampled on
//! every running node while the run lasts (a derived structure that drifts, e.g. one not
//! rebuilt when a snapshot replaces the state, answers from a state that does not exist).
//! Today that is the retry index (`Applier::retry_index_mismatch`).

use super::sampled::{PerNodeFindings, Sampler};
use super::{Property, Violation};
use crate::runner::world::World;
use std::sync::Arc;
use std::time::Duration;

/// A sample rebuilds each node's index from its tables: a scan, so not every few milliseconds.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Default)]
pub struct DerivedStateWatch {
    sampler: Sampler,
    findings: PerNodeFindings,
}

impl DerivedStateWatch {
    pub async fn watch(&self, world: Arc<World>) {
        self.sampler.run(SAMPLE_EVERY, || self.sample(&world)).await;
    }

    pub fn stop(&self) {
        self.sampler.stop();
    }

    pub fn sample(&self, world: &World) {
        for id in world.cluster.ids() {
            let Some(node) = world
                .cluster
                .node(id)
                .filter(|_| !self.findings.reported(id))
            else {
                continue;
            };
            // Unreadable tables (a poisoned store) are the fail-stop watch's to judge.
            let Ok(Some(difference)) = node.applier().retry_index_mismatch() else {
                continue;
            };
            let detail = format!("om{id}: {difference}");
            self.findings
                .report(id, Violation::new(Property::DerivedState, detail));
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.findings.violations()
    }
}
