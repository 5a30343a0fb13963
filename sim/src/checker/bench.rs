//! `om-sim bench-checker`: times the checker on the etcd histories, on large generated ones, on
//! one contended OM volume (without and with lost answers), and measures how closely the budget
//! is kept on a history no budget decides.
//!
//! ```text
//! om-sim bench-checker [--etcd DIR] [--operations N] [--keys K] [--volumes V]
//!     [--contended-operations N] [--contended-timeout-secs N] [--budgets-secs 1,5] [--seed S]
//!     [--recorded DIR]
//! om-sim bench-checker --write-histories DIR   (the hard histories, as JSON lines)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::checker::bench_recorded::{bench_recorded, RECORDED_DIR};
use crate::checker::budget::wall_clock_now;
use crate::checker::cli::{EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_UNREADABLE};
use crate::checker::history::{History, Operation};
use crate::checker::linearizability::{check, CheckOptions, Verdict};
use crate::checker::model::cas_register::CasRegister;
use crate::checker::model::cas_register::{RegisterInput, RegisterOutput};
use crate::checker::model::om::OmSpec;
use crate::checker::model::om::{OmOp, OmOutcome};
use crate::checker::workload::om::{om_steps, OmWorkloadOptions};
use crate::checker::workload::register::register_steps;
use crate::checker::workload::{stretch, StretchOptions};
use crate::checker::{jepsen, json_lines};

/// Where the etcd histories are, seen from this crate.
pub const ETCD_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/porcupine-etcd"
);
/// Usage of the `bench-checker` subcommand.
pub const BENCH_USAGE: &str =
    "usage: om-sim bench-checker [--etcd DIR] [--operations N] [--keys K] \
[--volumes V] [--contended-operations N] [--contended-timeout-secs N] [--budgets-secs 1,5] \
[--seed S] [--recorded DIR] | --write-histories DIR";
/// Slowest histories listed.
const SLOWEST_SHOWN: usize = 5;

#[derive(Debug)]
struct BenchArguments {
    etcd: PathBuf,
    operations: usize,
    keys: u64,
    volumes: usize,
    contended_operations: usize,
    contended_timeout_secs: u64,
    budgets_secs: Vec<u64>,
    write_histories: Option<PathBuf>,
    recorded: PathBuf,
    seed: u64,
}

/// Runs `om-sim bench-checker ARGS`; returns the exit code.
pub fn run_bench(arguments: &[String]) -> i32 {
    let arguments = match parse_bench_arguments(arguments) {
        Ok(arguments) => arguments,
        Err(message) => {
            eprintln!("error: {message}\n{BENCH_USAGE}");
            return EXIT_UNREADABLE;
        }
    };
    if let Some(directory) = &arguments.write_histories {
        return match write_histories(directory, &arguments) {
            Ok(()) => EXIT_LINEARIZABLE,
            Err(message) => {
                eprintln!("error: {message}");
                EXIT_UNREADABLE
            }
        };
    }
    let recorded = bench_recorded(&arguments.recorded, Duration::from_secs(10));
    let etcd = bench_etcd(&arguments.etcd);
    let mut wrong = match recorded.and_then(|recorded| Ok(recorded + etcd?)) {
        Ok(wrong) => wrong,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_UNREADABLE;
        }
    };
    wrong += usize::from(bench_register(&arguments) != Verdict::Linearizable);
    wrong += usize::from(bench_om(&arguments) != Verdict::Linearizable);
    wrong += bench_om_contended(&arguments);
    wrong += bench_budgets(&arguments.budgets_secs);
    if wrong > 0 {
        eprintln!("error: {wrong} verdicts differ from the expected ones");
        return EXIT_NOT_LINEARIZABLE;
    }
    EXIT_LINEARIZABLE
}

fn parse_bench_arguments(arguments: &[String]) -> Result<BenchArguments, String> {
    let mut parsed = BenchArguments {
        etcd: PathBuf::from(ETCD_DIR),
        operations: 100_000,
        keys: 1000,
        volumes: 500,
        contended_operations: 5000,
        contended_timeout_secs: 10,
        budgets_secs: vec![1, 5],
        write_histories: None,
        recorded: PathBuf::from(RECORDED_DIR),
        seed: 1,
    };
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        let value = iterator.next().ok_or(format!("{argument} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("bad {argument} `{value}`"))
        };
        match argument.as_str() {
            "--etcd" => parsed.etcd = PathBuf::from(value),
            "--recorded" => parsed.recorded = PathBuf::from(value),
            "--operations" => parsed.operations = number()? as usize,
            "--keys" => parsed.keys = number()?.max(1),
            "--volumes" => parsed.volumes = number()?.max(1) as usize,
            "--contended-operations" => parsed.contended_operations = number()? as usize,
            "--contended-timeout-secs" => parsed.contended_timeout_secs = number()?,
            "--budgets-secs" => {
                parsed.budgets_secs = value
                    .split(',')
                    .map(|part| part.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("bad {argument} `{value}`"))?;
            }
            "--write-histories" => parsed.write_histories = Some(PathBuf::from(value)),
            "--seed" => parsed.seed = number()?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(parsed)
}

/// Checks every history listed in `DIR/EXPECTED`; returns how many verdicts differ.
fn bench_etcd(directory: &Path) -> Result<usize, String> {
    let expected_path = directory.join("EXPECTED");
    let expected = std::fs::read_to_string(&expected_path)
        .map_err(|error| format!("{}: cannot read: {error}", expected_path.display()))?;
    let options = CheckOptions {
        timeout: None,
        workers: 2,
    };
    let mut timings: Vec<(Duration, String)> = Vec::new();
    let mut wrong = 0;
    let started = wall_clock_now();
    for line in expected.lines().filter(|line| !line.trim().is_empty()) {
        let (file, verdict) = line
            .split_once(char::is_whitespace)
            .ok_or(format!("bad EXPECTED line `{line}`"))?;
        let path = directory.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        let history =
            jepsen::parse(&text).map_err(|error| format!("{}:{error}", path.display()))?;
        let report = check(&CasRegister, &history, &options);
        let agrees = report.verdict.to_string() == verdict.trim();
        wrong += usize::from(!agrees);
        println!(
            "{file:<14} {:>4} ops  {:<16} {:>9.3} ms{}",
            history.len(),
            report.verdict.to_string(),
            report.elapsed.as_secs_f64() * 1e3,
            if agrees { "" } else { "  WRONG" }
        );
        timings.push((report.elapsed, file.to_string()));
    }
    let wall = started.elapsed();
    let checking: Duration = timings.iter().map(|(elapsed, _)| *elapsed).sum();
    timings.sort_by(|a, b| b.cmp(a));
    let slowest: Vec<String> = timings
        .iter()
        .take(SLOWEST_SHOWN)
        .map(|(elapsed, file)| format!("{file} {:.2} ms", elapsed.as_secs_f64() * 1e3))
        .collect();
    println!(
        "etcd: {} histories, checking {:.3} s total ({:.3} s with reading and parsing), {} wrong; slowest: {}",
        timings.len(),
        checking.as_secs_f64(),
        wall.as_secs_f64(),
        wrong,
        slowest.join(", ")
    );
    Ok(wrong)
}

fn bench_register(arguments: &BenchArguments) -> Verdict {
    let mut rng = StdRng::seed_from_u64(arguments.seed);
    let steps = register_steps(&mut rng, arguments.operations, arguments.keys, 2);
    let stretch_options = StretchOptions {
        clients: 16,
        spacing_ns: 10,
        stretch_ns: 60,
    };
    let history = stretch(steps, &stretch_options, &mut rng);
    let report = check(
        &CasRegister,
        &history,
        &CheckOptions {
            timeout: Some(Duration::from_secs(120)),
            workers: 2,
        },
    );
    println!(
        "register: {} operations over {} keys ({} parts): {} in {:.3} s",
        history.len(),
        arguments.keys,
        report.parts.len(),
        report.verdict,
        report.elapsed.as_secs_f64()
    );
    report.verdict
}

fn bench_om(arguments: &BenchArguments) -> Verdict {
    let mut rng = StdRng::seed_from_u64(arguments.seed);
    let workload = OmWorkloadOptions {
        volumes: arguments.volumes,
        list_volumes: false,
        indeterminate_percent: 2,
    };
    let steps = om_steps(&mut rng, arguments.operations, &workload);
    let stretch_options = StretchOptions {
        clients: 16,
        spacing_ns: 10,
        stretch_ns: 60,
    };
    let history = stretch(steps, &stretch_options, &mut rng);
    let report = check(
        &OmSpec,
        &history,
        &CheckOptions {
            timeout: Some(Duration::from_secs(120)),
            workers: 2,
        },
    );
    println!(
        "om: {} operations over {} volumes ({} parts): {} in {:.3} s",
        history.len(),
        arguments.volumes,
        report.parts.len(),
        report.verdict,
        report.elapsed.as_secs_f64()
    );
    report.verdict
}

/// One OM volume under 16 clients, stretched as the property tests do; `lost_percent` of the
/// requests lose their answer.
pub fn contended_om_history(
    operations: usize,
    lost_percent: u32,
    seed: u64,
) -> History<OmOp, OmOutcome> {
    let mut rng = StdRng::seed_from_u64(seed);
    let workload = OmWorkloadOptions {
        volumes: 1,
        list_volumes: false,
        indeterminate_percent: lost_percent,
    };
    let steps = om_steps(&mut rng, operations, &workload);
    let stretch_options = StretchOptions {
        clients: 16,
        spacing_ns: 10,
        stretch_ns: 60,
    };
    stretch(steps, &stretch_options, &mut rng)
}

/// 40 concurrent writes and a read of a value none wrote: refuting it means trying every subset
/// of the writes, so no budget decides it.
pub fn undecidable_register_history() -> History<RegisterInput, RegisterOutput> {
    let mut operations: Vec<_> = (0..40)
        .map(|client| {
            Operation::completed(
                client,
                0,
                100,
                RegisterInput::write(client as i64),
                RegisterOutput::Write,
            )
        })
        .collect();
    operations.push(Operation::completed(
        40,
        50,
        60,
        RegisterInput::read(),
        RegisterOutput::Read { value: Some(-1) },
    ));
    History::new(operations)
}

/// The contended OM history without and with lost answers; returns how many verdicts are wrong
/// (none may be refuted; without lost answers it must be decided).
fn bench_om_contended(arguments: &BenchArguments) -> usize {
    let mut wrong = 0;
    for lost_percent in [0, 2] {
        let history =
            contended_om_history(arguments.contended_operations, lost_percent, arguments.seed);
        let options = CheckOptions {
            timeout: Some(Duration::from_secs(arguments.contended_timeout_secs)),
            workers: 2,
        };
        let report = check(&OmSpec, &history, &options);
        let expected = report.verdict == Verdict::Linearizable
            || (lost_percent > 0 && report.verdict == Verdict::Unknown);
        wrong += usize::from(!expected);
        println!(
            "om contended: {} operations on one volume, 16 clients, {lost_percent} % lost: {} in {:.3} s ({} steps, memo peak {} KiB){}",
            history.len(),
            report.verdict,
            report.elapsed.as_secs_f64(),
            report.steps,
            report.memo_peak_bytes >> 10,
            if expected { "" } else { "  WRONG" }
        );
    }
    wrong
}

/// How closely the budget is kept: the undecidable history with each budget.
fn bench_budgets(budgets: &[u64]) -> usize {
    let history = undecidable_register_history();
    let mut wrong = 0;
    for &seconds in budgets {
        let budget = Duration::from_secs(seconds);
        let options = CheckOptions {
            timeout: Some(budget),
            workers: 2,
        };
        let started = wall_clock_now();
        let report = check(&CasRegister, &history, &options);
        let wall = started.elapsed();
        wrong += usize::from(report.verdict != Verdict::Unknown);
        println!(
            "budget {seconds} s: {} after {:.3} s wall ({:+.2} %), {} steps, memo peak {} KiB",
            report.verdict,
            wall.as_secs_f64(),
            (wall.as_secs_f64() / budget.as_secs_f64() - 1.0) * 100.0,
            report.steps,
            report.memo_peak_bytes >> 10
        );
    }
    wrong
}

/// Writes the hard histories as JSON lines into `directory` (for measuring `om-sim check`).
fn write_histories(directory: &Path, arguments: &BenchArguments) -> Result<(), String> {
    let files = [
        (
            "undecidable-register.jsonl",
            json_lines::write(&undecidable_register_history()),
        ),
        (
            "om-contended-lost.jsonl",
            json_lines::write(&contended_om_history(
                arguments.contended_operations,
                2,
                arguments.seed,
            )),
        ),
    ];
    std::fs::create_dir_all(directory).map_err(|error| error.to_string())?;
    for (name, text) in files {
        let path = directory.join(name);
        std::fs::write(&path, text).map_err(|error| format!("{}: {error}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}
