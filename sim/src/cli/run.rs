//! `run` and `replay`: one case, its verdict, and on request a determinism check in a second
//! process.

use super::{artifacts, BugArgs, ReplayArgs, RunArgs, ShrinkArgs};
use crate::config::Case;
use crate::runner::report::replay_line;
use crate::runner::{run_case, RunOptions, RunReport};
use std::path::Path;
use std::time::Duration;

fn options(check_budget_secs: u64, trace: bool) -> RunOptions {
    RunOptions {
        check_budget: Duration::from_secs(check_budget_secs),
        print_trace: trace,
    }
}

/// Runs `case`, prints its verdict (and JSON when asked); returns the report.
pub fn run_one(case: &Case, options: &RunOptions, json: bool) -> RunReport {
    let report = run_case(case, options);
    if json {
        let both = serde_json::json!({ "case": case, "report": report });
        println!(
            "{}",
            serde_json::to_string_pretty(&both).expect("reports serialize")
        );
    }
    print_verdict(case, &report);
    report
}

fn print_verdict(case: &Case, report: &RunReport) {
    let stats = &report.stats;
    eprintln!(
        "{} seed {}: {} ({} ops, {} unknown, {} faults, {} leader terms, applied {}; {:.1} s simulated in {:.2} s, check {} ms) fingerprint {:016x}",
        case.preset,
        case.seed,
        if report.passed() { "passed".to_string() } else { format!("FAILED {}", report.failed_properties()) },
        stats.operations,
        stats.unknown_operations,
        stats.faults,
        stats.leader_changes,
        stats.applied_index,
        stats.simulated_ms as f64 / 1000.0,
        stats.wall_ms as f64 / 1000.0,
        stats.check_ms,
        report.fingerprint,
    );
    eprintln!("  {}", super::coverage::run_line(report));
    for violation in &report.violations {
        eprintln!("  {violation}");
    }
    // A shrunk case under another scheduler seed is no longer what `run --seed` generates: its
    // case file is the way back (the caller prints it).
    if !report.passed() && case.generated_from.is_none() {
        eprintln!(
            "replay: {}",
            replay_line(
                &case.preset,
                case.seed,
                case.defect.map(|defect| defect.name())
            )
        );
    }
}

/// The case `seed` means under preset `scenario`, with the defect `bug` names planted.
fn case_of(scenario: &str, seed: u64, bug: &BugArgs) -> Result<Case, String> {
    let preset = crate::preset::find(scenario)
        .ok_or_else(|| format!("unknown scenario {scenario}; `om-sim list` shows the presets"))?;
    Ok(Case {
        defect: bug.defect()?,
        ..Case::generate(preset, seed)
    })
}

pub fn run(arguments: &RunArgs) -> i32 {
    let case = match case_of(&arguments.scenario, arguments.seed, &arguments.bug) {
        Ok(case) => case,
        Err(reason) => {
            eprintln!("{reason}");
            return 2;
        }
    };
    let options = options(arguments.check.check_budget_secs, arguments.trace);
    let report = run_one(&case, &options, arguments.json);
    finish(
        &case,
        &report,
        arguments.trace_file.as_deref(),
        arguments.out.as_deref(),
    );
    let mut code = i32::from(!report.passed());
    if arguments.check_determinism {
        code = code.max(check_determinism(arguments, &report));
    }
    code
}

pub fn replay(arguments: &ReplayArgs) -> i32 {
    let text = match std::fs::read_to_string(&arguments.case) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("cannot read {}: {error}", arguments.case.display());
            return 2;
        }
    };
    let case: Case = match serde_json::from_str(&text) {
        Ok(case) => case,
        Err(error) => {
            eprintln!("{}: not a case file: {error}", arguments.case.display());
            return 2;
        }
    };
    let options = options(arguments.check.check_budget_secs, arguments.trace);
    let report = run_one(&case, &options, arguments.json);
    i32::from(!report.passed())
}

fn finish(case: &Case, report: &RunReport, trace_file: Option<&Path>, out: Option<&Path>) {
    if let Some(path) = trace_file {
        let written = std::fs::write(path, report.trace.join("\n") + "\n");
        if let Err(error) = written {
            eprintln!("cannot write {}: {error}", path.display());
        }
    }
    if let (Some(out), false) = (out, report.passed()) {
        match artifacts::write(out, case, report) {
            Ok(directory) => eprintln!("artefacts: {}", directory.display()),
            Err(error) => eprintln!("cannot write artefacts under {}: {error}", out.display()),
        }
    }
}

/// Runs the same seed in a new process and compares the two traces line by line.
fn check_determinism(arguments: &RunArgs, report: &RunReport) -> i32 {
    let directory = std::env::temp_dir().join(format!("om-sim-determinism-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir_all(&directory) {
        eprintln!("cannot create {}: {error}", directory.display());
        return 2;
    }
    let file = directory.join(format!("{}-{}.trace", arguments.scenario, arguments.seed));
    let exe = std::env::current_exe().expect("the running executable");
    let status = std::process::Command::new(exe)
        .args(["run", "--scenario", &arguments.scenario, "--seed"])
        .arg(arguments.seed.to_string())
        .args(arguments.bug.bug.iter().flat_map(|name| ["--bug", name]))
        .arg("--trace-file")
        .arg(&file)
        .args([
            "--check-budget-secs",
            &arguments.check.check_budget_secs.to_string(),
        ])
        .stderr(std::process::Stdio::null())
        .status();
    if let Err(error) = status {
        eprintln!("cannot start the second process: {error}");
        return 2;
    }
    let second = std::fs::read_to_string(&file).unwrap_or_default();
    let _removed = std::fs::remove_dir_all(&directory);
    let second: Vec<&str> = second.lines().collect();
    let first: Vec<&str> = report.trace.iter().map(String::as_str).collect();
    if first == second {
        eprintln!(
            "determinism: identical traces in two processes ({} lines, fingerprint {:016x})",
            first.len(),
            report.fingerprint
        );
        return 0;
    }
    let position = (0..first.len().max(second.len()))
        .find(|&n| first.get(n) != second.get(n))
        .unwrap_or(0);
    eprintln!(
        "determinism: the traces differ at line {}:\n  first:  {}\n  second: {}",
        position + 1,
        first.get(position).unwrap_or(&"<end>"),
        second.get(position).unwrap_or(&"<end>")
    );
    1
}

/// Shrinks a failing seed while it keeps breaking one of the properties it broke at first.
pub fn shrink(arguments: &ShrinkArgs) -> i32 {
    let case = match case_of(&arguments.scenario, arguments.seed, &arguments.bug) {
        Ok(case) => case,
        Err(reason) => {
            eprintln!("{reason}");
            return 2;
        }
    };
    let options = options(arguments.check.check_budget_secs, false);
    let first = run_case(&case, &options);
    if first.passed() {
        eprintln!(
            "{} seed {} passes: nothing to shrink",
            case.preset, case.seed
        );
        return 0;
    }
    eprintln!(
        "{} seed {} fails ({}) with {} fault actions and {} client steps; shrinking",
        case.preset,
        case.seed,
        first.failed_properties(),
        case.schedule.len(),
        case.workload.len()
    );
    let (minimal, runs) = shrink_failure(case, &first, &options, arguments.runs_max, |smaller| {
        eprintln!(
            "  still fails with {} fault actions, {} client steps",
            smaller.schedule.len(),
            smaller.workload.len()
        );
    });
    let report = run_case(&minimal, &options);
    let reseeded = match minimal.generated_from {
        Some(_) => format!(" (under scheduler seed {})", minimal.seed),
        None => String::new(),
    };
    eprintln!(
        "minimal case after {} runs: {} fault actions, {} client steps{}:\n{}",
        runs,
        minimal.schedule.len(),
        minimal.workload.len(),
        reseeded,
        minimal.schedule
    );
    print_verdict(&minimal, &report);
    match artifacts::write(&arguments.out, &minimal, &report) {
        Ok(directory) => {
            eprintln!(
                "replay: ci/sim replay --case {}",
                directory.join("case.json").display()
            );
            1
        }
        Err(error) => {
            eprintln!("cannot write under {}: {error}", arguments.out.display());
            2
        }
    }
}

/// Shrinks `case`, which failed as `first` says, while it keeps breaking one of the properties
/// `first` broke (at most `runs_max` runs). Returns the minimal case and the runs spent.
pub fn shrink_failure(
    case: Case,
    first: &RunReport,
    options: &RunOptions,
    runs_max: u32,
    on_smaller: impl FnMut(&Case),
) -> (Case, u32) {
    let broken: Vec<_> = (first.violations.iter())
        .map(|violation| violation.property)
        .collect();
    let runs = std::cell::Cell::new(0);
    let fails = |candidate: &Case| {
        runs.set(runs.get() + 1);
        let report = run_case(candidate, options);
        (report.violations.iter()).any(|violation| broken.contains(&violation.property))
    };
    let minimal = crate::shrink::shrink(case, runs_max, fails, on_smaller);
    (minimal, runs.get())
}
