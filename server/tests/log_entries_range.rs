//! openraft's `try_get_log_entries` must return the whole range it asks for (the apply worker
//! reports all of it applied); only `limited_get_log_entries` (replication) may stop early.

mod common;

use om_server::raft::log_store::LogStore;
use om_server::raft::{Entry, LogId};
use om_server::store::sim_disk::SimDisk;
use om_server::store::Scope;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};

/// More than any page a reader might use internally (4096 at the time of writing).
const ENTRIES: u64 = 10_000;

fn blank(index: u64) -> Entry {
    Entry {
        log_id: LogId::new_term_index(1, index),
        payload: openraft::EntryPayload::Blank,
    }
}

/// Asserts that `entries` are exactly `expected`, in order (without printing thousands).
fn assert_indexes(entries: &[Entry], expected: impl Iterator<Item = u64>) {
    let expected: Vec<u64> = expected.collect();
    let found: Vec<u64> = entries.iter().map(|entry| entry.log_id.index).collect();
    assert_eq!(found.len(), expected.len(), "entries returned");
    let mismatch = found.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(mismatch, None, "first index out of order");
}

#[test]
fn the_whole_range_is_returned_in_order() {
    common::block_on(async {
        let disk = SimDisk::new();
        let mut log = LogStore::new(disk.open(Scope::Log).unwrap());
        log.append((0..ENTRIES).map(blank), IOFlushed::noop())
            .await
            .unwrap();

        let all = log.try_get_log_entries(0..ENTRIES).await.unwrap();
        assert_indexes(&all, 0..ENTRIES);
        let inner = log.try_get_log_entries(5..=ENTRIES - 2).await.unwrap();
        assert_indexes(&inner, 5..=ENTRIES - 2);
        let open_ended = log.try_get_log_entries(17..).await.unwrap();
        assert_indexes(&open_ended, 17..ENTRIES);

        // Replication's bounded read: a non-empty prefix of the range, in order.
        let page = log.limited_get_log_entries(3, ENTRIES).await.unwrap();
        assert!(!page.is_empty());
        assert_indexes(&page, 3..3 + page.len() as u64);
    });
}

#[test]
fn a_hole_inside_the_range_is_an_error() {
    use om_server::store::{Store, Table, TableWrite};
    common::block_on(async {
        let disk = SimDisk::new();
        let store = disk.open(Scope::Log).unwrap();
        let mut log = LogStore::new(store.clone());
        log.append((0..10).map(blank), IOFlushed::noop())
            .await
            .unwrap();
        let hole = TableWrite {
            table: Table::RaftLog,
            key: 4u64.to_be_bytes().to_vec(),
            value: None,
        };
        store.write(&[hole]).unwrap();
        let error = log.try_get_log_entries(0..10).await.unwrap_err();
        assert!(
            error.to_string().contains("hole between entries 3 and 5"),
            "{error}"
        );
    });
}
