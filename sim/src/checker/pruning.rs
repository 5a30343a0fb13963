//! Lost operations nobody can notice: left out before the search ("crashed operation" pruning,
//! as in Knossos and Porcupine, made sound with footprints).
//!
//! A set `D` of indeterminate operations can be dropped when every member commutes
//! ([`Footprint::conflicts`]) with every operation outside `D` that may be linearized after it
//! (a completed operation that returned at or after its invocation, or any indeterminate one).
//! Then any linearization that places some of `D` stays one when they are moved, in their order,
//! to its end (each commutes with everything it passes, so no answer and no later state changes),
//! and from the end they change no answer: drop them. Conversely a linearization of the rest
//! is one of the whole history (`D` never took effect). So the verdict is the same, and a
//! refutation of the rest refutes the whole.
//!
//! The largest such `D` is found from above: start with every indeterminate operation, remove
//! those that conflict with a completed operation that may follow them, then, repeatedly, those
//! that conflict with a removed indeterminate one (which may follow anything).

use crate::checker::footprint::Footprint;
use crate::checker::model::Model;
use crate::checker::search::PartOperation;

/// For each operation of a part: true when it is indeterminate and no other operation can
/// notice whether it took effect (see the module documentation).
pub fn unobservable_lost<M: Model>(model: &M, operations: &[PartOperation<'_, M>]) -> Vec<bool> {
    let footprints: Vec<Footprint> = operations
        .iter()
        .map(|operation| model.footprint(operation.input, operation.output))
        .collect();
    let lost: Vec<usize> = (0..operations.len())
        .filter(|&index| operations[index].complete_ns.is_none())
        .collect();
    let mut droppable = vec![false; operations.len()];
    let mut kept: Vec<usize> = Vec::new();
    for &index in &lost {
        let invoked = operations[index].invoke_ns;
        let observed = operations.iter().enumerate().any(|(other, operation)| {
            operation
                .complete_ns
                .is_some_and(|complete| complete >= invoked)
                && footprints[index].conflicts(&footprints[other])
        });
        if observed {
            kept.push(index);
        } else {
            droppable[index] = true;
        }
    }
    while let Some(observer) = kept.pop() {
        for &index in &lost {
            if droppable[index] && footprints[index].conflicts(&footprints[observer]) {
                droppable[index] = false;
                kept.push(index);
            }
        }
    }
    droppable
}
