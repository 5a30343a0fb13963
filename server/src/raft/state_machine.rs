//! The openraft state machine adapter: entries -> retry cache / `om::apply` -> table cache and
//! double buffer (all in `Applier`). It only adapts; metadata logic lives in `om/`.
//!
//! The applied state openraft sees after a restart is the *flushed* one (the transaction-info
//! record); openraft replays the rest of the log. Snapshots are exports of flushed state;
//! installing one replaces the store atomically.

use super::{
    io_error, LogId, OmRaftConfig, Snapshot, SnapshotData, SnapshotMeta, StoredMembership,
};
use crate::applier::Applier;
use crate::double_buffer::DoubleBuffer;
use crate::om::OmEntry;
use crate::store::{Store, StoreImage};
use crate::transaction_info::TransactionInfo;
use crate::types::{AppliedMark, LogIndex, Term};
use crate::watch::Watch;
use futures_util::TryStreamExt;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use std::io;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

/// Settings of the state machine that every replica must share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateMachineConfig {
    /// `ozone.om.ha.raft.server.retrycache.expirytime`, in leader-stamped milliseconds.
    pub retry_cache_expiry_ms: u64,
}

/// A snapshot's metadata and bytes.
type StoredSnapshot = (SnapshotMeta, Vec<u8>);

/// Shared by every clone of a state machine; dropped with the last one, it says so.
struct Holders {
    released: Watch<bool>,
}

impl Drop for Holders {
    fn drop(&mut self) {
        self.released.send(true);
    }
}

/// Resolves once no one holds the state machine any more: openraft's state-machine worker
/// (and any snapshot build it spawned) has quit, so no apply can come after.
#[derive(Clone)]
pub struct Released(Watch<bool>);

impl Released {
    pub async fn wait(&self) {
        self.0.wait_for(|released| *released).await;
    }
}

pub struct StateMachine<S: Store> {
    holders: Arc<Holders>,
    applier: Arc<Applier<S>>,
    config: StateMachineConfig,
    /// Shared with the log store, which must not purge past the flushed index.
    log_flushes: Arc<Mutex<Option<DoubleBuffer>>>,
    /// The last snapshot built or installed (openraft sends it to lagging followers).
    current: Arc<Mutex<Option<StoredSnapshot>>>,
}

impl<S: Store> Clone for StateMachine<S> {
    fn clone(&self) -> Self {
        StateMachine {
            holders: self.holders.clone(),
            applier: self.applier.clone(),
            config: self.config,
            log_flushes: self.log_flushes.clone(),
            current: self.current.clone(),
        }
    }
}

/// openraft numbers its log from 0 (the initial membership); our indexes start at 1, with 0
/// meaning "nothing applied". The OM index of a Raft entry is its Raft index + 1.
pub fn om_index(raft_index: u64) -> LogIndex {
    LogIndex(raft_index + 1)
}

fn log_id(applied: AppliedMark) -> Option<LogId> {
    (applied.index.0 > 0).then(|| LogId::new_term_index(applied.term.0, applied.index.0 - 1))
}

fn membership(info: &TransactionInfo) -> io::Result<StoredMembership> {
    match &info.membership {
        Some(bytes) => bincode::deserialize(bytes).map_err(io_error),
        None => Ok(StoredMembership::default()),
    }
}

fn meta_of(info: &TransactionInfo) -> io::Result<SnapshotMeta> {
    Ok(SnapshotMeta {
        last_log_id: log_id(info.applied),
        last_membership: membership(info)?,
    })
}

impl<S: Store> StateMachine<S> {
    pub fn new(
        applier: Arc<Applier<S>>,
        config: StateMachineConfig,
        log_flushes: Arc<Mutex<Option<DoubleBuffer>>>,
    ) -> Self {
        *log_flushes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(applier.double_buffer());
        StateMachine {
            holders: Arc::new(Holders {
                released: Watch::new(false),
            }),
            applier,
            config,
            log_flushes,
            current: Arc::new(Mutex::new(None)),
        }
    }

    /// Resolves once this state machine and every clone of it are dropped. Take it before
    /// handing the state machine to openraft.
    pub fn released(&self) -> Released {
        Released(self.holders.released.clone())
    }

    pub fn applier(&self) -> &Arc<Applier<S>> {
        &self.applier
    }

    async fn apply_entry(&self, entry: super::Entry) -> io::Result<crate::om::OmResult> {
        let applied = AppliedMark {
            term: Term(entry.log_id.leader_id.term),
            index: om_index(entry.log_id.index),
        };
        let no_answer = Ok(crate::om::OmResponse::Done);
        match entry.payload {
            EntryPayload::Blank => self
                .applier
                .apply_marker(applied, None)
                .await
                .map_err(io_error)
                .map(|()| no_answer),
            EntryPayload::Membership(membership) => {
                let stored = StoredMembership::new(Some(entry.log_id), membership);
                let bytes = bincode::serialize(&stored).map_err(io_error)?;
                self.applier
                    .apply_marker(applied, Some(bytes))
                    .await
                    .map_err(io_error)?;
                Ok(no_answer)
            }
            EntryPayload::Normal(request) => {
                let time = if crate::bug_zoo::planted(crate::bug_zoo::Defect::ApplyReadsOwnClock) {
                    crate::clock::now()
                } else {
                    request.time
                };
                let om_entry = OmEntry {
                    index: applied.index,
                    time,
                    request: request.request,
                };
                let expiry = self.config.retry_cache_expiry_ms;
                let answer = self
                    .applier
                    .apply_request(applied.term, &om_entry, Some(request.caller), expiry)
                    .await;
                answer.map_err(io_error)
            }
        }
    }
}

impl<S: Store> RaftSnapshotBuilder<OmRaftConfig> for StateMachine<S> {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (image, info) = self.applier.snapshot_image().await.map_err(io_error)?;
        let meta = meta_of(&info)?;
        let bytes = bincode::serialize(&image).map_err(io_error)?;
        tracing::info!(last = ?meta.last_log_id, bytes = bytes.len(), "snapshot built");
        *self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(bytes),
        })
    }
}

impl<S: Store> RaftStateMachine<OmRaftConfig> for StateMachine<S> {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        // What the store holds, i.e. the flushed state: openraft replays the log after it.
        let info = TransactionInfo::read(self.applier.store()).map_err(io_error)?;
        Ok((log_id(info.applied), membership(&info)?))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures_util::Stream<Item = Result<EntryResponder<OmRaftConfig>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        let mut applied = (0, None);
        while let Some((entry, responder)) = entries.try_next().await? {
            if responder.is_none() {
                // No client waits on it (a follower's apply, mostly): lets apply fall behind
                // the commit index, as Ratis' asynchronous apply does under load.
                crate::buggify::delay("state_machine: apply nobody waits for").await;
            }
            applied = (applied.0 + 1, Some(entry.log_id));
            let answer = self.apply_entry(entry).await?;
            if let Some(responder) = responder {
                responder.send(answer);
            }
        }
        tracing::debug!(entries = applied.0, last = ?applied.1, "applied");
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let bytes = snapshot.into_inner();
        let image: StoreImage = bincode::deserialize(&bytes).map_err(io_error)?;
        let installed = self.applier.install_image(&image).await;
        *self
            .log_flushes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(self.applier.double_buffer());
        let info = installed.map_err(io_error)?;
        let expected = meta
            .last_log_id
            .map_or(0, |log_id| om_index(log_id.index).0);
        if info.applied.index.0 != expected {
            return Err(io_error(format!(
                "snapshot data holds index {} but its metadata says {expected}",
                info.applied.index
            )));
        }
        *self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((meta.clone(), bytes));
        tracing::info!(last = ?meta.last_log_id, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        Ok(current.map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Cursor::new(bytes),
        }))
    }
}
