//! Crash at every point of a flush: before the batch is written, after it is written but before
//! the sync (losing it whole, or tearing it at every byte), and after the sync. The reopened
//! store must hold exactly the state after some applied prefix, its transaction-info index must
//! name that prefix, nothing synced may be lost, and replaying the rest must end in the same
//! state and answers as a replica that never crashed.

mod common;

use common::{
    block_on, commit_key, create_bucket, create_volume, dump, entry, open_key, MemoryReplica,
};
use om_server::applier::Applier;
use om_server::om::{OmRequest, OmResult};
use om_server::store::sim_disk::{CrashMode, DiskFault, SimDisk, TailLoss};
use om_server::store::Scope;
use om_server::table_cache::{CachedView, TableCache};
use om_server::transaction_info::TransactionInfo;
use om_server::types::{LogIndex, Term};
use std::time::Duration;

type State = Vec<(om_server::store::Table, Vec<u8>, Vec<u8>)>;

fn workload() -> Vec<OmRequest> {
    let s = |text: &str| text.to_string();
    vec![
        create_volume("vol"),
        create_bucket("vol", "buck"),
        open_key("vol", "buck", "a", 300 << 20),
        commit_key("vol", "buck", "a", 3, 300 << 20),
        create_bucket("vol", "other"),
        open_key("vol", "buck", "b", 1),
        commit_key("vol", "buck", "b", 6, 1),
        OmRequest::RenameKey {
            volume: s("vol"),
            bucket: s("buck"),
            from_key: s("a"),
            to_key: s("c"),
        },
        OmRequest::DeleteKey {
            volume: s("vol"),
            bucket: s("buck"),
            key: s("b"),
        },
        OmRequest::DeleteBucket {
            volume: s("vol"),
            bucket: s("other"),
        },
        open_key("vol", "buck", "d", 7),
        OmRequest::SetVolumeOwner {
            volume: s("vol"),
            owner: s("ozone"),
        },
    ]
}

/// The state after each prefix of the workload (index 0: empty) and every answer.
fn reference(requests: &[OmRequest]) -> (Vec<State>, Vec<OmResult>) {
    let mut replica = MemoryReplica::default();
    let mut states = vec![dump(&replica.tables)];
    let mut answers = Vec::new();
    for request in requests {
        answers.push(replica.submit(request.clone()));
        states.push(dump(&replica.tables));
    }
    (states, answers)
}

/// Power loss that keeps the first `keep_bytes` unsynced bytes of the tables.
fn torn_at(keep_bytes: usize) -> CrashMode {
    CrashMode::PowerLoss {
        log: TailLoss::Drop,
        tables: TailLoss::Tear { keep_bytes },
    }
}

#[derive(Clone, Copy, Debug)]
enum CrashPoint {
    BeforeBatch,
    WrittenNotSynced(CrashMode),
    AfterSync,
}

async fn apply_range(
    applier: &Applier<impl om_server::store::Store>,
    requests: &[OmRequest],
    from: usize,
    to: usize,
) -> Vec<OmResult> {
    let mut answers = Vec::new();
    for (index, request) in (from..to).zip(&requests[from..to]) {
        let applied = applier
            .apply(Term(1), &entry(index as u64 + 1, request.clone()))
            .await;
        answers.push(applied.expect("apply"));
    }
    answers
}

/// Flushes `synced` entries durably, applies `batch` more, crashes at `point`; returns the
/// index the reopened store holds and the pending-byte count seen at the crash.
async fn crash_and_recover(synced: usize, batch: usize, point: CrashPoint) -> (usize, usize) {
    let requests = workload();
    let (states, answers) = reference(&requests);
    let disk = SimDisk::new();
    disk.inject(DiskFault::SyncLatency {
        scope: Scope::Tables,
        latency: Duration::from_millis(10),
    });
    let applier = Applier::open(disk.open(Scope::Tables).unwrap(), 1000).unwrap();
    apply_range(&applier, &requests, 0, synced).await;
    applier
        .double_buffer()
        .wait_flushed(LogIndex(synced as u64))
        .await
        .unwrap();
    apply_range(&applier, &requests, synced, synced + batch).await;
    let mut pending = 0;
    match point {
        CrashPoint::BeforeBatch => disk.crash(CrashMode::DROP_PENDING),
        CrashPoint::WrittenNotSynced(mode) => {
            for _ in 0..100 {
                if disk.stats().tables.pending_bytes > 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
            pending = disk.stats().tables.pending_bytes;
            assert!(pending > 0, "the flusher wrote the batch and waits in sync");
            disk.crash(mode);
        }
        CrashPoint::AfterSync => {
            applier
                .double_buffer()
                .wait_flushed(LogIndex((synced + batch) as u64))
                .await
                .unwrap();
            disk.crash(CrashMode::DROP_PENDING);
        }
    }
    drop(applier);

    let store = disk.open(Scope::Tables).expect("reopen after crash");
    let held = TransactionInfo::read(&store).unwrap().applied.index.0 as usize;
    let cache = TableCache::new();
    let view = CachedView {
        cache: &cache,
        store: &store,
    };
    assert_eq!(
        dump(&view),
        states[held],
        "store content matches its transaction info {held}"
    );
    assert!(
        held == synced || held == synced + batch,
        "{point:?}: held {held}: a batch is all or nothing"
    );

    // Replay what the store lacks: same final state, same answers, nothing applied twice.
    let applier = Applier::open(store, 1000).unwrap();
    assert_eq!(applier.last_applied().index, LogIndex(held as u64));
    let replayed = apply_range(&applier, &requests, held, requests.len()).await;
    assert_eq!(replayed, answers[held..], "answers after replay");
    applier
        .double_buffer()
        .wait_flushed(LogIndex(requests.len() as u64))
        .await
        .unwrap();
    let store = applier.store().clone();
    let view = CachedView {
        cache: &cache,
        store: &store,
    };
    assert_eq!(dump(&view), states[requests.len()], "state after replay");
    (held, pending)
}

#[test]
fn crash_before_the_batch_keeps_the_synced_prefix() {
    for (synced, batch) in [(0, 1), (0, 5), (4, 3), (11, 1)] {
        let (held, _) = block_on(crash_and_recover(synced, batch, CrashPoint::BeforeBatch));
        assert_eq!(held, synced);
    }
}

#[test]
fn crash_after_the_sync_keeps_the_batch() {
    for (synced, batch) in [(0, 1), (0, 12), (4, 3), (11, 1)] {
        let (held, _) = block_on(crash_and_recover(synced, batch, CrashPoint::AfterSync));
        assert_eq!(held, synced + batch);
    }
}

#[test]
fn crash_between_write_and_sync_loses_the_whole_batch() {
    for (synced, batch) in [(0, 1), (0, 12), (4, 3), (11, 1)] {
        let point = CrashPoint::WrittenNotSynced(CrashMode::DROP_PENDING);
        let (held, _) = block_on(crash_and_recover(synced, batch, point));
        assert_eq!(held, synced);
    }
}

#[test]
fn torn_batch_at_every_byte_is_all_or_nothing() {
    for (synced, batch) in [(0, 2), (4, 3), (9, 3)] {
        let everything = CrashPoint::WrittenNotSynced(torn_at(usize::MAX));
        let (held, pending) = block_on(crash_and_recover(synced, batch, everything));
        assert_eq!(
            held,
            synced + batch,
            "a batch that reached the disk whole survives"
        );
        let mut outcomes = [0usize; 2];
        for keep_bytes in 0..pending {
            let point = CrashPoint::WrittenNotSynced(torn_at(keep_bytes));
            let (held, _) = block_on(crash_and_recover(synced, batch, point));
            outcomes[usize::from(held == synced + batch)] += 1;
        }
        assert_eq!(
            outcomes,
            [pending, 0],
            "every strict prefix of the batch record is discarded"
        );
    }
}
