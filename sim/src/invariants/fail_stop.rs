//! No node stops itself unless the nemesis gave it a reason: a fail-stop (fatal storage error,
//! failed flush) on a node without an injected disk fault is a finding, as is a failed boot.

use super::sampled::{PerNodeFindings, Sampler};
use super::{Property, Violation};
use crate::runner::world::World;
use std::sync::Arc;
use std::time::Duration;

const SAMPLE_EVERY: Duration = Duration::from_millis(5);

#[derive(Clone, Default)]
pub struct FailStopWatch {
    sampler: Sampler,
    findings: PerNodeFindings,
}

impl FailStopWatch {
    pub async fn watch(&self, world: Arc<World>) {
        self.sampler.run(SAMPLE_EVERY, || self.sample(&world)).await;
    }

    pub fn stop(&self) {
        self.sampler.stop();
    }

    pub fn sample(&self, world: &World) {
        for (id, reason) in world.cluster.fail_stopped() {
            if world.is_injected(id) {
                continue;
            }
            self.findings.report(
                id,
                Violation::new(
                    Property::FailStop,
                    format!("om{id} stopped itself without an injected fault: {reason}"),
                ),
            );
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.findings.violations()
    }
}
