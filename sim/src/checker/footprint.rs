//! What an operation may read and write: lets the search place an operation that commutes with
//! every operation that could come before it without trying the other orders.
//!
//! A model names parts of its state as *cells*: a family (say "keys of bucket b") and a member
//! ("key k") or every member of the family. An operation *reads* a cell when its legality, answer
//! or effect may depend on it, and *writes* it when it may change it (a cell can be both). Two
//! footprints *conflict* when one writes a cell the other reads or writes. Operations whose footprints do not conflict commute: applied in either
//! order from any state, both are legal (with their answers) or neither is, and they end in the
//! same state. Cells are identified by 64-bit hashes: two distinct cells with the same hash only
//! make footprints conflict more often, which is always safe.

use std::hash::Hash;

use crate::checker::fingerprint::fingerprint_of;

/// Member hash meaning "every member of the family".
const EVERY_MEMBER: u64 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Access {
    family: u64,
    member: u64,
    write: bool,
}

impl Access {
    fn overlaps(&self, other: &Access) -> bool {
        self.family == other.family
            && (self.member == other.member
                || self.member == EVERY_MEMBER
                || other.member == EVERY_MEMBER)
    }
}

/// The cells an operation (with its answer) may read and write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// `None`: the whole state (conflicts with everything).
    accesses: Option<Vec<Access>>,
}

impl Default for Footprint {
    fn default() -> Self {
        Footprint::everything()
    }
}

impl Footprint {
    /// Reads and writes everything: commutes with nothing (the safe default).
    pub fn everything() -> Self {
        Footprint { accesses: None }
    }

    /// Touches nothing yet; add cells with [`Footprint::read`] and [`Footprint::write`].
    pub fn nothing() -> Self {
        Footprint {
            accesses: Some(Vec::new()),
        }
    }

    /// Adds a read of `member` of `family` (`None`: every member).
    pub fn read<F: Hash + ?Sized, C: Hash + ?Sized>(self, family: &F, member: Option<&C>) -> Self {
        self.with(family, member, false)
    }

    /// Adds a write of `member` of `family` (`None`: every member).
    pub fn write<F: Hash + ?Sized, C: Hash + ?Sized>(self, family: &F, member: Option<&C>) -> Self {
        self.with(family, member, true)
    }

    /// Adds a read and a write of `member` of `family` (`None`: every member).
    pub fn read_write<F: Hash + ?Sized, C: Hash + ?Sized>(
        self,
        family: &F,
        member: Option<&C>,
    ) -> Self {
        self.read(family, member).write(family, member)
    }

    fn with<F: Hash + ?Sized, C: Hash + ?Sized>(
        mut self,
        family: &F,
        member: Option<&C>,
        write: bool,
    ) -> Self {
        if let Some(accesses) = &mut self.accesses {
            accesses.push(Access {
                family: fingerprint_of(family).low,
                member: member.map_or(EVERY_MEMBER, |member| fingerprint_of(member).low.max(1)),
                write,
            });
        }
        self
    }

    /// True when one of the two writes a cell the other touches.
    pub fn conflicts(&self, other: &Footprint) -> bool {
        let (Some(mine), Some(theirs)) = (&self.accesses, &other.accesses) else {
            return true;
        };
        mine.iter()
            .any(|a| theirs.iter().any(|b| (a.write || b.write) && a.overlaps(b)))
    }

    /// True when this one writes a cell `other` reads.
    pub fn writes_into_reads(&self, other: &Footprint) -> bool {
        let (Some(mine), Some(theirs)) = (&self.accesses, &other.accesses) else {
            return true;
        };
        mine.iter()
            .filter(|a| a.write)
            .any(|a| theirs.iter().any(|b| !b.write && a.overlaps(b)))
    }

    /// True when it touches the whole state.
    pub fn is_everything(&self) -> bool {
        self.accesses.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprints_conflict_on_a_shared_cell_one_writes() {
        let read_k = Footprint::nothing().read("keys", Some("k"));
        let write_k = Footprint::nothing().write("keys", Some("k"));
        let write_j = Footprint::nothing().write("keys", Some("j"));
        let list = Footprint::nothing().read("keys", None::<&str>);
        assert!(!read_k.conflicts(&read_k.clone()), "reads commute");
        assert!(read_k.conflicts(&write_k));
        assert!(!write_k.conflicts(&write_j));
        assert!(list.conflicts(&write_j), "a read of every key");
        assert!(!list.conflicts(&Footprint::nothing().write("opens", Some("k"))));
        assert!(Footprint::everything().conflicts(&Footprint::nothing()));
        assert!(write_k.writes_into_reads(&read_k));
        assert!(!read_k.writes_into_reads(&write_k), "only writes count");
        assert!(
            !write_k.writes_into_reads(&write_k.clone()),
            "into reads only"
        );
        let update_k = Footprint::nothing().read_write("keys", Some("k"));
        assert!(write_k.writes_into_reads(&update_k));
    }
}
