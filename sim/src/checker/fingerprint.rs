//! 128-bit fingerprints of states and of parts of states.
//!
//! The memo stores fingerprints instead of states (so an entry has a fixed size and memory can
//! be bounded), and models may keep running sums of fingerprints of their entries (so hashing a
//! large state costs nothing per step). Two independent 64-bit lanes: a wrong memo match needs
//! both to collide, about `n² / 2^128` for `n` recorded configurations.

use std::hash::{Hash, Hasher};

/// Mixes 64 bits (splitmix64's finaliser): fingerprints and per-operation keys come from it.
pub fn mix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// A second, unrelated 64-bit mixer (murmur3's finaliser), for the high lane.
fn mix64_other(mut value: u64) -> u64 {
    value ^= value >> 33;
    value = value.wrapping_mul(0xff51_afd7_ed55_8ccd);
    value ^= value >> 33;
    value = value.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    value ^ (value >> 33)
}

const LOW_SEED: u64 = 0x243f_6a88_85a3_08d3;
const HIGH_SEED: u64 = 0x1319_8a2e_0370_7344;

/// A deterministic two-lane hasher; [`FingerprintHasher::fingerprint`] gives both lanes.
#[derive(Clone, Copy, Debug)]
pub struct FingerprintHasher {
    low: u64,
    high: u64,
}

impl Default for FingerprintHasher {
    fn default() -> Self {
        FingerprintHasher {
            low: LOW_SEED,
            high: HIGH_SEED,
        }
    }
}

impl FingerprintHasher {
    fn add(&mut self, word: u64) {
        self.low = mix64(self.low ^ word);
        self.high = mix64_other(self.high.rotate_left(29) ^ word).wrapping_add(HIGH_SEED);
    }

    /// Both lanes.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            low: mix64(self.low),
            high: mix64_other(self.high),
        }
    }
}

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.fingerprint().low
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

    fn write_u128(&mut self, value: u128) {
        self.add(value as u64);
        self.add((value >> 64) as u64);
    }

    fn write_i64(&mut self, value: i64) {
        self.add(value as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }
}

/// A 128-bit fingerprint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The first lane (also the memo's table position).
    pub low: u64,
    /// The second lane.
    pub high: u64,
}

impl Fingerprint {
    /// Both lanes combined with another fingerprint (order-insensitive, invertible by
    /// [`Fingerprint::minus`]): running sums over the entries of a collection.
    pub fn plus(self, other: Fingerprint) -> Fingerprint {
        Fingerprint {
            low: self.low.wrapping_add(other.low),
            high: self.high.wrapping_add(other.high),
        }
    }

    /// Undoes [`Fingerprint::plus`].
    pub fn minus(self, other: Fingerprint) -> Fingerprint {
        Fingerprint {
            low: self.low.wrapping_sub(other.low),
            high: self.high.wrapping_sub(other.high),
        }
    }

    /// Lane-wise xor (sets of operations keep xor sums of per-operation keys).
    pub fn xor(self, other: Fingerprint) -> Fingerprint {
        Fingerprint {
            low: self.low ^ other.low,
            high: self.high ^ other.high,
        }
    }

    /// A pseudo-random fingerprint for `index` (per-operation keys).
    pub fn of_index(index: u64) -> Fingerprint {
        Fingerprint {
            low: mix64(index),
            high: mix64_other(index ^ HIGH_SEED),
        }
    }
}

/// The fingerprint of anything hashable.
pub fn fingerprint_of<T: Hash + ?Sized>(value: &T) -> Fingerprint {
    let mut hasher = FingerprintHasher::default();
    value.hash(&mut hasher);
    hasher.fingerprint()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_distinguish_small_values_in_both_lanes() {
        let values = [None, Some(0i64), Some(1), Some(2), Some(-1)];
        for (i, a) in values.iter().enumerate() {
            for b in &values[i + 1..] {
                let (fa, fb) = (fingerprint_of(a), fingerprint_of(b));
                assert_ne!(fa.low, fb.low);
                assert_ne!(fa.high, fb.high);
            }
        }
        assert_eq!(fingerprint_of("abc"), fingerprint_of("abc"));
        assert_ne!(fingerprint_of("ab"), fingerprint_of("abc"));
    }

    #[test]
    fn sums_are_order_insensitive_and_invertible() {
        let (a, b) = (fingerprint_of(&1u64), fingerprint_of(&2u64));
        assert_eq!(a.plus(b), b.plus(a));
        assert_eq!(a.plus(b).minus(b), a);
    }
}
