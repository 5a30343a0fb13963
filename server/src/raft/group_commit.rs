//! Group commit of Raft log appends, as etcd's WAL and Ratis' log worker do: an append writes
//! its entries to the store and returns at once (openraft's contract: "return immediately
//! after saving the input log entries in memory"); its durability callback waits here for the
//! next sync. Appends written while a sync is in flight share the one after it, so the number
//! of syncs follows the disk, not the number of appends, and Raft replicates to the followers
//! while the leader's own sync runs.
//!
//! To ensure correctness:
//! - a callback joins the queue only after its entries were written, and a sync takes the queue
//!   before it starts: every sync covers every append it reports durable;
//! - one sync at a time, the queue taken whole: callbacks complete in append order.

use super::{LogId, OmRaftConfig};
use openraft::storage::IOFlushed;
use std::sync::Mutex;

/// An append written to the store, waiting for the sync that makes it durable.
pub struct WrittenAppend {
    pub callback: IOFlushed<OmRaftConfig>,
    pub entries: usize,
    pub last: Option<LogId>,
}

#[derive(Default)]
struct Queue {
    appends: Vec<WrittenAppend>,
    /// A sync task is spawned that has not taken the queue yet: later appends join its turn.
    sync_scheduled: bool,
}

/// The appends waiting for a sync, and the turn of the one sync in flight.
#[derive(Default)]
pub struct GroupCommit {
    queue: Mutex<Queue>,
    /// Held across a sync (FIFO): a sync waits for the one in flight, then takes the queue.
    turn: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a written append; true when the caller must schedule a sync for it (none is
    /// scheduled yet that would take it).
    pub fn push(&self, append: WrittenAppend) -> bool {
        let mut queue = self.queue();
        queue.appends.push(append);
        !std::mem::replace(&mut queue.sync_scheduled, true)
    }

    /// Waits for the sync in flight to finish; the guard is this sync's turn.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }

    /// Everything queued so far, in append order (the caller holds the turn and syncs next).
    pub fn take(&self) -> Vec<WrittenAppend> {
        let mut queue = self.queue();
        queue.sync_scheduled = false;
        std::mem::take(&mut queue.appends)
    }
}
