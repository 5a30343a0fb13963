//! What a failing run leaves behind: the case (replayable), history, trace, timeline, replay
//! line and the report, in one directory per seed.

use crate::config::Case;
use crate::runner::report::replay_line;
use crate::runner::RunReport;
use std::path::{Path, PathBuf};

/// Writes the run's artefacts under `out/<preset>-seed-<seed>/`; returns that directory.
pub fn write(out: &Path, case: &Case, report: &RunReport) -> std::io::Result<PathBuf> {
    // Named by the generating seed: a shrunk case may run under another scheduler seed.
    let directory = out.join(format!("{}-seed-{}", case.preset, case.generated_seed()));
    std::fs::create_dir_all(&directory)?;
    let case_json = serde_json::to_string_pretty(case).expect("cases serialize");
    std::fs::write(directory.join("case.json"), case_json)?;
    std::fs::write(directory.join("schedule.txt"), case.schedule.to_string())?;
    std::fs::write(directory.join("workload.txt"), case.workload.to_string())?;
    std::fs::write(directory.join("history.jsonl"), &report.history_json)?;
    std::fs::write(directory.join("trace.txt"), report.trace.join("\n") + "\n")?;
    if let Some(html) = &report.timeline_html {
        std::fs::write(directory.join("timeline.html"), html)?;
    }
    let report_json = serde_json::to_string_pretty(report).expect("reports serialize");
    std::fs::write(directory.join("report.json"), report_json)?;
    let replay = format!(
        "{}\nci/sim replay --case {}\n",
        replay_line(
            &case.preset,
            case.generated_seed(),
            case.defect.map(|defect| defect.name())
        ),
        directory.join("case.json").display()
    );
    std::fs::write(directory.join("replay.txt"), replay)?;
    Ok(directory)
}
