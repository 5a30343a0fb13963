//! The apply pipeline of one replica: entry -> `om::apply` (over cache + store) -> table cache
//! at the entry's epoch -> double buffer. Reads see the same cache-over-store view.

use crate::double_buffer::{BufferEntry, DoubleBuffer};
use crate::error::StoreError;
use crate::om::{self, OmEntry, OmRequest, OmResult};
use crate::store::Store;
use crate::table_cache::{CachedView, TableCache};
use crate::transaction_info::TransactionInfo;
use crate::types::{AppliedMark, Term};
use std::sync::{Arc, Mutex};

pub struct Applier<S: Store> {
    store: S,
    cache: Arc<TableCache>,
    buffer: DoubleBuffer,
    /// The last entry applied (in the cache, maybe not yet flushed).
    last_applied: Mutex<AppliedMark>,
}

impl<S: Store> Applier<S> {
    /// Opens on `store`: the transaction-info record says what it already holds. Starts the
    /// flusher on the current runtime.
    pub fn open(store: S, unflushed_max: usize) -> Result<Applier<S>, StoreError> {
        let info = TransactionInfo::read(&store)?;
        let cache = Arc::new(TableCache::new());
        let applied = info.applied;
        let buffer = DoubleBuffer::start(store.clone(), cache.clone(), info, unflushed_max);
        Ok(Applier {
            store,
            cache,
            buffer,
            last_applied: Mutex::new(applied),
        })
    }

    /// The last applied entry; after open, the last flushed one.
    pub fn last_applied(&self) -> AppliedMark {
        *self
            .last_applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn view(&self) -> CachedView<'_, S> {
        CachedView {
            cache: &self.cache,
            store: &self.store,
        }
    }

    /// Applies a replicated entry of `term`. Entries arrive in log order, one at a time.
    pub async fn apply(&self, term: Term, entry: &OmEntry) -> Result<OmResult, StoreError> {
        let (result, writes) = om::apply(&self.view(), entry)?;
        let applied = AppliedMark {
            term,
            index: entry.index,
        };
        self.apply_writes(applied, writes, None).await?;
        Ok(result)
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
        writes: Vec<crate::store::TableWrite>,
        membership: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.cache.put(applied.index, &writes);
        *self
            .last_applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = applied;
        let entry = BufferEntry {
            applied,
            writes,
            membership,
        };
        self.buffer.add(entry).await
    }

    /// Answers a read from applied state (cache over store).
    pub fn read(&self, request: &OmRequest) -> Result<OmResult, StoreError> {
        om::apply::read(&self.view(), request)
    }

    pub fn double_buffer(&self) -> &DoubleBuffer {
        &self.buffer
    }

    pub fn cache(&self) -> &TableCache {
        &self.cache
    }

    pub fn store(&self) -> &S {
        &self.store
    }
}
