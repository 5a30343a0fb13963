//! The search's shortcuts (memo, read-only forcing, pooled indeterminate operations) never change
//! a verdict: on small random histories — mostly not linearizable — it agrees with a plain
//! enumeration of every order.

use proptest::prelude::*;

use om_sim::checker::model::cas_register::{
    CasRegister, RegisterCall, RegisterInput, RegisterOutput,
};
use om_sim::checker::{check, CheckOptions, History, Model, Operation, Verdict};

type Op = Operation<RegisterInput, RegisterOutput>;

/// True when some order of a subset (all completed operations, any indeterminate ones) respects
/// real time and the model.
fn brute_force(operations: &[Op], placed: &mut Vec<bool>, state: Option<i64>) -> bool {
    let all_completed_placed = operations
        .iter()
        .zip(placed.iter())
        .all(|(op, placed)| *placed || op.is_indeterminate());
    if all_completed_placed {
        return true;
    }
    for candidate in 0..operations.len() {
        if placed[candidate] {
            continue;
        }
        let invoked = operations[candidate].invoke_ns;
        let must_wait = operations.iter().enumerate().any(|(other, op)| {
            !placed[other] && op.complete_ns.is_some_and(|complete| complete < invoked)
        });
        if must_wait {
            continue;
        }
        let op = &operations[candidate];
        if let Some(next) = CasRegister.step(&state, &op.input, op.output.as_ref()) {
            placed[candidate] = true;
            let found = brute_force(operations, placed, next);
            placed[candidate] = false;
            if found {
                return true;
            }
        }
    }
    false
}

fn operation() -> impl Strategy<Value = Op> {
    let call = prop_oneof![
        Just(RegisterCall::Read),
        (0i64..3).prop_map(|value| RegisterCall::Write { value }),
        (0i64..3, 0i64..3).prop_map(|(from, to)| RegisterCall::Cas { from, to }),
    ];
    (
        call,
        0u64..12,
        0u64..6,
        0u32..5,
        proptest::option::of(0i64..3),
        any::<bool>(),
    )
        .prop_map(|(call, invoke_ns, duration_ns, fate, read_value, cas_ok)| {
            let input = RegisterInput { key: 0, call };
            if fate == 0 {
                return Operation::indeterminate(0, invoke_ns, input);
            }
            let output = match call {
                RegisterCall::Read => RegisterOutput::Read { value: read_value },
                RegisterCall::Write { .. } => RegisterOutput::Write,
                RegisterCall::Cas { .. } => RegisterOutput::Cas { ok: cas_ok },
            };
            Operation::completed(0, invoke_ns, invoke_ns + duration_ns, input, output)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn search_agrees_with_enumeration(mut operations in proptest::collection::vec(operation(), 0..8)) {
        for (client, operation) in operations.iter_mut().enumerate() {
            operation.client = client as u64;
        }
        let expected = brute_force(&operations, &mut vec![false; operations.len()], None);
        let report = check(&CasRegister, &History::new(operations), &CheckOptions::default());
        let expected = if expected { Verdict::Linearizable } else { Verdict::NotLinearizable };
        prop_assert_eq!(report.verdict, expected);
    }
}
