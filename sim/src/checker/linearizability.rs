//! Checking a whole history: split it into independent parts, search them taking turns under
//! one budget ([`schedule`](crate::checker::schedule)), combine.

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use crate::checker::budget::{deadline_after, wall_clock_now};
use crate::checker::history::{History, OperationId};
use crate::checker::memo::{MemoBudget, MEMO_BYTES_DEFAULT};
use crate::checker::model::Model;
use crate::checker::pruning::unobservable_lost;
use crate::checker::schedule::{search_parts, Schedule};
use crate::checker::search::{PartOperation, Refutation, SearchOutcome};

/// Parts with fewer operations in total than this are checked on the calling thread.
const PARALLEL_OPERATIONS_MIN: usize = 2048;
/// Default steps a part searches before the next part's turn.
pub const SLICE_STEPS_DEFAULT: u64 = 4096;

/// How to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Wall-clock budget for the whole history; past it the verdict is `unknown`.
    pub timeout: Option<Duration>,
    /// Worker threads for independent parts (at least 1).
    pub workers: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: Some(Duration::from_secs(10)),
            workers: 2,
        }
    }
}

/// Limits that rarely need changing (see [`check_with_limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchLimits {
    /// Memory for the memos of all parts together (see [`crate::checker::memo`]).
    pub memo_bytes: usize,
    /// Steps a part searches before the next part's turn.
    pub slice_steps: u64,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits {
            memo_bytes: MEMO_BYTES_DEFAULT,
            slice_steps: SLICE_STEPS_DEFAULT,
        }
    }
}

/// The answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// A linearization exists.
    Linearizable,
    /// No part was refuted, but some part ran out of budget.
    Unknown,
    /// Some part has no linearization.
    NotLinearizable,
}

impl fmt::Display for Verdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not-linearizable",
            Verdict::Unknown => "unknown",
        })
    }
}

/// What the search concluded about one independent part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartReport {
    /// The operations of the part, ascending.
    pub operations: Vec<OperationId>,
    /// Its outcome.
    pub outcome: SearchOutcome,
}

/// The verdict on a history, with what explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// The verdict.
    pub verdict: Verdict,
    /// One report per independent part, in the model's partition order.
    pub parts: Vec<PartReport>,
    /// Wall-clock time the check took.
    pub elapsed: Duration,
    /// Search steps over all parts.
    pub steps: u64,
    /// The most memo memory held at once, in bytes.
    pub memo_peak_bytes: usize,
    /// Indeterminate operations left out before the search because no other operation could
    /// notice whether they took effect ([`crate::checker::pruning`]).
    pub pruned_lost: usize,
}

impl CheckReport {
    /// The first refuted part and its refutation.
    pub fn refutation(&self) -> Option<(usize, &Refutation)> {
        self.parts
            .iter()
            .enumerate()
            .find_map(|(index, part)| match &part.outcome {
                SearchOutcome::NotLinearizable(refutation) => Some((index, refutation)),
                _ => None,
            })
    }

    /// The first part that ran out of budget, and how far it got.
    pub fn unfinished(&self) -> Option<(usize, Option<&Refutation>)> {
        self.parts
            .iter()
            .enumerate()
            .find_map(|(index, part)| match &part.outcome {
                SearchOutcome::Unknown(furthest) => Some((index, furthest.as_ref())),
                _ => None,
            })
    }

    /// Each part's linearization, when the history is linearizable.
    pub fn linearizations(&self) -> Vec<&[OperationId]> {
        self.parts
            .iter()
            .filter_map(|part| match &part.outcome {
                SearchOutcome::Linearizable(order) => Some(order.as_slice()),
                _ => None,
            })
            .collect()
    }
}

/// Checks a history against a model.
pub fn check<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    options: &CheckOptions,
) -> CheckReport
where
    M::State: Hash,
{
    check_with_limits(model, history, options, &SearchLimits::default())
}

/// [`check`] with explicit memory and slice limits.
pub fn check_with_limits<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    options: &CheckOptions,
    limits: &SearchLimits,
) -> CheckReport
where
    M::State: Hash,
{
    let started = wall_clock_now();
    let deadline = deadline_after(options.timeout);
    let partition = model.partition(&history.operations);
    let parts: Vec<Vec<PartOperation<'_, M>>> = partition
        .iter()
        .map(|ids| {
            ids.iter()
                .map(|&id| {
                    let operation = &history.operations[id];
                    PartOperation {
                        id,
                        input: &operation.input,
                        output: operation.output.as_ref(),
                        invoke_ns: operation.invoke_ns,
                        complete_ns: operation.complete_ns,
                    }
                })
                .collect()
        })
        .collect();
    let mut pruned_lost = 0;
    let parts: Vec<Vec<PartOperation<'_, M>>> = parts
        .into_iter()
        .map(|part| {
            let droppable = unobservable_lost(model, &part);
            pruned_lost += droppable.iter().filter(|&&dropped| dropped).count();
            part.into_iter()
                .zip(droppable)
                .filter_map(|(operation, dropped)| (!dropped).then_some(operation))
                .collect()
        })
        .collect();
    let total: usize = parts.iter().map(Vec::len).sum();
    let workers = if total < PARALLEL_OPERATIONS_MIN {
        1
    } else {
        options.workers
    };
    let memo_budget = MemoBudget::new(limits.memo_bytes);
    let schedule = Schedule {
        deadline,
        workers,
        slice_steps: limits.slice_steps,
    };
    let searched = search_parts(model, &parts, &memo_budget, &schedule);
    let verdict = combine(&searched.outcomes);
    let parts = partition
        .into_iter()
        .zip(searched.outcomes)
        .map(|(operations, outcome)| PartReport {
            operations,
            outcome,
        })
        .collect();
    CheckReport {
        verdict,
        parts,
        elapsed: started.elapsed(),
        steps: searched.steps,
        memo_peak_bytes: memo_budget.peak_bytes(),
        pruned_lost,
    }
}

fn combine(outcomes: &[SearchOutcome]) -> Verdict {
    let mut verdict = Verdict::Linearizable;
    for outcome in outcomes {
        let part_verdict = match outcome {
            SearchOutcome::Linearizable(_) => Verdict::Linearizable,
            SearchOutcome::NotLinearizable(_) => Verdict::NotLinearizable,
            SearchOutcome::Unknown(_) | SearchOutcome::Cancelled => Verdict::Unknown,
        };
        verdict = verdict.max(part_verdict);
    }
    verdict
}
