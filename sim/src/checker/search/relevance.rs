//! Which lost operations to try when the walk is stuck at a return, and in which order.

use std::hash::Hash;

use super::{PartSearch, HEAD};
use crate::checker::footprint::Footprint;
use crate::checker::model::Model;

/// The indeterminate operations worth trying when the walk is stuck at the return of operation
/// `X` (every linearization extending the configuration places `X` next, or first operations
/// that `X` depends on): the unplaced candidates (calls before the return, pooled operations
/// invoked before it) connected to `X` by chains of conflicting footprints. Any others, placed
/// before `X` in some linearization, commute with every candidate of the chain after them (and
/// were invoked before `X`'s return, which precedes their own), so they can be moved after `X`.
/// Lost operations that stay inert meanwhile are no links of the chains: they change nothing.
pub(super) struct Relevant {
    serial: u64,
    bound: u32,
    /// The pooled calls to try, in order.
    pub(super) order: Vec<u32>,
}

impl<M: Model> PartSearch<'_, '_, M>
where
    M::State: Hash,
{
    /// Makes the [`Relevant`] of the current depth describe the current configuration, stuck
    /// at `bound`: which pooled operations to try, in which order (first those after which the
    /// blocked operation is legal at once: only an ordering, to find linearizations sooner).
    pub(super) fn update_relevant(&mut self, bound: u32) {
        let serial = self.stack.last().map_or(0, |frame| frame.serial);
        let depth = self.stack.len();
        if self.relevant.len() <= depth {
            self.relevant.resize_with(depth + 1, || None);
        }
        if let Some(relevant) = &self.relevant[depth] {
            if (relevant.serial, relevant.bound) == (serial, bound) {
                return;
            }
        }
        let mut candidates: Vec<usize> = Vec::new();
        let mut cursor = self.list.next[HEAD as usize];
        while cursor != bound {
            if self.list.is_call[cursor as usize] {
                candidates.push(self.list.operation[cursor as usize] as usize);
            }
            cursor = self.list.next[cursor as usize];
        }
        let pooled: Vec<u32> = self
            .list
            .pool
            .iter()
            .take_while(|&&call| call < bound)
            .copied()
            .filter(|&call| !self.is_placed(self.list.operation[call as usize] as usize))
            .collect();
        candidates.extend(
            pooled
                .iter()
                .map(|&call| self.list.operation[call as usize] as usize),
        );
        let blocked = self.list.operation[bound as usize] as usize;
        let excluded = self.staying_inert(&candidates);
        let mut connected = vec![false; self.operations.len()];
        connected[blocked] = true;
        let mut reached = vec![blocked];
        while let Some(next) = reached.pop() {
            for &candidate in &candidates {
                if !connected[candidate]
                    && !excluded[candidate]
                    && self.footprints[next].conflicts(&self.footprints[candidate])
                {
                    connected[candidate] = true;
                    reached.push(candidate);
                }
            }
        }
        let (mut order, later): (Vec<u32>, Vec<u32>) = pooled
            .into_iter()
            .filter(|&call| connected[self.list.operation[call as usize] as usize])
            .partition(|&call| self.enables(self.list.operation[call as usize] as usize, blocked));
        order.extend(later);
        self.relevant[depth] = Some(Relevant {
            serial,
            bound,
            order,
        });
    }

    /// True when the blocked operation is legal right after indeterminate operation `lost`.
    fn enables(&self, lost: usize, blocked: usize) -> bool {
        let operation = &self.operations[lost];
        let blocked = &self.operations[blocked];
        self.model
            .step(&self.state, operation.input, None)
            .and_then(|state| self.model.step(&state, blocked.input, blocked.output))
            .is_some()
    }

    /// Marks the indeterminate candidates that change nothing before the blocked operation is
    /// placed: lost reads and operations inert now ([`Model::is_inert`]) that no other candidate
    /// outside the set writes into the reads of (the first of them placed sees what it reads as
    /// it is now, and so on). Leaving them out of a linearization's prefix changes nothing.
    fn staying_inert(&self, candidates: &[usize]) -> Vec<bool> {
        let mut inert = vec![false; self.operations.len()];
        let mut reads: Vec<(usize, Footprint)> = Vec::new();
        for &candidate in candidates {
            let operation = &self.operations[candidate];
            if operation.complete_ns.is_some() {
                continue;
            }
            let footprint = if self.model.is_read_only(operation.input, None) {
                Some(Footprint::nothing()) // A lost read changes nothing, whatever it reads.
            } else {
                self.model.inert_footprint(&self.state, operation.input)
            };
            if let Some(footprint) = footprint {
                inert[candidate] = true;
                reads.push((candidate, footprint));
            }
        }
        let mut changed = true;
        while changed {
            changed = false;
            for (member, footprint) in &reads {
                if !inert[*member] {
                    continue;
                }
                let disturbed = candidates.iter().any(|&other| {
                    !inert[other] && self.footprints[other].writes_into_reads(footprint)
                });
                if disturbed {
                    inert[*member] = false;
                    changed = true;
                }
            }
        }
        inert
    }
}
