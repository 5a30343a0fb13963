//! `om-sim`'s commands (clap): list the presets, run one seed, replay a saved case, sweep seeds
//! in worker processes, bench, and the checker's own commands.

mod artifacts;
mod coverage;
mod run;
mod selftest;
mod sweep;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub use run::run_one;

#[derive(Parser)]
#[command(
    name = "om-sim",
    about = "Deterministic simulation testbed for the Ozone Manager"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Each preset and what it provokes.
    List,
    /// Runs one seed of a preset and checks it.
    Run(RunArgs),
    /// Runs a saved case (schedule + workload + seed), e.g. a shrunk failure.
    Replay(ReplayArgs),
    /// Shrinks a failing seed to a minimal case (fewer, shorter faults; fewer client steps)
    /// that still breaks the same property, and saves it for `replay`.
    Shrink(ShrinkArgs),
    /// Runs many seeds in worker processes, with a progress bar and a summary table.
    Sweep(SweepArgs),
    /// Simulated seconds per wall second and seeds per hour of the kitchen sink.
    Bench(BenchArgs),
    /// Plants each defect of the bug zoo in turn and sweeps seeds until the testbed catches it;
    /// shrinks the catch and checks the unbroken server passes the same seed.
    Selftest(SelftestArgs),
    /// One defect of `selftest` (its row as JSON on stdout).
    #[command(hide = true)]
    SelftestDefect(SelftestDefectArgs),
    /// Runs cases named on stdin ("PRESET SEED" lines) and prints one JSON report per line.
    #[command(hide = true)]
    Worker(WorkerArgs),
    /// Checks recorded histories for linearizability (see `om-sim check --help`).
    #[command(disable_help_flag = true)]
    Check {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        arguments: Vec<String>,
    },
    /// The checker's benchmark.
    #[command(disable_help_flag = true)]
    BenchChecker {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        arguments: Vec<String>,
    },
}

#[derive(Args, Clone)]
pub struct CheckArgs {
    /// The linearizability checker's wall-clock budget per run, in seconds.
    #[arg(long, default_value_t = 10)]
    pub check_budget_secs: u64,
}

/// `--bug NAME`: a defect of the bug zoo planted in the server for the run.
#[derive(Args, Clone, Default)]
pub struct BugArgs {
    /// Plants a defect of the bug zoo (`om-sim selftest --list` names them).
    #[arg(long = "bug")]
    pub bug: Option<String>,
}

impl BugArgs {
    /// The defect named, checked against this build (madsim builds carry the zoo).
    pub fn defect(&self) -> Result<Option<om_server::bug_zoo::Defect>, String> {
        let Some(name) = &self.bug else {
            return Ok(None);
        };
        let defect = om_server::bug_zoo::Defect::from_name(name).ok_or_else(|| {
            let names: Vec<_> = (om_server::bug_zoo::Defect::ALL.iter())
                .map(|defect| defect.name())
                .collect();
            format!("unknown defect {name}; defects: {}", names.join(", "))
        })?;
        om_server::bug_zoo::plant(Some(defect))?;
        om_server::bug_zoo::plant(None)?;
        Ok(Some(defect))
    }
}

#[derive(Args)]
pub struct RunArgs {
    /// A preset name (`om-sim list`).
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// Runs the seed again in a second process and compares the traces byte for byte.
    #[arg(long)]
    pub check_determinism: bool,
    /// Prints every trace line (client calls, faults, server-visible events) as it happens.
    #[arg(long)]
    pub trace: bool,
    /// Prints the case (config, schedule, workload) and the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Writes the trace here (one line per event).
    #[arg(long)]
    pub trace_file: Option<PathBuf>,
    /// Writes the case, history, trace, timeline and replay line here when the run fails.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub bug: BugArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// A case file written by `run --out`, `sweep --out` or the shrinker.
    #[arg(long)]
    pub case: PathBuf,
    #[arg(long)]
    pub trace: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args)]
pub struct ShrinkArgs {
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// Where the minimal case and its artefacts go.
    #[arg(long, default_value = "target/sim-shrunk")]
    pub out: PathBuf,
    /// Runs tried at most.
    #[arg(long, default_value_t = 300)]
    pub runs_max: u32,
    #[command(flatten)]
    pub bug: BugArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args)]
pub struct SweepArgs {
    /// `all` or a preset name.
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Seeds `A..B` (inclusive of both ends).
    #[arg(long, default_value = "1..20")]
    pub seeds: String,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// `K/N`: only the K-th of N shards of the seeds (1-based), for CI matrices.
    #[arg(long)]
    pub shard: Option<String>,
    /// Where failing seeds' artefacts and `summary.json` go.
    #[arg(long, default_value = "target/sim-sweep")]
    pub out: PathBuf,
    /// No progress bar (logs and CI).
    #[arg(long)]
    pub quiet: bool,
    /// Fails (exit 1) when a coverage mark fired in none of the sweep's runs.
    #[arg(long)]
    pub require_coverage: bool,
    #[command(flatten)]
    pub bug: BugArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value = "kitchen-sink")]
    pub scenario: String,
    /// Seeds run one after another on one core.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args)]
pub struct SelftestArgs {
    /// Defects to try, comma-separated, or `all`.
    #[arg(long, default_value = "all")]
    pub defects: String,
    /// Seeds tried per defect before it counts as surviving.
    #[arg(long, default_value_t = 200)]
    pub seeds_max: u64,
    /// Defects tried at once (one process each).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Runs the shrinker may spend on each catch.
    #[arg(long, default_value_t = 400)]
    pub shrink_runs_max: u32,
    /// Where each catch's shrunk case and artefacts go, and `selftest.json`.
    #[arg(long, default_value = "target/sim-selftest")]
    pub out: PathBuf,
    /// Names every defect and what it does, then exits.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args)]
pub struct SelftestDefectArgs {
    #[arg(long)]
    pub defect: String,
    #[arg(long)]
    pub seeds_max: u64,
    #[arg(long)]
    pub shrink_runs_max: u32,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args)]
pub struct WorkerArgs {
    /// Where failing seeds' artefacts go.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub bug: BugArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Runs the command line; returns the process's exit code.
pub fn main(cli: Cli) -> i32 {
    match cli.command {
        Command::List => {
            list();
            0
        }
        Command::Run(arguments) => run::run(&arguments),
        Command::Replay(arguments) => run::replay(&arguments),
        Command::Shrink(arguments) => run::shrink(&arguments),
        Command::Sweep(arguments) => sweep::sweep(&arguments),
        Command::Bench(arguments) => sweep::bench(&arguments),
        Command::Worker(arguments) => sweep::worker(&arguments),
        Command::Selftest(arguments) => selftest::selftest(&arguments),
        Command::SelftestDefect(arguments) => selftest::one_defect(&arguments),
        Command::Check { arguments } => crate::checker::cli::run_check(&arguments),
        Command::BenchChecker { arguments } => crate::checker::bench::run_bench(&arguments),
    }
}

fn list() {
    for preset in crate::preset::PRESETS {
        println!("{:<16} {}", preset.name, preset.provokes);
    }
}

/// The presets `scenario` names (`all` = every one).
pub fn presets(scenario: &str) -> Result<Vec<&'static crate::preset::Preset>, String> {
    if scenario == "all" {
        return Ok(crate::preset::PRESETS.iter().collect());
    }
    scenario
        .split(',')
        .map(|name| {
            crate::preset::find(name).ok_or_else(|| {
                let names: Vec<_> = crate::preset::PRESETS.iter().map(|p| p.name).collect();
                format!("unknown scenario {name}; presets: {}", names.join(", "))
            })
        })
        .collect()
}
