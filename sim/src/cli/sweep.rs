//! `sweep`: many seeds across worker processes (each run gets a fresh madsim runtime; madsim
//! keeps some process-global state, so workers are processes, not threads), a progress bar, a
//! summary table, artefacts of every failing seed, and `summary.json` for CI. Also `worker`
//! (the process side) and `bench`.

use super::coverage::CoverageTable;
use super::{artifacts, presets, BenchArgs, SweepArgs, WorkerArgs};
use crate::config::Case;
use crate::runner::report::replay_line;
use crate::runner::{run_case, RunOptions, RunReport};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Duration;

/// One job's result as a worker prints it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Outcome {
    report: RunReport,
    artefacts: Option<String>,
}

fn parse_seeds(text: &str) -> Result<(u64, u64), String> {
    let (first, last) = text
        .split_once("..")
        .ok_or_else(|| format!("seeds must be A..B, not {text}"))?;
    let parse = |n: &str| {
        n.trim()
            .parse::<u64>()
            .map_err(|_| format!("not a seed: {n}"))
    };
    let (first, last) = (parse(first)?, parse(last)?);
    if first > last {
        return Err(format!("empty seed range {text}"));
    }
    Ok((first, last))
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("shard must be K/N, not {text}"))?;
    let (k, n): (u64, u64) = (
        k.parse().map_err(|_| format!("bad shard {text}"))?,
        n.parse().map_err(|_| format!("bad shard {text}"))?,
    );
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {text}: need 1 <= K <= N"));
    }
    Ok((k, n))
}

/// The (preset, seed) jobs of a sweep, shard applied.
fn jobs(arguments: &SweepArgs) -> Result<Vec<(String, u64)>, String> {
    let presets = presets(&arguments.scenario)?;
    let (first, last) = parse_seeds(&arguments.seeds)?;
    let shard = arguments.shard.as_deref().map(parse_shard).transpose()?;
    let mut jobs = Vec::new();
    for seed in first..=last {
        for preset in &presets {
            jobs.push((preset.name.to_string(), seed));
        }
    }
    if let Some((k, n)) = shard {
        jobs = (jobs.into_iter().enumerate())
            .filter(|(position, _)| *position as u64 % n == k - 1)
            .map(|(_, job)| job)
            .collect();
    }
    Ok(jobs)
}

pub fn sweep(arguments: &SweepArgs) -> i32 {
    if let Err(reason) = arguments.bug.defect() {
        eprintln!("{reason}");
        return 2;
    }
    let jobs = match jobs(arguments) {
        Ok(jobs) => jobs,
        Err(reason) => {
            eprintln!("{reason}");
            return 2;
        }
    };
    if let Err(error) = std::fs::create_dir_all(&arguments.out) {
        eprintln!("cannot create {}: {error}", arguments.out.display());
        return 2;
    }
    let progress = if arguments.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(jobs.len() as u64)
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} seeds ({per_sec}, eta {eta}) {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    #[allow(clippy::disallowed_methods)] // wall time of the sweep, for the summary only
    let started = std::time::Instant::now();
    let outcomes = run_workers(arguments, &jobs, &progress);
    progress.finish_and_clear();
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(reason) => {
            eprintln!("sweep failed: {reason}");
            return 2;
        }
    };
    summarize(arguments, &outcomes, started.elapsed())
}

/// Starts the workers, deals the jobs round-robin, collects one outcome per job.
fn run_workers(
    arguments: &SweepArgs,
    jobs: &[(String, u64)],
    progress: &indicatif::ProgressBar,
) -> Result<Vec<Outcome>, String> {
    let workers = arguments.jobs.clamp(1, jobs.len().max(1));
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let (sender, receiver) = std::sync::mpsc::channel::<Result<Outcome, String>>();
    let mut handles = Vec::new();
    for worker in 0..workers {
        let share: Vec<(String, u64)> =
            jobs.iter().skip(worker).step_by(workers).cloned().collect();
        let mut command = std::process::Command::new(&exe);
        command
            .arg("worker")
            .arg("--out")
            .arg(&arguments.out)
            .args(arguments.bug.bug.iter().flat_map(|name| ["--bug", name]))
            .args([
                "--check-budget-secs",
                &arguments.check.check_budget_secs.to_string(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = command.spawn().map_err(|error| error.to_string())?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        for (preset, seed) in &share {
            writeln!(stdin, "{preset} {seed}").map_err(|error| error.to_string())?;
        }
        drop(stdin);
        let stdout = child.stdout.take().expect("piped stdout");
        let sender = sender.clone();
        #[allow(clippy::disallowed_methods)] // the parent process reads its workers' pipes
        let handle = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let parsed = line.map_err(|error| error.to_string()).and_then(|line| {
                    serde_json::from_str::<Outcome>(&line).map_err(|e| e.to_string())
                });
                if sender.send(parsed).is_err() {
                    break;
                }
            }
            let _status = child.wait();
        });
        handles.push(handle);
    }
    drop(sender);
    let mut outcomes = Vec::new();
    let mut failed = 0;
    for outcome in receiver {
        let outcome = outcome?;
        if !outcome.report.passed() {
            failed += 1;
            progress.println(format!(
                "FAILED {} seed {}: {}  replay: {}",
                outcome.report.preset,
                outcome.report.seed,
                outcome.report.failed_properties(),
                replay_line(
                    &outcome.report.preset,
                    outcome.report.seed,
                    outcome.report.defect.as_deref()
                )
            ));
        }
        progress.set_message(format!("{failed} failed"));
        progress.inc(1);
        outcomes.push(outcome);
    }
    for handle in handles {
        handle
            .join()
            .map_err(|_| "a worker reader panicked".to_string())?;
    }
    if outcomes.len() != jobs.len() {
        return Err(format!(
            "{} of {} jobs reported (a worker died: run the missing seeds with `om-sim run`)",
            outcomes.len(),
            jobs.len()
        ));
    }
    Ok(outcomes)
}

#[derive(Default, serde::Serialize)]
struct PresetSummary {
    seeds: u64,
    passed: u64,
    failed: u64,
    simulated_s: f64,
    wall_s: f64,
    operations: u64,
    faults: u64,
    failures_by_property: BTreeMap<String, u64>,
}

fn summarize(arguments: &SweepArgs, outcomes: &[Outcome], elapsed: Duration) -> i32 {
    let mut by_preset: BTreeMap<String, PresetSummary> = BTreeMap::new();
    let mut failures = Vec::new();
    for outcome in outcomes {
        let report = &outcome.report;
        let summary = by_preset.entry(report.preset.clone()).or_default();
        summary.seeds += 1;
        summary.simulated_s += report.stats.simulated_ms as f64 / 1000.0;
        summary.wall_s += report.stats.wall_ms as f64 / 1000.0;
        summary.operations += report.stats.operations as u64;
        summary.faults += report.stats.faults as u64;
        if report.passed() {
            summary.passed += 1;
        } else {
            summary.failed += 1;
            for violation in &report.violations {
                *summary
                    .failures_by_property
                    .entry(violation.property.to_string())
                    .or_default() += 1;
            }
            failures.push(serde_json::json!({
                "preset": report.preset,
                "seed": report.seed,
                "properties": report.failed_properties(),
                "replay": replay_line(&report.preset, report.seed, report.defect.as_deref()),
                "artefacts": outcome.artefacts,
            }));
        }
    }
    println!(
        "{:<16} {:>6} {:>6} {:>6} {:>9} {:>8} {:>8} {:>7}  failing properties",
        "preset", "seeds", "passed", "failed", "sim s", "wall s", "sim/wall", "faults"
    );
    for (preset, summary) in &by_preset {
        let properties: Vec<String> = (summary.failures_by_property.iter())
            .map(|(property, count)| format!("{property} x{count}"))
            .collect();
        println!(
            "{:<16} {:>6} {:>6} {:>6} {:>9.0} {:>8.1} {:>8.0} {:>7}  {}",
            preset,
            summary.seeds,
            summary.passed,
            summary.failed,
            summary.simulated_s,
            summary.wall_s,
            summary.simulated_s / summary.wall_s.max(1e-9),
            summary.faults,
            properties.join(", ")
        );
    }
    let failed: u64 = by_preset.values().map(|summary| summary.failed).sum();
    println!(
        "{} seeds, {} failed, {:.1} s wall with {} workers",
        outcomes.len(),
        failed,
        elapsed.as_secs_f64(),
        arguments.jobs
    );
    let coverage = CoverageTable::tally(outcomes.iter().map(|outcome| &outcome.report));
    println!();
    print!("{}", coverage.render());
    let missing: Vec<&str> = coverage.missing().into_iter().map(|m| m.name()).collect();
    if !missing.is_empty() {
        println!("coverage marks that never fired: {}", missing.join(", "));
    }
    let summary = serde_json::json!({
        "seeds": outcomes.len(),
        "failed": failed,
        "wall_s": elapsed.as_secs_f64(),
        "presets": by_preset,
        "failures": failures,
        "coverage": coverage.to_json(),
        "coverage_missing": missing,
    });
    let path = arguments.out.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("summaries serialize");
    if let Err(error) = std::fs::write(&path, text) {
        eprintln!("cannot write {}: {error}", path.display());
        return 2;
    }
    if arguments.require_coverage && !missing.is_empty() {
        eprintln!(
            "--require-coverage: {} coverage marks never fired: {}",
            missing.len(),
            missing.join(", ")
        );
        return 1;
    }
    i32::from(failed > 0)
}

/// The worker: one "PRESET SEED" per stdin line, one JSON outcome per stdout line.
pub fn worker(arguments: &WorkerArgs) -> i32 {
    let options = RunOptions {
        check_budget: Duration::from_secs(arguments.check.check_budget_secs),
        print_trace: false,
    };
    let Ok(defect) = arguments.bug.defect() else {
        return 2;
    };
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { return 2 };
        let Some((name, seed)) = line.split_once(' ') else {
            return 2;
        };
        let (Some(preset), Ok(seed)) = (crate::preset::find(name), seed.trim().parse()) else {
            return 2;
        };
        let case = Case {
            defect,
            ..Case::generate(preset, seed)
        };
        let report = run_case(&case, &options);
        let artefacts = match (&arguments.out, report.passed()) {
            (Some(out), false) => artifacts::write(out, &case, &report)
                .ok()
                .map(|directory| directory.display().to_string()),
            _ => None,
        };
        let outcome = Outcome { report, artefacts };
        let mut stdout = stdout.lock();
        let written = writeln!(
            stdout,
            "{}",
            serde_json::to_string(&outcome).expect("serialize")
        )
        .and_then(|()| stdout.flush());
        if written.is_err() {
            return 2;
        }
    }
    0
}

/// Runs seeds one after another in this process (one core) and reports the speed.
pub fn bench(arguments: &BenchArgs) -> i32 {
    let Some(preset) = crate::preset::find(&arguments.scenario) else {
        eprintln!("unknown scenario {}", arguments.scenario);
        return 2;
    };
    let options = RunOptions {
        check_budget: Duration::from_secs(arguments.check.check_budget_secs),
        print_trace: false,
    };
    #[allow(clippy::disallowed_methods)] // the benchmark measures wall time
    let started = std::time::Instant::now();
    let (mut simulated_ms, mut check_ms, mut failed) = (0, 0, 0);
    for seed in 1..=arguments.seeds {
        let report = run_case(&Case::generate(preset, seed), &options);
        simulated_ms += report.stats.simulated_ms;
        check_ms += report.stats.check_ms;
        failed += u64::from(!report.passed());
    }
    let wall = started.elapsed().as_secs_f64();
    let simulated = simulated_ms as f64 / 1000.0;
    println!(
        "{}: {} seeds in {:.2} s wall on one core ({} failed); {:.0} simulated s, {:.0}x real time; \
         {:.0} seeds/hour/core ({:.1} simulated s per seed); checker {:.2} s of it",
        preset.name,
        arguments.seeds,
        wall,
        failed,
        simulated,
        simulated / wall,
        arguments.seeds as f64 * 3600.0 / wall,
        simulated / arguments.seeds as f64,
        check_ms as f64 / 1000.0,
    );
    0
}
