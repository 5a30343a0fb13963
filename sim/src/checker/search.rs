//! The Wing–Gong/Lowe search over one independent part of a history (as in Porcupine).
//!
//! Calls and returns form a doubly-linked list in time order (a call sorts before a return at
//! the same time: such operations count as concurrent). The search walks the list from the
//! front: at a call it tries to apply the operation to the current state; if the model accepts
//! and the pair (set of linearized operations, new state) was never explored, it *lifts* the
//! call and its return out of the list, pushes a frame and restarts from the front. Reaching a
//! return means that operation should already have been placed: pop the last frame, *unlift*
//! it and try the next call after it. An empty stack at a return refutes the history.
//!
//! Indeterminate operations have no return entry and are not in the list: they may be placed
//! after their call or never (the search stops as soon as every completed operation is placed).
//! They are tried lazily: only when the walk reaches a return, as the last candidates of the
//! configuration (those invoked before that return). Trying them eagerly, in time order, made
//! the search place every lost write as soon as possible and backtrack far when it had in fact
//! not happened.
//!
//! When the walk is stuck at a return, only the lost operations connected to the blocked one by
//! conflicting footprints are tried, those after which it is legal first (`search/relevance.rs`).
//!
//! Two shortcuts place an operation without trying the other candidates first (its frame is
//! *forced*: when it fails, the configuration it was lifted from fails too): a read-only
//! operation that is legal now, and an operation that commutes with every unplaced operation
//! that could come before it ([`Model::footprint`]).
//!
//! A [`PartSearch`] runs in slices of steps, so parts can take turns under one budget
//! ([`crate::checker::schedule`]).

use std::hash::Hash;

use crate::checker::budget::{Budget, BudgetState};
pub use crate::checker::entry_list::PoolOrder;
use crate::checker::entry_list::{EntryList, HEAD};
use crate::checker::fingerprint::{fingerprint_of, Fingerprint};
use crate::checker::footprint::Footprint;
use crate::checker::history::OperationId;
use crate::checker::memo::{Memo, MemoBudget, MEMO_BYTES_DEFAULT};
use crate::checker::model::Model;

mod relevance;
use relevance::Relevant;

/// One operation of the part being checked, borrowed from the history.
#[derive(Debug)]
pub struct PartOperation<'h, M: Model> {
    /// Its id in the whole history.
    pub id: OperationId,
    /// What was asked.
    pub input: &'h M::Input,
    /// What was answered, if anything.
    pub output: Option<&'h M::Output>,
    /// Invocation time.
    pub invoke_ns: u64,
    /// Completion time; `None` for an indeterminate operation.
    pub complete_ns: Option<u64>,
}

/// Why a part is not linearizable: the furthest the search got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refutation {
    /// The longest linearizable prefix found: every operation that completed before `blocking`
    /// did is placed in it.
    pub prefix: Vec<OperationId>,
    /// The operation that completed before it could be placed after `prefix`.
    pub blocking: OperationId,
    /// The other operations invoked before `blocking` completed that are not in `prefix`: none
    /// of them, placed next, lets `blocking` follow.
    pub pending: Vec<OperationId>,
}

/// What the search concluded about one part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchOutcome {
    /// A linearization: every completed operation, and the indeterminate ones that took effect.
    Linearizable(Vec<OperationId>),
    /// No linearization exists.
    NotLinearizable(Refutation),
    /// The budget ran out; the furthest point reached so far, if any.
    Unknown(Option<Refutation>),
    /// Stopped because another part already refuted the history.
    Cancelled,
}

/// How many search steps between two looks at the budget.
const BUDGET_CHECK_STEPS: u64 = 256;

/// A frame of the search stack: the call that was lifted and the state before it.
struct Frame<S> {
    call: u32,
    state_before: S,
    /// Fingerprint of the configuration the lift led to (recorded in the memo if it fails).
    reached: Fingerprint,
    /// Tells configurations at the same depth apart (see [`Relevant`]).
    serial: u64,
    /// Placing the operation first loses nothing: it is read-only and legal (if any
    /// linearization extends the configuration it was lifted from, one places it first: it was
    /// a candidate, so every operation that completed before it was invoked is placed already,
    /// and moving it earlier breaks no real-time order; it changes no state, so every other
    /// operation sees the same states), or it commutes with every operation that could come
    /// before it (moving it first changes no answer and no later state). So when this frame
    /// fails, its parent configuration fails too, without trying other candidates.
    forced: bool,
    /// Where to go on when this frame fails (the call's successor is found after unlifting).
    resume: Resume,
}

/// Where the walk over one configuration's candidates is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cursor {
    /// At a node of the list.
    List(u32),
    /// At `position` of the pool, trying indeterminate operations invoked before the return
    /// node `bound` (the first return of this configuration).
    Pool { position: usize, bound: u32 },
}

/// How to continue after a frame fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resume {
    /// With the list node after the frame's call.
    AfterCall,
    /// With this pool cursor.
    At(Cursor),
}

/// The furthest point reached: (return node, depth) and the calls placed then.
struct Furthest {
    blocking_node: u32,
    depth: usize,
    calls: Vec<u32>,
}

/// What to do after looking at one candidate.
enum Next {
    /// Look at this candidate.
    Visit(Cursor),
    /// The current configuration has no linearization: undo the last lift.
    Backtrack,
    /// Every completed operation is placed.
    Done,
}

/// What a slice of search ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The part is decided, out of time, or cancelled.
    Finished(SearchOutcome),
    /// The slice's steps are used up: call [`PartSearch::run`] again.
    Paused,
}

/// The search over one part, resumable: it runs in slices of steps.
pub struct PartSearch<'s, 'h, M: Model> {
    model: &'s M,
    operations: &'s [PartOperation<'h, M>],
    list: EntryList,
    /// A random key per operation; the exact part's key is the xor of its members'.
    operation_keys: Vec<Fingerprint>,
    /// The pool bit of each of the first 64 indeterminate operations (see [`Memo`]).
    pool_bits: Vec<Option<u32>>,
    footprints: Vec<Footprint>,
    memo: Memo<'s>,
    /// Placed operations outside the pool.
    exact: Vec<u64>,
    exact_key: Fingerprint,
    /// Placed operations of the pool.
    pool: u64,
    remaining_completed: usize,
    state: M::State,
    stack: Vec<Frame<M::State>>,
    furthest: Option<Furthest>,
    cursor: Cursor,
    steps: u64,
    /// Scratch space for [`PartSearch::commutes_with_rivals`].
    rivals: Vec<usize>,
    /// Frames pushed so far (gives each frame its serial).
    pushes: u64,
    /// Per depth of the stack: the pooled operations worth trying in the configuration there,
    /// when it is stuck at a return.
    relevant: Vec<Option<Relevant>>,
}

/// Searches one part for a linearization, to the end or until the budget says stop.
pub fn search<M: Model>(
    model: &M,
    operations: &[PartOperation<'_, M>],
    order: PoolOrder,
    budget: &Budget<'_>,
) -> SearchOutcome
where
    M::State: Hash,
{
    let memo_budget = MemoBudget::new(MEMO_BYTES_DEFAULT);
    let mut search = PartSearch::new(model, operations, order, &memo_budget);
    loop {
        if let Progress::Finished(outcome) = search.run(u64::MAX, budget) {
            return outcome;
        }
    }
}

impl<'s, 'h, M: Model> PartSearch<'s, 'h, M>
where
    M::State: Hash,
{
    /// A search over `operations` (one independent part) whose memo draws on `memo_budget`.
    pub fn new(
        model: &'s M,
        operations: &'s [PartOperation<'h, M>],
        order: PoolOrder,
        memo_budget: &'s MemoBudget,
    ) -> Self {
        let list = EntryList::build(operations, order);
        let cursor = Cursor::List(list.next[HEAD as usize]);
        PartSearch {
            model,
            operations,
            list,
            operation_keys: (0..operations.len() as u64)
                .map(Fingerprint::of_index)
                .collect(),
            pool_bits: pool_bits(operations),
            footprints: operations
                .iter()
                .map(|operation| model.footprint(operation.input, operation.output))
                .collect(),
            memo: Memo::new(memo_budget),
            exact: vec![0u64; operations.len().div_ceil(64)],
            exact_key: Fingerprint::default(),
            pool: 0,
            remaining_completed: operations
                .iter()
                .filter(|operation| operation.complete_ns.is_some())
                .count(),
            state: model.init(),
            stack: Vec::new(),
            furthest: None,
            cursor,
            steps: 0,
            rivals: Vec::new(),
            pushes: 0,
            relevant: Vec::new(),
        }
    }

    /// Search steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Searches for at most `steps` more steps (the budget is consulted every few hundred).
    pub fn run(&mut self, steps: u64, budget: &Budget<'_>) -> Progress {
        if self.remaining_completed == 0 {
            return Progress::Finished(SearchOutcome::Linearizable(Vec::new()));
        }
        let end = self.steps.saturating_add(steps);
        while self.steps < end {
            self.steps += 1;
            if self.steps.is_multiple_of(BUDGET_CHECK_STEPS) {
                match budget.state() {
                    BudgetState::Continue => {}
                    BudgetState::Cancelled => return Progress::Finished(SearchOutcome::Cancelled),
                    BudgetState::Exhausted => return Progress::Finished(self.give_up()),
                }
            }
            if let Some(outcome) = self.step() {
                return Progress::Finished(outcome);
            }
        }
        Progress::Paused
    }

    /// The outcome of stopping now: unknown, with the furthest point reached.
    pub fn give_up(&self) -> SearchOutcome {
        let furthest = self.furthest.as_ref();
        SearchOutcome::Unknown(furthest.map(|best| refutation(self.operations, &self.list, best)))
    }

    /// One step: looks at the candidate under the cursor; the outcome once decided.
    fn step(&mut self) -> Option<SearchOutcome> {
        let next = match self.cursor {
            Cursor::List(node) if self.list.is_call[node as usize] => {
                self.on_call(node, Resume::AfterCall)
            }
            Cursor::List(node) => {
                debug_assert_ne!(
                    node, self.list.tail,
                    "a completed operation's return is ahead"
                );
                self.on_return(node);
                Next::Visit(Cursor::Pool {
                    position: 0,
                    bound: node,
                })
            }
            Cursor::Pool { position, bound } => self.on_pool(position, bound),
        };
        self.cursor = match next {
            Next::Visit(cursor) => cursor,
            Next::Done => {
                let order = self.stack.iter().map(|frame| frame.call);
                let order = ids(self.operations, &self.list, order);
                return Some(SearchOutcome::Linearizable(order));
            }
            Next::Backtrack => match self.backtrack() {
                Some(cursor) => cursor,
                None => {
                    let best = self
                        .furthest
                        .as_ref()
                        .expect("a return was reached before the last backtrack");
                    let refuted = refutation(self.operations, &self.list, best);
                    return Some(SearchOutcome::NotLinearizable(refuted));
                }
            },
        };
        None
    }

    /// Tries to place the operation of a call next; `resume` says where its failure leads.
    fn on_call(&mut self, node: u32, resume: Resume) -> Next {
        let skip = match resume {
            Resume::AfterCall => Next::Visit(Cursor::List(self.list.next[node as usize])),
            Resume::At(cursor) => Next::Visit(cursor),
        };
        let index = self.list.operation[node as usize] as usize;
        let operation = &self.operations[index];
        let Some(next_state) = self
            .model
            .step(&self.state, operation.input, operation.output)
        else {
            return skip;
        };
        if operation.output.is_none() && next_state == self.state {
            // Placing an indeterminate operation that changes nothing only removes options.
            return skip;
        }
        let read_only = self.model.is_read_only(operation.input, operation.output);
        debug_assert!(
            !read_only || next_state == self.state,
            "a read-only step changed the state"
        );
        let forced = read_only || self.commutes_with_rivals(index, node);
        self.toggle(index);
        let reached = self.exact_key.xor(fingerprint_of(&next_state));
        if self.memo.refutes(reached, self.pool) {
            self.toggle(index);
            return if forced { Next::Backtrack } else { skip };
        }
        let state_before = std::mem::replace(&mut self.state, next_state);
        self.pushes += 1;
        self.stack.push(Frame {
            call: node,
            state_before,
            reached,
            serial: self.pushes,
            forced,
            resume,
        });
        self.list.lift(node);
        if operation.complete_ns.is_some() {
            self.remaining_completed -= 1;
            if self.remaining_completed == 0 {
                return Next::Done;
            }
        }
        Next::Visit(Cursor::List(self.list.next[HEAD as usize]))
    }

    /// Tries the next unplaced indeterminate operation invoked before `bound`, if any.
    fn on_pool(&mut self, position: usize, bound: u32) -> Next {
        let depth = self.stack.len();
        self.update_relevant(bound);
        let order = &self.relevant[depth].as_ref().expect("just updated").order;
        match order.get(position) {
            Some(&call) => {
                let resume = Resume::At(Cursor::Pool {
                    position: position + 1,
                    bound,
                });
                self.on_call(call, resume)
            }
            None => Next::Backtrack,
        }
    }

    /// Reached a return whose operation is not placed: remember how far the search got.
    fn on_return(&mut self, node: u32) {
        let further = self
            .furthest
            .as_ref()
            .is_none_or(|best| (node, self.stack.len()) > (best.blocking_node, best.depth));
        if further {
            let calls = self.stack.iter().map(|frame| frame.call).collect();
            self.furthest = Some(Furthest {
                blocking_node: node,
                depth: self.stack.len(),
                calls,
            });
        }
    }

    /// Undoes lifts until one whose configuration has other candidates left; returns the
    /// candidate to try next, or `None` when the initial configuration has failed.
    fn backtrack(&mut self) -> Option<Cursor> {
        loop {
            let frame = self.stack.pop()?;
            // The configuration this frame led to has failed.
            self.memo.insert(frame.reached, self.pool);
            self.state = frame.state_before;
            let undone = self.list.operation[frame.call as usize] as usize;
            self.toggle(undone);
            if self.operations[undone].complete_ns.is_some() {
                self.remaining_completed += 1;
            }
            self.list.unlift(frame.call);
            if !frame.forced {
                return Some(match frame.resume {
                    Resume::AfterCall => Cursor::List(self.list.next[frame.call as usize]),
                    Resume::At(cursor) => cursor,
                });
            }
        }
    }

    /// True when placing the completed operation of call `node` first loses no linearization:
    /// every unplaced operation that could come before it (its *rivals*: invoked before it
    /// returned) commutes with it, or is a lost operation that is inert now and stays so until
    /// then (see [`PartSearch::rivals_out_of_the_way`]; the others can be swapped with it).
    fn commutes_with_rivals(&mut self, index: usize, node: u32) -> bool {
        if self.footprints[index].is_everything() || self.operations[index].complete_ns.is_none() {
            return false;
        }
        let mut rivals = std::mem::take(&mut self.rivals);
        rivals.clear();
        let answer = self.list.return_node[index];
        let mut cursor = self.list.next[HEAD as usize];
        while cursor != answer {
            if self.list.is_call[cursor as usize] && cursor != node {
                rivals.push(self.list.operation[cursor as usize] as usize);
            }
            cursor = self.list.next[cursor as usize];
        }
        let pooled = self.list.pool.iter().take_while(|&&call| call < answer);
        rivals.extend(
            pooled
                .map(|&call| self.list.operation[call as usize] as usize)
                .filter(|&other| !self.is_placed(other)),
        );
        let forced = self.rivals_out_of_the_way(index, &rivals);
        self.rivals = rivals;
        forced
    }

    /// True when every rival conflicting with operation `index` is a lost operation that stays
    /// inert: the conflicting ones, and the lost rivals that write what those read (and so on),
    /// are all lost reads or inert now ([`Model::is_inert`]), and no completed rival writes what
    /// any of them reads. (Placed before `index`, the first of them to go would see the cells it
    /// reads as they are now, so change nothing, and so on: all can be left out.)
    fn rivals_out_of_the_way(&self, index: usize, rivals: &[usize]) -> bool {
        let mut inert: Vec<usize> = Vec::new();
        for &rival in rivals {
            if self.footprints[index].conflicts(&self.footprints[rival]) {
                if !self.stays_inert_candidate(rival) {
                    return false;
                }
                inert.push(rival);
            }
        }
        let mut checked = 0;
        while checked < inert.len() {
            let lost = inert[checked];
            checked += 1;
            if self.model.is_read_only(self.operations[lost].input, None) {
                continue;
            }
            for &other in rivals {
                if other == lost
                    || inert.contains(&other)
                    || !self.footprints[other].writes_into_reads(&self.footprints[lost])
                {
                    continue;
                }
                if !self.stays_inert_candidate(other) {
                    return false;
                }
                inert.push(other);
            }
        }
        true
    }

    /// True for a lost read, or a lost operation inert in the current state.
    fn stays_inert_candidate(&self, rival: usize) -> bool {
        let operation = &self.operations[rival];
        operation.complete_ns.is_none()
            && (self.model.is_read_only(operation.input, None)
                || self.model.is_inert(&self.state, operation.input))
    }

    fn is_placed(&self, index: usize) -> bool {
        match self.pool_bits[index] {
            Some(bit) => self.pool & (1u64 << bit) != 0,
            None => self.exact[index / 64] & (1u64 << (index % 64)) != 0,
        }
    }

    /// Adds or removes an operation from the placed set.
    fn toggle(&mut self, index: usize) {
        match self.pool_bits[index] {
            Some(bit) => self.pool ^= 1u64 << bit,
            None => {
                self.exact[index / 64] ^= 1u64 << (index % 64);
                self.exact_key = self.exact_key.xor(self.operation_keys[index]);
            }
        }
    }
}

/// Pool bits for the first 64 indeterminate operations.
fn pool_bits<M: Model>(operations: &[PartOperation<'_, M>]) -> Vec<Option<u32>> {
    let mut next_bit = 0u32;
    operations
        .iter()
        .map(|operation| {
            if operation.complete_ns.is_some() || next_bit == 64 {
                return None;
            }
            next_bit += 1;
            Some(next_bit - 1)
        })
        .collect()
}

/// The history ids of the operations of a sequence of call nodes.
fn ids<M: Model>(
    operations: &[PartOperation<'_, M>],
    list: &EntryList,
    calls: impl Iterator<Item = u32>,
) -> Vec<OperationId> {
    calls
        .map(|call| operations[list.operation[call as usize] as usize].id)
        .collect()
}

fn refutation<M: Model>(
    operations: &[PartOperation<'_, M>],
    list: &EntryList,
    furthest: &Furthest,
) -> Refutation {
    let prefix = ids(operations, list, furthest.calls.iter().copied());
    let blocking_index = list.operation[furthest.blocking_node as usize] as usize;
    let mut placed = vec![false; operations.len()];
    for call in &furthest.calls {
        placed[list.operation[*call as usize] as usize] = true;
    }
    let blocking_complete = operations[blocking_index]
        .complete_ns
        .expect("a return entry");
    let pending = operations
        .iter()
        .enumerate()
        .filter(|(index, operation)| {
            !placed[*index] && *index != blocking_index && operation.invoke_ns <= blocking_complete
        })
        .map(|(_, operation)| operation.id)
        .collect();
    Refutation {
        prefix,
        blocking: operations[blocking_index].id,
        pending,
    }
}
