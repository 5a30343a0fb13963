//! The search's memo: every `(set of linearized operations, state)` already explored.
//!
//! Keyed by a 64-bit fingerprint, verified exactly (the words of the bitset and the state are
//! stored and compared), so a fingerprint collision costs time, never a wrong verdict. An
//! open-addressing table of `(fingerprint, slot)` pairs with linear probing; no iteration order
//! reaches any output.

use std::hash::{BuildHasher, Hash, Hasher};

/// Mixes 64 bits (splitmix64's finaliser): fingerprints and per-operation keys come from it.
pub fn mix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// A fast, deterministic hasher for states (a multiply-rotate word hasher).
#[derive(Clone, Copy, Debug, Default)]
pub struct StateHasher {
    hash: u64,
}

const STATE_HASH_MULTIPLIER: u64 = 0x5851_f42d_4c95_7f2d;

impl StateHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(23) ^ word).wrapping_mul(STATE_HASH_MULTIPLIER);
    }
}

impl Hasher for StateHasher {
    fn finish(&self) -> u64 {
        mix64(self.hash)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_i64(&mut self, value: i64) {
        self.add(value as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }
}

/// Builds [`StateHasher`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct StateHasherBuilder;

impl BuildHasher for StateHasherBuilder {
    type Hasher = StateHasher;
    fn build_hasher(&self) -> StateHasher {
        StateHasher::default()
    }
}

/// Hashes a state with [`StateHasher`].
pub fn hash_state<S: Hash>(state: &S) -> u64 {
    StateHasherBuilder.hash_one(state)
}

const EMPTY_SLOT: u32 = u32::MAX;

/// Configurations the search explored and found to have no linearization.
///
/// A configuration is (set of placed operations, state). The set is split in two: an exact part
/// (bitset words) and a *pool* part (a mask over up to 64 indeterminate operations). A failed
/// `(exact, pool, state)` also refutes `(exact, pool', state)` for every `pool' ⊇ pool`: placing
/// more indeterminate operations only removes options, since no operation waits for one of them
/// (they never return) and each may also never take effect. Per `(exact, state)` the memo keeps
/// the minimal failed pools.
pub struct Memo<S> {
    words_per_set: usize,
    /// Exact-part words of group `i` are `words[i * words_per_set..][..words_per_set]`.
    words: Vec<u64>,
    states: Vec<S>,
    /// Minimal failed pools of each group.
    pools: Vec<Vec<u64>>,
    /// `(fingerprint, group)`; `group == EMPTY_SLOT` marks a free slot.
    table: Vec<(u64, u32)>,
}

impl<S: Eq> Memo<S> {
    /// An empty memo for exact parts of `words_per_set` words.
    pub fn new(words_per_set: usize) -> Self {
        Memo {
            words_per_set,
            words: Vec::new(),
            states: Vec::new(),
            pools: Vec::new(),
            table: vec![(0, EMPTY_SLOT); 1024],
        }
    }

    /// Number of `(exact, state)` groups recorded.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The group of `(exact, state)`, or the free slot where it would go.
    fn find(&self, fingerprint: u64, exact: &[u64], state: &S) -> Result<usize, usize> {
        let mask = self.table.len() - 1;
        let mut slot = (fingerprint as usize) & mask;
        loop {
            let (slot_fingerprint, group) = self.table[slot];
            if group == EMPTY_SLOT {
                return Err(slot);
            }
            if slot_fingerprint == fingerprint && self.group_equals(group as usize, exact, state) {
                return Ok(group as usize);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// True when a recorded failure refutes `(exact, pool, state)`; `fingerprint` must depend on
    /// `exact` and `state` only.
    pub fn refutes(&self, fingerprint: u64, exact: &[u64], pool: u64, state: &S) -> bool {
        match self.find(fingerprint, exact, state) {
            Ok(group) => self.pools[group].iter().any(|failed| failed & !pool == 0),
            Err(_) => false,
        }
    }

    /// Records a failed configuration.
    pub fn insert(&mut self, fingerprint: u64, exact: &[u64], pool: u64, state: S) {
        debug_assert_eq!(exact.len(), self.words_per_set);
        let slot = match self.find(fingerprint, exact, &state) {
            Ok(group) => {
                let pools = &mut self.pools[group];
                if !pools.iter().any(|failed| failed & !pool == 0) {
                    pools.retain(|failed| pool & !failed != 0);
                    pools.push(pool);
                }
                return;
            }
            Err(slot) => slot,
        };
        let group = u32::try_from(self.states.len()).expect("memo holds fewer than 2^32 groups");
        assert!(group != EMPTY_SLOT);
        self.words.extend_from_slice(exact);
        self.states.push(state);
        self.pools.push(vec![pool]);
        self.table[slot] = (fingerprint, group);
        if self.states.len() * 2 > self.table.len() {
            self.grow();
        }
    }

    fn group_equals(&self, group: usize, exact: &[u64], state: &S) -> bool {
        let start = group * self.words_per_set;
        self.words[start..start + self.words_per_set] == *exact && self.states[group] == *state
    }

    fn grow(&mut self) {
        let capacity = self.table.len() * 2;
        let old = std::mem::replace(&mut self.table, vec![(0, EMPTY_SLOT); capacity]);
        let mask = capacity - 1;
        for (fingerprint, group) in old.into_iter().filter(|(_, group)| *group != EMPTY_SLOT) {
            let mut slot = (fingerprint as usize) & mask;
            while self.table[slot].1 != EMPTY_SLOT {
                slot = (slot + 1) & mask;
            }
            self.table[slot] = (fingerprint, group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_verifies_exactly_and_subsumes_pools() {
        let mut memo: Memo<Option<i64>> = Memo::new(1);
        assert!(!memo.refutes(7, &[1], 0, &Some(1)));
        memo.insert(7, &[1], 0b0101, Some(1));
        assert!(memo.refutes(7, &[1], 0b0101, &Some(1)));
        assert!(
            memo.refutes(7, &[1], 0b1101, &Some(1)),
            "a larger pool is refuted too"
        );
        assert!(
            !memo.refutes(7, &[1], 0b0100, &Some(1)),
            "a smaller pool is not"
        );
        assert!(
            !memo.refutes(7, &[1], 0b0101, &Some(2)),
            "same fingerprint, other state"
        );
        assert!(
            !memo.refutes(7, &[3], 0b0101, &Some(1)),
            "same fingerprint, other set"
        );
        for value in 0..5000 {
            memo.insert(mix64(value), &[value], 0, None);
        }
        assert_eq!(memo.len(), 5001);
        memo.insert(7, &[1], 0b0001, Some(1));
        assert!(
            memo.refutes(7, &[1], 0b0011, &Some(1)),
            "the smaller pool replaced the larger"
        );
        assert_eq!(memo.len(), 5001, "same group");
        assert!(memo.refutes(mix64(4999), &[4999], 0, &None));
        assert!(
            memo.refutes(7, &[1], 0b0101, &Some(1)),
            "still there after growing"
        );
    }

    #[test]
    fn state_hash_distinguishes_small_states() {
        assert_ne!(hash_state(&Some(1i64)), hash_state(&Some(2i64)));
        assert_ne!(hash_state(&None::<i64>), hash_state(&Some(0i64)));
    }
}
