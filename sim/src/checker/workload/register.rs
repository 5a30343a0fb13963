//! Random sequential executions of compare-and-set registers.

use rand::Rng;

use crate::checker::history::History;
use crate::checker::model::cas_register::{
    CasRegister, RegisterCall, RegisterInput, RegisterOutput,
};
use crate::checker::workload::{append_last, SequentialStep};

/// A value no generated write or cas ever stores.
pub const NEVER_WRITTEN: i64 = 1_000_000_007;
/// Generated values are in `0..VALUES`.
const VALUES: i64 = 5;

/// A random execution of `operations` calls over `keys` registers; each call is indeterminate
/// with probability `indeterminate_percent` / 100.
pub fn register_steps(
    rng: &mut impl Rng,
    operations: usize,
    keys: u64,
    indeterminate_percent: u32,
) -> Vec<SequentialStep<RegisterInput, RegisterOutput>> {
    let mut values: Vec<Option<i64>> = vec![None; keys.max(1) as usize];
    let mut steps = Vec::with_capacity(operations);
    for _ in 0..operations {
        let key = rng.gen_range(0..keys.max(1));
        let call = match rng.gen_range(0..10) {
            0..=3 => RegisterCall::Read,
            4..=6 => RegisterCall::Write {
                value: rng.gen_range(0..VALUES),
            },
            _ => RegisterCall::Cas {
                from: rng.gen_range(0..VALUES),
                to: rng.gen_range(0..VALUES),
            },
        };
        let slot = &mut values[key as usize];
        let indeterminate = rng.gen_range(0..100) < indeterminate_percent;
        let output = if indeterminate {
            if rng.gen_bool(0.5) {
                *slot = CasRegister::apply(*slot, call).0;
            }
            None
        } else {
            let (next, output) = CasRegister::apply(*slot, call);
            *slot = next;
            Some(output)
        };
        steps.push(SequentialStep {
            input: RegisterInput { key, call },
            output,
        });
    }
    steps
}

/// Changes one completed read to return [`NEVER_WRITTEN`] (appending such a read when there is
/// none): no linearization can explain it.
pub fn corrupt_one_read(history: &mut History<RegisterInput, RegisterOutput>, rng: &mut impl Rng) {
    let reads: Vec<usize> = history
        .operations
        .iter()
        .enumerate()
        .filter(|(_, operation)| matches!(operation.output, Some(RegisterOutput::Read { .. })))
        .map(|(index, _)| index)
        .collect();
    let corrupted = RegisterOutput::Read {
        value: Some(NEVER_WRITTEN),
    };
    if reads.is_empty() {
        append_last(history, RegisterInput::read(), corrupted);
        return;
    }
    let chosen = reads[rng.gen_range(0..reads.len())];
    history.operations[chosen].output = Some(corrupted);
}
