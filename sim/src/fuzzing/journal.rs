//! The simulated disk's journal recovery, two targets:
//!
//! - `journal_recovery`: the bytes are a story of writes, imports, syncs, injected failures,
//!   crashes, torn power losses and bit rot on the platter. After every step what reads see
//!   equals a replay of the records the story says are there, and every recovery yields the
//!   synced records, then a prefix of the unsynced ones (all of them after a process crash,
//!   none after a power loss that drops them); bit rot cuts the synced records to a prefix, or
//!   makes the store refuse to open only when it hit the journal's header.
//! - `journal_bytes`: the bytes are the platter itself, raw, or as record payloads that the
//!   body frames with their length and checksum (so that the fuzzer reaches the decoding of
//!   records, which a checksum would otherwise guard). Recovery never panics; it opens, or
//!   refuses as corrupt or of another format; what it keeps is a prefix of the bytes, recovering
//!   that prefix again gives the same rows, and a write after recovery survives the next one.

use super::ready;
use arbitrary::{Arbitrary, Unstructured};
use om_server::store::sim_disk::{CrashMode, DiskFault, SimDisk, SimDiskStore, TailLoss};
use om_server::store::{Scope, Store, StoreImage, Table, TableWrite};
use om_server::StoreError;
use std::collections::BTreeMap;
use std::num::NonZeroU8;

/// The scope the stories write (both scopes share the journal code).
const SCOPE: Scope = Scope::Tables;

/// Steps of one story, at most.
const STEPS_MAX: usize = 64;

type Rows = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

#[derive(Arbitrary, Debug)]
enum Step {
    Write(Vec<Mutation>),
    /// Replaces the tables of `tables` (a bit mask over `Table::ALL`) with `rows`; a `stray`
    /// import names a row outside them and must be refused.
    Import {
        tables: u8,
        rows: Vec<Mutation>,
        stray: bool,
    },
    Sync,
    FailNextSync {
        keep_pending: bool,
    },
    FailNextWrite,
    ProcessCrash,
    /// A power loss that keeps `kept_share`/255 of the unsynced bytes (so the cut falls in
    /// any record, often inside one), or drops them all.
    PowerLoss {
        kept_share: Option<u8>,
    },
    /// One byte of the platter rots (after a power loss that drops everything unsynced).
    BitRot {
        offset: u16,
        flip: NonZeroU8,
    },
}

/// A row write: a small key space, so writes overwrite and delete each other's rows.
#[derive(Arbitrary, Debug)]
struct Mutation {
    table: u8,
    key: u8,
    value: Option<Vec<u8>>,
}

impl Mutation {
    fn table(&self) -> Table {
        Table::ALL[usize::from(self.table) % Table::ALL.len()]
    }

    fn key(&self) -> Vec<u8> {
        vec![b'k', self.key % 4]
    }

    fn write(&self) -> TableWrite {
        TableWrite {
            table: self.table(),
            key: self.key(),
            value: self.value.clone(),
        }
    }
}

/// What the journal holds, as the story says: the records on the platter, then the unsynced.
enum Record {
    Batch(Vec<TableWrite>),
    Image(StoreImage),
}

#[derive(Default)]
struct Model {
    synced: Vec<Record>,
    pending: Vec<Record>,
    poisoned: bool,
    fail_next_sync: Option<bool>,
    fail_next_write: bool,
}

fn replay<'a>(records: impl IntoIterator<Item = &'a Record>) -> Rows {
    let mut rows = Rows::new();
    for record in records {
        match record {
            Record::Batch(writes) => {
                for write in writes {
                    let row = (write.table, write.key.clone());
                    match &write.value {
                        Some(value) => rows.insert(row, value.clone()),
                        None => rows.remove(&row),
                    };
                }
            }
            Record::Image(image) => {
                rows.retain(|(table, _), _| !image.tables.contains(table));
                for (table, key, value) in &image.rows {
                    rows.insert((*table, key.clone()), value.clone());
                }
            }
        }
    }
    rows
}

fn rows_of(store: &SimDiskStore) -> Rows {
    let image = store.export(&Table::ALL).expect("a live store exports");
    (image.rows.into_iter())
        .map(|(table, key, value)| ((table, key), value))
        .collect()
}

/// The bytes a freshly formatted journal holds: its header record.
fn header_bytes() -> usize {
    let disk = SimDisk::new();
    disk.open(SCOPE).expect("a blank disk formats");
    disk.platter_for_test(SCOPE).len()
}

pub fn journal_recovery(data: &[u8]) {
    let mut input = Unstructured::new(data);
    let mut story = Story {
        disk: SimDisk::new(),
        store: None,
        model: Model::default(),
        header_bytes: header_bytes(),
    };
    story.store = Some(story.disk.open(SCOPE).expect("a blank disk formats"));
    for _ in 0..STEPS_MAX {
        let Ok(step) = Step::arbitrary(&mut input) else {
            return;
        };
        if !story.take(&step) {
            return;
        }
        if let Some(store) = &story.store {
            let expected = replay(story.model.synced.iter().chain(&story.model.pending));
            assert_eq!(rows_of(store), expected, "reads after {step:?}");
        }
    }
}

struct Story {
    disk: SimDisk,
    /// `None` once the disk refused to open (the story ends).
    store: Option<SimDiskStore>,
    model: Model,
    header_bytes: usize,
}

impl Story {
    /// Takes one step; false when the story cannot go on.
    fn take(&mut self, step: &Step) -> bool {
        match step {
            Step::Write(mutations) => {
                let batch: Vec<TableWrite> = mutations.iter().map(Mutation::write).collect();
                let written = self.store().write(&batch);
                self.expect_append(written, Record::Batch(batch));
            }
            Step::Import {
                tables,
                rows,
                stray,
            } => self.import(*tables, rows, *stray),
            Step::Sync => self.sync(),
            Step::FailNextSync { keep_pending } => {
                self.disk.inject(DiskFault::FailNextSync {
                    scope: SCOPE,
                    keep_pending: *keep_pending,
                });
                self.model.fail_next_sync = Some(*keep_pending);
            }
            Step::FailNextWrite => {
                self.disk.inject(DiskFault::FailNextWrite { scope: SCOPE });
                self.model.fail_next_write = true;
            }
            Step::ProcessCrash => {
                self.disk.crash(CrashMode::ProcessCrash);
                self.model.poisoned = false;
                // The page cache survived: every unsynced record is still there, unsynced.
                self.store = Some(self.disk.open(SCOPE).expect("recovery"));
            }
            Step::PowerLoss { kept_share } => self.power_loss(*kept_share),
            Step::BitRot { offset, flip } => return self.bit_rot(usize::from(*offset), *flip),
        }
        true
    }

    fn store(&self) -> &SimDiskStore {
        self.store.as_ref().expect("a live story has a store")
    }

    /// The outcome of a write or an import the store accepted for checking.
    fn expect_append(&mut self, written: Result<(), StoreError>, record: Record) {
        let model = &mut self.model;
        if model.poisoned {
            assert!(matches!(written, Err(StoreError::Io(_))), "{written:?}");
        } else if model.fail_next_write {
            assert!(matches!(written, Err(StoreError::Io(_))), "{written:?}");
            model.fail_next_write = false;
            model.poisoned = true;
        } else {
            assert_eq!(written, Ok(()));
            model.pending.push(record);
        }
    }

    fn import(&mut self, mask: u8, mutations: &[Mutation], stray: bool) {
        let tables: Vec<Table> = (Table::ALL.iter().enumerate())
            .filter(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, table)| *table)
            .collect();
        let mut rows: Vec<(Table, Vec<u8>, Vec<u8>)> = (mutations.iter())
            .filter(|mutation| tables.contains(&mutation.table()))
            .map(|mutation| {
                let value = mutation.value.clone().unwrap_or_default();
                (mutation.table(), mutation.key(), value)
            })
            .collect();
        let outside = Table::ALL.iter().find(|table| !tables.contains(table));
        if let (true, Some(outside)) = (stray, outside) {
            rows.push((*outside, b"stray".to_vec(), Vec::new()));
            let imported = self.store().import(&StoreImage { tables, rows });
            assert!(
                matches!(imported, Err(StoreError::Corrupt(_))),
                "{imported:?}"
            );
            return;
        }
        let image = StoreImage { tables, rows };
        let imported = self.store().import(&image);
        self.expect_append(imported, Record::Image(image));
    }

    fn sync(&mut self) {
        let synced = ready(self.store().sync());
        let model = &mut self.model;
        if model.poisoned {
            assert!(matches!(synced, Err(StoreError::Io(_))), "{synced:?}");
        } else if let Some(keep_pending) = model.fail_next_sync.take() {
            assert!(matches!(synced, Err(StoreError::Io(_))), "{synced:?}");
            model.poisoned = true;
            if !keep_pending {
                model.pending.clear();
            }
        } else {
            assert_eq!(synced, Ok(()));
            model.synced.append(&mut model.pending);
        }
    }

    fn power_loss(&mut self, kept_share: Option<u8>) {
        let pending_bytes = self.disk.stats().tables.pending_bytes;
        let tables = match kept_share {
            None => TailLoss::Drop,
            Some(share) => TailLoss::Tear {
                keep_bytes: pending_bytes * usize::from(share) / usize::from(u8::MAX),
            },
        };
        self.disk.crash(CrashMode::PowerLoss {
            log: TailLoss::Drop,
            tables,
        });
        let store = self.disk.open(SCOPE).expect("recovery after a power loss");
        let rows = rows_of(&store);
        let model = &mut self.model;
        model.poisoned = false;
        let kept = (0..=model.pending.len())
            .rev()
            .find(|&kept| replay(model.synced.iter().chain(&model.pending[..kept])) == rows)
            .unwrap_or_else(|| panic!("recovered rows are no prefix of the records: {rows:?}"));
        if kept_share.is_none() {
            assert_eq!(replay(&model.synced), rows, "a dropped tail came back");
        }
        let mut pending = std::mem::take(&mut model.pending);
        pending.truncate(kept);
        model.synced.append(&mut pending);
        self.store = Some(store);
    }

    /// Flips bits of one platter byte; false when the store then refuses to open.
    fn bit_rot(&mut self, offset: usize, flip: NonZeroU8) -> bool {
        let mut platter = self.disk.platter_for_test(SCOPE);
        let position = offset % platter.len();
        platter[position] ^= flip.get();
        self.disk = SimDisk::with_platter_for_test(SCOPE, platter);
        self.model = Model {
            synced: std::mem::take(&mut self.model.synced),
            ..Model::default()
        };
        let store = match self.disk.open(SCOPE) {
            Ok(store) => store,
            Err(error) => {
                assert!(
                    position < self.header_bytes,
                    "refused to open with rot at byte {position}, past the header: {error}"
                );
                self.store = None;
                return false;
            }
        };
        assert!(position >= self.header_bytes, "opened with a rotten header");
        let rows = rows_of(&store);
        let synced = &mut self.model.synced;
        let kept = (0..=synced.len())
            .rev()
            .find(|&kept| replay(&synced[..kept]) == rows)
            .unwrap_or_else(|| panic!("recovered rows are no prefix of the records: {rows:?}"));
        synced.truncate(kept);
        self.store = Some(store);
        true
    }
}

/// First byte: even, the rest is the platter; odd, the rest is records, each a length byte
/// then that many payload bytes (a short last one is a torn tail).
pub fn journal_bytes(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let platter = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        framed_records(rest)
    };
    recover_platter(&platter);
}

/// The journal's record framing (`store/sim_disk/journal.rs`): payload length (u32 LE),
/// FNV-1a checksum of the payload (u64 LE), payload.
fn framed_records(mut rest: &[u8]) -> Vec<u8> {
    let mut platter = Vec::new();
    while let Some((&length, after)) = rest.split_first() {
        let length = usize::from(length);
        if after.len() < length {
            platter.extend_from_slice(rest);
            break;
        }
        let payload = &after[..length];
        let checksum = payload
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        platter.extend_from_slice(&(length as u32).to_le_bytes());
        platter.extend_from_slice(&checksum.to_le_bytes());
        platter.extend_from_slice(payload);
        rest = &after[length..];
    }
    platter
}

fn recover_platter(data: &[u8]) {
    let disk = SimDisk::with_platter_for_test(SCOPE, data.to_vec());
    let store = match disk.open(SCOPE) {
        Ok(store) => store,
        Err(error) => {
            let refused = matches!(
                error,
                StoreError::Corrupt(_) | StoreError::UnsupportedFormat { .. }
            );
            assert!(refused, "unexpected refusal: {error}");
            return;
        }
    };
    let rows = rows_of(&store);
    let kept = disk.platter_for_test(SCOPE);
    if data.is_empty() {
        assert_eq!(kept.len(), header_bytes(), "a blank platter is formatted");
    } else {
        assert!(data.starts_with(&kept), "recovery rewrote what it kept");
    }
    let again = SimDisk::with_platter_for_test(SCOPE, kept);
    assert_eq!(
        rows_of(&again.open(SCOPE).expect("what was kept recovers")),
        rows
    );

    // Later records start after the last whole one: the discarded tail stays discarded.
    let write = TableWrite {
        table: Table::Keys,
        key: b"after".to_vec(),
        value: Some(b"recovery".to_vec()),
    };
    store.write(std::slice::from_ref(&write)).expect("write");
    ready(store.sync()).expect("sync");
    disk.crash(CrashMode::DROP_PENDING);
    let reopened = disk.open(SCOPE).expect("recovery after the write");
    let mut expected = rows;
    expected.insert((write.table, write.key), write.value.unwrap());
    assert_eq!(rows_of(&reopened), expected);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body's framing is the journal's: a framed header payload is a formatted journal.
    #[test]
    fn framed_header_is_a_formatted_journal() {
        let formatted = SimDisk::new();
        formatted.open(SCOPE).unwrap();
        let platter = formatted.platter_for_test(SCOPE);
        // A record is its length (4 bytes) and checksum (8), then its payload.
        let payload = &platter[12..];
        let mut records = vec![payload.len() as u8];
        records.extend_from_slice(payload);
        assert_eq!(framed_records(&records), platter);
    }
}
