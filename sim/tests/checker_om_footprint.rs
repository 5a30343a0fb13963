//! The OM model's footprints are sound: requests whose footprints do not conflict commute in the
//! states of random executions, and a lost request that is inert stays inert while nothing
//! writes what it reads. (The search places operations without trying other orders on the
//! strength of these two facts.)

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use om_sim::checker::model::om::{OmModel, OmOp, OmOutcome, OmSpec};
use om_sim::checker::workload::om::{om_steps, OmWorkloadOptions};
use om_sim::checker::Model;

/// A reachable state (the first `length` requests of a random execution) and a pool of requests.
fn state_and_requests(seed: u64) -> (OmModel, Vec<OmOp>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let workload = OmWorkloadOptions {
        volumes: 2,
        list_volumes: false,
        indeterminate_percent: 0,
    };
    let steps = om_steps(&mut rng, 120, &workload);
    let length = rng.gen_range(0..steps.len());
    let mut state = OmSpec.init();
    for step in &steps[..length] {
        state = OmSpec
            .step(&state, &step.input, step.output.as_ref())
            .expect("a sequential execution is legal");
    }
    (state, steps.into_iter().map(|step| step.input).collect())
}

/// Applies `op` as the checker's model does (an open gets id `open_id`); the answer and state.
fn apply(state: &OmModel, op: &OmOp, open_id: u64) -> (OmOutcome, OmModel) {
    let mut next = state.clone();
    let index = if matches!(op, OmOp::OpenKey { .. }) {
        open_id
    } else {
        0
    };
    let outcome = next.apply(index, 0, op);
    (outcome, next)
}

#[test]
fn requests_with_disjoint_footprints_commute() {
    let mut independent = 0;
    for seed in 0..400 {
        let (state, requests) = state_and_requests(seed);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        for _ in 0..40 {
            let a = &requests[rng.gen_range(0..requests.len())];
            let b = &requests[rng.gen_range(0..requests.len())];
            let (out_a, mut after_a) = apply(&state, a, 5001);
            let lost_a = rng.gen_bool(0.3);
            if lost_a {
                after_a = OmSpec
                    .step(&state, a, None)
                    .expect("a lost request is legal");
            }
            let answer_a = (!lost_a).then_some(&out_a);
            let (out_b, after_ab) = apply(&after_a, b, 5002);
            let footprint_a = OmSpec.footprint(a, answer_a);
            if footprint_a.conflicts(&OmSpec.footprint(b, Some(&out_b))) {
                continue;
            }
            independent += 1;
            let after_b = OmSpec
                .step(&state, b, Some(&out_b))
                .unwrap_or_else(|| panic!("{b:?} -> {out_b:?} legal first (then {a:?})"));
            let after_ba = OmSpec
                .step(&after_b, a, answer_a)
                .unwrap_or_else(|| panic!("{a:?} -> {out_a:?} legal after {b:?}"));
            assert_eq!(after_ba, after_ab, "{a:?} and {b:?} do not commute");
        }
    }
    assert!(independent > 2000, "only {independent} independent pairs");
}

#[test]
fn an_inert_lost_request_stays_inert_while_nothing_writes_what_its_failure_reads() {
    let mut kept_inert = 0;
    for seed in 0..400 {
        let (state, requests) = state_and_requests(seed);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x1e57);
        for _ in 0..40 {
            let lost = &requests[rng.gen_range(0..requests.len())];
            let Some(reads) = OmSpec.inert_footprint(&state, lost) else {
                assert!(
                    !OmSpec.is_inert(&state, lost),
                    "{lost:?} inert without reads"
                );
                continue;
            };
            assert_eq!(OmSpec.step(&state, lost, None).as_ref(), Some(&state));
            let other = &requests[rng.gen_range(0..requests.len())];
            let (out_other, after) = apply(&state, other, 6001);
            let writer = OmSpec.footprint(other, Some(&out_other));
            if writer.writes_into_reads(&reads) {
                continue;
            }
            kept_inert += 1;
            assert!(
                OmSpec.is_inert(&after, lost),
                "{lost:?} woke up after {other:?} -> {out_other:?}"
            );
            assert_eq!(OmSpec.step(&after, lost, None).as_ref(), Some(&after));
        }
    }
    assert!(kept_inert > 500, "only {kept_inert} cases");
}
