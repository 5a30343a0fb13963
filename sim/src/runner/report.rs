//! What one run found: the verdicts, the figures, and the line that replays it.

use crate::invariants::Violation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    pub simulated_ms: u64,
    pub wall_ms: u64,
    pub check_ms: u64,
    pub operations: usize,
    pub unknown_operations: usize,
    pub faults: usize,
    pub leader_changes: u64,
    pub applied_index: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    pub seed: u64,
    pub preset: String,
    /// The defect planted for the run (`--bug`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defect: Option<String>,
    pub violations: Vec<Violation>,
    pub fingerprint: u64,
    pub stats: RunStats,
    /// How often each coverage mark (`om_server::coverage`) fired in the run, by name; every
    /// mark is listed, zeros included.
    #[serde(default)]
    pub coverage: BTreeMap<String, u64>,
    /// The run's trace, one event a line.
    #[serde(skip)]
    pub trace: Vec<String>,
    /// The clients' history as JSON lines (the checker's `--format json`).
    #[serde(skip)]
    pub history_json: String,
    /// An HTML timeline of the refuted part, when linearizability failed.
    #[serde(skip)]
    pub timeline_html: Option<String>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The properties that failed, comma-separated (empty when passed).
    pub fn failed_properties(&self) -> String {
        let mut names: Vec<&str> = self.violations.iter().map(|v| v.property.name()).collect();
        names.dedup();
        names.join(",")
    }
}

/// Coverage counts by mark name (every mark, zeros included).
pub fn coverage_by_name(
    counts: &BTreeMap<om_server::coverage::Mark, u64>,
) -> BTreeMap<String, u64> {
    (counts.iter())
        .map(|(mark, count)| (mark.name().to_string(), *count))
        .collect()
}

/// The command that replays one seed of a preset (with its planted defect, if any).
pub fn replay_line(preset: &str, seed: u64, defect: Option<&str>) -> String {
    let bug = defect
        .map(|name| format!(" --bug {name}"))
        .unwrap_or_default();
    format!("ci/sim run --scenario {preset} --seed {seed}{bug} --trace")
}
