//! `om-sim bench-checker --recorded DIR`: times the checker on OM histories recorded by the
//! simulation testbed (JSON lines, expected linearizable: the server behind them is believed
//! correct), with the budget `om-sim check` uses by default.

use std::path::Path;
use std::time::Duration;

use crate::checker::json_lines;
use crate::checker::linearizability::{check, CheckOptions, Verdict};
use crate::checker::model::om::{OmOp, OmOutcome, OmSpec};

/// Where the recorded histories are, seen from this crate.
pub const RECORDED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sim-histories");

/// Checks every `*.jsonl` of `directory`; returns how many are not linearizable in `budget`.
pub fn bench_recorded(directory: &Path, budget: Duration) -> Result<usize, String> {
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .map_err(|error| format!("{}: {error}", directory.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .collect();
    files.sort();
    let options = CheckOptions {
        timeout: Some(budget),
        workers: 2,
    };
    let mut wrong = 0;
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        let history = json_lines::parse::<OmOp, OmOutcome>(&text)
            .map_err(|error| format!("{}:{error}", path.display()))?;
        let lost = history
            .operations
            .iter()
            .filter(|operation| operation.is_indeterminate())
            .count();
        let report = check(&OmSpec, &history, &options);
        let expected = report.verdict == Verdict::Linearizable;
        wrong += usize::from(!expected);
        println!(
            "recorded {}: {} operations ({lost} lost, {} pruned), {} parts: {} in {:.3} s ({} steps){}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            history.len(),
            report.pruned_lost,
            report.parts.len(),
            report.verdict,
            report.elapsed.as_secs_f64(),
            report.steps,
            if expected { "" } else { "  WRONG" }
        );
    }
    Ok(wrong)
}
