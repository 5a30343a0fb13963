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

use std::hash::Hash;

use crate::checker::budget::{Budget, BudgetState};
use crate::checker::history::OperationId;
use crate::checker::memo::{hash_state, mix64, Memo};
use crate::checker::model::Model;

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

/// When the search tries indeterminate operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolOrder {
    /// Only when stuck at a return, after every completed candidate (suits lost operations that
    /// never took effect, or whose effect shows soon).
    Lazy,
    /// In time order with the others, as Porcupine does (suits lost operations that took effect
    /// and whose effect hides for a while).
    Eager,
}

const HEAD: u32 = 0;
/// How many search steps between two looks at the budget.
const BUDGET_CHECK_STEPS: u64 = 4096;

/// The time-ordered list of calls and returns, as index-linked nodes.
struct EntryList {
    next: Vec<u32>,
    previous: Vec<u32>,
    /// Local operation index of each node (unused for the sentinels).
    operation: Vec<u32>,
    is_call: Vec<bool>,
    /// Return node of each operation; `NO_NODE` for an indeterminate one.
    return_node: Vec<u32>,
    /// Call nodes of the indeterminate operations, in time order (not linked in the list).
    pool: Vec<u32>,
    tail: u32,
}

const NO_NODE: u32 = u32::MAX;

impl EntryList {
    /// The list of `operations`; with `order == PoolOrder::Lazy` indeterminate calls go to the
    /// pool instead.
    fn build<M: Model>(operations: &[PartOperation<'_, M>], order: PoolOrder) -> Self {
        // (time, 0 = call | 1 = return, operation)
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(operations.len() * 2);
        for (index, operation) in operations.iter().enumerate() {
            let index = u32::try_from(index).expect("fewer than 2^32 operations in a part");
            events.push((operation.invoke_ns, 0, index));
            if let Some(complete_ns) = operation.complete_ns {
                events.push((complete_ns, 1, index));
            }
        }
        events.sort_unstable();
        let nodes = events.len() + 2;
        let tail = u32::try_from(nodes - 1).expect("fewer than 2^32 entries");
        let mut list = EntryList {
            next: (1..=nodes as u32).collect(),
            previous: (0..nodes as u32).map(|node| node.wrapping_sub(1)).collect(),
            operation: vec![NO_NODE; nodes],
            is_call: vec![false; nodes],
            return_node: vec![NO_NODE; operations.len()],
            pool: Vec::new(),
            tail,
        };
        for (position, (_, kind, index)) in events.iter().enumerate() {
            let node = position + 1;
            list.operation[node] = *index;
            list.is_call[node] = *kind == 0;
            if *kind == 1 {
                list.return_node[*index as usize] = node as u32;
            }
        }
        for node in (1..tail).filter(|_| order == PoolOrder::Lazy) {
            let index = list.operation[node as usize] as usize;
            if list.is_call[node as usize] && operations[index].complete_ns.is_none() {
                list.unlink(node);
                list.pool.push(node);
            }
        }
        list
    }

    fn unlink(&mut self, node: u32) {
        let (previous, next) = (self.previous[node as usize], self.next[node as usize]);
        self.next[previous as usize] = next;
        self.previous[next as usize] = previous;
    }

    fn relink(&mut self, node: u32) {
        let (previous, next) = (self.previous[node as usize], self.next[node as usize]);
        self.next[previous as usize] = node;
        self.previous[next as usize] = node;
    }

    /// Removes a call and its return from the list (an indeterminate call is not in it).
    fn lift(&mut self, call: u32) {
        if self.is_pooled(call) {
            return;
        }
        self.unlink(call);
        let answer = self.return_node[self.operation[call as usize] as usize];
        if answer != NO_NODE {
            self.unlink(answer);
        }
    }

    /// Puts back what `lift(call)` removed (lifts are undone in reverse order).
    fn unlift(&mut self, call: u32) {
        if self.is_pooled(call) {
            return;
        }
        let answer = self.return_node[self.operation[call as usize] as usize];
        if answer != NO_NODE {
            self.relink(answer);
        }
        self.relink(call);
    }

    /// True for an indeterminate call kept in the pool rather than the list.
    fn is_pooled(&self, call: u32) -> bool {
        !self.pool.is_empty() && self.return_node[self.operation[call as usize] as usize] == NO_NODE
    }
}

/// A frame of the search stack: the call that was lifted and the state before it.
struct Frame<S> {
    call: u32,
    state_before: S,
    /// The operation is read-only (`Model::is_read_only`): if any linearization extends the
    /// configuration it was lifted from, one places it first. (It was a candidate, so every
    /// operation that completed before it was invoked is placed already, and moving it earlier
    /// breaks no real-time order; it changes no state, so every other operation sees the same
    /// states.) So when this frame fails, its parent configuration fails too, without trying
    /// other candidates.
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

/// The search's mutable state over one part.
struct Search<'s, 'h, M: Model> {
    model: &'s M,
    operations: &'s [PartOperation<'h, M>],
    list: EntryList,
    /// A random key per operation; the exact part's key is the xor of its members'.
    operation_keys: Vec<u64>,
    /// The pool bit of each of the first 64 indeterminate operations (see [`Memo`]).
    pool_bits: Vec<Option<u32>>,
    memo: Memo<M::State>,
    /// Placed operations outside the pool.
    exact: Vec<u64>,
    exact_key: u64,
    /// Placed operations of the pool.
    pool: u64,
    remaining_completed: usize,
    state: M::State,
    stack: Vec<Frame<M::State>>,
    furthest: Option<Furthest>,
}

/// Searches one part for a linearization.
pub fn search<M: Model>(
    model: &M,
    operations: &[PartOperation<'_, M>],
    order: PoolOrder,
    budget: &Budget<'_>,
) -> SearchOutcome
where
    M::State: Hash,
{
    let remaining_completed = operations
        .iter()
        .filter(|op| op.complete_ns.is_some())
        .count();
    if remaining_completed == 0 {
        return SearchOutcome::Linearizable(Vec::new());
    }
    let words = operations.len().div_ceil(64);
    let mut search = Search {
        model,
        operations,
        list: EntryList::build(operations, order),
        operation_keys: (0..operations.len() as u64).map(mix64).collect(),
        pool_bits: pool_bits(operations),
        memo: Memo::new(words),
        exact: vec![0u64; words],
        exact_key: 0,
        pool: 0,
        remaining_completed,
        state: model.init(),
        stack: Vec::new(),
        furthest: None,
    };
    let mut cursor = Cursor::List(search.list.next[HEAD as usize]);
    let mut steps = 0u64;
    loop {
        steps += 1;
        if steps.is_multiple_of(BUDGET_CHECK_STEPS) {
            match budget.state() {
                BudgetState::Continue => {}
                BudgetState::Cancelled => return SearchOutcome::Cancelled,
                BudgetState::Exhausted => {
                    let best = search
                        .furthest
                        .map(|best| refutation(operations, &search.list, best));
                    return SearchOutcome::Unknown(best);
                }
            }
        }
        let next = match cursor {
            Cursor::List(node) if search.list.is_call[node as usize] => {
                search.on_call(node, Resume::AfterCall)
            }
            Cursor::List(node) => {
                debug_assert_ne!(
                    node, search.list.tail,
                    "a completed operation's return is ahead"
                );
                search.on_return(node);
                Next::Visit(Cursor::Pool {
                    position: 0,
                    bound: node,
                })
            }
            Cursor::Pool { position, bound } => search.on_pool(position, bound),
        };
        cursor = match next {
            Next::Visit(cursor) => cursor,
            Next::Done => {
                let order = search.stack.iter().map(|frame| frame.call);
                return SearchOutcome::Linearizable(ids(operations, &search.list, order));
            }
            Next::Backtrack => match search.backtrack() {
                Some(cursor) => cursor,
                None => {
                    let best = search
                        .furthest
                        .expect("a return was reached before the last backtrack");
                    return SearchOutcome::NotLinearizable(refutation(
                        operations,
                        &search.list,
                        best,
                    ));
                }
            },
        };
    }
}

impl<M: Model> Search<'_, '_, M>
where
    M::State: Hash,
{
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
        let forced = self.model.is_read_only(operation.input, operation.output);
        debug_assert!(
            !forced || next_state == self.state,
            "a read-only step changed the state"
        );
        self.toggle(index);
        let fingerprint = mix64(self.exact_key ^ hash_state(&next_state));
        if self
            .memo
            .refutes(fingerprint, &self.exact, self.pool, &next_state)
        {
            self.toggle(index);
            return if forced { Next::Backtrack } else { skip };
        }
        let state_before = std::mem::replace(&mut self.state, next_state);
        self.stack.push(Frame {
            call: node,
            state_before,
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
        let pool = &self.list.pool;
        let candidate = (position..pool.len())
            .take_while(|&candidate| pool[candidate] < bound)
            .find(|&candidate| {
                !self.is_placed(self.list.operation[pool[candidate] as usize] as usize)
            });
        match candidate {
            Some(candidate) => {
                let resume = Resume::At(Cursor::Pool {
                    position: candidate + 1,
                    bound,
                });
                self.on_call(self.list.pool[candidate], resume)
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
            let fingerprint = mix64(self.exact_key ^ hash_state(&self.state));
            let state_after = std::mem::replace(&mut self.state, frame.state_before);
            self.memo
                .insert(fingerprint, &self.exact, self.pool, state_after);
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
                self.exact_key ^= self.operation_keys[index];
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
    furthest: Furthest,
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
