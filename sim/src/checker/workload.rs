//! Generated histories that are linearizable by construction, for property tests and benches.
//!
//! A random sequential execution of a model gives each operation its answer; then each
//! operation gets a linearization point (increasing with its position) and an interval
//! stretched randomly around it (`invoke <= point <= complete`), and a client that is free by
//! then. The sequential order is thus a linearization of the stretched history. An operation
//! marked indeterminate loses its answer and its client (as a timed-out Jepsen process): the
//! sequential execution decided at random whether it took effect.

use std::collections::BTreeSet;

use rand::Rng;

use crate::checker::history::{History, Operation};

pub mod om;
pub mod register;

/// One operation of a sequential execution, in execution order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequentialStep<Input, Output> {
    /// What was asked.
    pub input: Input,
    /// What was answered; `None` for an indeterminate operation (which may or may not have been
    /// applied by the execution).
    pub output: Option<Output>,
}

/// How far intervals are stretched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StretchOptions {
    /// Clients available at the start (a retired client is replaced by a new id).
    pub clients: u64,
    /// Time between consecutive linearization points.
    pub spacing_ns: u64,
    /// Largest distance from an operation's point to its invocation, and to its completion.
    pub stretch_ns: u64,
}

impl Default for StretchOptions {
    fn default() -> Self {
        StretchOptions {
            clients: 5,
            spacing_ns: 10,
            stretch_ns: 40,
        }
    }
}

/// Gives each step of a sequential execution an interval around an increasing point, on one of
/// `clients` clients (at most that many calls are in flight, not counting indeterminate ones).
pub fn stretch<Input, Output>(
    steps: Vec<SequentialStep<Input, Output>>,
    options: &StretchOptions,
    rng: &mut impl Rng,
) -> History<Input, Output> {
    assert!(options.spacing_ns > 0);
    let clients = options.clients.max(1);
    // (free from, client): the client whose last call completed earliest comes first.
    let mut free: BTreeSet<(u64, u64)> = (0..clients).map(|client| (0, client)).collect();
    let mut next_client = clients;
    let mut point = options.stretch_ns;
    let mut operations = Vec::with_capacity(steps.len());
    for step in steps {
        let (free_from, client) = free
            .pop_first()
            .expect("a retired client is replaced at once");
        point = (point + options.spacing_ns).max(free_from + 1);
        let invoke_ns = point
            .saturating_sub(rng.gen_range(0..=options.stretch_ns))
            .max(free_from + 1);
        let complete_ns = point + rng.gen_range(0..=options.stretch_ns);
        let operation = match step.output {
            Some(output) => {
                free.insert((complete_ns, client));
                Operation::completed(client, invoke_ns, complete_ns, step.input, output)
            }
            None => {
                // Its client never learns the outcome: a new client takes its place.
                free.insert((invoke_ns, next_client));
                next_client += 1;
                Operation::indeterminate(client, invoke_ns, step.input)
            }
        };
        operations.push(operation);
    }
    History::new(operations)
}

/// Appends a completed operation after everything else in `history`.
pub fn append_last<Input, Output>(
    history: &mut History<Input, Output>,
    input: Input,
    output: Output,
) {
    let last = history
        .operations
        .iter()
        .map(|operation| operation.complete_ns.unwrap_or(operation.invoke_ns))
        .max()
        .unwrap_or(0);
    let client = history
        .operations
        .iter()
        .map(|operation| operation.client)
        .max()
        .map_or(0, |c| c + 1);
    history.push(Operation::completed(
        client,
        last + 1,
        last + 2,
        input,
        output,
    ));
}
