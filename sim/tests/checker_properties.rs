//! Generated histories: a random sequential execution with stretched intervals is always
//! linearizable; the same with one read corrupted to a value never written never is.

use std::time::Duration;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use om_sim::checker::model::cas_register::CasRegister;
use om_sim::checker::model::om::OmSpec;
use om_sim::checker::workload::om::{corrupt_one_read as corrupt_om, om_steps, OmWorkloadOptions};
use om_sim::checker::workload::register::{corrupt_one_read as corrupt_register, register_steps};
use om_sim::checker::workload::{stretch, StretchOptions};
use om_sim::checker::{check, CheckOptions, Verdict};

fn options() -> CheckOptions {
    CheckOptions {
        timeout: Some(Duration::from_secs(60)),
        workers: 2,
    }
}

fn stretch_options() -> impl Strategy<Value = StretchOptions> {
    (1u64..8, 1u64..20, 0u64..80).prop_map(|(clients, spacing_ns, stretch_ns)| StretchOptions {
        clients,
        spacing_ns,
        stretch_ns,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn stretched_register_executions_are_linearizable(
        seed in any::<u64>(),
        operations in 0usize..120,
        keys in 1u64..4,
        indeterminate_percent in 0u32..25,
        stretching in stretch_options(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let steps = register_steps(&mut rng, operations, keys, indeterminate_percent);
        let mut history = stretch(steps, &stretching, &mut rng);
        let report = check(&CasRegister, &history, &options());
        prop_assert_eq!(report.verdict, Verdict::Linearizable);
        corrupt_register(&mut history, &mut rng);
        let report = check(&CasRegister, &history, &options());
        prop_assert_eq!(report.verdict, Verdict::NotLinearizable);
    }

    #[test]
    fn stretched_om_executions_are_linearizable(
        seed in any::<u64>(),
        operations in 0usize..120,
        volumes in 1usize..4,
        list_volumes in any::<bool>(),
        indeterminate_percent in 0u32..25,
        stretching in stretch_options(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let workload = OmWorkloadOptions { volumes, list_volumes, indeterminate_percent };
        let steps = om_steps(&mut rng, operations, &workload);
        let mut history = stretch(steps, &stretching, &mut rng);
        let report = check(&OmSpec, &history, &options());
        prop_assert_eq!(report.verdict, Verdict::Linearizable);
        corrupt_om(&mut history, &mut rng);
        let report = check(&OmSpec, &history, &options());
        prop_assert_eq!(report.verdict, Verdict::NotLinearizable);
    }
}

/// A generated history survives the JSON lines format unchanged.
#[test]
fn generated_histories_round_trip_through_json_lines() {
    use om_sim::checker::json_lines;
    let mut rng = StdRng::seed_from_u64(7);
    let workload = OmWorkloadOptions {
        volumes: 2,
        list_volumes: true,
        indeterminate_percent: 10,
    };
    let history = stretch(
        om_steps(&mut rng, 300, &workload),
        &StretchOptions::default(),
        &mut rng,
    );
    let parsed = json_lines::parse(&json_lines::write(&history)).expect("parses");
    assert_eq!(history, parsed);
    let steps = register_steps(&mut rng, 300, 3, 10);
    let history = stretch(steps, &StretchOptions::default(), &mut rng);
    let parsed = json_lines::parse(&json_lines::write(&history)).expect("parses");
    assert_eq!(history, parsed);
}

/// Large enough to be searched on worker threads: the verdicts must not change.
#[test]
fn large_partitioned_histories_are_checked_on_workers() {
    let mut rng = StdRng::seed_from_u64(11);
    let stretching = StretchOptions {
        clients: 12,
        spacing_ns: 10,
        stretch_ns: 60,
    };
    let mut history = stretch(
        register_steps(&mut rng, 20_000, 64, 2),
        &stretching,
        &mut rng,
    );
    let report = check(&CasRegister, &history, &options());
    assert_eq!(
        (report.verdict, report.parts.len()),
        (Verdict::Linearizable, 64)
    );
    corrupt_register(&mut history, &mut rng);
    let report = check(&CasRegister, &history, &options());
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let workload = OmWorkloadOptions {
        volumes: 40,
        list_volumes: false,
        indeterminate_percent: 2,
    };
    let mut history = stretch(om_steps(&mut rng, 10_000, &workload), &stretching, &mut rng);
    assert_eq!(
        check(&OmSpec, &history, &options()).verdict,
        Verdict::Linearizable
    );
    corrupt_om(&mut history, &mut rng);
    assert_eq!(
        check(&OmSpec, &history, &options()).verdict,
        Verdict::NotLinearizable
    );
}
