//! The time-ordered list of calls and returns the search walks (Wing–Gong/Lowe), as
//! index-linked nodes: lifting an operation unlinks its call and return, unlifting relinks them.

use crate::checker::model::Model;
use crate::checker::search::PartOperation;

/// The sentinel before the first entry.
pub const HEAD: u32 = 0;
/// Marks "no node" (the return of an indeterminate operation).
pub const NO_NODE: u32 = u32::MAX;

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

/// Calls and returns in time order (a call sorts before a return at the same time: such
/// operations count as concurrent).
pub struct EntryList {
    /// Successor of each node.
    pub next: Vec<u32>,
    previous: Vec<u32>,
    /// Local operation index of each node (unused for the sentinels).
    pub operation: Vec<u32>,
    /// True for call nodes.
    pub is_call: Vec<bool>,
    /// Return node of each operation; `NO_NODE` for an indeterminate one.
    pub return_node: Vec<u32>,
    /// Call nodes of the indeterminate operations, in time order (not linked in the list).
    pub pool: Vec<u32>,
    /// The sentinel after the last entry.
    pub tail: u32,
}

impl EntryList {
    /// The list of `operations`; with `order == PoolOrder::Lazy` indeterminate calls go to the
    /// pool instead.
    pub fn build<M: Model>(operations: &[PartOperation<'_, M>], order: PoolOrder) -> Self {
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
    pub fn lift(&mut self, call: u32) {
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
    pub fn unlift(&mut self, call: u32) {
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
