//! Checking a whole history: split it into independent parts, search each, combine.

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::checker::budget::{deadline_after, wall_clock_now, Budget};
use crate::checker::history::{History, OperationId};
use crate::checker::model::Model;
use crate::checker::search::{search, PartOperation, PoolOrder, Refutation, SearchOutcome};

/// Parts with fewer operations in total than this are checked on the calling thread.
const PARALLEL_OPERATIONS_MIN: usize = 2048;

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
    let outcomes = search_parts(model, &parts, deadline, options.workers);
    let verdict = combine(&outcomes);
    let parts = partition
        .into_iter()
        .zip(outcomes)
        .map(|(operations, outcome)| PartReport {
            operations,
            outcome,
        })
        .collect();
    CheckReport {
        verdict,
        parts,
        elapsed: started.elapsed(),
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

/// Searches every part, on up to `workers` threads, largest parts first.
fn search_parts<M: Model>(
    model: &M,
    parts: &[Vec<PartOperation<'_, M>>],
    deadline: Option<Instant>,
    workers: usize,
) -> Vec<SearchOutcome>
where
    M::State: Hash,
{
    let lowest_refuted_part = AtomicUsize::new(usize::MAX);
    let search_part = |index: usize| {
        if lowest_refuted_part.load(Ordering::Relaxed) < index {
            return SearchOutcome::Cancelled;
        }
        let budget = Budget::new(deadline, &lowest_refuted_part, index);
        let outcome = search(model, &parts[index], PoolOrder::Lazy, &budget);
        if matches!(outcome, SearchOutcome::NotLinearizable(_)) {
            lowest_refuted_part.fetch_min(index, Ordering::Relaxed);
        }
        outcome
    };
    let total: usize = parts.iter().map(Vec::len).sum();
    let workers = workers.clamp(1, parts.len().max(1));
    if workers == 1 || total < PARALLEL_OPERATIONS_MIN {
        return (0..parts.len()).map(search_part).collect();
    }
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&index| (std::cmp::Reverse(parts[index].len()), index));
    let finished = run_on_workers(&order, workers, &search_part);
    let mut outcomes: Vec<Option<SearchOutcome>> = vec![None; parts.len()];
    for (index, outcome) in finished {
        outcomes[index] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every part searched"))
        .collect()
}

/// Runs `job` on every index of `order` from `workers` threads pulling from a shared cursor.
#[allow(clippy::disallowed_methods)] // OS threads outside the simulation: the checker runs after it.
fn run_on_workers<Job>(order: &[usize], workers: usize, job: &Job) -> Vec<(usize, SearchOutcome)>
where
    Job: Fn(usize) -> SearchOutcome + Sync,
{
    let cursor = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let position = cursor.fetch_add(1, Ordering::Relaxed);
            let Some(&index) = order.get(position) else {
                return done;
            };
            done.push((index, job(index)));
        }
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
        let mut finished = work();
        for handle in handles {
            finished.extend(handle.join().expect("a checker worker panicked"));
        }
        finished
    })
}
