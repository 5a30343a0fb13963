//! `om-sim bench-checker`: times the checker on the etcd histories and on large generated ones.
//!
//! ```text
//! om-sim bench-checker [--etcd DIR] [--operations N] [--keys K] [--volumes V] [--seed S]
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::checker::budget::wall_clock_now;
use crate::checker::cli::{EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_UNREADABLE};
use crate::checker::jepsen;
use crate::checker::linearizability::{check, CheckOptions, Verdict};
use crate::checker::model::cas_register::CasRegister;
use crate::checker::model::om::OmSpec;
use crate::checker::workload::om::{om_steps, OmWorkloadOptions};
use crate::checker::workload::register::register_steps;
use crate::checker::workload::{stretch, StretchOptions};

/// Where the etcd histories are, seen from this crate.
pub const ETCD_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/porcupine-etcd"
);
/// Usage of the `bench-checker` subcommand.
pub const BENCH_USAGE: &str =
    "usage: om-sim bench-checker [--etcd DIR] [--operations N] [--keys K] [--volumes V] [--seed S]";
/// Slowest histories listed.
const SLOWEST_SHOWN: usize = 5;

#[derive(Debug)]
struct BenchArguments {
    etcd: PathBuf,
    operations: usize,
    keys: u64,
    volumes: usize,
    contended_operations: usize,
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
    let mut wrong = match bench_etcd(&arguments.etcd) {
        Ok(wrong) => wrong,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_UNREADABLE;
        }
    };
    wrong += usize::from(bench_register(&arguments) != Verdict::Linearizable);
    wrong += usize::from(bench_om(&arguments) != Verdict::Linearizable);
    wrong += usize::from(bench_om_contended(&arguments) != Verdict::Linearizable);
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
            "--operations" => parsed.operations = number()? as usize,
            "--keys" => parsed.keys = number()?.max(1),
            "--volumes" => parsed.volumes = number()?.max(1) as usize,
            "--contended-operations" => parsed.contended_operations = number()? as usize,
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

fn bench_om_contended(arguments: &BenchArguments) -> Verdict {
    let mut rng = StdRng::seed_from_u64(arguments.seed);
    let workload = OmWorkloadOptions {
        volumes: 1,
        list_volumes: false,
        indeterminate_percent: 2,
    };
    let steps = om_steps(&mut rng, arguments.contended_operations, &workload);
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
        "om contended: {} operations on one volume, 16 clients ({} parts): {} in {:.3} s",
        history.len(),
        report.parts.len(),
        report.verdict,
        report.elapsed.as_secs_f64()
    );
    report.verdict
}
