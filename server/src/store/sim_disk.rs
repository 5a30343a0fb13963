//! The simulated disk: a store whose durability is modelled, for deterministic simulation.
//!
//! The device keeps a journal of checksummed records. Writes append to the *pending* part (and
//! are readable at once, as through a page cache); `sync` moves pending bytes to the *synced*
//! part. A crash keeps what was synced and drops the pending bytes, or tears them: keeps a
//! prefix chosen by the caller, which may end inside a record. Recovery replays whole records
//! and discards a torn tail, so a batch is all-or-nothing, as the `Store` contract requires.
//!
//! The device ([`SimDisk`]) is owned by whoever builds the cluster and outlives node restarts;
//! a node holds a [`SimDiskStore`] handle of one generation. A crash starts a new generation:
//! handles of the old one fail with `StoreError::Closed`, so a dead node's leftover task can
//! never write into the disk of its successor. No randomness and no clock inside: faults are
//! injected by the caller, latency is a `tokio::time::sleep` (simulated time under madsim).

use super::{Rows, Store, StoreImage, Table, TableWrite, FORMAT_VERSION};
use crate::error::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Once the synced journal passes this size, a sync rewrites it as one image record.
const JOURNAL_COMPACT_BYTES_MIN: usize = 1 << 20;

/// Header bytes of a journal record: payload length (u32) and FNV-1a checksum (u64).
const RECORD_HEADER_BYTES: usize = 12;

#[derive(Serialize, Deserialize)]
enum Record {
    Header { format_version: u32 },
    Batch(Vec<TableWrite>),
    Image(StoreImage),
}

/// What a crash does to writes that were not synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced write is lost.
    DropPending,
    /// The first `keep_bytes` unsynced bytes reached the platter; the rest is lost. The cut may
    /// fall inside a record (a torn write).
    TearPending { keep_bytes: usize },
}

/// Injected faults. Counters fire on the next operations of that kind, then stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskFaults {
    pub syncs_to_fail: u32,
    pub writes_to_fail: u32,
    pub sync_latency: Duration,
}

/// Counters for tests and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub writes: u64,
    pub syncs: u64,
    pub crashes: u64,
    pub synced_bytes: usize,
    pub pending_bytes: usize,
}

struct Device {
    synced: Vec<u8>,
    pending: Vec<u8>,
    /// What reads see: replay of synced + pending. Valid for `generation` only.
    rows: BTreeMap<(Table, Vec<u8>), Vec<u8>>,
    generation: u64,
    recovered: bool,
    compacted_bytes: usize,
    faults: DiskFaults,
    stats: DiskStats,
}

/// One node's disk. Cloning shares the device.
#[derive(Clone)]
pub struct SimDisk {
    device: Arc<Mutex<Device>>,
}

/// The `Store` a node uses: a handle on one generation of a [`SimDisk`].
#[derive(Clone)]
pub struct SimDiskStore {
    device: Arc<Mutex<Device>>,
    generation: u64,
}

impl Default for SimDisk {
    fn default() -> Self {
        SimDisk::new()
    }
}

impl SimDisk {
    /// A blank device (formatted on first open).
    pub fn new() -> SimDisk {
        SimDisk {
            device: Arc::new(Mutex::new(Device {
                synced: Vec::new(),
                pending: Vec::new(),
                rows: BTreeMap::new(),
                generation: 0,
                recovered: false,
                compacted_bytes: 0,
                faults: DiskFaults::default(),
                stats: DiskStats::default(),
            })),
        }
    }

    /// A device formatted with another format version (tests of the refusal path).
    #[doc(hidden)]
    pub fn formatted_for_test(format_version: u32) -> SimDisk {
        let disk = SimDisk::new();
        lock(&disk.device)
            .synced
            .extend(encode_record(&Record::Header { format_version }));
        disk
    }

    /// Opens the store: recovers from the synced journal after a crash, formats a blank disk.
    pub fn open(&self) -> Result<SimDiskStore, StoreError> {
        let mut device = lock(&self.device);
        if !device.recovered {
            device.recover()?;
        }
        Ok(SimDiskStore {
            device: self.device.clone(),
            generation: device.generation,
        })
    }

    /// The machine lost power: unsynced writes are dropped or torn; open handles go dead.
    pub fn crash(&self, mode: CrashMode) {
        let mut device = lock(&self.device);
        let pending = std::mem::take(&mut device.pending);
        if let CrashMode::TearPending { keep_bytes } = mode {
            let kept = &pending[..keep_bytes.min(pending.len())];
            device.synced.extend_from_slice(kept);
        }
        device.generation += 1;
        device.recovered = false;
        device.rows.clear();
        device.stats.crashes += 1;
    }

    pub fn set_faults(&self, faults: DiskFaults) {
        lock(&self.device).faults = faults;
    }

    pub fn stats(&self) -> DiskStats {
        let device = lock(&self.device);
        DiskStats {
            synced_bytes: device.synced.len(),
            pending_bytes: device.pending.len(),
            ..device.stats
        }
    }
}

fn lock(device: &Mutex<Device>) -> MutexGuard<'_, Device> {
    // A panic while holding the lock already aborts the run; the data is still consistent.
    device
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn encode_record(record: &Record) -> Vec<u8> {
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

impl Device {
    fn recover(&mut self) -> Result<(), StoreError> {
        if self.synced.is_empty() {
            // Formatting is durable at once: a disk that was never opened holds nothing.
            let header = encode_record(&Record::Header {
                format_version: FORMAT_VERSION,
            });
            self.synced = header;
        }
        self.rows.clear();
        let mut offset = 0;
        let mut first = true;
        while let Some((record, next)) = decode_record(&self.synced, offset) {
            if first {
                check_header(&record)?;
                first = false;
            } else {
                self.replay(record)?;
            }
            offset = next;
        }
        if first {
            return Err(StoreError::Corrupt("journal has no readable header".into()));
        }
        // The torn tail never happened: later records start after the last whole one.
        self.synced.truncate(offset);
        self.compacted_bytes = self.synced.len();
        self.recovered = true;
        Ok(())
    }

    fn replay(&mut self, record: Record) -> Result<(), StoreError> {
        match record {
            Record::Header { .. } => Err(StoreError::Corrupt("second journal header".into())),
            Record::Batch(batch) => {
                self.apply_batch(&batch);
                Ok(())
            }
            Record::Image(image) => {
                self.apply_image(&image);
                Ok(())
            }
        }
    }

    fn apply_batch(&mut self, batch: &[TableWrite]) {
        for write in batch {
            let row = (write.table, write.key.clone());
            match &write.value {
                Some(value) => self.rows.insert(row, value.clone()),
                None => self.rows.remove(&row),
            };
        }
    }

    fn apply_image(&mut self, image: &StoreImage) {
        self.rows
            .retain(|(table, _), _| !image.tables.contains(table));
        for (table, key, value) in &image.rows {
            self.rows.insert((*table, key.clone()), value.clone());
        }
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

fn check_header(record: &Record) -> Result<(), StoreError> {
    match record {
        Record::Header { format_version } if *format_version == FORMAT_VERSION => Ok(()),
        Record::Header { format_version } => Err(StoreError::UnsupportedFormat {
            found: *format_version,
            supported: FORMAT_VERSION,
        }),
        _ => Err(StoreError::Corrupt(
            "journal does not start with a header".into(),
        )),
    }
}

impl SimDiskStore {
    fn live_device(&self) -> Result<MutexGuard<'_, Device>, StoreError> {
        let device = lock(&self.device);
        if device.generation != self.generation || !device.recovered {
            return Err(StoreError::Closed);
        }
        Ok(device)
    }

    fn sync_latency(&self) -> Result<Duration, StoreError> {
        Ok(self.live_device()?.faults.sync_latency)
    }
}

impl Store for SimDiskStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let device = self.live_device()?;
        Ok(device.rows.get(&(table, key.to_vec())).cloned())
    }

    fn scan(
        &self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        let device = self.live_device()?;
        let row = |bound: Bound<&[u8]>| bound.map(|key| (table, key.to_vec()));
        let start = match start {
            Bound::Unbounded => Bound::Included((table, Vec::new())),
            bounded => row(bounded),
        };
        let end = row(end);
        // BTreeMap::range panics on an inverted range; the contract says it is empty.
        let empty = match (&start, &end) {
            (Bound::Included(low), Bound::Included(high)) => low > high,
            (
                Bound::Included(low) | Bound::Excluded(low),
                Bound::Included(high) | Bound::Excluded(high),
            ) => low >= high,
            _ => false,
        };
        if empty {
            return Ok(Vec::new());
        }
        let rows = (device.rows.range((start, end)))
            .take_while(|((row_table, _), _)| *row_table == table)
            .take(limit)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect();
        Ok(rows)
    }

    fn write(&self, batch: &[TableWrite]) -> Result<(), StoreError> {
        let mut device = self.live_device()?;
        if device.faults.writes_to_fail > 0 {
            device.faults.writes_to_fail -= 1;
            return Err(StoreError::Io("injected write failure".into()));
        }
        let record = encode_record(&Record::Batch(batch.to_vec()));
        device.pending.extend(record);
        device.apply_batch(batch);
        device.stats.writes += 1;
        Ok(())
    }

    async fn sync(&self) -> Result<(), StoreError> {
        let latency = self.sync_latency()?;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut device = self.live_device()?;
        if device.faults.syncs_to_fail > 0 {
            device.faults.syncs_to_fail -= 1;
            return Err(StoreError::Io("injected sync failure".into()));
        }
        let pending = std::mem::take(&mut device.pending);
        device.synced.extend(pending);
        device.stats.syncs += 1;
        device.compact_if_large();
        Ok(())
    }

    fn export(&self, tables: &[Table]) -> Result<StoreImage, StoreError> {
        let device = self.live_device()?;
        let mut sorted = tables.to_vec();
        sorted.sort();
        let rows = (device.rows.iter())
            .filter(|((table, _), _)| sorted.binary_search(table).is_ok())
            .map(|((table, key), value)| (*table, key.clone(), value.clone()))
            .collect();
        Ok(StoreImage {
            tables: tables.to_vec(),
            rows,
        })
    }

    fn import(&self, image: &StoreImage) -> Result<(), StoreError> {
        let mut device = self.live_device()?;
        if let Some((table, _, _)) =
            (image.rows.iter()).find(|(table, _, _)| !image.tables.contains(table))
        {
            return Err(StoreError::Corrupt(format!(
                "image row of table {} outside the image's tables",
                table.name()
            )));
        }
        if device.faults.writes_to_fail > 0 {
            device.faults.writes_to_fail -= 1;
            return Err(StoreError::Io("injected write failure".into()));
        }
        device
            .pending
            .extend(encode_record(&Record::Image(image.clone())));
        device.apply_image(image);
        device.stats.writes += 1;
        Ok(())
    }
}
