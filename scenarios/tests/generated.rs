//! Generated cases under proptest: for each preset, random seeds each give a fault schedule and
//! a workload (`om_sim::config::Case`); every run is checked (linearizability, durability after
//! an all-node power loss, identical replicas, Raft safety, liveness, no uninjected fail-stop).
//! A failure shrinks (fewer, shorter faults; fewer client steps), the minimal case is written to
//! `target/sim-shrunk/<preset>.json` for `ci/sim replay --case`, and proptest records the seed
//! in its regression file. `PROPTEST_CASES` sets the cases per preset (default 3).
#![cfg(madsim)]

use om_sim::config::Case;
use om_sim::preset::PRESETS;
use om_sim::runner::{run_case, RunOptions};
use om_sim::shrink::CaseStrategy;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use std::time::Duration;

fn cases_per_preset() -> u32 {
    #[allow(clippy::disallowed_methods)] // proptest's own knob, read as proptest reads it
    let cases = std::env::var("PROPTEST_CASES").ok();
    cases.and_then(|cases| cases.parse().ok()).unwrap_or(3)
}

fn save(case: &Case) {
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/sim-shrunk");
    let path = format!("{directory}/{}.json", case.preset);
    let written = std::fs::create_dir_all(directory)
        .and_then(|()| std::fs::write(&path, serde_json::to_string_pretty(case).expect("json")));
    if let Err(error) = written {
        eprintln!("cannot save the case to {path}: {error}");
    }
}

#[test]
fn generated_cases_pass_every_check() {
    let options = RunOptions {
        check_budget: Duration::from_secs(20),
        print_trace: false,
    };
    for preset in PRESETS {
        let config = Config {
            cases: cases_per_preset(),
            max_shrink_iters: 300,
            // A failing case can be slow to judge (an undecided history takes the whole check
            // budget): shrinking stops after two minutes with the smallest case found so far.
            max_shrink_time: 120_000,
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
            source_file: Some(file!()),
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        let strategy = CaseStrategy {
            preset,
            seeds: any::<u64>(),
        };
        let outcome = runner.run(&strategy, |case| {
            let report = run_case(&case, &options);
            if !report.passed() {
                save(&case);
            }
            prop_assert!(
                report.passed(),
                "{} seed {} ({} fault actions, {} client steps) broke {}:\n{}\nschedule:\n{}",
                case.preset,
                case.seed,
                case.schedule.len(),
                case.workload.len(),
                report.failed_properties(),
                report
                    .violations
                    .iter()
                    .map(|v| format!("  {v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                case.schedule
            );
            Ok(())
        });
        if let Err(failure) = outcome {
            panic!(
                "{failure}\nminimal case saved as target/sim-shrunk/{}.json; replay: ci/sim replay --case target/sim-shrunk/{}.json",
                preset.name, preset.name
            );
        }
    }
}
