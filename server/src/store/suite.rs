//! Conformance suite every `Store` backend passes: random operation sequences against a
//! `BTreeMap` model, including reopen after an unsynced tail (which may keep any prefix of the
//! unsynced batches, never a part of one).

use super::{Store, StoreImage, Table, TableWrite};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Bound;

type Model = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

const TABLES: [Table; 3] = [Table::Volumes, Table::Keys, Table::RaftLog];

#[derive(Clone, Debug)]
pub enum StoreOp {
    Write(Vec<TableWrite>),
    Sync,
    Get(Table, Vec<u8>),
    Scan {
        table: Table,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        limit: usize,
    },
    ScanPrefix {
        table: Table,
        prefix: Vec<u8>,
        after: Option<Vec<u8>>,
        limit: usize,
    },
    Export(Vec<Table>),
    Import(StoreImage),
    Reopen,
}

/// How the suite reaches a backend: the store, and a way to close and reopen it.
pub trait Backend {
    type Store: Store;
    fn store(&self) -> Self::Store;
    fn reopen(&mut self);
}

fn table() -> impl Strategy<Value = Table> {
    proptest::sample::select(TABLES.to_vec())
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(proptest::sample::select(vec![0u8, b'a', b'b', 0xff]), 0..3)
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Bound::Unbounded),
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
    ]
}

fn table_write() -> impl Strategy<Value = TableWrite> {
    (table(), key(), proptest::option::of(key())).prop_map(|(table, key, value)| TableWrite {
        table,
        key,
        value,
    })
}

fn image() -> impl Strategy<Value = StoreImage> {
    let rows = proptest::collection::btree_map((table(), key()), key(), 0..4);
    (proptest::sample::subsequence(TABLES.to_vec(), 0..=3), rows).prop_map(|(tables, rows)| {
        let rows = (rows.into_iter())
            .filter(|((table, _), _)| tables.contains(table))
            .map(|((table, key), value)| (table, key, value))
            .collect();
        StoreImage { tables, rows }
    })
}

pub fn store_op() -> impl Strategy<Value = StoreOp> {
    prop_oneof![
        4 => proptest::collection::vec(table_write(), 0..4).prop_map(StoreOp::Write),
        2 => Just(StoreOp::Sync),
        2 => (table(), key()).prop_map(|(table, key)| StoreOp::Get(table, key)),
        2 => (table(), bound(), bound(), 0usize..4).prop_map(|(table, start, end, limit)| {
            StoreOp::Scan { table, start, end, limit }
        }),
        2 => (table(), key(), proptest::option::of(key()), 0usize..4).prop_map(
            |(table, prefix, after, limit)| StoreOp::ScanPrefix { table, prefix, after, limit }
        ),
        1 => proptest::sample::subsequence(TABLES.to_vec(), 0..=3).prop_map(StoreOp::Export),
        1 => image().prop_map(StoreOp::Import),
        1 => Just(StoreOp::Reopen),
    ]
}

fn model_scan(
    model: &Model,
    table: Table,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    (model.iter())
        .filter(|((row_table, key), _)| *row_table == table && in_bounds(key, start, end))
        .map(|((_, key), value)| (key.clone(), value.clone()))
        .collect()
}

fn in_bounds(key: &[u8], start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    let after_start = match start {
        Bound::Included(start) => key >= start,
        Bound::Excluded(start) => key > start,
        Bound::Unbounded => true,
    };
    let before_end = match end {
        Bound::Included(end) => key <= end,
        Bound::Excluded(end) => key < end,
        Bound::Unbounded => true,
    };
    after_start && before_end
}

fn model_write(model: &mut Model, batch: &[TableWrite]) {
    for write in batch {
        let row = (write.table, write.key.clone());
        match &write.value {
            Some(value) => model.insert(row, value.clone()),
            None => model.remove(&row),
        };
    }
}

fn model_import(model: &mut Model, image: &StoreImage) {
    model.retain(|(table, _), _| !image.tables.contains(table));
    for (table, key, value) in &image.rows {
        model.insert((*table, key.clone()), value.clone());
    }
}

fn full_state<S: Store>(store: &S) -> Model {
    let image = store.export(&TABLES).expect("export");
    (image.rows.into_iter())
        .map(|(table, key, value)| ((table, key), value))
        .collect()
}

/// Runs `ops`; panics (failing the property) on the first divergence from the model.
pub async fn check_sequence<B: Backend>(backend: &mut B, ops: &[StoreOp]) {
    let mut model = Model::new();
    let mut durable = Model::new();
    // Mutations since the last sync, as closures over the model: any prefix may survive.
    let mut unsynced: Vec<StoreOp> = Vec::new();
    for op in ops {
        let store = backend.store();
        match op {
            StoreOp::Write(batch) => {
                store.write(batch).expect("write");
                model_write(&mut model, batch);
                unsynced.push(op.clone());
            }
            StoreOp::Import(image) => {
                store.import(image).expect("import");
                model_import(&mut model, image);
                unsynced.push(op.clone());
            }
            StoreOp::Sync => {
                store.sync().await.expect("sync");
                durable = model.clone();
                unsynced.clear();
            }
            StoreOp::Get(table, key) => {
                let expected = model.get(&(*table, key.clone())).cloned();
                assert_eq!(
                    store.get(*table, key).expect("get"),
                    expected,
                    "get {table:?} {key:?}"
                );
            }
            StoreOp::Scan {
                table,
                start,
                end,
                limit,
            } => {
                let start = start.as_ref().map(Vec::as_slice);
                let end = end.as_ref().map(Vec::as_slice);
                let mut expected = model_scan(&model, *table, start, end);
                expected.truncate(*limit);
                let rows = store.scan(*table, start, end, *limit).expect("scan");
                assert_eq!(
                    rows, expected,
                    "scan {table:?} {start:?}..{end:?} limit {limit}"
                );
            }
            StoreOp::ScanPrefix {
                table,
                prefix,
                after,
                limit,
            } => {
                let mut expected: Vec<_> =
                    model_scan(&model, *table, Bound::Unbounded, Bound::Unbounded)
                        .into_iter()
                        .filter(|(key, _)| key.starts_with(prefix))
                        .filter(|(key, _)| after.as_ref().is_none_or(|after| key > after))
                        .collect();
                expected.truncate(*limit);
                let rows = store
                    .scan_prefix(*table, prefix, after.as_deref(), *limit)
                    .expect("scan");
                assert_eq!(
                    rows, expected,
                    "scan_prefix {table:?} {prefix:?} after {after:?}"
                );
            }
            StoreOp::Export(tables) => {
                let image = store.export(tables).expect("export");
                let expected: Vec<_> = (model.iter())
                    .filter(|((table, _), _)| tables.contains(table))
                    .map(|((table, key), value)| (*table, key.clone(), value.clone()))
                    .collect();
                assert_eq!(image.rows, expected, "export {tables:?}");
            }
            StoreOp::Reopen => {
                drop(store);
                backend.reopen();
                let observed = full_state(&backend.store());
                model = surviving_prefix(&durable, &unsynced, &observed);
                durable = model.clone();
                unsynced.clear();
            }
        }
    }
}

/// The state after some prefix of `unsynced` on top of `durable` equal to `observed`.
fn surviving_prefix(durable: &Model, unsynced: &[StoreOp], observed: &Model) -> Model {
    let mut candidate = durable.clone();
    let mut candidates = vec![candidate.clone()];
    for op in unsynced {
        match op {
            StoreOp::Write(batch) => model_write(&mut candidate, batch),
            StoreOp::Import(image) => model_import(&mut candidate, image),
            _ => unreachable!("only mutations are unsynced"),
        }
        candidates.push(candidate.clone());
    }
    let found = candidates.into_iter().find(|candidate| {
        let visible: Model = (candidate.iter())
            .filter(|((table, _), _)| TABLES.contains(table))
            .map(|(row, value)| (row.clone(), value.clone()))
            .collect();
        &visible == observed
    });
    found.unwrap_or_else(|| {
        panic!("after reopen the store holds {observed:?}: not the durable state plus a prefix of {} unsynced mutations", unsynced.len())
    })
}

/// Runs a future to completion on a fresh runtime of the build's kind.
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(madsim)]
    {
        madsim::runtime::Runtime::new().block_on(future)
    }
    #[cfg(not(madsim))]
    {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future)
    }
}

mod sim_disk_backend {
    use super::*;
    use crate::store::sim_disk::{CrashMode, SimDisk, SimDiskStore};

    struct SimDiskBackend {
        disk: SimDisk,
        store: SimDiskStore,
    }

    impl Backend for SimDiskBackend {
        type Store = SimDiskStore;
        fn store(&self) -> SimDiskStore {
            self.store.clone()
        }
        fn reopen(&mut self) {
            self.disk.crash(CrashMode::DropPending);
            self.store = self.disk.open().expect("reopen");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn sim_disk_conforms(ops in proptest::collection::vec(store_op(), 1..40)) {
            let disk = SimDisk::new();
            let store = disk.open().expect("open");
            let mut backend = SimDiskBackend { disk, store };
            block_on(check_sequence(&mut backend, &ops));
        }
    }
}

#[cfg(not(madsim))]
mod sled_backend {
    use super::*;
    use crate::store::sled::SledStore;

    struct SledBackend {
        directory: std::path::PathBuf,
        store: Option<SledStore>,
    }

    impl Backend for SledBackend {
        type Store = SledStore;
        fn store(&self) -> SledStore {
            self.store.clone().expect("open")
        }
        fn reopen(&mut self) {
            self.store = None;
            self.store = Some(SledStore::open(&self.directory).expect("reopen"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn sled_conforms(ops in proptest::collection::vec(store_op(), 1..40)) {
            let directory = crate::testing::temp_dir("sled-suite");
            let store = Some(SledStore::open(&directory).expect("open"));
            let mut backend = SledBackend { directory: directory.clone(), store };
            block_on(check_sequence(&mut backend, &ops));
            drop(backend);
            let _ = std::fs::remove_dir_all(&directory);
        }
    }
}
