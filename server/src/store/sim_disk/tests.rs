//! The simulated disk's fault model: separate sync scopes, failed syncs and writes that poison
//! their scope, process crash vs power loss, and crashes armed at disk events.

use super::*;
use crate::store::FORMAT_VERSION;
use proptest::prelude::*;
use std::future::Future;

/// Runs `future` with virtual time (madsim's, or tokio's paused clock).
fn run<F: Future>(future: F) -> F::Output {
    #[cfg(madsim)]
    {
        madsim::runtime::Runtime::new().block_on(future)
    }
    #[cfg(not(madsim))]
    {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime")
            .block_on(future)
    }
}

fn put(key: &str) -> Vec<TableWrite> {
    vec![TableWrite {
        table: Table::Volumes,
        key: key.as_bytes().to_vec(),
        value: Some(key.as_bytes().to_vec()),
    }]
}

fn keys(store: &SimDiskStore) -> Vec<String> {
    let rows = store.scan(
        Table::Volumes,
        Bound::Unbounded,
        Bound::Unbounded,
        usize::MAX,
    );
    (rows.expect("scan").into_iter())
        .map(|(key, _)| String::from_utf8(key).expect("utf-8"))
        .collect()
}

fn open_both(disk: &SimDisk) -> (SimDiskStore, SimDiskStore) {
    (
        disk.open(Scope::Log).expect("open log"),
        disk.open(Scope::Tables).expect("open tables"),
    )
}

const INJECTED_SYNC: &str = "injected sync failure";

#[test]
fn a_sync_of_one_scope_makes_nothing_of_the_other_durable() {
    run(async {
        for synced in Scope::ALL {
            let disk = SimDisk::new();
            let (log, tables) = open_both(&disk);
            log.write(&put("log")).unwrap();
            tables.write(&put("tables")).unwrap();
            let store = disk.open(synced).unwrap();
            store.sync().await.unwrap();
            disk.crash(CrashMode::DROP_PENDING);
            let (log, tables) = open_both(&disk);
            let expected = |scope: Scope, key: &str| match scope == synced {
                true => vec![key.to_string()],
                false => Vec::new(),
            };
            assert_eq!(keys(&log), expected(Scope::Log, "log"), "synced {synced:?}");
            assert_eq!(
                keys(&tables),
                expected(Scope::Tables, "tables"),
                "synced {synced:?}"
            );
        }
    });
}

#[test]
fn a_failed_sync_drops_pending_and_poisons_its_scope_until_a_crash() {
    run(async {
        let disk = SimDisk::new();
        let (log, tables) = open_both(&disk);
        tables.write(&put("a")).unwrap();
        tables.sync().await.unwrap();
        tables.write(&put("b")).unwrap();
        disk.inject(DiskFault::FailNextSync {
            scope: Scope::Tables,
            keep_pending: false,
        });
        assert_eq!(
            tables.sync().await,
            Err(StoreError::Io(INJECTED_SYNC.into()))
        );
        assert_eq!(
            keys(&tables),
            ["a"],
            "the dropped pages are gone for reads too"
        );
        let poisoned = Err(StoreError::Io(format!(
            "store failed earlier and is stopped: store I/O error: {INJECTED_SYNC}"
        )));
        assert_eq!(tables.write(&put("c")), poisoned);
        assert_eq!(tables.sync().await, poisoned);
        let image = StoreImage {
            tables: vec![Table::Volumes],
            rows: Vec::new(),
        };
        assert_eq!(tables.import(&image), poisoned);
        assert_eq!(keys(&tables), ["a"]);
        // Another handle of the same opening is poisoned too; the other scope is not.
        assert_eq!(disk.open(Scope::Tables).unwrap().write(&put("d")), poisoned);
        log.write(&put("log")).unwrap();
        log.sync().await.unwrap();
        let stats = disk.stats();
        assert!(stats.tables.poisoned && !stats.log.poisoned, "{stats:?}");
        assert_eq!((stats.tables.failed_syncs, stats.log.failed_syncs), (1, 0));

        disk.crash(CrashMode::ProcessCrash);
        let (log, tables) = open_both(&disk);
        assert_eq!(keys(&tables), ["a"]);
        assert_eq!(keys(&log), ["log"]);
        tables.write(&put("e")).unwrap();
        tables.sync().await.unwrap();
        assert_eq!(keys(&tables), ["a", "e"]);
        assert!(!disk.stats().tables.poisoned);
    });
}

#[test]
fn a_failed_sync_that_keeps_pending_survives_a_process_crash_only() {
    run(async {
        for power_loss_first in [false, true] {
            let disk = SimDisk::new();
            let log = disk.open(Scope::Log).unwrap();
            log.write(&put("a")).unwrap();
            disk.inject(DiskFault::FailNextSync {
                scope: Scope::Log,
                keep_pending: true,
            });
            assert!(log.sync().await.is_err());
            assert_eq!(keys(&log), ["a"], "the page cache still holds it");
            assert!(log.write(&put("b")).is_err(), "poisoned");
            if power_loss_first {
                disk.crash(CrashMode::DROP_PENDING);
                assert!(keys(&disk.open(Scope::Log).unwrap()).is_empty());
                continue;
            }
            disk.crash(CrashMode::ProcessCrash);
            let log = disk.open(Scope::Log).unwrap();
            assert_eq!(keys(&log), ["a"]);
            // Still unsynced: the restarted process's sync makes it durable.
            assert!(disk.stats().log.pending_bytes > 0);
            log.sync().await.unwrap();
            disk.crash(CrashMode::DROP_PENDING);
            assert_eq!(keys(&disk.open(Scope::Log).unwrap()), ["a"]);
        }
    });
}

#[test]
fn a_failed_write_writes_nothing_and_poisons_its_scope() {
    run(async {
        let disk = SimDisk::new();
        let (log, tables) = open_both(&disk);
        disk.inject(DiskFault::FailNextWrite { scope: Scope::Log });
        tables.write(&put("t")).unwrap();
        assert_eq!(
            log.write(&put("a")),
            Err(StoreError::Io("injected write failure".into()))
        );
        assert!(keys(&log).is_empty());
        assert!(log.write(&put("b")).is_err());
        assert!(log.sync().await.is_err());
        tables.sync().await.unwrap();
        let stats = disk.stats();
        assert_eq!((stats.log.failed_writes, stats.log.writes), (1, 0));
        assert_eq!((stats.tables.failed_writes, stats.tables.writes), (0, 1));
        disk.crash(CrashMode::ProcessCrash);
        let log = disk.open(Scope::Log).unwrap();
        log.write(&put("c")).unwrap();
        assert_eq!(keys(&log), ["c"]);
    });
}

#[test]
fn a_process_crash_keeps_pending_bytes_readable_and_unsynced() {
    run(async {
        let disk = SimDisk::new();
        let (log, tables) = open_both(&disk);
        log.write(&put("a")).unwrap();
        tables.write(&put("b")).unwrap();
        let pending = disk.stats();
        disk.crash(CrashMode::ProcessCrash);
        assert_eq!(log.write(&put("dead")), Err(StoreError::Closed));
        assert_eq!(tables.get(Table::Volumes, b"b"), Err(StoreError::Closed));
        let (log, tables) = open_both(&disk);
        assert_eq!(
            (keys(&log), keys(&tables)),
            (vec!["a".into()], vec!["b".into()])
        );
        let after = disk.stats();
        assert_eq!(after.log.pending_bytes, pending.log.pending_bytes);
        assert_eq!(after.tables.pending_bytes, pending.tables.pending_bytes);
        // A power loss before anyone syncs still loses them.
        disk.crash(CrashMode::DROP_PENDING);
        let (log, tables) = open_both(&disk);
        assert!(keys(&log).is_empty() && keys(&tables).is_empty());
    });
}

#[test]
fn a_power_loss_tears_each_scope_at_its_own_byte() {
    run(async {
        let disk = SimDisk::new();
        let (log, tables) = open_both(&disk);
        log.write(&put("a")).unwrap();
        tables.write(&put("b")).unwrap();
        let record = disk.stats().log.pending_bytes;
        disk.crash(CrashMode::PowerLoss {
            log: TailLoss::Tear { keep_bytes: record },
            tables: TailLoss::Tear {
                keep_bytes: record - 1,
            },
        });
        let (log, tables) = open_both(&disk);
        assert_eq!(keys(&log), ["a"], "a whole record reached the platter");
        assert!(keys(&tables).is_empty(), "a torn record is discarded");
    });
}

#[test]
fn sync_latency_slows_only_its_scope() {
    run(async {
        let disk = SimDisk::new();
        let (log, tables) = open_both(&disk);
        disk.inject(DiskFault::SyncLatency {
            scope: Scope::Log,
            latency: Duration::from_secs(3600),
        });
        let limit = Duration::from_secs(1);
        assert!(tokio::time::timeout(limit, tables.sync()).await.is_ok());
        assert!(tokio::time::timeout(limit, log.sync()).await.is_err());
        disk.clear_faults();
        assert!(tokio::time::timeout(limit, log.sync()).await.is_ok());
    });
}

#[test]
fn an_armed_crash_between_a_write_and_its_sync_loses_the_write() {
    run(async {
        for (mode, survives) in [
            (CrashMode::DROP_PENDING, false),
            (CrashMode::ProcessCrash, true),
        ] {
            let disk = SimDisk::new();
            let (log, tables) = open_both(&disk);
            log.write(&put("synced")).unwrap();
            log.sync().await.unwrap();
            let trigger = CrashTrigger::Sync {
                scope: Scope::Log,
                nth: 2,
            };
            disk.arm_crash(trigger, mode);
            // Syncs of the other scope do not count.
            tables.sync().await.unwrap();
            log.write(&put("first")).unwrap();
            log.sync().await.unwrap();
            log.write(&put("second")).unwrap();
            assert_eq!(disk.tripped(), None);
            let pending = disk.stats().log.pending_bytes;
            assert_eq!(log.sync().await, Err(StoreError::Closed));
            let trip = DiskTrip {
                trigger,
                mode,
                pending_bytes: [pending, 0],
            };
            assert_eq!(disk.tripped(), Some(trip));
            assert_eq!(tables.write(&put("dead")), Err(StoreError::Closed));
            let stats = disk.stats();
            assert_eq!((stats.crashes, stats.trips), (1, 1));

            // The harness kills the node: nothing more happens to the disk.
            disk.crash(CrashMode::ProcessCrash);
            assert_eq!(disk.tripped(), None);
            let log = disk.open(Scope::Log).unwrap();
            let expected: &[&str] = match survives {
                true => &["first", "second", "synced"],
                false => &["first", "synced"],
            };
            assert_eq!(keys(&log), expected, "{mode:?}");
        }
    });
}

#[test]
fn an_armed_crash_stays_armed_across_crashes_until_it_fires() {
    run(async {
        let disk = SimDisk::new();
        let trigger = CrashTrigger::Write {
            scope: Scope::Tables,
            nth: 2,
        };
        disk.arm_crash(trigger, CrashMode::DROP_PENDING);
        let tables = disk.open(Scope::Tables).unwrap();
        tables.write(&put("a")).unwrap();
        disk.crash(CrashMode::ProcessCrash);
        let tables = disk.open(Scope::Tables).unwrap();
        assert_eq!(tables.write(&put("b")), Err(StoreError::Closed));
        assert!(disk.tripped().is_some());
        let tables = disk.open(Scope::Tables).unwrap();
        tables.write(&put("c")).unwrap();
        assert_eq!(disk.stats().trips, 1, "it fired once");
    });
}

#[test]
fn an_unknown_format_version_is_refused_in_both_scopes() {
    let disk = SimDisk::formatted_for_test(FORMAT_VERSION + 1);
    for scope in Scope::ALL {
        assert_eq!(
            disk.open(scope).err(),
            Some(StoreError::UnsupportedFormat {
                found: FORMAT_VERSION + 1,
                supported: FORMAT_VERSION,
            })
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// A crash armed at the k-th write tears the unsynced tail at a chosen byte: recovery holds
    /// the synced batches plus a prefix of whole unsynced ones, never a part of one, and the k-th
    /// batch only if every byte of it was kept.
    #[test]
    fn an_armed_crash_at_the_kth_write_leaves_a_prefix_of_whole_batches(
        syncs in proptest::collection::vec(any::<bool>(), 1..12),
        nth_fraction in 0.0f64..1.0,
        keep_bytes in 0usize..600,
    ) {
        run(async {
            let disk = SimDisk::new();
            let tables = disk.open(Scope::Tables).unwrap();
            let nth = 1 + (nth_fraction * syncs.len() as f64) as u64;
            let mode = CrashMode::PowerLoss {
                log: TailLoss::Drop,
                tables: TailLoss::Tear { keep_bytes },
            };
            disk.arm_crash(CrashTrigger::Write { scope: Scope::Tables, nth }, mode);
            let mut durable = 0;
            let mut unsynced_before = 0;
            for (number, sync) in (1..).zip(&syncs) {
                let pending = disk.stats().tables.pending_bytes;
                let written = tables.write(&put(&format!("{number:02}")));
                if number == nth {
                    assert_eq!(written, Err(StoreError::Closed));
                    unsynced_before = pending;
                    break;
                }
                written.unwrap();
                if *sync {
                    tables.sync().await.unwrap();
                    durable = number;
                }
            }
            assert!(disk.tripped().is_some());
            let record_bytes = encoded_batch_bytes(&put(&format!("{nth:02}")));
            let reopened = disk.open(Scope::Tables).unwrap();
            let held = keys(&reopened);
            let expected_all: Vec<String> = (1..=nth).map(|n| format!("{n:02}")).collect();
            assert!(held.len() as u64 >= durable, "synced batches survive: {held:?}");
            assert_eq!(held, expected_all[..held.len()], "a prefix of whole batches");
            let kth_kept = keep_bytes >= unsynced_before + record_bytes;
            assert_eq!(held.len() as u64 == nth, kth_kept, "keep {keep_bytes} of {unsynced_before} + {record_bytes}");
        });
    }
}

fn encoded_batch_bytes(batch: &[TableWrite]) -> usize {
    journal::encode_record(&Record::Batch(batch.to_vec())).len()
}
