//! One scope's journal on the simulated disk: checksummed records, split into the *synced*
//! bytes (on the platter) and the *pending* bytes (in the page cache), and the rows that reads
//! see. Only durability is modelled here; faults and crash triggers live in the device.

use super::TailLoss;
use crate::error::StoreError;
use crate::store::{format_version_readable, StoreImage, Table, TableWrite, FORMAT_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Once the synced journal passes this size, a sync rewrites it as one image record.
const JOURNAL_COMPACT_BYTES_MIN: usize = 1 << 20;

/// Header bytes of a journal record: payload length (u32) and FNV-1a checksum (u64).
const RECORD_HEADER_BYTES: usize = 12;

#[derive(Serialize, Deserialize)]
pub(super) enum Record {
    Header { format_version: u32 },
    Batch(Vec<TableWrite>),
    Image(StoreImage),
}

pub(super) type Rows = super::DurableRows;

pub(super) struct Journal {
    pub(super) synced: Vec<u8>,
    pub(super) pending: Vec<u8>,
    /// What reads see: replay of synced + pending. Valid only while `recovered`.
    pub(super) rows: Rows,
    /// Opened since the last crash (a crash closes every handle).
    pub(super) recovered: bool,
    compacted_bytes: usize,
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(super) fn encode_record(record: &Record) -> Vec<u8> {
    let payload = bincode::serialize(record).expect("records serialize");
    let length = u32::try_from(payload.len()).expect("record under 4 GiB");
    let mut bytes = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&length.to_le_bytes());
    bytes.extend_from_slice(&checksum(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes
}

/// The next whole record at `offset` and the offset after it; `None` at a torn or bad tail.
fn decode_record(journal: &[u8], offset: usize) -> Option<(Record, usize)> {
    let header = journal.get(offset..offset + RECORD_HEADER_BYTES)?;
    let length = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let expected = u64::from_le_bytes(header[4..].try_into().ok()?);
    let start = offset + RECORD_HEADER_BYTES;
    let payload = journal.get(start..start + length)?;
    if checksum(payload) != expected {
        return None;
    }
    let record = bincode::deserialize(payload).ok()?;
    Some((record, start + length))
}

fn check_header(record: &Record) -> Result<(), StoreError> {
    match record {
        Record::Header { format_version } if format_version_readable(*format_version) => Ok(()),
        Record::Header { format_version } => Err(StoreError::UnsupportedFormat {
            found: *format_version,
            supported: FORMAT_VERSION,
        }),
        _ => Err(StoreError::Corrupt(
            "journal does not start with a header".into(),
        )),
    }
}

fn apply_record(rows: &mut Rows, record: Record) -> Result<(), StoreError> {
    match record {
        Record::Header { .. } => Err(StoreError::Corrupt("second journal header".into())),
        Record::Batch(batch) => {
            apply_batch(rows, &batch);
            Ok(())
        }
        Record::Image(image) => {
            apply_image(rows, &image);
            Ok(())
        }
    }
}

pub(super) fn apply_batch(rows: &mut Rows, batch: &[TableWrite]) {
    for write in batch {
        let row = (write.table, write.key.clone());
        match &write.value {
            Some(value) => rows.insert(row, value.clone()),
            None => rows.remove(&row),
        };
    }
}

pub(super) fn apply_image(rows: &mut Rows, image: &StoreImage) {
    rows.retain(|(table, _), _| !image.tables.contains(table));
    for (table, key, value) in &image.rows {
        rows.insert((*table, key.clone()), value.clone());
    }
}

impl Journal {
    pub(super) fn new() -> Journal {
        Journal {
            synced: Vec::new(),
            pending: Vec::new(),
            rows: BTreeMap::new(),
            recovered: false,
            compacted_bytes: 0,
        }
    }

    /// What a power loss now would leave: the synced bytes only, to be recovered.
    pub(super) fn durable_copy(&self) -> Journal {
        Journal {
            synced: self.synced.clone(),
            compacted_bytes: self.compacted_bytes,
            ..Journal::new()
        }
    }

    /// A journal formatted with another format version (tests of the refusal path).
    pub(super) fn formatted(format_version: u32) -> Journal {
        let mut journal = Journal::new();
        journal.synced = encode_record(&Record::Header { format_version });
        journal
    }

    /// Formats a blank journal; replays the synced records (discarding a torn tail), then the
    /// pending ones a process crash left in the page cache.
    pub(super) fn recover(&mut self) -> Result<(), StoreError> {
        if self.synced.is_empty() {
            // Formatting is durable at once: a disk that was never opened holds nothing.
            self.synced = encode_record(&Record::Header {
                format_version: FORMAT_VERSION,
            });
        }
        let mut rows = Rows::new();
        let mut offset = 0;
        let mut first = true;
        while let Some((record, next)) = decode_record(&self.synced, offset) {
            if first {
                check_header(&record)?;
                first = false;
            } else {
                apply_record(&mut rows, record)?;
            }
            offset = next;
        }
        if first {
            return Err(StoreError::Corrupt("journal has no readable header".into()));
        }
        // The torn tail never happened: later records start after the last whole one.
        if offset < self.synced.len() {
            crate::coverage::hit(crate::coverage::Mark::TornTailDiscarded);
        }
        self.synced.truncate(offset);
        replay_whole(&self.pending, &mut rows)?;
        self.rows = rows;
        self.compacted_bytes = self.synced.len();
        self.recovered = true;
        Ok(())
    }

    /// Appends a record to the page cache and applies it to what reads see.
    pub(super) fn append(&mut self, record: &Record) {
        self.pending.extend(encode_record(record));
        match record {
            Record::Batch(batch) => apply_batch(&mut self.rows, batch),
            Record::Image(image) => apply_image(&mut self.rows, image),
            Record::Header { .. } => unreachable!("headers are written by formatting only"),
        }
    }

    /// Every pending byte reaches the platter.
    pub(super) fn sync(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.synced.extend(pending);
        self.compact_if_large();
    }

    /// A failed sync: the kernel dropped the dirty pages. Reads see what the platter holds.
    pub(super) fn drop_pending(&mut self) -> Result<(), StoreError> {
        self.pending.clear();
        let mut rows = Rows::new();
        let header_end = decode_record(&self.synced, 0).map_or(0, |(_, next)| next);
        replay_whole(&self.synced[header_end..], &mut rows)?;
        self.rows = rows;
        Ok(())
    }

    /// The process died: the page cache keeps the pending bytes; open handles go dead.
    pub(super) fn close(&mut self) {
        self.recovered = false;
        self.rows.clear();
    }

    /// The power failed: pending bytes are dropped or torn; open handles go dead.
    pub(super) fn lose_power(&mut self, loss: TailLoss) {
        let pending = std::mem::take(&mut self.pending);
        if let TailLoss::Tear { keep_bytes } = loss {
            let kept = &pending[..keep_bytes.min(pending.len())];
            self.synced.extend_from_slice(kept);
        }
        self.close();
    }

    /// Rewrites the synced journal as one image once it has grown enough (pending is empty, so
    /// `rows` is exactly the synced state). Models write-new-file-then-rename: atomic.
    fn compact_if_large(&mut self) {
        debug_assert!(self.pending.is_empty());
        let threshold = JOURNAL_COMPACT_BYTES_MIN.max(self.compacted_bytes * 4);
        if self.synced.len() < threshold {
            return;
        }
        let image = StoreImage {
            tables: Table::ALL.to_vec(),
            rows: (self.rows.iter())
                .map(|((table, key), value)| (*table, key.clone(), value.clone()))
                .collect(),
        };
        let mut journal = encode_record(&Record::Header {
            format_version: FORMAT_VERSION,
        });
        journal.extend(encode_record(&Record::Image(image)));
        self.synced = journal;
        self.compacted_bytes = self.synced.len();
    }
}

/// Replays records that were appended whole (no tear can reach them): a bad one is corruption.
fn replay_whole(bytes: &[u8], rows: &mut Rows) -> Result<(), StoreError> {
    let mut offset = 0;
    while offset < bytes.len() {
        let (record, next) = decode_record(bytes, offset)
            .ok_or_else(|| StoreError::Corrupt("unreadable record in the page cache".into()))?;
        apply_record(rows, record)?;
        offset = next;
    }
    Ok(())
}
