//! `SledStore`: the production backend on sled 0.34.
//!
//! sled applies a `Batch` atomically to one tree only, so every table lives in one tree with
//! its one-byte table id as key prefix. Id 0 holds store metadata (the format version).
//!
//! The first failed write or sync poisons the store until it is opened again: after a failed
//! fsync nobody knows what reached the disk (Linux may have dropped the dirty pages), so every
//! later write and sync fails with the first error and the node stops (fail-stop).
//!
//! `close` releases the files before it returns, so the same process can open the directory
//! again at once (a node restart, a test's reopen): every clone shares one sled handle, which
//! `close` takes and drops (later calls on any clone fail with `StoreError::Closed`), then it
//! waits until sled's I/O threads have let go of the data file's lock.

use super::{format_version_readable, Rows, Store, StoreImage, Table, TableWrite, FORMAT_VERSION};
use crate::error::StoreError;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

const FORMAT_VERSION_ROW: &[u8] = b"\0format_version";

/// The file sled locks, inside the store's directory.
const LOCKED_FILE: &str = "db";

/// How long `close` waits for sled's I/O threads to release the lock (they finish writes
/// already handed to them; in practice within milliseconds), and how often it looks.
const RELEASE_WAIT_MAX: Duration = Duration::from_secs(10);
const RELEASE_POLL: Duration = Duration::from_millis(1);

#[derive(Clone)]
pub struct SledStore {
    /// The one sled handle of this opening, shared by every clone; `None` once closed.
    tree: Arc<RwLock<Option<sled::Db>>>,
    directory: PathBuf,
    /// Writers share it exclusively, `export` shared: an export never sees half a batch
    /// sequence interleaved with its own pass over the tables.
    export_guard: Arc<RwLock<()>>,
    /// The first write or sync error of this opening; sticky.
    poison: Arc<Mutex<Option<StoreError>>>,
}

fn io_error(error: sled::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

fn row(table: Table, key: &[u8]) -> Vec<u8> {
    let mut row = Vec::with_capacity(key.len() + 1);
    row.push(table.id());
    row.extend_from_slice(key);
    row
}

fn row_bound(table: Table, bound: Bound<&[u8]>, start: bool) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(key) => Bound::Included(row(table, key)),
        Bound::Excluded(key) => Bound::Excluded(row(table, key)),
        // The whole table: [id, id + 1).
        Bound::Unbounded if start => Bound::Included(vec![table.id()]),
        Bound::Unbounded => Bound::Excluded(vec![table.id() + 1]),
    }
}

/// Runs `operation` on the open handle; `Closed` after `close`.
fn on_open<T>(
    tree: &RwLock<Option<sled::Db>>,
    operation: impl FnOnce(&sled::Db) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match &*tree.read().unwrap_or_else(|e| e.into_inner()) {
        Some(db) => operation(db),
        None => Err(StoreError::Closed),
    }
}

/// Makes everything written before it durable. sled 0.34's `flush` ends its buffer writes with
/// `sync_file_range` on Linux, which neither flushes the drive's write cache nor persists the
/// file's grown size: a power loss could take an acknowledged flush with it. An `fdatasync` of
/// the data file (through our own handle: it syncs the file, whoever wrote it) closes that gap.
fn flush_durably(db: &sled::Db, directory: &Path) -> Result<(), StoreError> {
    db.flush().map_err(io_error)?;
    let data = directory.join(LOCKED_FILE);
    std::fs::File::open(&data)
        .and_then(|file| file.sync_data())
        .map_err(|error| StoreError::Io(format!("fdatasync {}: {error}", data.display())))
}

/// Syncs `directory` itself, so that the files created in it survive a power loss.
fn sync_directory(directory: &Path) -> Result<(), StoreError> {
    std::fs::File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| StoreError::Io(format!("fsync {}: {error}", directory.display())))
}

/// Waits (bounded) until no one holds the lock on `file`: sled's I/O threads keep the data
/// file open for writes handed to them before the last handle dropped.
fn wait_released(file: &Path) -> Result<(), StoreError> {
    let opened = std::fs::OpenOptions::new().read(true).open(file);
    let file_handle = match opened {
        Ok(handle) => handle,
        // Nothing to release: sled never created it.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(StoreError::Io(format!("close: {error}"))),
    };
    let mut waited = Duration::ZERO;
    loop {
        match file_handle.try_lock() {
            Ok(()) => {
                let _ = file_handle.unlock();
                return Ok(());
            }
            Err(std::fs::TryLockError::WouldBlock) if waited < RELEASE_WAIT_MAX => {
                std::thread::sleep(RELEASE_POLL);
                waited += RELEASE_POLL;
            }
            Err(error) => {
                return Err(StoreError::Io(format!(
                    "close: sled still holds {}: {error}",
                    file.display()
                )))
            }
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store in `directory`; refuses an unknown format version.
    pub fn open(directory: &Path) -> Result<SledStore, StoreError> {
        // No background flusher thread: durability is our explicit `sync`.
        let tree = sled::Config::new()
            .path(directory)
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(io_error)?;
        let store = SledStore {
            tree: Arc::new(RwLock::new(Some(tree))),
            directory: directory.to_path_buf(),
            export_guard: Arc::new(RwLock::new(())),
            poison: Arc::new(Mutex::new(None)),
        };
        store.check_format_version()?;
        sync_directory(directory)?;
        Ok(store)
    }

    /// `Store::close` for callers outside async code; blocks the calling thread.
    pub fn close_blocking(&self) -> Result<(), StoreError> {
        let poisoned = self.check_poison().is_err();
        let taken = self.tree.write().unwrap_or_else(|e| e.into_inner()).take();
        let Some(db) = taken else {
            return Ok(());
        };
        let flushed = match poisoned {
            true => Ok(()),
            false => flush_durably(&db, &self.directory),
        };
        drop(db);
        wait_released(&self.directory.join(LOCKED_FILE))?;
        flushed
    }

    fn on_open<T>(
        &self,
        operation: impl FnOnce(&sled::Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        on_open(&self.tree, operation)
    }

    fn check_format_version(&self) -> Result<(), StoreError> {
        let stored = self.on_open(|db| db.get(FORMAT_VERSION_ROW).map_err(io_error))?;
        if let Some(bytes) = stored {
            let found = u32::from_be_bytes(bytes.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt("format version row is not 4 bytes".to_string())
            })?);
            if !format_version_readable(found) {
                return Err(StoreError::UnsupportedFormat {
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            if found == FORMAT_VERSION {
                return Ok(());
            }
        }
        // New, or an older format this build reads: from now on it holds this build's.
        self.on_open(|db| {
            db.insert(FORMAT_VERSION_ROW, &FORMAT_VERSION.to_be_bytes())
                .map_err(io_error)?;
            flush_durably(db, &self.directory)
        })
    }

    /// Fails with the first error once the store is poisoned.
    fn check_poison(&self) -> Result<(), StoreError> {
        let poison = self.poison.lock().unwrap_or_else(|e| e.into_inner());
        match &*poison {
            Some(first) => Err(StoreError::Io(format!(
                "store failed earlier and is stopped: {first}"
            ))),
            None => Ok(()),
        }
    }

    /// Poisons the store on the first failed write or sync.
    fn record<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result {
            let mut poison = self.poison.lock().unwrap_or_else(|e| e.into_inner());
            poison.get_or_insert_with(|| error.clone());
        }
        result
    }

    fn write_batch(&self, batch: &[TableWrite]) -> Result<(), StoreError> {
        self.check_poison()?;
        let mut sled_batch = sled::Batch::default();
        for write in batch {
            let key = row(write.table, &write.key);
            match &write.value {
                Some(value) => sled_batch.insert(key, value.as_slice()),
                None => sled_batch.remove(key),
            }
        }
        let applied = self.on_open(|db| db.apply_batch(sled_batch).map_err(io_error));
        self.record(applied)
    }

    /// Overwrites the format version (tests of the refusal path).
    #[doc(hidden)]
    pub fn write_format_version_for_test(&self, version: u32) -> Result<(), StoreError> {
        self.on_open(|db| {
            db.insert(FORMAT_VERSION_ROW, &version.to_be_bytes())
                .map_err(io_error)?;
            db.flush().map(|_| ()).map_err(io_error)
        })
    }
}

impl Store for SledStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.on_open(|db| db.get(row(table, key)).map_err(io_error))?;
        Ok(value.map(|value| value.to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        let range = (row_bound(table, start, true), row_bound(table, end, false));
        self.on_open(|db| {
            let mut rows = Vec::new();
            for item in db.range(range).take(limit) {
                let (key, value) = item.map_err(io_error)?;
                rows.push((key[1..].to_vec(), value.to_vec()));
            }
            Ok(rows)
        })
    }

    fn write(&self, batch: &[TableWrite]) -> Result<(), StoreError> {
        let _exclusive = self.export_guard.write().unwrap_or_else(|e| e.into_inner());
        self.write_batch(batch)
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.check_poison()?;
        // fsync blocks: keep it off the async workers.
        let (tree, directory) = (self.tree.clone(), self.directory.clone());
        let flushed =
            tokio::task::spawn_blocking(move || on_open(&tree, |db| flush_durably(db, &directory)))
                .await
                .map_err(|error| StoreError::Io(format!("sync task failed: {error}")));
        self.record(flushed.and_then(|flushed| flushed))
    }

    /// Flushes (unless poisoned), drops sled's handle for every clone and waits until its
    /// files are released: when it returns, the directory can be opened again.
    async fn close(&self) -> Result<(), StoreError> {
        // It waits for calls in flight (a sync's fsync) and for sled's threads: off the workers.
        let store = self.clone();
        let closed = tokio::task::spawn_blocking(move || store.close_blocking());
        closed
            .await
            .map_err(|error| StoreError::Io(format!("close task failed: {error}")))?
    }

    fn export(&self, tables: &[Table]) -> Result<StoreImage, StoreError> {
        let _shared = self.export_guard.read().unwrap_or_else(|e| e.into_inner());
        let mut image = StoreImage {
            tables: tables.to_vec(),
            rows: Vec::new(),
        };
        let mut sorted = tables.to_vec();
        sorted.sort();
        for table in sorted {
            for (key, value) in self.scan(table, Bound::Unbounded, Bound::Unbounded, usize::MAX)? {
                image.rows.push((table, key, value));
            }
        }
        Ok(image)
    }

    fn import(&self, image: &StoreImage) -> Result<(), StoreError> {
        image.check_tables()?;
        let _exclusive = self.export_guard.write().unwrap_or_else(|e| e.into_inner());
        let mut batch = Vec::new();
        for &table in &image.tables {
            for (key, _) in self.scan(table, Bound::Unbounded, Bound::Unbounded, usize::MAX)? {
                batch.push(TableWrite {
                    table,
                    key,
                    value: None,
                });
            }
        }
        for (table, key, value) in &image.rows {
            batch.push(TableWrite {
                table: *table,
                key: key.clone(),
                value: Some(value.clone()),
            });
        }
        self.write_batch(&batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(key: &[u8]) -> TableWrite {
        TableWrite {
            table: Table::Volumes,
            key: key.to_vec(),
            value: Some(b"v".to_vec()),
        }
    }

    #[test]
    fn a_failure_poisons_writes_and_syncs_until_reopen() {
        crate::store::suite::block_on(async {
            let directory = crate::testing::temp_dir("sled-poison");
            let store = SledStore::open(&directory).unwrap();
            store.write(&[volume(b"a")]).unwrap();
            store.sync().await.unwrap();
            // sled cannot be made to fail on demand: record a failure as a failed fsync would.
            let failed = store.record::<()>(Err(StoreError::Io("fsync: EIO".into())));
            assert!(failed.is_err());
            let poisoned = Err(StoreError::Io(
                "store failed earlier and is stopped: store I/O error: fsync: EIO".into(),
            ));
            assert_eq!(store.write(&[volume(b"b")]), poisoned);
            assert_eq!(store.sync().await, poisoned);
            let image = StoreImage {
                tables: vec![Table::Volumes],
                rows: Vec::new(),
            };
            assert_eq!(store.import(&image), poisoned);
            // A later failure does not replace the first.
            let _ = store.record::<()>(Err(StoreError::Io("second".into())));
            assert_eq!(store.clone().sync().await, poisoned);
            // Reads go on; nothing of the refused write is visible.
            assert_eq!(
                store.get(Table::Volumes, b"a").unwrap(),
                Some(b"v".to_vec())
            );
            assert_eq!(store.get(Table::Volumes, b"b").unwrap(), None);
            store.close().await.unwrap();

            let reopened = SledStore::open(&directory).unwrap();
            reopened.write(&[volume(b"b")]).unwrap();
            reopened.sync().await.unwrap();
            reopened.close().await.unwrap();
            let _ = std::fs::remove_dir_all(&directory);
        });
    }

    #[test]
    fn a_closed_store_reopens_at_once_every_time() {
        crate::store::suite::block_on(async {
            let directory = crate::testing::temp_dir("sled-reopen");
            for round in 0..200u32 {
                let store = SledStore::open(&directory).unwrap();
                let clone = store.clone();
                if round > 0 {
                    let previous = (round - 1).to_be_bytes();
                    assert_eq!(
                        clone.get(Table::Volumes, &previous).unwrap(),
                        Some(b"v".to_vec())
                    );
                }
                store.write(&[volume(&round.to_be_bytes())]).unwrap();
                clone.sync().await.unwrap();
                store.close().await.unwrap();
                // Every clone is closed with it: none keeps sled's handle (and its lock) alive.
                assert_eq!(clone.get(Table::Volumes, b"a"), Err(StoreError::Closed));
                assert_eq!(clone.sync().await, Err(StoreError::Closed));
                assert_eq!(clone.close().await, Ok(()), "closing twice does nothing");
            }
            let _ = std::fs::remove_dir_all(&directory);
        });
    }

    #[test]
    fn a_store_of_the_previous_format_opens_and_is_upgraded() {
        crate::store::suite::block_on(async {
            let directory = crate::testing::temp_dir("sled-upgrade");
            let store = SledStore::open(&directory).unwrap();
            store.write(&[volume(b"a")]).unwrap();
            store
                .write_format_version_for_test(FORMAT_VERSION - 1)
                .unwrap();
            store.close().await.unwrap();
            let reopened = SledStore::open(&directory).unwrap();
            assert_eq!(
                reopened.get(Table::Volumes, b"a").unwrap(),
                Some(b"v".to_vec())
            );
            let stored = reopened.on_open(|db| db.get(FORMAT_VERSION_ROW).map_err(io_error));
            let expected = FORMAT_VERSION.to_be_bytes();
            assert_eq!(stored.unwrap().as_deref(), Some(&expected[..]), "upgraded");
            reopened.close().await.unwrap();
            let _ = std::fs::remove_dir_all(&directory);
        });
    }
}
