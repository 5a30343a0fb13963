//! Group commit of Raft log appends: `append` returns before its sync; its callback fires only
//! after a sync that started after the append was written; appends written while a sync is in
//! flight share the next one; the vote waits for appends before it.

mod common;

use om_server::error::StoreError;
use om_server::raft::log_store::LogStore;
use om_server::raft::{Entry, LogId, OmRaftConfig, Vote};
use om_server::store::sim_disk::{SimDisk, SimDiskStore};
use om_server::store::{Rows, Scope, Store, StoreImage, Table, TableWrite};
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::alias::OneshotReceiverOf;
use openraft::type_config::TypeConfigExt;
use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};

/// A store whose syncs wait for the test's permission; it counts them and says when one starts.
#[derive(Clone)]
struct GatedSyncs {
    store: SimDiskStore,
    started: Arc<AtomicUsize>,
    start: Arc<Notify>,
    permits: Arc<Semaphore>,
}

impl Store for GatedSyncs {
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
        self.started.fetch_add(1, Ordering::SeqCst);
        self.start.notify_one();
        self.permits.acquire().await.expect("never closed").forget();
        self.store.sync().await
    }
    fn export(&self, tables: &[Table]) -> Result<StoreImage, StoreError> {
        self.store.export(tables)
    }
    fn import(&self, image: &StoreImage) -> Result<(), StoreError> {
        self.store.import(image)
    }
}

impl GatedSyncs {
    fn new(store: SimDiskStore) -> GatedSyncs {
        GatedSyncs {
            store,
            started: Arc::new(AtomicUsize::new(0)),
            start: Arc::new(Notify::new()),
            permits: Arc::new(Semaphore::new(0)),
        }
    }

    /// Waits until `count` syncs have started.
    async fn started(&self, count: usize) {
        while self.started.load(Ordering::SeqCst) < count {
            self.start.notified().await;
        }
    }

    fn release_one(&self) {
        self.permits.add_permits(1);
    }
}

type Flushed = OneshotReceiverOf<OmRaftConfig, Result<(), io::Error>>;

/// Appends the blank entry at `index`; returns what its callback will say.
async fn append(log: &mut LogStore<GatedSyncs>, index: u64) -> Flushed {
    let (sender, receiver) = OmRaftConfig::oneshot();
    let entry = Entry {
        log_id: LogId::new_term_index(1, index),
        payload: openraft::EntryPayload::Blank,
    };
    log.append([entry], IOFlushed::signal(sender))
        .await
        .expect("the append is written");
    receiver
}

fn completed(flushed: &mut Flushed) -> bool {
    use futures_util::FutureExt;
    flushed.now_or_never().is_some()
}

async fn durable(flushed: Flushed) {
    flushed
        .await
        .expect("the callback is called")
        .expect("the append is durable");
}

#[test]
fn appends_during_a_sync_share_the_next_one() {
    common::block_on(async {
        let disk = SimDisk::new();
        let store = GatedSyncs::new(disk.open(Scope::Log).unwrap());
        let mut log = LogStore::new(store.clone());

        let mut first = append(&mut log, 0).await;
        store.started(1).await;
        // Written and readable, not yet durable: the sync covering it is still running.
        assert!(!completed(&mut first));
        let mut second = append(&mut log, 1).await;
        let mut third = append(&mut log, 2).await;
        assert_eq!(
            store.started.load(Ordering::SeqCst),
            1,
            "one sync in flight"
        );

        store.release_one();
        durable(first).await;
        // The two appends written during the first sync wait for the second.
        store.started(2).await;
        assert!(!completed(&mut second));
        assert!(!completed(&mut third));
        store.release_one();
        durable(second).await;
        durable(third).await;
        assert_eq!(
            store.started.load(Ordering::SeqCst),
            2,
            "three appends, two syncs"
        );
    });
}

#[test]
fn the_vote_waits_for_earlier_appends() {
    common::block_on(async {
        let disk = SimDisk::new();
        let store = GatedSyncs::new(disk.open(Scope::Log).unwrap());
        let mut log = LogStore::new(store.clone());

        let mut appended = append(&mut log, 0).await;
        store.started(1).await;
        let mut voting = log.clone();
        let vote = tokio::spawn(async move { voting.save_vote(&Vote::new(2, 1)).await });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(store.started.load(Ordering::SeqCst), 1, "the vote waits");
        // The vote's own sync starts only after the append's has finished and reported.
        store.release_one();
        store.started(2).await;
        assert!(
            completed(&mut appended),
            "the append reported before the vote's sync"
        );
        store.release_one();
        vote.await.expect("no panic").expect("the vote is saved");
    });
}
