//! `JournalStore`: the rows in memory, every batch appended to one journal file, `sync` an
//! `fdatasync` of it, as etcd's WAL and Ratis' log segments work. Made for the Raft log, which
//! is small (purged behind snapshots), written at its end and synced often: an append costs
//! one `write` and a sync one `fdatasync`, with no tree to update and no I/O thread to wake.
//!
//! To ensure correctness:
//! - a record is `[length u32][crc32 u32][batch]`: replay on open stops at the first record
//!   that is incomplete or fails its checksum and cuts the file there, so a crash keeps a
//!   prefix of the batches written, never a part of one;
//! - `sync` syncs the file that holds every write made before it (compaction syncs the new file
//!   before renaming it over the old one, and the directory after);
//! - the first failed write or sync poisons the store until it is opened again, as the sled
//!   backend does.

use super::{row_map, Rows, Store, StoreImage, Table, TableWrite, FORMAT_VERSION};
use crate::error::StoreError;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

const JOURNAL_FILE: &str = "journal";
/// Locked while a process has the journal open: a second opening is refused.
const LOCK_FILE: &str = "LOCK";
const COMPACTING_FILE: &str = "journal.compacting";
/// File header: magic, then the store format version.
const MAGIC: &[u8; 4] = b"OMJ1";
const HEADER_BYTES: u64 = 8;
const RECORD_HEADER_BYTES: usize = 8;

/// The journal is rewritten from the live rows once it is this large and four times their size
/// (purged log entries are dead weight until then).
const COMPACTION_BYTES_MIN: u64 = 64 * 1024 * 1024;
const COMPACTION_RATIO: u64 = 4;

type Key = (Table, Vec<u8>);

#[derive(Clone)]
pub struct JournalStore {
    shared: Arc<Shared>,
}

struct Shared {
    directory: PathBuf,
    rows: RwLock<BTreeMap<Key, Vec<u8>>>,
    /// `None` once closed. Writers hold it while they append and apply, so rows change in
    /// journal order.
    writer: Mutex<Option<Writer>>,
    /// The first write or sync error of this opening; sticky.
    poison: Mutex<Option<StoreError>>,
    /// Holds the directory's lock until closed.
    lock: Mutex<Option<File>>,
}

struct Writer {
    /// Shared with syncs in flight (compaction replaces it; a sync holds the file it began on).
    file: Arc<File>,
    bytes: u64,
    /// Bytes the live rows would take as one record.
    live_bytes: u64,
}

fn io_error(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("journal {context}: {error}"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn header() -> [u8; HEADER_BYTES as usize] {
    let mut header = [0; HEADER_BYTES as usize];
    header[..4].copy_from_slice(MAGIC);
    header[4..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header
}

fn record(batch: &[TableWrite]) -> Vec<u8> {
    let body = bincode::serialize(batch).expect("table writes serialize");
    let length = u32::try_from(body.len()).expect("a batch under 4 GiB");
    let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + body.len());
    record.extend_from_slice(&length.to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    record.extend_from_slice(&body);
    record
}

/// Bytes one live row takes in a record (bincode: table tag, two lengths, option tag).
fn row_size(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len() + 21) as u64
}

/// Applies `batch`; returns the live rows' size before and after.
fn apply(rows: &mut BTreeMap<Key, Vec<u8>>, batch: &[TableWrite], live_bytes: u64) -> u64 {
    let mut live = live_bytes;
    for write in batch {
        let key = (write.table, write.key.clone());
        let old = match &write.value {
            Some(value) => {
                live += row_size(&key.1, value);
                rows.insert(key, value.clone())
            }
            None => rows.remove(&key),
        };
        if let Some(old) = old {
            live = live.saturating_sub(row_size(&write.key, &old));
        }
    }
    live
}

/// Fsyncs `directory`, so a file created or renamed in it survives a power loss.
fn sync_directory(directory: &Path) -> Result<(), StoreError> {
    let handle = File::open(directory).map_err(|error| io_error("open directory", error))?;
    handle
        .sync_all()
        .map_err(|error| io_error("sync directory", error))
}

/// Writes a new journal at `path` holding `rows` as one record, synced.
fn write_journal(path: &Path, rows: &BTreeMap<Key, Vec<u8>>) -> Result<File, StoreError> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|error| io_error("create", error))?;
    let mut bytes = header().to_vec();
    if !rows.is_empty() {
        let batch: Vec<TableWrite> = (rows.iter())
            .map(|((table, key), value)| TableWrite {
                table: *table,
                key: key.clone(),
                value: Some(value.clone()),
            })
            .collect();
        bytes.extend_from_slice(&record(&batch));
    }
    file.write_all(&bytes)
        .map_err(|error| io_error("write", error))?;
    file.sync_all().map_err(|error| io_error("sync", error))?;
    Ok(file)
}

/// What a journal's records add up to.
struct Replayed {
    rows: BTreeMap<Key, Vec<u8>>,
    /// Where the intact prefix of records ends.
    intact: u64,
    live_bytes: u64,
}

/// Replays the records of `bytes` (after the header).
fn replay(bytes: &[u8]) -> Result<Replayed, StoreError> {
    let mut rows = BTreeMap::new();
    let mut live_bytes = 0;
    let mut at = HEADER_BYTES as usize;
    while let Some(head) = bytes.get(at..at + RECORD_HEADER_BYTES) {
        let length = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let checksum = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        let start = at + RECORD_HEADER_BYTES;
        let Some(body) = bytes.get(start..start + length) else {
            break; // cut short by a crash
        };
        if crc32fast::hash(body) != checksum {
            break; // torn by a crash
        }
        let batch: Vec<TableWrite> = bincode::deserialize(body)
            .map_err(|error| StoreError::Corrupt(format!("journal record at {at}: {error}")))?;
        live_bytes = apply(&mut rows, &batch, live_bytes);
        at = start + length;
    }
    Ok(Replayed {
        rows,
        intact: at as u64,
        live_bytes,
    })
}

fn check_header(bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.len() < HEADER_BYTES as usize || &bytes[..4] != MAGIC {
        return Err(StoreError::Corrupt("journal header missing".to_string()));
    }
    let found = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if !super::format_version_readable(found) {
        return Err(StoreError::UnsupportedFormat {
            found,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

impl JournalStore {
    /// Opens (or creates) the journal in `directory`; cuts a torn tail left by a crash.
    pub fn open(directory: &Path) -> Result<JournalStore, StoreError> {
        std::fs::create_dir_all(directory).map_err(|error| io_error("create directory", error))?;
        let lock_path = directory.join(LOCK_FILE);
        let lock = (OpenOptions::new().create(true).truncate(false).write(true))
            .open(&lock_path)
            .map_err(|error| io_error("open lock", error))?;
        lock.try_lock().map_err(|error| {
            io_error(
                "lock",
                format!(
                    "{} is in use by another process: {error}",
                    directory.display()
                ),
            )
        })?;
        // A compaction that crashed before its rename: the old journal is whole.
        let _ = std::fs::remove_file(directory.join(COMPACTING_FILE));
        let path = directory.join(JOURNAL_FILE);
        if !path.exists() {
            // Created whole under another name and renamed: never a journal without a header.
            let compacting = directory.join(COMPACTING_FILE);
            write_journal(&compacting, &BTreeMap::new())?;
            std::fs::rename(&compacting, &path).map_err(|error| io_error("rename", error))?;
            sync_directory(directory)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|error| io_error("open", error))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|error| io_error("read", error))?;
        check_header(&bytes)?;
        let Replayed {
            rows,
            intact,
            live_bytes,
        } = replay(&bytes)?;
        if intact < bytes.len() as u64 {
            file.set_len(intact)
                .map_err(|error| io_error("cut the torn tail", error))?;
            file.sync_all().map_err(|error| io_error("sync", error))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|error| io_error("open", error))?;
        let writer = Writer {
            file: Arc::new(file),
            bytes: intact,
            live_bytes,
        };
        Ok(JournalStore {
            shared: Arc::new(Shared {
                directory: directory.to_path_buf(),
                rows: RwLock::new(rows),
                writer: Mutex::new(Some(writer)),
                poison: Mutex::new(None),
                lock: Mutex::new(Some(lock)),
            }),
        })
    }

    fn check_poison(&self) -> Result<(), StoreError> {
        match &*lock(&self.shared.poison) {
            Some(first) => Err(StoreError::Io(format!(
                "store failed earlier and is stopped: {first}"
            ))),
            None => Ok(()),
        }
    }

    fn record_failure<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result {
            lock(&self.shared.poison).get_or_insert_with(|| error.clone());
        }
        result
    }

    fn rows(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Key, Vec<u8>>> {
        (self.shared.rows.read()).unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append(&self, batch: &[TableWrite]) -> Result<(), StoreError> {
        let mut writer = lock(&self.shared.writer);
        self.append_locked(writer.as_mut().ok_or(StoreError::Closed)?, batch)
    }

    /// Appends `batch` and applies it to the rows (the caller holds the writer).
    fn append_locked(&self, writer: &mut Writer, batch: &[TableWrite]) -> Result<(), StoreError> {
        self.check_poison()?;
        let bytes = record(batch);
        let mut file: &File = &writer.file;
        let written = file.write_all(&bytes);
        self.record_failure(written.map_err(|error| io_error("write", error)))?;
        writer.bytes += bytes.len() as u64;
        let mut rows = (self.shared.rows.write()).unwrap_or_else(|poisoned| poisoned.into_inner());
        writer.live_bytes = apply(&mut rows, batch, writer.live_bytes);
        if writer.bytes >= COMPACTION_BYTES_MIN
            && writer.bytes >= COMPACTION_RATIO * writer.live_bytes.max(1)
        {
            let compacted = self.compact(writer, &rows);
            self.record_failure(compacted)?;
        }
        Ok(())
    }

    /// Rewrites the journal as one record of the live rows (synced), renamed over the old one.
    fn compact(
        &self,
        writer: &mut Writer,
        rows: &BTreeMap<Key, Vec<u8>>,
    ) -> Result<(), StoreError> {
        let directory = &self.shared.directory;
        let compacting = directory.join(COMPACTING_FILE);
        write_journal(&compacting, rows)?;
        std::fs::rename(&compacting, directory.join(JOURNAL_FILE))
            .map_err(|error| io_error("rename", error))?;
        sync_directory(directory)?;
        let file = OpenOptions::new()
            .append(true)
            .open(directory.join(JOURNAL_FILE))
            .map_err(|error| io_error("open", error))?;
        let bytes = file
            .metadata()
            .map_err(|error| io_error("stat", error))?
            .len();
        writer.file = Arc::new(file);
        writer.bytes = bytes;
        Ok(())
    }

    /// `Store::close` for callers outside async code: syncs (unless poisoned) and releases the
    /// file; later writes and syncs on any clone fail with `StoreError::Closed`.
    pub fn close_blocking(&self) -> Result<(), StoreError> {
        let poisoned = self.check_poison().is_err();
        let synced = match lock(&self.shared.writer).take() {
            Some(writer) if !poisoned => writer
                .file
                .sync_data()
                .map_err(|error| io_error("sync", error)),
            _ => Ok(()),
        };
        // Dropping the file releases the lock: the directory may be opened again.
        lock(&self.shared.lock).take();
        synced
    }

    /// The file every write so far is in (`Closed` after `close`).
    fn current_file(&self) -> Result<Arc<File>, StoreError> {
        let writer = lock(&self.shared.writer);
        Ok(writer.as_ref().ok_or(StoreError::Closed)?.file.clone())
    }
}

impl Store for JournalStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.rows().get(&(table, key.to_vec())).cloned())
    }

    fn scan(
        &self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        Ok(row_map::scan(&self.rows(), table, start, end, limit))
    }

    fn write(&self, batch: &[TableWrite]) -> Result<(), StoreError> {
        self.append(batch)
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.check_poison()?;
        let file = self.current_file()?;
        // fdatasync blocks: keep it off the async workers.
        let synced = tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|error| io_error("sync task", error))?;
        self.record_failure(synced.map_err(|error| io_error("sync", error)))
    }

    async fn close(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.close_blocking())
            .await
            .map_err(|error| io_error("close task", error))?
    }

    fn export(&self, tables: &[Table]) -> Result<StoreImage, StoreError> {
        Ok(row_map::export(&self.rows(), tables))
    }

    fn import(&self, image: &StoreImage) -> Result<(), StoreError> {
        image.check_tables()?;
        // Under the writer: no other write lands between reading the rows and replacing them.
        let mut writer = lock(&self.shared.writer);
        let writer = writer.as_mut().ok_or(StoreError::Closed)?;
        let mut batch: Vec<TableWrite> = (self.rows().keys())
            .filter(|(table, _)| image.tables.contains(table))
            .map(|(table, key)| TableWrite {
                table: *table,
                key: key.clone(),
                value: None,
            })
            .collect();
        batch.extend(image.rows.iter().map(|(table, key, value)| TableWrite {
            table: *table,
            key: key.clone(),
            value: Some(value.clone()),
        }));
        self.append_locked(writer, &batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(key: &[u8], value: &[u8]) -> TableWrite {
        TableWrite {
            table: Table::Volumes,
            key: key.to_vec(),
            value: Some(value.to_vec()),
        }
    }

    #[test]
    fn a_torn_tail_is_cut_and_earlier_batches_survive() {
        let directory = crate::testing::temp_dir("journal-torn");
        let store = JournalStore::open(&directory).unwrap();
        store.write(&[volume(b"a", b"1")]).unwrap();
        store
            .write(&[volume(b"b", b"2"), volume(b"c", b"3")])
            .unwrap();
        drop(store);
        // A crash mid-write of the second batch: its last bytes never reached the disk.
        let path = directory.join(JOURNAL_FILE);
        let length = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(length - 3)
            .unwrap();

        let reopened = JournalStore::open(&directory).unwrap();
        assert_eq!(
            reopened.get(Table::Volumes, b"a").unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(
            reopened.get(Table::Volumes, b"b").unwrap(),
            None,
            "not half a batch"
        );
        assert_eq!(reopened.get(Table::Volumes, b"c").unwrap(), None);
        // Writes go on after the cut, and survive the next opening.
        reopened.write(&[volume(b"d", b"4")]).unwrap();
        drop(reopened);
        let again = JournalStore::open(&directory).unwrap();
        assert_eq!(
            again.get(Table::Volumes, b"d").unwrap(),
            Some(b"4".to_vec())
        );
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn a_record_failing_its_checksum_ends_the_replay() {
        let directory = crate::testing::temp_dir("journal-checksum");
        let store = JournalStore::open(&directory).unwrap();
        store.write(&[volume(b"a", b"1")]).unwrap();
        store.write(&[volume(b"b", b"2")]).unwrap();
        drop(store);
        // The last record's last byte (its value) is garbage: written but torn inside.
        let path = directory.join(JOURNAL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();

        let reopened = JournalStore::open(&directory).unwrap();
        assert_eq!(
            reopened.get(Table::Volumes, b"a").unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(reopened.get(Table::Volumes, b"b").unwrap(), None);
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn a_second_opening_is_refused_until_the_first_closes() {
        let directory = crate::testing::temp_dir("journal-lock");
        let store = JournalStore::open(&directory).unwrap();
        let refused = JournalStore::open(&directory)
            .err()
            .expect("refused while open");
        assert!(refused.to_string().contains("in use"), "{refused}");
        store.close_blocking().unwrap();
        assert_eq!(store.write(&[volume(b"a", b"1")]), Err(StoreError::Closed));
        JournalStore::open(&directory).expect("opens after the close");
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn compaction_keeps_the_live_rows_only() {
        let directory = crate::testing::temp_dir("journal-compaction");
        let store = JournalStore::open(&directory).unwrap();
        let value = vec![7u8; 1 << 20];
        // Rewrites of one row: the journal grows, the live rows stay one.
        for round in 0..80u8 {
            store
                .write(&[volume(b"big", &value), volume(b"round", &[round])])
                .unwrap();
        }
        let bytes = std::fs::metadata(directory.join(JOURNAL_FILE))
            .unwrap()
            .len();
        assert!(bytes < COMPACTION_BYTES_MIN, "compacted: {bytes} bytes");
        drop(store);
        let reopened = JournalStore::open(&directory).unwrap();
        assert_eq!(
            reopened.get(Table::Volumes, b"round").unwrap(),
            Some(vec![79])
        );
        assert_eq!(reopened.get(Table::Volumes, b"big").unwrap(), Some(value));
        let _ = std::fs::remove_dir_all(&directory);
    }
}
