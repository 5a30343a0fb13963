//! The table cache: applied-but-unflushed writes, each tagged with its epoch (log index).
//!
//! Reads consult the cache first and the store on a miss; a delete is a tombstone that hides
//! the stored row. After a batch is durable the double buffer evicts every entry whose epoch
//! is at or below the flushed index: a row overwritten by a later entry stays.
//!
//! A read that looks at the cache and then at the store must see one applied state. It pins
//! the epoch (`pin`) for its whole duration: `put` and `clear` wait until no pin is held. That
//! is enough, and cheaper than also locking out the flusher: while no entry newer than the
//! cache's is applied, the flusher can only copy into the store rows the cache already holds
//! (and evict them after), which changes no answer. Without the pin, a store read could show
//! a flushed entry that was applied after the cache lookup, while the cache lookup still showed
//! rows that entry overwrote: a state that never existed.

use crate::error::StoreError;
use crate::om::MetadataView;
use crate::store::{Rows, Store, Table, TableWrite};
use crate::types::LogIndex;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

type Row = (Table, Vec<u8>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct CacheEntry {
    epoch: LogIndex,
    /// `None`: a tombstone.
    value: Option<Vec<u8>>,
}

/// What the cache knows about one row.
#[derive(Debug, PartialEq, Eq)]
pub enum CacheLookup {
    /// Written at or after the last flush: this value (or absence) is current.
    Hit(Option<Vec<u8>>),
    /// Not in the cache: the store has the current value.
    Miss,
}

#[derive(Default)]
struct Entries {
    rows: BTreeMap<Row, CacheEntry>,
    /// Rows written at each epoch, to evict by epoch without a full pass.
    by_epoch: BTreeMap<LogIndex, Vec<Row>>,
}

#[derive(Default)]
pub struct TableCache {
    entries: Mutex<Entries>,
    /// Readers share it while they read; a new epoch (`put`, `clear`) takes it exclusively.
    epoch: RwLock<()>,
}

/// Held by a read: no entry is applied to the cache, nor the cache cleared, until it drops.
pub struct EpochPin<'a> {
    _shared: RwLockReadGuard<'a, ()>,
}

impl TableCache {
    pub fn new() -> TableCache {
        TableCache::default()
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn advance(&self) -> RwLockWriteGuard<'_, ()> {
        self.epoch
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Pins the current epoch for a read over cache and store (see the module comment). Never
    /// hold it across an apply on the same thread: `put` would wait for it forever.
    pub fn pin(&self) -> EpochPin<'_> {
        let shared = self
            .epoch
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        EpochPin { _shared: shared }
    }

    /// Records the writes of the entry at `epoch`. Epochs arrive in increasing order.
    pub fn put(&self, epoch: LogIndex, writes: &[TableWrite]) {
        let _advance = self.advance();
        let mut entries = self.lock();
        if let Some((&last, _)) = entries.by_epoch.last_key_value() {
            assert!(
                epoch > last,
                "cache epochs go forward: {epoch} after {last}"
            );
        }
        let mut rows = Vec::with_capacity(writes.len());
        for write in writes {
            let row = (write.table, write.key.clone());
            let entry = CacheEntry {
                epoch,
                value: write.value.clone(),
            };
            entries.rows.insert(row.clone(), entry);
            rows.push(row);
        }
        if !rows.is_empty() {
            entries.by_epoch.insert(epoch, rows);
        }
    }

    pub fn get(&self, table: Table, key: &[u8]) -> CacheLookup {
        match self.lock().rows.get(&(table, key.to_vec())) {
            Some(entry) => CacheLookup::Hit(entry.value.clone()),
            None => CacheLookup::Miss,
        }
    }

    /// The cached rows of `table` starting with `prefix`, after `after`, in key order, up to
    /// and including the `values_max`-th row with a value (tombstones on the way included).
    pub fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        values_max: usize,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let entries = self.lock();
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded((table, after.to_vec())),
            _ => Bound::Included((table, prefix.to_vec())),
        };
        let mut values = 0;
        (entries.rows.range((start, Bound::Unbounded)))
            .take_while(|((row_table, key), _)| *row_table == table && key.starts_with(prefix))
            .take_while(|(_, entry)| {
                let more = values < values_max;
                values += usize::from(entry.value.is_some());
                more
            })
            .map(|((_, key), entry)| (key.clone(), entry.value.clone()))
            .collect()
    }

    /// Drops entries whose epoch is at or below `flushed`: the store now holds them.
    pub fn evict_flushed(&self, flushed: LogIndex) {
        let mut entries = self.lock();
        let later = match flushed.0.checked_add(1) {
            Some(next) => entries.by_epoch.split_off(&LogIndex(next)),
            None => BTreeMap::new(),
        };
        let evicted = std::mem::replace(&mut entries.by_epoch, later);
        for (epoch, rows) in evicted {
            for row in rows {
                // A later entry may have rewritten the row: keep that one.
                if entries
                    .rows
                    .get(&row)
                    .is_some_and(|entry| entry.epoch == epoch)
                {
                    entries.rows.remove(&row);
                }
            }
        }
    }

    /// Drops everything (the store was replaced by a snapshot).
    pub fn clear(&self) {
        self.clear_while(|| ());
    }

    /// Runs `replace` (which replaces the store under the cache) and drops everything, with no
    /// read in between: none sees the old cache over the new store.
    pub fn clear_while<T>(&self, replace: impl FnOnce() -> T) -> T {
        let _advance = self.advance();
        let replaced = replace();
        *self.lock() = Entries::default();
        replaced
    }

    pub fn len(&self) -> usize {
        self.lock().rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lowest epoch still cached, if any.
    pub fn oldest_epoch(&self) -> Option<LogIndex> {
        self.lock()
            .by_epoch
            .first_key_value()
            .map(|(&epoch, _)| epoch)
    }
}

/// Applied state as reads and apply see it: the cache over the store.
pub struct CachedView<'a, S: Store> {
    pub cache: &'a TableCache,
    pub store: &'a S,
}

impl<S: Store> MetadataView for CachedView<'_, S> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        // Cache first, then store: a flush writes the store before evicting, so a row is never
        // missing from both.
        match self.cache.get(table, key) {
            CacheLookup::Hit(value) => Ok(value),
            CacheLookup::Miss => self.store.get(table, key),
        }
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        // A cached row past the `limit`-th cached value cannot be among the first `limit`
        // merged rows, nor can a stored row it would hide. Each cached row hides or replaces at
        // most one stored row: fetching `limit + cached` stored rows always yields the first
        // `limit` merged rows. Cache first, then store: a flush in between writes the store
        // before it evicts, so no row is missed.
        let cached = self.cache.scan_prefix(table, prefix, after, limit);
        let stored =
            self.store
                .scan_prefix(table, prefix, after, limit.saturating_add(cached.len()))?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = stored.into_iter().collect();
        for (key, value) in cached {
            match value {
                Some(value) => merged.insert(key, value),
                None => merged.remove(&key),
            };
        }
        Ok(merged.into_iter().take(limit).collect())
    }
}
