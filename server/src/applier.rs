//! The apply pipeline of one replica: entry -> retry cache or `om::apply` (over cache + store)
//! -> table cache at the entry's epoch -> double buffer. Reads see the same cache-over-store
//! view. Snapshots are exported from flushed state and installed by replacing the store.

use crate::double_buffer::{BufferEntry, DoubleBuffer, FlushPolicy, FlushState};
use crate::error::StoreError;
use crate::om::{self, OmEntry, OmRequest, OmResult};
use crate::retry_cache::{self, Caller, RetryIndex};
use crate::store::{Store, StoreImage, Table, TableWrite};
use crate::table_cache::{CachedView, TableCache};
use crate::transaction_info::TransactionInfo;
use crate::types::{AppliedMark, Term, TimeMs};
use std::sync::{Arc, Mutex, MutexGuard};

pub struct Applier<S: Store> {
    store: S,
    cache: Arc<TableCache>,
    /// Replaced when a snapshot is installed.
    buffer: Mutex<DoubleBuffer>,
    flush_policy: FlushPolicy,
    /// The last entry applied (in the cache, maybe not yet flushed).
    last_applied: Mutex<AppliedMark>,
    /// The greatest leader-stamped time applied: a new leader stamps no earlier than this.
    /// Flushed with the transaction info, so it survives restarts and travels in snapshots.
    last_time: Mutex<TimeMs>,
    /// The retry-cache rows of the applied state (cache over store), in memory.
    retry_index: Mutex<RetryIndex>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S: Store> Applier<S> {
    /// Opens on `store`: the transaction-info record says what it already holds. Starts the
    /// flusher on the current runtime.
    pub fn open(store: S, flush_policy: impl Into<FlushPolicy>) -> Result<Applier<S>, StoreError> {
        let flush_policy = flush_policy.into();
        let info = TransactionInfo::read(&store)?;
        let retry_index = RetryIndex::load(&store)?;
        let cache = Arc::new(TableCache::new());
        let applied = info.applied;
        let time_floor = info.time_floor;
        let buffer = DoubleBuffer::start(store.clone(), cache.clone(), info, flush_policy);
        Ok(Applier {
            store,
            cache,
            buffer: Mutex::new(buffer),
            flush_policy,
            last_applied: Mutex::new(applied),
            last_time: Mutex::new(time_floor),
            retry_index: Mutex::new(retry_index),
        })
    }

    /// The last applied entry; after open, the last flushed one.
    pub fn last_applied(&self) -> AppliedMark {
        *lock(&self.last_applied)
    }

    /// The greatest leader-stamped time among applied entries.
    pub fn last_time(&self) -> TimeMs {
        *lock(&self.last_time)
    }

    fn view(&self) -> CachedView<'_, S> {
        CachedView {
            cache: &self.cache,
            store: &self.store,
        }
    }

    /// Applies a replicated entry of `term`. Entries arrive in log order, one at a time.
    pub async fn apply(&self, term: Term, entry: &OmEntry) -> Result<OmResult, StoreError> {
        self.apply_request(term, entry, None, 0).await
    }

    /// Applies an entry on behalf of `caller`: a call already applied gets its recorded answer
    /// (or `RETRY_REQUEST_MISMATCH` when its request is not the one applied) and changes
    /// nothing; a new one is applied and its answer recorded in the same batch.
    /// Retry-cache rows older than `retry_expiry_ms` (entry time) are evicted as it goes.
    pub async fn apply_request(
        &self,
        term: Term,
        entry: &OmEntry,
        caller: Option<Caller>,
        retry_expiry_ms: u64,
    ) -> Result<OmResult, StoreError> {
        let applied = AppliedMark {
            term,
            index: entry.index,
        };
        {
            let mut last_time = lock(&self.last_time);
            *last_time = (*last_time).max(entry.time);
        }
        crate::buggify::delay("applier: before apply").await;
        let (result, writes) = self.decide(entry, caller, retry_expiry_ms)?;
        self.apply_writes(applied, writes, None).await?;
        Ok(result)
    }

    /// The answer to `entry` and its writes: the recorded answer and none for a call already
    /// applied, else `om::apply`'s plus the retry cache's.
    fn decide(
        &self,
        entry: &OmEntry,
        caller: Option<Caller>,
        retry_expiry_ms: u64,
    ) -> Result<(OmResult, Vec<TableWrite>), StoreError> {
        let view = self.view();
        let Some(caller) = caller else {
            return om::apply(&view, entry);
        };
        let mut retry_index = lock(&self.retry_index);
        if let Some(recorded) = retry_index.lookup(&view, caller, &entry.request)? {
            crate::coverage::hit(crate::coverage::Mark::RetryCacheHit);
            return Ok((recorded, Vec::new()));
        }
        let (result, mut writes) = om::apply(&view, entry)?;
        let expiry_ms = if crate::bug_zoo::planted(crate::bug_zoo::Defect::RetryCacheEarlyExpiry) {
            retry_expiry_ms / 1000
        } else {
            retry_expiry_ms
        };
        writes.extend(retry_index.expire(&view, entry.time, expiry_ms)?);
        writes.push(retry_cache::record(
            caller,
            entry.time,
            &entry.request,
            &result,
        ));
        retry_index.note(&writes)?;
        Ok((result, writes))
    }

    /// Records an entry that carries no request (blank or membership entry).
    pub async fn apply_marker(
        &self,
        applied: AppliedMark,
        membership: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.apply_writes(applied, Vec::new(), membership).await
    }

    async fn apply_writes(
        &self,
        applied: AppliedMark,
        writes: Vec<TableWrite>,
        membership: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.cache.put(applied.index, &writes);
        *lock(&self.last_applied) = applied;
        let entry = BufferEntry {
            applied,
            writes,
            membership,
            time_floor: self.last_time(),
        };
        self.double_buffer().add(entry).await
    }

    /// Answers a read from applied state (cache over store), all of it at one epoch.
    pub fn read(&self, request: &OmRequest) -> Result<OmResult, StoreError> {
        let _epoch = self.cache.pin();
        om::apply::read(&self.view(), request)
    }

    /// A consistent image of the state-machine tables at a flushed index (waits for the double
    /// buffer to flush everything applied so far). Its transaction-info row names that index.
    pub async fn snapshot_image(&self) -> Result<(StoreImage, TransactionInfo), StoreError> {
        let applied = self.last_applied();
        if crate::bug_zoo::planted(crate::bug_zoo::Defect::SnapshotIndexAhead) {
            // Names what was applied, exports what was flushed.
            let image = self.store.export(&Table::STATE_MACHINE)?;
            let mut info = image_transaction_info(&image)?;
            info.applied = applied;
            return Ok((image, info));
        }
        self.double_buffer().wait_flushed(applied.index).await?;
        let image = self.store.export(&Table::STATE_MACHINE)?;
        let info = image_transaction_info(&image)?;
        assert!(
            info.applied.index >= applied.index,
            "a snapshot holds what was applied before it"
        );
        Ok((image, info))
    }

    /// Replaces the state with `image`, atomically: the double buffer is drained first, the
    /// image is written as one batch and synced, then the cache restarts empty. On failure the
    /// previous state stays (the store's import is all-or-nothing). After a failed flush it
    /// changes nothing and returns that failure.
    pub async fn install_image(&self, image: &StoreImage) -> Result<TransactionInfo, StoreError> {
        let info = image_transaction_info(image)?;
        let previous = self.double_buffer();
        if let FlushState::Failed { error, .. } = previous.stop().await {
            // Fail-stop: a failed flush leaves the pipeline stopped until restart. A fresh
            // buffer would accept entries again and hide the failure from the node.
            return Err(error);
        }
        // Whatever happens, the pipeline restarts on what the store then holds, cache empty.
        let imported = self.cache.clear_while(|| self.store.import(image));
        // The retry index mirrors the rows: rebuilt before anything else can see them.
        let reindexed =
            match crate::bug_zoo::planted(crate::bug_zoo::Defect::RetryIndexKeptOnInstall) {
                true => Ok(()),
                false => {
                    RetryIndex::load(&self.store).map(|index| *lock(&self.retry_index) = index)
                }
            };
        let installed = match imported {
            Ok(()) => self.store.sync().await,
            Err(error) => Err(error),
        };
        let held = TransactionInfo::read(&self.store)?;
        *lock(&self.last_applied) = held.applied;
        {
            let mut last_time = lock(&self.last_time);
            *last_time = (*last_time).max(held.time_floor);
        }
        let buffer = DoubleBuffer::start(
            self.store.clone(),
            self.cache.clone(),
            held.clone(),
            self.flush_policy,
        );
        *lock(&self.buffer) = buffer;
        installed?;
        reindexed?;
        assert_eq!(held, info, "the store holds the installed snapshot");
        Ok(held)
    }

    /// Whether the in-memory retry index mirrors the retry-cache rows of the applied state.
    /// Holds between applies (an apply updates both without yielding), so the simulation can
    /// check it at any await point. `Some` says how they differ.
    pub fn retry_index_mismatch(&self) -> Result<Option<String>, StoreError> {
        let index = lock(&self.retry_index);
        let rebuilt = RetryIndex::of_view(&self.view())?;
        Ok(index.mismatch(&rebuilt))
    }

    pub fn double_buffer(&self) -> DoubleBuffer {
        lock(&self.buffer).clone()
    }

    pub fn cache(&self) -> &TableCache {
        &self.cache
    }

    pub fn store(&self) -> &S {
        &self.store
    }
}

/// The transaction info an image carries (the default when it holds none: an empty state).
fn image_transaction_info(image: &StoreImage) -> Result<TransactionInfo, StoreError> {
    let row = (image.rows.iter()).find(|(table, _, _)| *table == Table::TransactionInfo);
    match row {
        Some((_, _, value)) => TransactionInfo::decode(value),
        None => Ok(TransactionInfo::default()),
    }
}
