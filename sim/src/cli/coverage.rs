//! The coverage table of a sweep: for each coverage mark (`om_server::coverage`), in how many
//! runs it fired and how often, overall and per preset; and the marks that never fired, which
//! `sweep --require-coverage` turns into a failure.

use crate::runner::RunReport;
use om_server::coverage::Mark;
use std::collections::BTreeMap;

/// One mark's figures over a sweep.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MarkSummary {
    /// Runs in which it fired at least once.
    pub runs: u64,
    pub hits: u64,
    /// Runs in which it fired, per preset (every preset of the sweep, zeros included).
    pub runs_by_preset: BTreeMap<String, u64>,
}

/// Every mark's figures, in `Mark::ALL` order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageTable {
    pub marks: Vec<(Mark, MarkSummary)>,
    pub presets: Vec<String>,
}

impl CoverageTable {
    pub fn tally<'a>(reports: impl IntoIterator<Item = &'a RunReport>) -> CoverageTable {
        let reports: Vec<&RunReport> = reports.into_iter().collect();
        let mut presets: Vec<String> = reports.iter().map(|r| r.preset.clone()).collect();
        presets.sort();
        presets.dedup();
        let marks = (Mark::ALL.into_iter())
            .map(|mark| {
                let mut summary = MarkSummary {
                    runs_by_preset: presets.iter().map(|p| (p.clone(), 0)).collect(),
                    ..MarkSummary::default()
                };
                for report in &reports {
                    let hits = report.coverage.get(mark.name()).copied().unwrap_or(0);
                    summary.hits += hits;
                    if hits > 0 {
                        summary.runs += 1;
                        *summary
                            .runs_by_preset
                            .entry(report.preset.clone())
                            .or_default() += 1;
                    }
                }
                (mark, summary)
            })
            .collect();
        CoverageTable { marks, presets }
    }

    /// Marks that fired in no run.
    pub fn missing(&self) -> Vec<Mark> {
        (self.marks.iter())
            .filter(|(_, summary)| summary.runs == 0)
            .map(|(mark, _)| *mark)
            .collect()
    }

    /// The table as text: a row per mark; with several presets, a column per preset (runs in
    /// which the mark fired; the header is the preset name cut to 8 characters).
    pub fn render(&self) -> String {
        let per_preset = self.presets.len() > 1;
        let mut text = format!("{:<30} {:>6} {:>9}", "coverage mark", "runs", "hits");
        if per_preset {
            for preset in &self.presets {
                let short: String = preset.chars().take(8).collect();
                text.push_str(&format!(" {short:>8}"));
            }
        }
        text.push('\n');
        for (mark, summary) in &self.marks {
            text.push_str(&format!(
                "{:<30} {:>6} {:>9}",
                mark.name(),
                summary.runs,
                summary.hits
            ));
            if per_preset {
                for preset in &self.presets {
                    text.push_str(&format!(" {:>8}", summary.runs_by_preset[preset]));
                }
            }
            text.push('\n');
        }
        text
    }

    /// For `summary.json`: mark name -> figures.
    pub fn to_json(&self) -> serde_json::Value {
        let marks: BTreeMap<&str, &MarkSummary> = (self.marks.iter())
            .map(|(mark, summary)| (mark.name(), summary))
            .collect();
        serde_json::to_value(marks).expect("coverage serializes")
    }
}

/// One run's marks on one line: those that fired with their counts, then those that did not.
pub fn run_line(report: &RunReport) -> String {
    let count = |mark: Mark| report.coverage.get(mark.name()).copied().unwrap_or(0);
    let fired: Vec<String> = (Mark::ALL.into_iter())
        .filter(|mark| count(*mark) > 0)
        .map(|mark| format!("{} {}", mark.name(), count(mark)))
        .collect();
    let silent: Vec<&str> = (Mark::ALL.into_iter())
        .filter(|mark| count(*mark) == 0)
        .map(Mark::name)
        .collect();
    format!(
        "coverage: {}; not reached: {}",
        if fired.is_empty() {
            "none".to_string()
        } else {
            fired.join(", ")
        },
        if silent.is_empty() {
            "none".to_string()
        } else {
            silent.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::RunStats;

    fn report(preset: &str, fired: &[(Mark, u64)]) -> RunReport {
        let mut coverage: BTreeMap<String, u64> = (Mark::ALL.into_iter())
            .map(|mark| (mark.name().to_string(), 0))
            .collect();
        for (mark, hits) in fired {
            coverage.insert(mark.name().to_string(), *hits);
        }
        RunReport {
            seed: 1,
            preset: preset.to_string(),
            defect: None,
            violations: Vec::new(),
            fingerprint: 0,
            stats: RunStats::default(),
            coverage,
            trace: Vec::new(),
            history_json: String::new(),
            timeline_html: None,
        }
    }

    #[test]
    fn runs_and_hits_add_up_per_mark_and_preset_and_silent_marks_are_missing() {
        let reports = [
            report(
                "snapshot",
                &[(Mark::SnapshotBuilt, 3), (Mark::LogPurged, 1)],
            ),
            report("snapshot", &[(Mark::SnapshotBuilt, 2)]),
            report("liveness", &[(Mark::LeaderChange, 4)]),
        ];
        let table = CoverageTable::tally(&reports);
        let built = &table.marks[Mark::SnapshotBuilt as usize].1;
        assert_eq!((built.runs, built.hits), (2, 5));
        assert_eq!(built.runs_by_preset["snapshot"], 2);
        assert_eq!(built.runs_by_preset["liveness"], 0);
        let missing = table.missing();
        assert!(!missing.contains(&Mark::SnapshotBuilt));
        assert!(!missing.contains(&Mark::LeaderChange));
        assert!(missing.contains(&Mark::MembershipChange));
        assert_eq!(missing.len(), Mark::ALL.len() - 3);
        let text = table.render();
        assert!(text.contains("snapshot-built"), "{text}");
        assert!(text.contains("livenes"), "a column per preset: {text}");
        assert_eq!(table.to_json()["snapshot-built"]["hits"], 5);
    }

    #[test]
    fn a_run_line_names_what_fired_and_what_did_not() {
        let line = run_line(&report("snapshot", &[(Mark::FlushFailed, 2)]));
        assert!(
            line.starts_with("coverage: flush-failed 2; not reached: "),
            "{line}"
        );
        assert!(line.contains("leader-change"), "{line}");
    }
}
