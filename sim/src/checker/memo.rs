//! The search's memo: configurations `(set of placed operations, state)` already found to have
//! no linearization, as 128-bit fingerprints, in bounded memory.
//!
//! A configuration's fingerprint combines xor-sums of per-operation keys for the set with the
//! state's [`fingerprint`](crate::checker::fingerprint); entries have a fixed size (24 bytes), so
//! the memo never holds states. A wrong match (both 64-bit lanes colliding) has probability
//! about `n² / 2^128` for `n` entries.
//!
//! **Bounded memory.** Every memo of a check draws table space from one [`MemoBudget`]. A memo
//! keeps two generations: new failures go to the current table; when it is full and the budget
//! cannot pay for doubling it, the memo forgets its previous generation and the current one
//! becomes the previous (so the failures recorded since the last rotation survive: roughly
//! least-recently-recorded eviction, in halves). Forgetting a failure only costs time: the
//! search explores that configuration again and fails again; it never changes a verdict.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::checker::fingerprint::Fingerprint;

pub use crate::checker::fingerprint::mix64;

/// Default memory for all the memos of one check.
pub const MEMO_BYTES_DEFAULT: usize = 256 << 20;

/// Slots of a memo's first table.
const INITIAL_SLOTS: usize = 256;

/// Table memory shared by the memos of one check.
#[derive(Debug)]
pub struct MemoBudget {
    limit_bytes: usize,
    used_bytes: AtomicUsize,
    peak_bytes: AtomicUsize,
}

impl MemoBudget {
    /// A budget of `limit_bytes` (a memo always gets its first small table, even past it).
    pub fn new(limit_bytes: usize) -> Self {
        MemoBudget {
            limit_bytes,
            used_bytes: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
        }
    }

    /// The most table memory held at once so far.
    pub fn peak_bytes(&self) -> usize {
        self.peak_bytes.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if that stays within the limit.
    fn try_reserve(&self, bytes: usize) -> bool {
        let mut used = self.used_bytes.load(Ordering::Relaxed);
        loop {
            if used + bytes > self.limit_bytes {
                return false;
            }
            match self.used_bytes.compare_exchange_weak(
                used,
                used + bytes,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.peak_bytes.fetch_max(used + bytes, Ordering::Relaxed);
                    return true;
                }
                Err(actual) => used = actual,
            }
        }
    }

    /// Takes `bytes` even past the limit (a memo's first table).
    fn reserve(&self, bytes: usize) {
        let used = self.used_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak_bytes.fetch_max(used, Ordering::Relaxed);
    }

    fn release(&self, bytes: usize) {
        self.used_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// One failed configuration: its fingerprint and the placed indeterminate operations of the pool.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// `low` lane; 0 marks a free slot (a real 0 is stored as 1).
    key: u64,
    high: u64,
    pool: u64,
}

const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// An open-addressing table with linear probing.
struct Table {
    slots: Vec<Slot>,
    len: usize,
}

impl Table {
    fn new(slots: usize) -> Self {
        Table {
            slots: vec![Slot::default(); slots],
            len: 0,
        }
    }

    fn bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    fn is_full(&self) -> bool {
        self.len * 4 >= self.slots.len() * 3
    }

    /// True when a recorded pool at `key` is a subset of `pool`.
    fn refutes(&self, key: u64, high: u64, pool: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut position = (key as usize) & mask;
        loop {
            let slot = self.slots[position];
            if slot.key == 0 {
                return false;
            }
            if slot.key == key && slot.high == high && slot.pool & !pool == 0 {
                return true;
            }
            position = (position + 1) & mask;
        }
    }

    /// Records `pool` at `key` unless a subset is recorded (a superset is replaced).
    fn insert(&mut self, key: u64, high: u64, pool: u64) {
        let mask = self.slots.len() - 1;
        let mut position = (key as usize) & mask;
        loop {
            let slot = &mut self.slots[position];
            if slot.key == 0 {
                *slot = Slot { key, high, pool };
                self.len += 1;
                return;
            }
            if slot.key == key && slot.high == high {
                if slot.pool & !pool == 0 {
                    return;
                }
                if pool & !slot.pool == 0 {
                    slot.pool = pool;
                    return;
                }
            }
            position = (position + 1) & mask;
        }
    }
}

/// Configurations the search explored and found to have no linearization.
///
/// The set of placed operations is split in two: an exact part (in the fingerprint) and a
/// *pool* part (a mask over up to 64 indeterminate operations). A failed `(exact, pool, state)`
/// also refutes `(exact, pool', state)` for every `pool' ⊇ pool`: placing more indeterminate
/// operations only removes options, since no operation waits for one of them (they never
/// return) and each may also never take effect. Per fingerprint the memo keeps minimal pools.
pub struct Memo<'b> {
    budget: &'b MemoBudget,
    current: Table,
    previous: Option<Table>,
}

impl<'b> Memo<'b> {
    /// An empty memo drawing on `budget`.
    pub fn new(budget: &'b MemoBudget) -> Self {
        let current = Table::new(INITIAL_SLOTS);
        budget.reserve(current.bytes());
        Memo {
            budget,
            current,
            previous: None,
        }
    }

    /// Number of failures remembered.
    pub fn len(&self) -> usize {
        self.current.len + self.previous.as_ref().map_or(0, |table| table.len)
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a remembered failure refutes `(fingerprint, pool)`; `fingerprint` must not
    /// depend on the pool.
    pub fn refutes(&self, fingerprint: Fingerprint, pool: u64) -> bool {
        let key = slot_key(fingerprint);
        self.current.refutes(key, fingerprint.high, pool)
            || self
                .previous
                .as_ref()
                .is_some_and(|table| table.refutes(key, fingerprint.high, pool))
    }

    /// Records a failed configuration.
    pub fn insert(&mut self, fingerprint: Fingerprint, pool: u64) {
        if self.current.is_full() {
            self.make_room();
        }
        self.current
            .insert(slot_key(fingerprint), fingerprint.high, pool);
    }

    /// Doubles the current table if the budget allows, else rotates the generations.
    fn make_room(&mut self) {
        let slots = self.current.slots.len();
        let doubled = slots * 2 * SLOT_BYTES;
        if self.budget.try_reserve(doubled) {
            let mut grown = Table::new(slots * 2);
            for slot in self.current.slots.iter().filter(|slot| slot.key != 0) {
                grown.insert(slot.key, slot.high, slot.pool);
            }
            self.budget.release(self.current.bytes());
            self.current = grown;
            return;
        }
        if let Some(forgotten) = self.previous.take() {
            self.budget.release(forgotten.bytes());
        }
        let fresh = Table::new(slots);
        self.budget.reserve(fresh.bytes());
        self.previous = Some(std::mem::replace(&mut self.current, fresh));
    }
}

impl Drop for Memo<'_> {
    fn drop(&mut self) {
        let bytes = self.current.bytes() + self.previous.as_ref().map_or(0, Table::bytes);
        self.budget.release(bytes);
    }
}

fn slot_key(fingerprint: Fingerprint) -> u64 {
    fingerprint.low.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(value: u64) -> Fingerprint {
        Fingerprint::of_index(value)
    }

    #[test]
    fn memo_subsumes_pools_and_tells_states_apart() {
        let budget = MemoBudget::new(1 << 20);
        let mut memo = Memo::new(&budget);
        assert!(!memo.refutes(print(7), 0));
        memo.insert(print(7), 0b0101);
        assert!(memo.refutes(print(7), 0b0101));
        assert!(
            memo.refutes(print(7), 0b1101),
            "a larger pool is refuted too"
        );
        assert!(!memo.refutes(print(7), 0b0100), "a smaller pool is not");
        let same_low = Fingerprint {
            low: print(7).low,
            high: 1,
        };
        assert!(!memo.refutes(same_low, 0b0101), "both lanes must match");
        for value in 0..5000 {
            memo.insert(print(value + 100), 0);
        }
        assert_eq!(memo.len(), 5001);
        memo.insert(print(7), 0b0001);
        assert!(
            memo.refutes(print(7), 0b0011),
            "the smaller pool replaced the larger"
        );
        assert!(memo.refutes(print(5099), 0));
        assert!(memo.refutes(print(7), 0b0101), "still there after growing");
    }

    #[test]
    fn memo_stays_within_its_budget_and_forgets_the_older_half() {
        let budget = MemoBudget::new(64 << 10);
        let mut memo = Memo::new(&budget);
        for value in 0..100_000 {
            memo.insert(print(value), 0);
        }
        assert!(budget.peak_bytes() <= 64 << 10, "{}", budget.peak_bytes());
        assert!(memo.refutes(print(99_999), 0), "the newest is remembered");
        assert!(!memo.refutes(print(0), 0), "the oldest is forgotten");
        drop(memo);
        assert_eq!(budget.used_bytes.load(Ordering::Relaxed), 0);
    }
}
