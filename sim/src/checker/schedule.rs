//! Searching many independent parts under one budget: the parts take turns.
//!
//! The search of each part runs in slices of a fixed number of steps, round after round: in a
//! round every undecided part gets one slice, in part order, on up to `workers` threads. So a
//! part that is refuted after few steps is found after few rounds however hard the parts before
//! it are, and a refutation ends the check after the round it happened in: parts after the
//! refuted one stop at once; parts before it finish their slice (they may be refuted in the same
//! round). The part that explains the verdict is therefore the lowest-numbered part refuted in
//! the first round with a refutation: it depends on step counts only, never on thread timing.

use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::checker::budget::{wall_clock_now, Budget};
use crate::checker::memo::MemoBudget;
use crate::checker::model::Model;
use crate::checker::search::{PartOperation, PartSearch, PoolOrder, Progress, SearchOutcome};

/// Where one part stands.
enum Slot<'s, 'h, M: Model> {
    /// Not started yet (its search state is built on its first turn).
    Waiting,
    /// Between two slices.
    Paused(Box<PartSearch<'s, 'h, M>>),
    /// A worker is running a slice of it.
    Running,
    /// Decided (or out of time, or cancelled).
    Finished(SearchOutcome),
}

/// The rounds' bookkeeping, behind the mutex.
struct Rounds<'s, 'h, M: Model> {
    slots: Vec<Slot<'s, 'h, M>>,
    /// The parts of the current round, ascending.
    round: Vec<usize>,
    cursor: usize,
    running: usize,
    over: bool,
}

/// What one check's parts share.
struct Shared<'s, 'h, M: Model> {
    model: &'s M,
    parts: &'s [Vec<PartOperation<'h, M>>],
    memo_budget: &'s MemoBudget,
    deadline: Option<Instant>,
    slice_steps: u64,
    lowest_refuted_part: AtomicUsize,
    steps: AtomicUsize,
    rounds: Mutex<Rounds<'s, 'h, M>>,
    changed: Condvar,
}

/// A slice to run: the part and its search.
type Turn<'s, 'h, M> = (usize, Box<PartSearch<'s, 'h, M>>);

/// What searching the parts gave: one outcome per part, and the steps taken in all.
pub struct Searched {
    /// Per part, in order.
    pub outcomes: Vec<SearchOutcome>,
    /// Search steps over all parts.
    pub steps: u64,
}

/// How the parts are searched.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// When to give up (`None`: never).
    pub deadline: Option<Instant>,
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Steps per slice.
    pub slice_steps: u64,
}

/// Searches every part, taking turns in slices (see the module doc).
pub fn search_parts<'h, M: Model>(
    model: &M,
    parts: &[Vec<PartOperation<'h, M>>],
    memo_budget: &MemoBudget,
    schedule: &Schedule,
) -> Searched
where
    M::State: Hash,
{
    let shared = Shared {
        model,
        parts,
        memo_budget,
        deadline: schedule.deadline,
        slice_steps: schedule.slice_steps.max(1),
        lowest_refuted_part: AtomicUsize::new(usize::MAX),
        steps: AtomicUsize::new(0),
        rounds: Mutex::new(Rounds {
            slots: (0..parts.len()).map(|_| Slot::Waiting).collect(),
            round: (0..parts.len()).collect(),
            cursor: 0,
            running: 0,
            over: parts.is_empty(),
        }),
        changed: Condvar::new(),
    };
    run_workers(&shared, schedule.workers.clamp(1, parts.len().max(1)));
    let rounds = shared.rounds.into_inner().expect("no worker panicked");
    let outcomes = rounds
        .slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Finished(outcome) => outcome,
            Slot::Waiting | Slot::Paused(_) | Slot::Running => SearchOutcome::Cancelled,
        })
        .collect();
    Searched {
        outcomes,
        steps: shared.steps.load(Ordering::Relaxed) as u64,
    }
}

/// Runs the worker loop on the calling thread and `workers - 1` more.
#[allow(clippy::disallowed_methods)] // OS threads outside the simulation: the checker runs after it.
fn run_workers<M: Model>(shared: &Shared<'_, '_, M>, workers: usize)
where
    M::State: Hash,
{
    if workers == 1 {
        work(shared);
        return;
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..workers).map(|_| scope.spawn(|| work(shared))).collect();
        work(shared);
        for handle in handles {
            handle.join().expect("a checker worker panicked");
        }
    });
}

/// Takes turns until the check is over.
fn work<M: Model>(shared: &Shared<'_, '_, M>)
where
    M::State: Hash,
{
    while let Some((part, mut search)) = next_turn(shared) {
        let budget = Budget::new(shared.deadline, &shared.lowest_refuted_part, part);
        let before = search.steps();
        let progress = search.run(shared.slice_steps, &budget);
        let taken = usize::try_from(search.steps() - before).unwrap_or(usize::MAX);
        shared.steps.fetch_add(taken, Ordering::Relaxed);
        if matches!(
            progress,
            Progress::Finished(SearchOutcome::NotLinearizable(_))
        ) {
            shared
                .lowest_refuted_part
                .fetch_min(part, Ordering::Relaxed);
        }
        let mut rounds = shared.rounds.lock().expect("no worker panicked");
        rounds.running -= 1;
        rounds.slots[part] = match progress {
            Progress::Finished(outcome) => Slot::Finished(outcome),
            Progress::Paused => Slot::Paused(search),
        };
        shared.changed.notify_all();
    }
}

/// The next slice to run, waiting for the round to end if need be; `None` when it is over.
fn next_turn<'s, 'h, M: Model>(shared: &Shared<'s, 'h, M>) -> Option<Turn<'s, 'h, M>>
where
    M::State: Hash,
{
    let mut rounds = shared.rounds.lock().expect("no worker panicked");
    loop {
        if rounds.over {
            return None;
        }
        if rounds.cursor < rounds.round.len() {
            let part = rounds.round[rounds.cursor];
            rounds.cursor += 1;
            if let Some(turn) = take_turn(shared, &mut rounds, part) {
                rounds.running += 1;
                return Some(turn);
            }
            continue;
        }
        if rounds.running > 0 {
            rounds = shared.changed.wait(rounds).expect("no worker panicked");
            continue;
        }
        start_round(shared, &mut rounds);
    }
}

/// The search of `part` for its turn, or `None` when it needs none (settled without running).
fn take_turn<'s, 'h, M: Model>(
    shared: &Shared<'s, 'h, M>,
    rounds: &mut Rounds<'s, 'h, M>,
    part: usize,
) -> Option<Turn<'s, 'h, M>>
where
    M::State: Hash,
{
    let out_of_time = shared
        .deadline
        .is_some_and(|deadline| wall_clock_now() >= deadline);
    let cancelled = shared.lowest_refuted_part.load(Ordering::Relaxed) < part;
    let slot = std::mem::replace(&mut rounds.slots[part], Slot::Running);
    let settled = match slot {
        _ if cancelled => SearchOutcome::Cancelled,
        Slot::Waiting if out_of_time => SearchOutcome::Unknown(None),
        Slot::Paused(search) if out_of_time => search.give_up(),
        Slot::Waiting => {
            let search = PartSearch::new(
                shared.model,
                &shared.parts[part],
                PoolOrder::Lazy,
                shared.memo_budget,
            );
            return Some((part, Box::new(search)));
        }
        Slot::Paused(search) => return Some((part, search)),
        Slot::Running | Slot::Finished(_) => unreachable!("a round holds undecided parts"),
    };
    rounds.slots[part] = Slot::Finished(settled);
    None
}

/// Ends a round: the check is over after a refutation or when every part is decided.
fn start_round<M: Model>(shared: &Shared<'_, '_, M>, rounds: &mut Rounds<'_, '_, M>) {
    let undecided: Vec<usize> = (0..rounds.slots.len())
        .filter(|&part| !matches!(rounds.slots[part], Slot::Finished(_)))
        .collect();
    let refuted = shared.lowest_refuted_part.load(Ordering::Relaxed) != usize::MAX;
    rounds.over = refuted || undecided.is_empty();
    rounds.round = undecided;
    rounds.cursor = 0;
    shared.changed.notify_all();
}
