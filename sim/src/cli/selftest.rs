//! `selftest`: the testbed proves its teeth. Each defect of the server's bug zoo is planted in
//! turn (one process per defect); seeds are tried one by one across the presets, the defect's
//! own class first, until a run fails; the catch is shrunk and saved for `replay`; and the
//! unbroken server must pass that same case, or the catch was a false alarm.

use super::run::shrink_failure;
use super::{artifacts, SelftestArgs, SelftestDefectArgs};
use crate::config::Case;
use crate::preset::{Preset, PRESETS};
use crate::runner::{run_case, RunOptions};
use om_server::bug_zoo::Defect;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::time::Duration;

/// One defect's line of the table.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Row {
    defect: String,
    /// The seed that caught it (seeds are tried in order from 1), or none within the bound.
    caught_at_seed: Option<u64>,
    /// Runs until the catch (seeds × presets tried).
    runs: u64,
    preset: Option<String>,
    /// The properties the catching run broke.
    caught_by: Option<String>,
    /// Fault actions and client steps of the shrunk case.
    shrunk_faults: Option<usize>,
    shrunk_steps: Option<usize>,
    /// The unbroken server failed the catching case too.
    false_alarm: bool,
    replay: Option<String>,
    wall_s: f64,
    error: Option<String>,
}

/// The preset aimed at each defect's bug class: tried first at every seed.
fn aimed_preset(defect: Defect) -> &'static str {
    match defect {
        Defect::AckBeforeLogSync
        | Defect::VoteWithoutSync
        | Defect::PurgePastFlushed
        | Defect::RecoveryTrustsPageCache => "lost-write",
        Defect::FlushedIndexBeforeDurable
        | Defect::EvictBeforeDurable
        | Defect::TransactionInfoSeparateBatch => "double-buffer",
        Defect::SnapshotIndexAhead | Defect::RetryIndexKeptOnInstall => "snapshot",
        Defect::RetryCacheCallIdOnly | Defect::RetryCacheEarlyExpiry => "retry-duplicate",
        Defect::LinearizableReadLocal | Defect::FollowerReadWithoutLeader => "stale-read",
        Defect::LeaderServesBeforeReady | Defect::LeaderRestore => "leader-ready",
        Defect::ListStartInclusive => "kitchen-sink",
        Defect::ApplyReadsOwnClock => "divergence",
    }
}

fn presets_for(defect: Defect) -> Vec<&'static Preset> {
    let aimed = aimed_preset(defect);
    let mut presets: Vec<&'static Preset> = PRESETS.iter().collect();
    presets.sort_by_key(|preset| preset.name != aimed);
    presets
}

fn defects(names: &str) -> Result<Vec<Defect>, String> {
    if names == "all" {
        return Ok(Defect::ALL.to_vec());
    }
    (names.split(','))
        .map(|name| Defect::from_name(name).ok_or_else(|| format!("unknown defect {name}")))
        .collect()
}

pub fn selftest(arguments: &SelftestArgs) -> i32 {
    if arguments.list {
        for defect in Defect::ALL {
            println!("{:<32} {}", defect.name(), defect.description());
        }
        return 0;
    }
    let defects = match defects(&arguments.defects) {
        Ok(defects) => defects,
        Err(reason) => {
            eprintln!("{reason}");
            return 2;
        }
    };
    if let Err(reason) = om_server::bug_zoo::plant(defects.first().copied()) {
        eprintln!("{reason}");
        return 2;
    }
    om_server::bug_zoo::plant(None).expect("planting nothing always works");
    if let Err(error) = std::fs::create_dir_all(&arguments.out) {
        eprintln!("cannot create {}: {error}", arguments.out.display());
        return 2;
    }
    #[allow(clippy::disallowed_methods)] // wall time of the selftest, for the table only
    let started = std::time::Instant::now();
    let progress = indicatif::ProgressBar::new(defects.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} defects {msg}",
        )
        .expect("a valid template"),
    );
    let rows = run_defects(arguments, &defects, &progress);
    progress.finish_and_clear();
    print_table(&rows, arguments.seeds_max, started.elapsed());
    let summary = serde_json::to_string_pretty(&rows).expect("serialize");
    let path = arguments.out.join("selftest.json");
    if let Err(error) = std::fs::write(&path, summary + "\n") {
        eprintln!("cannot write {}: {error}", path.display());
    }
    let bad = (rows.iter())
        .any(|row| row.caught_at_seed.is_none() || row.false_alarm || row.error.is_some());
    i32::from(bad)
}

/// Runs each defect in its own process, `jobs` at a time.
fn run_defects(
    arguments: &SelftestArgs,
    defects: &[Defect],
    progress: &indicatif::ProgressBar,
) -> Vec<Row> {
    let exe = std::env::current_exe().expect("the running executable");
    let mut pending: std::collections::VecDeque<Defect> = defects.iter().copied().collect();
    let mut running: Vec<(Defect, std::process::Child)> = Vec::new();
    let mut rows = Vec::new();
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < arguments.jobs.max(1) {
            let Some(defect) = pending.pop_front() else {
                break;
            };
            let child = std::process::Command::new(&exe)
                .args(["selftest-defect", "--defect", defect.name()])
                .args(["--seeds-max", &arguments.seeds_max.to_string()])
                .args(["--shrink-runs-max", &arguments.shrink_runs_max.to_string()])
                .arg("--out")
                .arg(&arguments.out)
                .args([
                    "--check-budget-secs",
                    &arguments.check.check_budget_secs.to_string(),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn();
            match child {
                Ok(child) => running.push((defect, child)),
                Err(error) => rows.push(Row {
                    defect: defect.name().to_string(),
                    error: Some(error.to_string()),
                    ..Row::default()
                }),
            }
        }
        // Wait for the oldest: defects take similar times, and order does not matter.
        let (defect, child) = running.remove(0);
        let row = match child.wait_with_output() {
            Ok(output) => {
                let text = String::from_utf8_lossy(&output.stdout);
                serde_json::from_str::<Row>(text.trim()).unwrap_or_else(|error| Row {
                    defect: defect.name().to_string(),
                    error: Some(format!("no row from its process ({error}): {text}")),
                    ..Row::default()
                })
            }
            Err(error) => Row {
                defect: defect.name().to_string(),
                error: Some(error.to_string()),
                ..Row::default()
            },
        };
        progress.println(format!(
            "{:<32} {}",
            row.defect,
            match (row.caught_at_seed, &row.caught_by) {
                (Some(seed), Some(by)) => format!("caught at seed {seed} by {by}"),
                _ => "NOT CAUGHT".to_string(),
            }
        ));
        progress.inc(1);
        rows.push(row);
    }
    rows.sort_by(|a, b| a.defect.cmp(&b.defect));
    rows
}

fn print_table(rows: &[Row], seeds_max: u64, elapsed: Duration) {
    println!(
        "{:<32} {:>6} {:>5} {:<16} {:<24} {:>7} {:>7} {:>7}",
        "defect", "seeds", "runs", "preset", "caught by", "faults", "steps", "wall s"
    );
    let dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    for row in rows {
        println!(
            "{:<32} {:>6} {:>5} {:<16} {:<24} {:>7} {:>7} {:>7.1}{}{}",
            row.defect,
            dash(row.caught_at_seed.map(|seed| seed.to_string())),
            row.runs,
            dash(row.preset.clone()),
            dash(row.caught_by.clone()),
            dash(row.shrunk_faults.map(|n| n.to_string())),
            dash(row.shrunk_steps.map(|n| n.to_string())),
            row.wall_s,
            if row.false_alarm {
                "  FALSE ALARM: the unbroken server fails it too"
            } else {
                ""
            },
            row.error
                .as_ref()
                .map(|error| format!("  error: {error}"))
                .unwrap_or_default(),
        );
    }
    let mut caught: Vec<u64> = rows.iter().filter_map(|row| row.caught_at_seed).collect();
    caught.sort_unstable();
    let median = caught.get(caught.len() / 2).copied();
    println!(
        "{} of {} defects caught within {seeds_max} seeds (median seed {}), {} false alarms, in {:.0} s",
        caught.len(),
        rows.len(),
        dash(median.map(|seed| seed.to_string())),
        rows.iter().filter(|row| row.false_alarm).count(),
        elapsed.as_secs_f64()
    );
}

/// The process side: one defect, its row as one JSON line on stdout.
pub fn one_defect(arguments: &SelftestDefectArgs) -> i32 {
    let Some(defect) = Defect::from_name(&arguments.defect) else {
        eprintln!("unknown defect {}", arguments.defect);
        return 2;
    };
    #[allow(clippy::disallowed_methods)] // wall time of this defect's hunt, for the table only
    let started = std::time::Instant::now();
    let options = RunOptions {
        check_budget: Duration::from_secs(arguments.check.check_budget_secs),
        print_trace: false,
    };
    let mut row = Row {
        defect: defect.name().to_string(),
        ..Row::default()
    };
    'seeds: for seed in 1..=arguments.seeds_max {
        for preset in presets_for(defect) {
            let mut case = Case::generate(preset, seed);
            case.defect = Some(defect);
            row.runs += 1;
            let report = run_case(&case, &options);
            if report.passed() {
                continue;
            }
            row.caught_at_seed = Some(seed);
            row.preset = Some(preset.name.to_string());
            row.caught_by = Some(report.failed_properties());
            let unbroken = Case {
                defect: None,
                ..case.clone()
            };
            row.false_alarm = !run_case(&unbroken, &options).passed();
            let out = arguments.out.join(defect.name());
            let (minimal, _runs) =
                shrink_failure(case, &report, &options, arguments.shrink_runs_max, |_| {});
            row.shrunk_faults = Some(minimal.schedule.len());
            row.shrunk_steps = Some(minimal.workload.len());
            let shrunk_report = run_case(&minimal, &options);
            match artifacts::write(&out, &minimal, &shrunk_report) {
                Ok(directory) => {
                    row.replay = Some(format!(
                        "ci/sim replay --case {}",
                        directory.join("case.json").display()
                    ))
                }
                Err(error) => row.error = Some(format!("cannot write the shrunk case: {error}")),
            }
            break 'seeds;
        }
    }
    row.wall_s = started.elapsed().as_secs_f64();
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(
        stdout,
        "{}",
        serde_json::to_string(&row).expect("serialize")
    );
    i32::from(written.is_err())
}
