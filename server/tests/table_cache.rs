//! Reads through the table cache: applied writes are visible before they are flushed, applied
//! deletes hide stored rows, and lists merge cache and store (cache wins, tombstones hide).

mod common;

use common::{block_on, commit_key, create_bucket, create_volume, entry, open_key};
use om_server::applier::Applier;
use om_server::om::view::MemoryTables;
use om_server::om::{MetadataView, OmRequest, OmResponse};
use om_server::store::sim_disk::{DiskFault, SimDisk};
use om_server::store::{Scope, Store, Table, TableWrite};
use om_server::table_cache::{CachedView, TableCache};
use om_server::types::{LogIndex, Term};
use om_server::OmError;
use proptest::prelude::*;
use std::time::Duration;

fn write() -> impl Strategy<Value = TableWrite> {
    let key = proptest::collection::vec(proptest::sample::select(vec![b'a', b'b', b'c']), 0..3);
    let value = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..2));
    (
        proptest::sample::select(vec![Table::Keys, Table::OpenKeys]),
        key,
        value,
    )
        .prop_map(|(table, key, value)| TableWrite { table, key, value })
}

proptest! {
    /// Entries 1..=flushed are in the store (and evicted); the rest only in the cache. Every
    /// get and every (prefix, after, limit) scan equals the same writes applied to one map.
    #[test]
    fn cached_view_equals_all_writes_applied(
        epochs in proptest::collection::vec(proptest::collection::vec(write(), 0..4), 1..12),
        flushed_fraction in 0.0f64..=1.0,
        probes in proptest::collection::vec((any::<bool>(), proptest::collection::vec(proptest::sample::select(vec![b'a', b'b', b'c']), 0..3), proptest::option::of(proptest::collection::vec(proptest::sample::select(vec![b'a', b'b', b'c']), 0..3)), 0usize..5), 1..20),
    ) {
        let disk = SimDisk::new();
        let store = disk.open(Scope::Tables).unwrap();
        let cache = TableCache::new();
        let mut expected = MemoryTables::default();
        let flushed = (epochs.len() as f64 * flushed_fraction) as usize;
        for (position, writes) in epochs.iter().enumerate() {
            let epoch = LogIndex(position as u64 + 1);
            cache.put(epoch, writes);
            expected.write(writes);
            if position < flushed {
                store.write(writes).unwrap();
                cache.evict_flushed(epoch);
            }
        }
        let view = CachedView { cache: &cache, store: &store };
        for (keys_table, prefix, after, limit) in probes {
            let table = if keys_table { Table::Keys } else { Table::OpenKeys };
            prop_assert_eq!(view.get(table, &prefix).unwrap(), expected.get(table, &prefix).unwrap());
            let scanned = view.scan(table, &prefix, after.as_deref(), limit).unwrap();
            prop_assert_eq!(scanned, expected.scan(table, &prefix, after.as_deref(), limit).unwrap());
        }
    }
}

#[test]
fn eviction_keeps_rows_rewritten_by_later_epochs() {
    let cache = TableCache::new();
    let put = |epoch: u64, value: Option<&[u8]>| {
        let write = TableWrite {
            table: Table::Keys,
            key: b"k".to_vec(),
            value: value.map(<[u8]>::to_vec),
        };
        cache.put(LogIndex(epoch), &[write]);
    };
    put(1, Some(b"one"));
    put(2, Some(b"two"));
    put(3, None);
    cache.evict_flushed(LogIndex(2));
    assert_eq!(
        cache.get(Table::Keys, b"k"),
        om_server::table_cache::CacheLookup::Hit(None)
    );
    assert_eq!(cache.oldest_epoch(), Some(LogIndex(3)));
    cache.evict_flushed(LogIndex(3));
    assert!(cache.is_empty());
}

fn key_names(response: OmResponse) -> Vec<String> {
    match response {
        OmResponse::Keys(keys) => keys.into_iter().map(|key| key.name).collect(),
        other => panic!("not a key list: {other:?}"),
    }
}

fn list(applier: &Applier<impl Store>, prefix: &str, start: &str, max: usize) -> Vec<String> {
    let request = OmRequest::ListKeys {
        volume: "vol".into(),
        bucket: "buck".into(),
        prefix: prefix.into(),
        start: start.into(),
        max,
    };
    key_names(applier.read(&request).unwrap().unwrap())
}

/// Through the whole apply pipeline, with a slow disk so that later entries stay unflushed.
#[test]
fn reads_during_unflushed_periods() {
    block_on(async {
        let disk = SimDisk::new();
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), 100).unwrap();
        let mut index = 0;
        let mut submit = |request: OmRequest| {
            index += 1;
            entry(index, request)
        };
        let mut setup = vec![create_volume("vol"), create_bucket("vol", "buck")];
        for (n, name) in ["a1", "a2", "a3", "b1", "b2"].iter().enumerate() {
            setup.push(open_key("vol", "buck", name, 1));
            setup.push(commit_key("vol", "buck", name, 2 * n as u64 + 3, 1));
        }
        for request in setup {
            let answer = applier.apply(Term(1), &submit(request)).await.unwrap();
            assert!(answer.is_ok(), "{answer:?}");
        }
        let flushed = applier
            .double_buffer()
            .wait_flushed(LogIndex(12))
            .await
            .unwrap();
        assert_eq!(flushed.index, LogIndex(12));
        assert!(
            applier.cache().is_empty(),
            "flushed entries leave the cache"
        );

        // From now on every sync takes an hour: nothing more reaches the store.
        disk.inject(DiskFault::SyncLatency {
            scope: Scope::Tables,
            latency: Duration::from_secs(3600),
        });
        let delete = OmRequest::DeleteKey {
            volume: "vol".into(),
            bucket: "buck".into(),
            key: "a2".into(),
        };
        assert_eq!(
            applier.apply(Term(1), &submit(delete)).await.unwrap(),
            Ok(OmResponse::Done)
        );
        assert!(applier
            .apply(Term(1), &submit(open_key("vol", "buck", "a25", 1)))
            .await
            .unwrap()
            .is_ok());
        assert!(applier
            .apply(Term(1), &submit(commit_key("vol", "buck", "a25", 14, 1)))
            .await
            .unwrap()
            .is_ok());
        tokio::task::yield_now().await;
        assert_eq!(applier.double_buffer().flushed_index(), LogIndex(12));
        assert!(!applier.cache().is_empty());

        let lookup = |key: &str| OmRequest::LookupKey {
            volume: "vol".into(),
            bucket: "buck".into(),
            key: key.into(),
        };
        assert_eq!(
            applier.read(&lookup("a2")).unwrap(),
            Err(OmError::KeyNotFound)
        );
        assert!(matches!(
            applier.read(&lookup("a25")).unwrap(),
            Ok(OmResponse::Key(_))
        ));
        assert_eq!(list(&applier, "", "", 100), ["a1", "a25", "a3", "b1", "b2"]);
        assert_eq!(list(&applier, "a", "", 100), ["a1", "a25", "a3"]);
        assert_eq!(list(&applier, "a", "a1", 100), ["a25", "a3"]);
        assert_eq!(list(&applier, "", "a1", 2), ["a25", "a3"]);
        assert_eq!(list(&applier, "", "", 1), ["a1"]);
        assert_eq!(list(&applier, "b", "b2", 10), Vec::<String>::new());
        assert_eq!(list(&applier, "", "", 0), Vec::<String>::new());
        let bucket = OmRequest::BucketInfo {
            volume: "vol".into(),
            bucket: "buck".into(),
        };
        let Ok(OmResponse::Bucket(info)) = applier.read(&bucket).unwrap() else {
            panic!()
        };
        assert_eq!(info.used_namespace, 5);
        assert_eq!(info.used_bytes, 15);
    });
}
