//! The double buffer: applied entries are batched into atomic, synced store writes.
//!
//! Apply appends to the *current* buffer; one flusher task swaps it for an empty one and
//! writes the *ready* buffer's writes plus the transaction-info record as one batch, then
//! syncs. Only after the sync does it evict the flushed epochs from the table cache, publish
//! the flushed index and return the back-pressure permits. A batch is whatever arrived while
//! the previous flush ran, or, with a flush interval, while the flusher waited out the rest of
//! the interval since the previous flush began (see [`FlushPolicy`]). A failed flush is fatal:
//! the state turns `Failed`, every later `add` fails, and the node must stop (it recovers by
//! replaying the Raft log).

use crate::error::StoreError;
use crate::store::{Store, Table, TableWrite};
use crate::table_cache::TableCache;
use crate::transaction_info::TransactionInfo;
use crate::types::{AppliedMark, LogIndex, TimeMs};
use crate::watch::Watch;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// One applied entry waiting to be flushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferEntry {
    pub applied: AppliedMark,
    pub writes: Vec<TableWrite>,
    /// The membership this entry installed, if it is a membership entry (opaque bytes).
    pub membership: Option<Vec<u8>>,
    /// The greatest leader-stamped time applied up to this entry (`TransactionInfo`'s).
    pub time_floor: TimeMs,
}

/// What the flusher has done so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlushState {
    Running {
        flushed: AppliedMark,
    },
    /// The store failed; nothing after `flushed` is durable and nothing more will be.
    Failed {
        flushed: AppliedMark,
        error: StoreError,
    },
    /// Stopped on request after flushing everything added before the stop.
    Stopped {
        flushed: AppliedMark,
    },
}

/// The writes of `ready` with only the last one per row, in key order. The batch is applied
/// atomically, so only each row's final value matters; under load a batch holds many updates of
/// the same rows (a bucket's usage on every key commit, an open key created and committed), and
/// every write the store skips is a B-tree insert it does not pay for.
fn coalesced(ready: &[BufferEntry]) -> Vec<TableWrite> {
    let mut last: BTreeMap<(Table, &[u8]), &Option<Vec<u8>>> = BTreeMap::new();
    for write in ready.iter().flat_map(|entry| &entry.writes) {
        last.insert((write.table, &write.key), &write.value);
    }
    (last.into_iter())
        .map(|((table, key), value)| TableWrite {
            table,
            key: key.to_vec(),
            value: value.clone(),
        })
        .collect()
}

impl FlushState {
    pub fn flushed(&self) -> AppliedMark {
        match self {
            FlushState::Running { flushed }
            | FlushState::Failed { flushed, .. }
            | FlushState::Stopped { flushed } => *flushed,
        }
    }
}

/// When the flusher writes.
///
/// Ozone's flusher starts the next batch as soon as the previous one is written (`interval`
/// zero). Ours also syncs every batch, and on sled each sync wakes sled's whole I/O thread pool
/// and issues an `fdatasync`: under light load that fixed cost per batch, paid for batches of a
/// few entries, dominated the CPU. With an `interval`, a flush starts no sooner than `interval`
/// after the previous one began, unless half of `unflushed_max` entries are waiting (so the
/// wait never engages back-pressure) or the buffer is stopping. Clients do not wait for flushes
/// (they are answered after apply), so the interval bounds only how long the cache holds rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushPolicy {
    /// At most this many applied entries are unflushed; apply waits for a permit beyond it.
    pub unflushed_max: usize,
    pub interval: Duration,
}

impl FlushPolicy {
    /// Flushes as soon as the previous flush is done (Ozone's flusher).
    pub fn eager(unflushed_max: usize) -> FlushPolicy {
        FlushPolicy {
            unflushed_max,
            interval: Duration::ZERO,
        }
    }

    /// Entries waiting that end the wait for the interval early.
    fn batch_entries_max(&self) -> usize {
        (self.unflushed_max / 2).max(1)
    }
}

impl From<usize> for FlushPolicy {
    fn from(unflushed_max: usize) -> FlushPolicy {
        FlushPolicy::eager(unflushed_max)
    }
}

/// Counters, for benchmarks and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushStats {
    pub flushes: u64,
    pub entries: u64,
    pub largest_batch_entries: u64,
}

struct Buffers {
    current: Vec<BufferEntry>,
    last_added: LogIndex,
    stopping: bool,
}

struct Shared {
    buffers: Mutex<Buffers>,
    /// Wakes the flusher; `notify_one` keeps a permit if it is not waiting yet.
    queued: Notify,
    /// `FlushPolicy::batch_entries_max`.
    batch_entries_max: usize,
    permits: Semaphore,
    state: Watch<FlushState>,
    stats: Mutex<FlushStats>,
}

/// Handle to the double buffer; cloning shares it.
#[derive(Clone)]
pub struct DoubleBuffer {
    shared: Arc<Shared>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DoubleBuffer {
    /// Starts the flusher on the current runtime. `last` is what the store holds already.
    pub fn start<S: Store>(
        store: S,
        cache: Arc<TableCache>,
        last: TransactionInfo,
        policy: impl Into<FlushPolicy>,
    ) -> DoubleBuffer {
        let policy = policy.into();
        assert!(
            policy.unflushed_max > 0,
            "back-pressure needs at least one permit"
        );
        let shared = Arc::new(Shared {
            buffers: Mutex::new(Buffers {
                current: Vec::new(),
                last_added: last.applied.index,
                stopping: false,
            }),
            queued: Notify::new(),
            batch_entries_max: policy.batch_entries_max(),
            permits: Semaphore::new(policy.unflushed_max),
            state: Watch::new(FlushState::Running {
                flushed: last.applied,
            }),
            stats: Mutex::new(FlushStats::default()),
        });
        let flusher = Flusher {
            shared: shared.clone(),
            store,
            cache,
            last,
            interval: policy.interval,
        };
        tokio::spawn(flusher.run());
        DoubleBuffer { shared }
    }

    /// Queues an applied entry; waits while `unflushed_max` entries are unflushed.
    /// Entries must arrive with contiguous indexes.
    pub async fn add(&self, entry: BufferEntry) -> Result<(), StoreError> {
        let permits = &self.shared.permits;
        if permits.available_permits() == 0 && !permits.is_closed() {
            crate::coverage::hit(crate::coverage::Mark::BackPressure);
        }
        match self.shared.permits.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_closed) => return Err(self.failure()),
        }
        let mut buffers = lock(&self.shared.buffers);
        assert!(!buffers.stopping, "add after stop");
        assert_eq!(
            entry.applied.index.0,
            buffers.last_added.0 + 1,
            "double buffer entries are contiguous"
        );
        buffers.last_added = entry.applied.index;
        buffers.current.push(entry);
        let waiting = buffers.current.len();
        drop(buffers);
        // The flusher waits for a first entry, or for a full batch while it waits out the
        // interval: waking it for every entry in between would cost a task switch per entry.
        if waiting == 1 || waiting >= self.shared.batch_entries_max {
            self.shared.queued.notify_one();
        }
        Ok(())
    }

    fn failure(&self) -> StoreError {
        match self.shared.state.get() {
            FlushState::Failed { error, .. } => error,
            _ => StoreError::Closed,
        }
    }

    pub fn state(&self) -> FlushState {
        self.shared.state.get()
    }

    /// The index durable in the store.
    pub fn flushed_index(&self) -> LogIndex {
        self.state().flushed().index
    }

    /// Waits until `index` is durable; fails if the flusher failed or stopped before it.
    pub async fn wait_flushed(&self, index: LogIndex) -> Result<AppliedMark, StoreError> {
        let state = (self.shared.state)
            .wait_for(|state| {
                state.flushed().index >= index || !matches!(state, FlushState::Running { .. })
            })
            .await;
        match state {
            state if state.flushed().index >= index => Ok(state.flushed()),
            FlushState::Failed { error, .. } => Err(error),
            _ => Err(StoreError::Closed),
        }
    }

    /// Flushes what was added, then stops the flusher.
    pub async fn stop(&self) -> FlushState {
        lock(&self.shared.buffers).stopping = true;
        self.shared.queued.notify_one();
        (self.shared.state)
            .wait_for(|state| !matches!(state, FlushState::Running { .. }))
            .await
    }

    pub fn stats(&self) -> FlushStats {
        *lock(&self.shared.stats)
    }

    /// The index of the last entry added (applied, maybe not yet durable).
    pub fn last_added(&self) -> LogIndex {
        lock(&self.shared.buffers).last_added
    }

    /// Entries added but not yet durable.
    pub fn unflushed(&self) -> u64 {
        lock(&self.shared.buffers).last_added.0 - self.flushed_index().0
    }
}

struct Flusher<S: Store> {
    shared: Arc<Shared>,
    store: S,
    cache: Arc<TableCache>,
    last: TransactionInfo,
    /// `FlushPolicy::interval`.
    interval: Duration,
}

impl<S: Store> Flusher<S> {
    async fn run(mut self) {
        loop {
            let ready = {
                let mut buffers = lock(&self.shared.buffers);
                if buffers.current.is_empty() && buffers.stopping {
                    drop(buffers);
                    (self.shared.state).send(FlushState::Stopped {
                        flushed: self.last.applied,
                    });
                    return;
                }
                std::mem::take(&mut buffers.current)
            };
            if ready.is_empty() {
                self.shared.queued.notified().await;
                continue;
            }
            let started = crate::clock::monotonic_now();
            if let Err(error) = self.flush(&ready).await {
                crate::coverage::hit(crate::coverage::Mark::FlushFailed);
                let flushed = self.last.applied;
                self.shared
                    .state
                    .send(FlushState::Failed { flushed, error });
                self.shared.permits.close();
                return;
            }
            self.on_flushed(ready.len());
            self.wait_interval(started).await;
        }
    }

    /// Waits until the interval has passed since `started`, unless a full batch is waiting or
    /// the buffer is stopping.
    async fn wait_interval(&self, started: tokio::time::Instant) {
        if self.interval.is_zero() {
            return;
        }
        let deadline = started + self.interval;
        loop {
            {
                let buffers = lock(&self.shared.buffers);
                if buffers.stopping || buffers.current.len() >= self.shared.batch_entries_max {
                    return;
                }
            }
            // `add` (at a batch's first entry and once it is full) and `stop` notify after
            // changing the buffers: a change after the look above leaves a permit for
            // `notified`, so none is missed.
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(deadline) => return,
                () = self.shared.queued.notified() => {}
            }
        }
    }

    /// Writes `ready` and the new transaction info as one batch, syncs, and verifies.
    async fn flush(&mut self, ready: &[BufferEntry]) -> Result<(), StoreError> {
        let first = self.last.applied.index.0 + 1;
        for (expected, entry) in (first..).zip(ready) {
            assert_eq!(
                entry.applied.index.0, expected,
                "flush batch indexes are contiguous"
            );
        }
        let last_entry = ready.last().expect("flush of an empty batch");
        let membership = (ready.iter().rev())
            .find_map(|entry| entry.membership.clone())
            .or_else(|| self.last.membership.clone());
        let info = TransactionInfo {
            applied: last_entry.applied,
            membership,
            time_floor: last_entry.time_floor.max(self.last.time_floor),
        };
        let mut batch = coalesced(ready);
        batch.push(info.to_write());
        if crate::bug_zoo::planted(crate::bug_zoo::Defect::EvictBeforeDurable) {
            // The plausible mistake: forget the batch as soon as it is taken for writing.
            self.cache.evict_flushed(info.applied.index);
        }
        crate::buggify::delay("double_buffer: before the batch write").await;
        if crate::bug_zoo::planted(crate::bug_zoo::Defect::TransactionInfoSeparateBatch) {
            let record = batch
                .pop()
                .expect("the batch ends with the transaction info");
            self.store.write(&batch)?;
            self.store.sync().await?;
            crate::buggify::delay("double_buffer: between tables and transaction info").await;
            batch = vec![record];
        }
        self.store.write(&batch)?;
        if crate::bug_zoo::planted(crate::bug_zoo::Defect::FlushedIndexBeforeDurable) {
            let flushed = info.applied;
            (self.shared.state).send_modify(|state| *state = FlushState::Running { flushed });
        }
        // A crash here loses a written but unsynced batch.
        crate::buggify::delay("double_buffer: between write and sync").await;
        self.store.sync().await?;
        let stored = TransactionInfo::read(&self.store)?;
        assert_eq!(
            stored, info,
            "the store holds the transaction info just flushed"
        );
        self.last = info;
        tracing::debug!(first, last = last_entry.applied.index.0, "flushed");
        Ok(())
    }

    fn on_flushed(&self, entries: usize) {
        let flushed = self.last.applied;
        // The store holds the batch durably: only now may the cache forget it.
        self.cache.evict_flushed(flushed.index);
        if !crate::bug_zoo::planted(crate::bug_zoo::Defect::FlushedIndexBeforeDurable) {
            self.shared.state.send_modify(|state| {
                debug_assert!(
                    state.flushed() < flushed,
                    "the flushed index only goes forward"
                );
                *state = FlushState::Running { flushed };
            });
        }
        {
            let mut stats = lock(&self.shared.stats);
            stats.flushes += 1;
            stats.entries += entries as u64;
            stats.largest_batch_entries = stats.largest_batch_entries.max(entries as u64);
        }
        self.shared.permits.add_permits(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Term;

    fn write(table: Table, key: &str, value: Option<&str>) -> TableWrite {
        TableWrite {
            table,
            key: key.as_bytes().to_vec(),
            value: value.map(|value| value.as_bytes().to_vec()),
        }
    }

    fn entry(index: u64, writes: Vec<TableWrite>) -> BufferEntry {
        BufferEntry {
            applied: AppliedMark {
                term: Term(1),
                index: LogIndex(index),
            },
            writes,
            membership: None,
            time_floor: TimeMs(0),
        }
    }

    #[test]
    fn a_coalesced_batch_keeps_each_rows_last_write() {
        let ready = [
            entry(1, vec![write(Table::OpenKeys, "k", Some("open"))]),
            entry(
                2,
                vec![
                    write(Table::Buckets, "b", Some("used 1")),
                    write(Table::OpenKeys, "k", None),
                    write(Table::Keys, "k", Some("committed")),
                ],
            ),
            entry(3, vec![write(Table::Buckets, "b", Some("used 2"))]),
        ];
        assert_eq!(
            coalesced(&ready),
            vec![
                write(Table::Buckets, "b", Some("used 2")),
                write(Table::Keys, "k", Some("committed")),
                // A delete stays: the row may be in the store from an earlier batch.
                write(Table::OpenKeys, "k", None),
            ]
        );
    }
}
