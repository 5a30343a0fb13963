//! `om-sim check`: checks history files and prints one verdict a line.
//!
//! ```text
//! om-sim check --model cas-register|om --format jepsen|json [--timeout-secs N] [--html DIR] FILE...
//! ```
//!
//! Prints `<file> linearizable|not-linearizable|unknown` per file, then a summary line; the
//! explanation of each refuted (or unfinished) history goes to stderr, and with `--html DIR` a
//! timeline of each history goes to `DIR/<file name>.html`. Exit code: 0 when every history is
//! linearizable, 1 when some is not, 3 when none is refuted but some are unknown, 2 on unreadable
//! input (a Jepsen log without any operation counts as unreadable) or bad arguments.
//! `--help` prints the usage to stdout and exits 0.

use std::hash::Hash;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::checker::budget::wall_clock_now;
use crate::checker::explain::render_text;
use crate::checker::history::History;
use crate::checker::linearizability::{check, CheckOptions, Verdict};
use crate::checker::model::cas_register::{CasRegister, RegisterInput, RegisterOutput};
use crate::checker::model::om::OmSpec;
use crate::checker::model::Model;
use crate::checker::timeline::write_html;
use crate::checker::{jepsen, json_lines};

/// Exit code: every history is linearizable.
pub const EXIT_LINEARIZABLE: i32 = 0;
/// Exit code: some history is not linearizable.
pub const EXIT_NOT_LINEARIZABLE: i32 = 1;
/// Exit code: unreadable input or bad arguments.
pub const EXIT_UNREADABLE: i32 = 2;
/// Exit code: nothing refuted, but some check ran out of budget.
pub const EXIT_UNKNOWN: i32 = 3;

const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// Usage of the `check` subcommand.
pub const CHECK_USAGE: &str = "usage: om-sim check --model cas-register|om --format jepsen|json \
[--timeout-secs N] [--html DIR] FILE...";

/// Help for the `check` subcommand.
const CHECK_HELP: &str = "\
Checks each history FILE for linearizability and prints `FILE linearizable|not-linearizable|\
unknown|unreadable`, then a summary line; explanations go to stderr.

  --model cas-register|om   the sequential model (cas-register: Jepsen's etcd register)
  --format jepsen|json      jepsen: jepsen.util log lines; json: one operation per line
  --timeout-secs N          budget per history (default 10); past it the verdict is unknown
  --html DIR                also draw each history as DIR/<file name>.html
  -h, --help                this help

Exit code: 0 all linearizable, 1 some not linearizable, 3 none refuted but some unknown,
2 unreadable input or bad arguments.";

/// Prints the usage of every subcommand to stdout (`om-sim help`); returns the exit code.
pub fn run_help(bench_usage: &str) -> i32 {
    println!("om-sim: the simulation testbed's command line\n\n{CHECK_USAGE}\n{bench_usage}\n");
    println!("`om-sim check --help` describes the checker's flags.");
    EXIT_LINEARIZABLE
}

/// What the arguments ask for.
#[derive(Debug)]
enum Request {
    Check(CheckArguments),
    Help,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModelName {
    CasRegister,
    Om,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Jepsen,
    Json,
}

#[derive(Debug)]
struct CheckArguments {
    model: ModelName,
    format: Format,
    options: CheckOptions,
    html: Option<PathBuf>,
    files: Vec<PathBuf>,
}

/// Counts of verdicts over the files checked.
#[derive(Debug, Default)]
struct Tally {
    linearizable: usize,
    not_linearizable: usize,
    unknown: usize,
    unreadable: usize,
}

/// Runs `om-sim check ARGS`; returns the exit code.
pub fn run_check(arguments: &[String]) -> i32 {
    let arguments = match parse_check_arguments(arguments) {
        Ok(Request::Check(arguments)) => arguments,
        Ok(Request::Help) => {
            println!("{CHECK_USAGE}\n\n{CHECK_HELP}");
            return EXIT_LINEARIZABLE;
        }
        Err(message) => {
            eprintln!("error: {message}\n{CHECK_USAGE}");
            return EXIT_UNREADABLE;
        }
    };
    let started = wall_clock_now();
    let mut tally = Tally::default();
    for file in &arguments.files {
        let verdict = match (arguments.model, arguments.format) {
            (ModelName::CasRegister, Format::Jepsen) => read_history(file, parse_jepsen)
                .map(|history| check_one(&CasRegister, &history, file, &arguments)),
            (ModelName::CasRegister, Format::Json) => check_json(&CasRegister, file, &arguments),
            (ModelName::Om, Format::Json) => check_json(&OmSpec, file, &arguments),
            (ModelName::Om, Format::Jepsen) => unreachable!("rejected while parsing arguments"),
        };
        match verdict {
            Some(Verdict::Linearizable) => tally.linearizable += 1,
            Some(Verdict::NotLinearizable) => tally.not_linearizable += 1,
            Some(Verdict::Unknown) => tally.unknown += 1,
            None => tally.unreadable += 1,
        }
    }
    println!(
        "summary: {} histories: {} linearizable, {} not-linearizable, {} unknown, {} unreadable ({:.3} s)",
        arguments.files.len(),
        tally.linearizable,
        tally.not_linearizable,
        tally.unknown,
        tally.unreadable,
        started.elapsed().as_secs_f64()
    );
    exit_code(&tally)
}

fn exit_code(tally: &Tally) -> i32 {
    if tally.unreadable > 0 {
        EXIT_UNREADABLE
    } else if tally.not_linearizable > 0 {
        EXIT_NOT_LINEARIZABLE
    } else if tally.unknown > 0 {
        EXIT_UNKNOWN
    } else {
        EXIT_LINEARIZABLE
    }
}

fn parse_check_arguments(arguments: &[String]) -> Result<Request, String> {
    let mut model = None;
    let mut format = None;
    let mut timeout_secs = DEFAULT_TIMEOUT_SECS;
    let mut html = None;
    let mut files = Vec::new();
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        let mut value = || iterator.next().ok_or(format!("{argument} needs a value"));
        match argument.as_str() {
            "--model" => {
                model = Some(match value()?.as_str() {
                    "cas-register" => ModelName::CasRegister,
                    "om" => ModelName::Om,
                    other => return Err(format!("unknown model `{other}` (cas-register, om)")),
                });
            }
            "--format" => {
                format = Some(match value()?.as_str() {
                    "jepsen" => Format::Jepsen,
                    "json" => Format::Json,
                    other => return Err(format!("unknown format `{other}` (jepsen, json)")),
                });
            }
            "--timeout-secs" => {
                let text = value()?;
                timeout_secs = text
                    .parse()
                    .map_err(|_| format!("bad --timeout-secs `{text}`"))?;
            }
            "--html" => html = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Ok(Request::Help),
            flag if flag.starts_with("--") => return Err(format!("unknown flag `{flag}`")),
            file => files.push(PathBuf::from(file)),
        }
    }
    let model = model.ok_or("--model is required")?;
    let format = format.ok_or("--format is required")?;
    if (model, format) == (ModelName::Om, Format::Jepsen) {
        return Err(
            "the jepsen format holds register histories: use --model cas-register".to_string(),
        );
    }
    if files.is_empty() {
        return Err("no history file given".to_string());
    }
    let options = CheckOptions {
        timeout: Some(Duration::from_secs(timeout_secs)),
        ..CheckOptions::default()
    };
    Ok(Request::Check(CheckArguments {
        model,
        format,
        options,
        html,
        files,
    }))
}

/// A Jepsen log; one without any operation is unreadable (not an empty, linearizable history:
/// more likely the wrong file or format).
fn parse_jepsen(text: &str) -> Result<History<RegisterInput, RegisterOutput>, jepsen::ParseError> {
    let history = jepsen::parse(text)?;
    if history.is_empty() {
        return Err(jepsen::ParseError {
            line: 0,
            message: "no operation found (a Jepsen log has lines like \
                      `INFO jepsen.util - 3 :invoke :write 1`)"
                .to_string(),
        });
    }
    Ok(history)
}

/// Reads and parses a file, reporting a failure on stderr.
fn read_history<Input, Output>(
    file: &Path,
    parse: impl Fn(&str) -> Result<History<Input, Output>, jepsen::ParseError>,
) -> Option<History<Input, Output>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: {}: cannot read: {error}", file.display());
            println!("{} unreadable", file.display());
            return None;
        }
    };
    match parse(&text) {
        Ok(history) => Some(history),
        Err(error) if error.line == 0 => {
            eprintln!("error: {}: {}", file.display(), error.message);
            println!("{} unreadable", file.display());
            None
        }
        Err(error) => {
            eprintln!(
                "error: {}:{}: {}",
                file.display(),
                error.line,
                error.message
            );
            println!("{} unreadable", file.display());
            None
        }
    }
}

fn check_json<M>(model: &M, file: &Path, arguments: &CheckArguments) -> Option<Verdict>
where
    M: Model,
    M::Input: DeserializeOwned,
    M::Output: DeserializeOwned,
    M::State: Hash,
{
    read_history(file, json_lines::parse).map(|history| check_one(model, &history, file, arguments))
}

fn check_one<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    file: &Path,
    arguments: &CheckArguments,
) -> Verdict
where
    M::State: Hash,
{
    let report = check(model, history, &arguments.options);
    println!("{} {}", file.display(), report.verdict);
    if report.verdict != Verdict::Linearizable {
        let explanation = render_text(model, history, &report);
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{}: {explanation}", file.display());
    }
    if let Some(directory) = &arguments.html {
        let name = file
            .file_name()
            .map_or("history".into(), |name| name.to_string_lossy());
        let path = directory.join(format!("{name}.html"));
        let title = file.display().to_string();
        if let Err(error) = write_html(&path, &title, model, history, &report) {
            eprintln!("error: cannot write {}: {error}", path.display());
        }
    }
    report.verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    #[test]
    fn arguments_parse_and_reject() {
        let Ok(Request::Check(parsed)) = parse_check_arguments(&strings(&[
            "--model",
            "cas-register",
            "--format",
            "jepsen",
            "--timeout-secs",
            "3",
            "--html",
            "out",
            "a.log",
            "b.log",
        ])) else {
            panic!("valid arguments");
        };
        assert_eq!(parsed.files.len(), 2);
        assert_eq!(parsed.options.timeout, Some(Duration::from_secs(3)));
        assert!(matches!(
            parse_check_arguments(&strings(&["--help"])),
            Ok(Request::Help)
        ));
        assert!(
            parse_check_arguments(&strings(&["--model", "om", "--format", "jepsen", "x"])).is_err()
        );
        assert!(parse_check_arguments(&strings(&["--model", "om", "--format", "json"])).is_err());
        assert!(
            parse_check_arguments(&strings(&["--model", "raft", "--format", "json", "x"])).is_err()
        );
        assert!(parse_check_arguments(&strings(&[
            "--model", "om", "--format", "json", "--bogus", "x"
        ]))
        .is_err());
    }

    #[test]
    fn exit_codes_rank_unreadable_then_refuted_then_unknown() {
        let tally = |linearizable, not_linearizable, unknown, unreadable| Tally {
            linearizable,
            not_linearizable,
            unknown,
            unreadable,
        };
        assert_eq!(exit_code(&tally(3, 0, 0, 0)), EXIT_LINEARIZABLE);
        assert_eq!(exit_code(&tally(0, 0, 0, 0)), EXIT_LINEARIZABLE);
        assert_eq!(exit_code(&tally(3, 1, 1, 0)), EXIT_NOT_LINEARIZABLE);
        assert_eq!(exit_code(&tally(3, 0, 1, 0)), EXIT_UNKNOWN);
        assert_eq!(exit_code(&tally(3, 1, 1, 1)), EXIT_UNREADABLE);
    }
}
