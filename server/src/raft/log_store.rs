//! The Raft log on our `Store`: entries in `Table::RaftLog` by big-endian index, vote,
//! committed id and purged id in `Table::RaftState`.
//!
//! To ensure correctness:
//! - an append is synced before openraft hears it is durable (it then counts toward commit);
//!   appends do not wait for their sync: they share one (`group_commit`), which the vote,
//!   truncation, purge and close wait for before they write (write I/O stays in order);
//! - the vote is synced before `save_vote` returns;
//! - purge never passes the flushed index: the entries it drops must be in the store already;
//! - after a failed write or sync, nothing is ever reported durable again (a sticky failure:
//!   the node is fail-stop until restarted, even if the store itself would work again).
//!
//! The log lives in its own store (Ozone's `ozone.om.ratis.storage.dir`), apart from the
//! tables: its syncs make nothing of the tables durable, and the tables' flushes nothing of it.

use super::group_commit::{GroupCommit, WrittenAppend};
use super::{io_error, Entry, LogId, OmRaftConfig, Vote};
use crate::double_buffer::DoubleBuffer;
use crate::store::{Store, Table, TableWrite};
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

const VOTE_ROW: &[u8] = b"vote";
const COMMITTED_ROW: &[u8] = b"committed";
const PURGED_ROW: &[u8] = b"purged";

/// Entries one `limited_get_log_entries` call returns at most: bounds what replication reads
/// (and sends) at once. `try_get_log_entries` is never bounded: openraft applies the whole
/// range it asks for.
const LOG_READ_ENTRIES_MAX: usize = 4096;

#[derive(Clone)]
pub struct LogStore<S: Store> {
    store: S,
    /// The double buffer of the same node: purge waits for it (replaced on snapshot install).
    flushed: Arc<Mutex<Option<DoubleBuffer>>>,
    /// The first failed write or sync; every later mutation fails with it.
    failure: Arc<Mutex<Option<String>>>,
    /// Appends written and waiting for the sync that makes them durable.
    appends: Arc<GroupCommit>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn row(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("raft records serialize")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    bincode::deserialize(bytes).map_err(io_error)
}

impl<S: Store> LogStore<S> {
    pub fn new(store: S) -> LogStore<S> {
        LogStore {
            store,
            flushed: Arc::new(Mutex::new(None)),
            failure: Arc::new(Mutex::new(None)),
            appends: Arc::new(GroupCommit::default()),
        }
    }

    /// The last entry purged from the log, if any.
    pub fn purged(&self) -> io::Result<Option<LogId>> {
        self.read_state(PURGED_ROW)
    }

    /// Why the log store stopped accepting writes, if it did.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    /// Runs one mutation of the store unless an earlier one failed; records its failure.
    async fn mutate<F: std::future::Future<Output = Result<(), crate::error::StoreError>>>(
        &self,
        mutation: F,
    ) -> io::Result<()> {
        if let Some(first) = self.failure() {
            return Err(io_error(format!(
                "the log store failed earlier and is stopped: {first}"
            )));
        }
        let result = mutation.await;
        if let Err(error) = &result {
            lock(&self.failure).get_or_insert_with(|| error.to_string());
        }
        result.map_err(io_error)
    }

    /// Closes the store (`Store::close`): the log's files are released when it returns.
    pub async fn close(&self) -> Result<(), crate::error::StoreError> {
        self.sync_appends().await;
        self.store.close().await
    }

    /// One sync for every append written whose sync has not started (after the sync in flight,
    /// if any); then tells openraft, in append order, that they are durable (or that they
    /// failed). Appends written meanwhile wait for the next turn.
    async fn sync_appends(&self) {
        let _turn = self.appends.turn().await;
        let appends = self.appends.take();
        if appends.is_empty() {
            return;
        }
        let synced = self.mutate(self.store.sync()).await;
        for append in appends {
            let result = match &synced {
                Ok(()) => {
                    let (entries, last) = (append.entries, append.last);
                    tracing::debug!(entries, last = ?last, "log appended");
                    Ok(())
                }
                Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
            };
            // Durable before openraft counts it toward commit.
            append.callback.io_completed(result);
        }
    }

    /// Where the state machine publishes its double buffer, whose flushed index bounds purges.
    pub fn flush_handle(&self) -> Arc<Mutex<Option<DoubleBuffer>>> {
        self.flushed.clone()
    }

    fn read_state<T: DeserializeOwned>(&self, key: &[u8]) -> io::Result<Option<T>> {
        match self.store.get(Table::RaftState, key).map_err(io_error)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn write_synced(&self, batch: &[TableWrite]) -> io::Result<()> {
        self.mutate(async {
            self.store.write(batch)?;
            self.store.sync().await
        })
        .await
    }

    fn last_entry(&self) -> io::Result<Option<LogId>> {
        // Indexes are big-endian: the last row is the greatest index.
        let mut rows = self
            .store
            .scan(
                Table::RaftLog,
                Bound::Unbounded,
                Bound::Unbounded,
                usize::MAX,
            )
            .map_err(io_error)?;
        match rows.pop() {
            Some((_, value)) => Ok(Some(decode::<Entry>(&value)?.log_id)),
            None => Ok(None),
        }
    }

    fn delete_range(&self, start: Bound<u64>, end: Bound<u64>) -> io::Result<Vec<TableWrite>> {
        let start = start.map(row);
        let end = end.map(row);
        let start = start.as_ref().map(|key| key.as_slice());
        let end = end.as_ref().map(|key| key.as_slice());
        let rows = self
            .store
            .scan(Table::RaftLog, start, end, usize::MAX)
            .map_err(io_error)?;
        let deletes = rows.into_iter().map(|(key, _)| TableWrite {
            table: Table::RaftLog,
            key,
            value: None,
        });
        Ok(deletes.collect())
    }
}

impl<S: Store> LogStore<S> {
    /// The planted purge-past-flushed mistake: "the state machine applied it, so the log may
    /// go", though what was applied since the last flush lives only in the table cache.
    fn applied_purge_point(&self, log_id: LogId, buffer: &DoubleBuffer) -> io::Result<LogId> {
        let applied = buffer.last_added().0.saturating_sub(1);
        let entry = self.read_entries(applied..=applied, 1)?.pop();
        Ok(match entry {
            Some(entry) if entry.log_id.index > log_id.index => entry.log_id,
            _ => log_id,
        })
    }

    /// The entries of `range` the log holds, at most `limit`, checked to be contiguous.
    fn read_entries(&self, range: impl RangeBounds<u64>, limit: usize) -> io::Result<Vec<Entry>> {
        let start = range.start_bound().map(|index| row(*index));
        let end = range.end_bound().map(|index| row(*index));
        let start = start.as_ref().map(|key| key.as_slice());
        let end = end.as_ref().map(|key| key.as_slice());
        let rows = self
            .store
            .scan(Table::RaftLog, start, end, limit)
            .map_err(io_error)?;
        let entries: Vec<Entry> = rows
            .iter()
            .map(|(_, value)| decode(value))
            .collect::<io::Result<_>>()?;
        // A hole inside the range is a storage contract violation, never a short read.
        for (before, after) in entries.iter().zip(entries.iter().skip(1)) {
            if after.log_id.index != before.log_id.index + 1 {
                return Err(io_error(format!(
                    "the raft log has a hole between entries {} and {}",
                    before.log_id.index, after.log_id.index
                )));
            }
        }
        Ok(entries)
    }
}

impl<S: Store> RaftLogReader<OmRaftConfig> for LogStore<S> {
    /// The whole range: openraft's apply path reports every entry of it applied.
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.read_entries(range, usize::MAX)
    }

    /// A bounded prefix of `start..end`, for replication (never empty when the range is not).
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        self.read_entries(start..end, LOG_READ_ENTRIES_MAX)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        let vote: Option<Vote> = self.read_state(VOTE_ROW)?;
        let term = vote.as_ref().map_or(0, |vote| vote.leader_id().term);
        tracing::info!(term, "vote read");
        Ok(vote)
    }
}

impl<S: Store> RaftLogStorage<OmRaftConfig> for LogStore<S> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<OmRaftConfig>, io::Error> {
        let last_purged: Option<LogId> = self.read_state(PURGED_ROW)?;
        let last = self.last_entry()?;
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.sync_appends().await;
        let write = TableWrite {
            table: Table::RaftState,
            key: VOTE_ROW.to_vec(),
            value: Some(encode(vote)),
        };
        if crate::bug_zoo::planted(crate::bug_zoo::Defect::VoteWithoutSync) {
            self.mutate(async { self.store.write(&[write]) }).await?;
        } else {
            self.write_synced(&[write]).await?;
        }
        // A promise: from here on this vote (its term) must survive any crash.
        tracing::info!(term = vote.leader_id().term, %vote, "vote saved");
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not synced on its own: a lost committed id is only a slower restart, never unsafe.
        let write = TableWrite {
            table: Table::RaftState,
            key: COMMITTED_ROW.to_vec(),
            value: Some(encode(&committed)),
        };
        self.mutate(async { self.store.write(&[write]) }).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.read_state::<Option<LogId>>(COMMITTED_ROW)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<OmRaftConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut last = None;
        let batch: Vec<TableWrite> = (entries.into_iter())
            .inspect(|entry| last = Some(entry.log_id))
            .map(|entry| TableWrite {
                table: Table::RaftLog,
                key: row(entry.log_id.index).to_vec(),
                value: Some(encode(&entry)),
            })
            .collect();
        if crate::bug_zoo::planted(crate::bug_zoo::Defect::AckBeforeLogSync) {
            // Written to the page cache and acknowledged; a later vote or truncation syncs it.
            let written = self.mutate(async { self.store.write(&batch) }).await;
            let failed = written
                .as_ref()
                .err()
                .map(|error| io::Error::new(error.kind(), error.to_string()));
            callback.io_completed(written);
            return failed.map_or(Ok(()), Err);
        }
        if let Err(error) = self.mutate(async { self.store.write(&batch) }).await {
            callback.io_completed(Err(io::Error::new(error.kind(), error.to_string())));
            return Err(error);
        }
        let written = WrittenAppend {
            callback,
            entries: batch.len(),
            last,
        };
        if self.appends.push(written) {
            let log = self.clone();
            tokio::spawn(async move { log.sync_appends().await });
        }
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.sync_appends().await;
        let start = match last_log_id {
            Some(log_id) => Bound::Excluded(log_id.index),
            None => Bound::Unbounded,
        };
        let deletes = self.delete_range(start, Bound::Unbounded)?;
        self.write_synced(&deletes).await?;
        tracing::info!(after = ?last_log_id, "log truncated");
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.sync_appends().await;
        let buffer = lock(&self.flushed).clone();
        let (log_id, buffer) = match buffer {
            Some(buffer) if crate::bug_zoo::planted(crate::bug_zoo::Defect::PurgePastFlushed) => {
                (self.applied_purge_point(log_id, &buffer)?, None)
            }
            buffer => (log_id, buffer),
        };
        if let Some(buffer) = buffer {
            // The purged entries must be in the store: never purge past the flushed index.
            let index = super::state_machine::om_index(log_id.index);
            buffer.wait_flushed(index).await.map_err(io_error)?;
            assert!(
                buffer.flushed_index() >= index,
                "purge stays behind the flushed index"
            );
        }
        let mut batch = self.delete_range(Bound::Unbounded, Bound::Included(log_id.index))?;
        batch.push(TableWrite {
            table: Table::RaftState,
            key: PURGED_ROW.to_vec(),
            value: Some(encode(&log_id)),
        });
        self.write_synced(&batch).await?;
        tracing::info!(upto = %log_id, "log purged");
        crate::coverage::hit(crate::coverage::Mark::LogPurged);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::store::sim_disk::{SimDisk, SimDiskStore};
    use crate::store::{Rows, Scope, StoreImage};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A store whose next sync fails once and then works again: the log store must stay
    /// stopped on its own, not because the store keeps failing.
    #[derive(Clone)]
    struct FailsOnce {
        store: SimDiskStore,
        fail_next_sync: Arc<AtomicBool>,
    }

    impl Store for FailsOnce {
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.store.get(table, key)
        }
        fn scan(
            &self,
            table: Table,
            start: Bound<&[u8]>,
            end: Bound<&[u8]>,
            limit: usize,
        ) -> Result<Rows, StoreError> {
            self.store.scan(table, start, end, limit)
        }
        fn write(&self, batch: &[TableWrite]) -> Result<(), StoreError> {
            self.store.write(batch)
        }
        async fn sync(&self) -> Result<(), StoreError> {
            if self.fail_next_sync.swap(false, Ordering::SeqCst) {
                return Err(StoreError::Io("fsync: EIO".into()));
            }
            self.store.sync().await
        }
        fn export(&self, tables: &[Table]) -> Result<StoreImage, StoreError> {
            self.store.export(tables)
        }
        fn import(&self, image: &StoreImage) -> Result<(), StoreError> {
            self.store.import(image)
        }
    }

    fn vote(term: u64) -> Vote {
        Vote::new(term, 1)
    }

    #[test]
    fn after_a_failed_sync_nothing_is_reported_durable_again() {
        crate::store::suite::block_on(async {
            let disk = SimDisk::new();
            let fail_next_sync = Arc::new(AtomicBool::new(false));
            let store = FailsOnce {
                store: disk.open(Scope::Log).unwrap(),
                fail_next_sync: fail_next_sync.clone(),
            };
            let mut log = LogStore::new(store);
            log.save_vote(&vote(1)).await.unwrap();
            assert_eq!(log.failure(), None);

            fail_next_sync.store(true, Ordering::SeqCst);
            assert!(log.save_vote(&vote(2)).await.is_err());
            let failure = log.failure().expect("the failure is recorded");
            assert!(failure.contains("fsync: EIO"), "{failure}");

            // The store works again; the log store still refuses every mutation.
            let refused = |result: io::Result<()>| {
                let error = result.expect_err("refused after the failure");
                assert!(error.to_string().contains("failed earlier"), "{error}");
            };
            refused(log.save_vote(&vote(3)).await);
            refused(log.save_committed(None).await);
            refused(log.truncate_after(None).await);
            refused(log.purge(LogId::new_term_index(1, 0)).await);
            let entry = Entry {
                log_id: LogId::new_term_index(1, 0),
                payload: openraft::EntryPayload::Blank,
            };
            refused(log.append([entry], IOFlushed::noop()).await);
            assert!(log.try_get_log_entries(0..10).await.unwrap().is_empty());
            // Reads still answer, from what the store holds.
            assert_eq!(log.read_vote().await.unwrap(), Some(vote(2)));
        });
    }
}
