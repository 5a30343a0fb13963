//! Histories with many lost answers decide quickly, and stay refuted when one answer is wrong:
//! the simulation testbed's recorded histories (expected linearizable) and generated ones.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use om_sim::checker::bench::contended_om_history;
use om_sim::checker::bench_recorded::RECORDED_DIR;
use om_sim::checker::model::om::{OmOp, OmOutcome, OmResponse, OmSpec};
use om_sim::checker::workload::om::corrupt_one_read;
use om_sim::checker::{check, json_lines, CheckOptions, CheckReport, History, Verdict};

/// Far more than any of these histories needs, far less than they needed before lost requests
/// were tried only when connected to the blocked operation.
const STEPS_MAX: u64 = 1_000_000;

fn checked(history: &History<OmOp, OmOutcome>) -> CheckReport {
    checked_within(history, 20)
}

fn checked_within(history: &History<OmOp, OmOutcome>, seconds: u64) -> CheckReport {
    let options = CheckOptions {
        timeout: Some(Duration::from_secs(seconds)),
        workers: 1,
    };
    check(&OmSpec, history, &options)
}

fn recorded() -> Vec<(String, History<OmOp, OmOutcome>)> {
    let mut files: Vec<_> = std::fs::read_dir(RECORDED_DIR)
        .expect("recorded histories")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "the five recorded histories");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let history = json_lines::parse(&text).expect("parses");
            (path.display().to_string(), history)
        })
        .collect()
}

/// The lost answers of a history.
fn lost(history: &History<OmOp, OmOutcome>) -> usize {
    let operations = history.operations.iter();
    operations
        .filter(|operation| operation.is_indeterminate())
        .count()
}

#[test]
fn recorded_histories_with_many_lost_answers_are_linearizable_within_the_step_budget() {
    for (name, history) in recorded() {
        assert!(lost(&history) >= 27, "{name}: lost-answer heavy");
        let report = checked(&history);
        assert_eq!(report.verdict, Verdict::Linearizable, "{name}");
        assert!(report.steps < STEPS_MAX, "{name}: {} steps", report.steps);
    }
}

#[test]
fn recorded_histories_with_their_first_volume_answer_changed_are_refuted() {
    for (name, mut history) in recorded() {
        let first_volume_info = history
            .operations
            .iter_mut()
            .find_map(|operation| match operation.output.as_mut() {
                Some(Ok(OmResponse::Volume(info))) => Some(info),
                _ => None,
            })
            .expect("a volume read");
        first_volume_info.owner = "mallory".to_string();
        // Refuting means trying every placement of the lost requests before the read: quick
        // when its part is small, beyond a short budget for the others (never linearizable).
        let decided = name.contains("double-buffer-seed-2") || name.contains("stale-read-seed-5");
        let report = checked_within(&history, if decided { 20 } else { 2 });
        if decided {
            assert_eq!(report.verdict, Verdict::NotLinearizable, "{name}");
        } else {
            assert_ne!(report.verdict, Verdict::Linearizable, "{name}");
        }
    }
}

#[test]
fn a_generated_history_with_a_tenth_of_answers_lost_decides_and_a_corrupted_one_is_refuted() {
    for seed in 1..=4 {
        let history = contended_om_history(300, 10, seed);
        assert!(lost(&history) >= 15, "seed {seed}: lost-answer heavy");
        let report = checked(&history);
        assert_eq!(report.verdict, Verdict::Linearizable, "seed {seed}");
        assert!(
            report.steps < STEPS_MAX,
            "seed {seed}: {} steps",
            report.steps
        );
        let mut corrupted = history.clone();
        corrupt_one_read(&mut corrupted, &mut StdRng::seed_from_u64(seed));
        let report = checked(&corrupted);
        assert_eq!(report.verdict, Verdict::NotLinearizable, "seed {seed}");
    }
}
