//! The double buffer's contract: batching, back-pressure, fail-stop on a store failure, and the
//! transaction-info record read back on open.

mod common;

use common::{block_on, create_volume, entry};
use om_server::applier::Applier;
use om_server::double_buffer::{FlushPolicy, FlushState};
use om_server::om::{OmRequest, OmResponse};
use om_server::store::sim_disk::{DiskFault, SimDisk};
use om_server::store::{Scope, FORMAT_VERSION};
use om_server::types::{AppliedMark, LogIndex, Term};
use om_server::StoreError;
use std::time::Duration;

fn volume(n: u64) -> OmRequest {
    create_volume(&format!("vol{n:04}"))
}

#[test]
fn entries_arriving_during_a_flush_form_the_next_batch() {
    block_on(async {
        let disk = SimDisk::new();
        disk.inject(DiskFault::SyncLatency {
            scope: Scope::Tables,
            latency: Duration::from_millis(5),
        });
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), 10_000).unwrap();
        for index in 1..=200 {
            applier
                .apply(Term(1), &entry(index, volume(index)))
                .await
                .unwrap()
                .unwrap();
            if index % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        applier
            .double_buffer()
            .wait_flushed(LogIndex(200))
            .await
            .unwrap();
        let stats = applier.double_buffer().stats();
        assert_eq!(stats.entries, 200);
        assert!(stats.flushes < 20, "200 entries in few batches: {stats:?}");
        assert_eq!(disk.stats().tables.syncs, stats.flushes);
    });
}

/// Applies entries 1..=count one `gap` apart, waits until all are flushed; the flush count.
async fn flushes_for(policy: FlushPolicy, count: u64, gap: Duration) -> u64 {
    let disk = SimDisk::new();
    let applier = Applier::open(disk.open(Scope::Tables).unwrap(), policy).unwrap();
    for index in 1..=count {
        applier
            .apply(Term(1), &entry(index, volume(index)))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(gap).await;
    }
    (applier.double_buffer())
        .wait_flushed(LogIndex(count))
        .await
        .unwrap();
    let stats = applier.double_buffer().stats();
    assert_eq!(stats.entries, count);
    assert_eq!(disk.stats().tables.syncs, stats.flushes);
    stats.flushes
}

#[test]
fn a_flush_interval_gathers_a_trickle_into_few_batches() {
    block_on(async {
        let gap = Duration::from_millis(1);
        // Ozone's eager flusher syncs once per entry when they trickle in.
        let eager = flushes_for(FlushPolicy::eager(10_000), 100, gap).await;
        assert_eq!(eager, 100);
        let policy = FlushPolicy {
            unflushed_max: 10_000,
            interval: Duration::from_millis(25),
        };
        // 100 entries over 100 ms: a flush at the first entry, then one per 25 ms.
        let gathered = flushes_for(policy, 100, gap).await;
        assert!((4..=6).contains(&gathered), "{gathered} flushes");
    });
}

#[test]
fn a_half_full_buffer_or_a_stop_cuts_the_interval_short() {
    block_on(async {
        let disk = SimDisk::new();
        let policy = FlushPolicy {
            unflushed_max: 8,
            interval: Duration::from_secs(3600),
        };
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), policy).unwrap();
        let apply = |index| {
            let applier = &applier;
            async move {
                applier
                    .apply(Term(1), &entry(index, volume(index)))
                    .await
                    .unwrap()
                    .unwrap();
            }
        };
        apply(1).await;
        let bound = Duration::from_secs(1);
        let buffer = applier.double_buffer();
        // The first entry flushes at once; the interval then runs for an hour.
        tokio::time::timeout(bound, buffer.wait_flushed(LogIndex(1)))
            .await
            .expect("the first flush does not wait")
            .unwrap();
        for index in 2..=4 {
            apply(index).await;
        }
        assert!(
            tokio::time::timeout(bound, buffer.wait_flushed(LogIndex(4)))
                .await
                .is_err(),
            "three entries (under half of 8) wait for the interval"
        );
        // The fourth waiting entry is half the limit: apply never meets back-pressure for it.
        apply(5).await;
        tokio::time::timeout(bound, buffer.wait_flushed(LogIndex(5)))
            .await
            .expect("half the unflushed limit flushes without waiting")
            .unwrap();
        apply(6).await;
        let stopped = tokio::time::timeout(bound, buffer.stop())
            .await
            .expect("a stop does not wait out the interval");
        assert_eq!(stopped.flushed().index, LogIndex(6));
    });
}

#[test]
fn back_pressure_bounds_unflushed_entries() {
    block_on(async {
        let disk = SimDisk::new();
        disk.inject(DiskFault::SyncLatency {
            scope: Scope::Tables,
            latency: Duration::from_millis(5),
        });
        let unflushed_max = 3;
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), unflushed_max).unwrap();
        let started = om_server::clock::monotonic_now();
        for index in 1..=12 {
            applier
                .apply(Term(1), &entry(index, volume(index)))
                .await
                .unwrap()
                .unwrap();
            assert!(applier.double_buffer().unflushed() <= unflushed_max as u64);
        }
        // Applying 12 entries with 3 permits must have waited for at least 3 flushes of 5 ms.
        assert!(started.elapsed() >= Duration::from_millis(15));
        applier
            .double_buffer()
            .wait_flushed(LogIndex(12))
            .await
            .unwrap();
    });
}

#[test]
fn failed_sync_stops_the_node_and_loses_nothing_flushed() {
    block_on(async {
        let disk = SimDisk::new();
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), 10).unwrap();
        applier
            .apply(Term(1), &entry(1, volume(1)))
            .await
            .unwrap()
            .unwrap();
        applier
            .double_buffer()
            .wait_flushed(LogIndex(1))
            .await
            .unwrap();

        disk.inject(DiskFault::FailNextSync {
            scope: Scope::Tables,
            keep_pending: false,
        });
        applier
            .apply(Term(1), &entry(2, volume(2)))
            .await
            .unwrap()
            .unwrap();
        let waited = applier.double_buffer().wait_flushed(LogIndex(2)).await;
        assert_eq!(waited, Err(StoreError::Io("injected sync failure".into())));
        let state = applier.double_buffer().state();
        let FlushState::Failed { flushed, .. } = &state else {
            panic!("{state:?}")
        };
        assert_eq!(
            flushed.index,
            LogIndex(1),
            "the failed batch is not reported flushed"
        );
        // Fail-stop: no later entry is accepted, even though the fault has passed.
        let refused = applier.apply(Term(1), &entry(3, volume(3))).await;
        assert!(matches!(refused, Err(StoreError::Io(_))), "{refused:?}");
        assert_eq!(applier.double_buffer().stop().await, state);
    });
}

#[test]
fn failed_write_stops_the_node() {
    block_on(async {
        let disk = SimDisk::new();
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), 10).unwrap();
        disk.inject(DiskFault::FailNextWrite {
            scope: Scope::Tables,
        });
        applier
            .apply(Term(1), &entry(1, volume(1)))
            .await
            .unwrap()
            .unwrap();
        let waited = applier.double_buffer().wait_flushed(LogIndex(1)).await;
        assert_eq!(waited, Err(StoreError::Io("injected write failure".into())));
        assert_eq!(applier.double_buffer().flushed_index(), LogIndex(0));
    });
}

#[test]
fn reopen_reads_the_last_flushed_entry_and_membership() {
    block_on(async {
        let disk = SimDisk::new();
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), 10).unwrap();
        applier
            .apply(Term(1), &entry(1, volume(1)))
            .await
            .unwrap()
            .unwrap();
        let mark = AppliedMark {
            term: Term(2),
            index: LogIndex(2),
        };
        applier
            .apply_marker(mark, Some(b"members:1,2,3".to_vec()))
            .await
            .unwrap();
        applier
            .apply(Term(2), &entry(3, volume(3)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            applier.double_buffer().stop().await,
            FlushState::Stopped {
                flushed: AppliedMark {
                    term: Term(2),
                    index: LogIndex(3)
                }
            }
        );

        let reopened = Applier::open(disk.open(Scope::Tables).unwrap(), 10).unwrap();
        assert_eq!(
            reopened.last_applied(),
            AppliedMark {
                term: Term(2),
                index: LogIndex(3)
            }
        );
        let info = om_server::transaction_info::TransactionInfo::read(reopened.store()).unwrap();
        assert_eq!(info.membership.as_deref(), Some(&b"members:1,2,3"[..]));
        let read = reopened
            .read(&OmRequest::VolumeInfo {
                volume: "vol0003".into(),
            })
            .unwrap();
        assert!(matches!(read, Ok(OmResponse::Volume(_))));
    });
}

#[test]
fn unknown_format_version_is_refused() {
    let disk = SimDisk::formatted_for_test(99);
    let refused = disk.open(Scope::Tables).err();
    assert_eq!(
        refused,
        Some(StoreError::UnsupportedFormat {
            found: 99,
            supported: FORMAT_VERSION
        })
    );
    assert_eq!(
        refused.unwrap().to_string(),
        format!(
            "store format version 99 is not supported (this build reads version {FORMAT_VERSION})"
        )
    );
}

#[cfg(not(madsim))]
mod sled {
    use super::*;
    use om_server::store::sled::SledStore;
    use om_server::store::Store;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let directory = std::env::temp_dir().join(format!("om-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        directory
    }

    #[test]
    fn sled_store_survives_restart_with_its_applied_index() {
        let directory = temp_dir("restart");
        block_on(async {
            let applier = Applier::open(SledStore::open(&directory).unwrap(), 100).unwrap();
            for index in 1..=20 {
                applier
                    .apply(Term(1), &entry(index, volume(index)))
                    .await
                    .unwrap()
                    .unwrap();
            }
            applier.double_buffer().stop().await;
            applier.store().close().await.unwrap();
        });
        block_on(async {
            let applier = Applier::open(SledStore::open(&directory).unwrap(), 100).unwrap();
            assert_eq!(applier.last_applied().index, LogIndex(20));
            let listed = applier.read(&OmRequest::ListVolumes {
                prefix: "vol".into(),
                start: "vol0010".into(),
                max: 5,
            });
            let Ok(Ok(OmResponse::Volumes(volumes))) = listed else {
                panic!("{listed:?}")
            };
            let names: Vec<_> = volumes.iter().map(|volume| volume.name.as_str()).collect();
            assert_eq!(
                names,
                ["vol0011", "vol0012", "vol0013", "vol0014", "vol0015"]
            );
        });
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn sled_refuses_an_unknown_format_version() {
        let directory = temp_dir("format");
        let store = SledStore::open(&directory).unwrap();
        store.write_format_version_for_test(7).unwrap();
        store.close_blocking().unwrap();
        let refused = SledStore::open(&directory).err();
        assert_eq!(
            refused,
            Some(StoreError::UnsupportedFormat {
                found: 7,
                supported: FORMAT_VERSION
            })
        );
        let _ = std::fs::remove_dir_all(&directory);
    }
}
