//! Checks sampled from outside the nodes while a run lasts: the sampling loop with its stop
//! switch, and findings kept to one per node (a node found in a bad state stays in it, so
//! later samples would only repeat the first report).

use super::Violation;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs a sample every so often of simulated time until stopped.
#[derive(Clone, Default)]
pub struct Sampler {
    stopped: Arc<AtomicBool>,
}

impl Sampler {
    /// Calls `sample` now and every `every` after, until `stop`.
    pub async fn run(&self, every: Duration, mut sample: impl FnMut()) {
        while !self.stopped.load(Ordering::Relaxed) {
            sample();
            tokio::time::sleep(every).await;
        }
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// Violations, at most one per node.
#[derive(Clone, Default)]
pub struct PerNodeFindings {
    found: Arc<Mutex<(BTreeSet<u64>, Vec<Violation>)>>,
}

impl PerNodeFindings {
    /// Whether node `id` was reported already (a report is then not worth building).
    pub fn reported(&self, id: u64) -> bool {
        self.lock().0.contains(&id)
    }

    /// Keeps `violation` unless node `id` was reported already.
    pub fn report(&self, id: u64, violation: Violation) {
        let mut found = self.lock();
        if found.0.insert(id) {
            found.1.push(violation);
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.lock().1.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (BTreeSet<u64>, Vec<Violation>)> {
        self.found.lock().unwrap_or_else(|p| p.into_inner())
    }
}
