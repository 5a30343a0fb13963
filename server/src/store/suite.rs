//! Conformance suite every `Store` backend passes: random operation sequences on a node's two
//! stores (log and tables) against a `BTreeMap` model per scope, including reopen after a crash.
//! Any backend may keep any prefix of a scope's unsynced mutations, never a part of one. A
//! backend that simulates crashes must obey the crash exactly: a process crash keeps every
//! unsynced mutation, a power loss that drops keeps none, and a sync of one scope makes nothing
//! of the other durable. Injected faults poison a scope until the next reopen.

use super::sim_disk::{CrashMode, DiskFault, TailLoss};
use super::{Scope, Store, StoreImage, Table, TableWrite};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Bound;

type Model = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

const TABLES: [Table; 3] = [Table::Volumes, Table::Keys, Table::RaftLog];

#[derive(Clone, Debug)]
pub enum StoreOp {
    Write(Scope, Vec<TableWrite>),
    Sync(Scope),
    Get(Scope, Table, Vec<u8>),
    Scan {
        scope: Scope,
        table: Table,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        limit: usize,
    },
    ScanPrefix {
        scope: Scope,
        table: Table,
        prefix: Vec<u8>,
        after: Option<Vec<u8>>,
        limit: usize,
    },
    Export(Scope, Vec<Table>),
    Import(Scope, StoreImage),
    /// The next sync of `scope` fails (then a sync is called).
    FailSync {
        scope: Scope,
        keep_pending: bool,
    },
    /// The next write of `scope` fails (then this batch is written).
    FailWrite(Scope, Vec<TableWrite>),
    Reopen(CrashMode),
}

/// How the suite reaches a backend: the two stores, and a way to crash and reopen them.
pub trait Backend {
    type Store: Store;
    fn store(&self, scope: Scope) -> Self::Store;
    /// Closes both stores, crashes as `crash` says (if it can) and opens them again.
    fn reopen(&mut self, crash: CrashMode);
    /// Whether `reopen` obeys its crash mode exactly; otherwise only the `Store` contract holds.
    fn simulates_crashes(&self) -> bool;
    /// Injects `fault`; false if the backend cannot.
    fn inject(&self, fault: DiskFault) -> bool;
}

fn scope() -> impl Strategy<Value = Scope> {
    proptest::sample::select(Scope::ALL.to_vec())
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

fn batch() -> impl Strategy<Value = Vec<TableWrite>> {
    proptest::collection::vec(table_write(), 0..4)
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

fn tail_loss() -> impl Strategy<Value = TailLoss> {
    prop_oneof![
        Just(TailLoss::Drop),
        (0usize..400).prop_map(|keep_bytes| TailLoss::Tear { keep_bytes }),
    ]
}

fn crash_mode() -> impl Strategy<Value = CrashMode> {
    prop_oneof![
        Just(CrashMode::ProcessCrash),
        Just(CrashMode::DROP_PENDING),
        (tail_loss(), tail_loss()).prop_map(|(log, tables)| CrashMode::PowerLoss { log, tables }),
    ]
}

pub fn store_op() -> impl Strategy<Value = StoreOp> {
    prop_oneof![
        6 => (scope(), batch()).prop_map(|(scope, batch)| StoreOp::Write(scope, batch)),
        3 => scope().prop_map(StoreOp::Sync),
        2 => (scope(), table(), key()).prop_map(|(scope, table, key)| StoreOp::Get(scope, table, key)),
        2 => (scope(), table(), bound(), bound(), 0usize..4).prop_map(
            |(scope, table, start, end, limit)| StoreOp::Scan { scope, table, start, end, limit }
        ),
        2 => (scope(), table(), key(), proptest::option::of(key()), 0usize..4).prop_map(
            |(scope, table, prefix, after, limit)| StoreOp::ScanPrefix { scope, table, prefix, after, limit }
        ),
        1 => (scope(), proptest::sample::subsequence(TABLES.to_vec(), 0..=3))
            .prop_map(|(scope, tables)| StoreOp::Export(scope, tables)),
        1 => (scope(), image()).prop_map(|(scope, image)| StoreOp::Import(scope, image)),
        1 => (scope(), any::<bool>())
            .prop_map(|(scope, keep_pending)| StoreOp::FailSync { scope, keep_pending }),
        1 => (scope(), batch()).prop_map(|(scope, batch)| StoreOp::FailWrite(scope, batch)),
        2 => crash_mode().prop_map(StoreOp::Reopen),
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

#[derive(Clone, Debug)]
enum Mutation {
    Write(Vec<TableWrite>),
    Import(StoreImage),
}

impl Mutation {
    fn apply(&self, model: &mut Model) {
        match self {
            Mutation::Write(batch) => model_write(model, batch),
            Mutation::Import(image) => model_import(model, image),
        }
    }
}

/// What one scope's store must hold.
#[derive(Clone, Debug, Default)]
struct ScopeModel {
    /// What reads see.
    visible: Model,
    /// What survives any crash.
    durable: Model,
    /// Mutations since the last sync, in order: `visible` is `durable` plus all of them.
    unsynced: Vec<Mutation>,
    /// A fault failed a write or sync: writes and syncs fail until reopen.
    poisoned: bool,
}

impl ScopeModel {
    fn mutate<S: Store>(&mut self, store: &S, mutation: Mutation) {
        let result = match &mutation {
            Mutation::Write(batch) => store.write(batch),
            Mutation::Import(image) => store.import(image),
        };
        if self.poisoned {
            assert!(result.is_err(), "a poisoned store accepted {mutation:?}");
            return;
        }
        result.unwrap_or_else(|error| panic!("{mutation:?}: {error}"));
        mutation.apply(&mut self.visible);
        self.unsynced.push(mutation);
    }

    async fn sync<S: Store>(&mut self, store: &S) {
        let synced = store.sync().await;
        if self.poisoned {
            assert!(synced.is_err(), "a poisoned store synced");
            return;
        }
        synced.expect("sync");
        self.durable = self.visible.clone();
        self.unsynced.clear();
    }

    /// After reopen: `observed` must be what `loss` leaves (`None`: a process crash keeps
    /// everything unsynced, still unsynced; `Some(None)`: the backend may keep any prefix).
    fn reopened(&mut self, loss: Option<Option<TailLoss>>, observed: Model) {
        self.poisoned = false;
        match loss {
            None => assert_eq!(
                observed, self.visible,
                "a process crash keeps the page cache"
            ),
            Some(Some(TailLoss::Drop)) => {
                assert_eq!(
                    observed, self.durable,
                    "a power loss drops every unsynced mutation of this scope"
                );
                self.visible = observed;
            }
            Some(Some(TailLoss::Tear { .. }) | None) => {
                self.visible = surviving_prefix(&self.durable, &self.unsynced, &observed);
            }
        }
        if loss.is_some() {
            self.durable = self.visible.clone();
            self.unsynced.clear();
        }
    }
}

/// Runs `ops`; panics (failing the property) on the first divergence from the model.
pub async fn check_sequence<B: Backend>(backend: &mut B, ops: &[StoreOp]) {
    let mut models = [ScopeModel::default(), ScopeModel::default()];
    for op in ops {
        let scope_of = |scope: &Scope| scope.index();
        match op {
            StoreOp::Write(scope, batch) => {
                let model = &mut models[scope_of(scope)];
                model.mutate(&backend.store(*scope), Mutation::Write(batch.clone()));
            }
            StoreOp::Import(scope, image) => {
                let model = &mut models[scope_of(scope)];
                model.mutate(&backend.store(*scope), Mutation::Import(image.clone()));
            }
            StoreOp::Sync(scope) => models[scope_of(scope)].sync(&backend.store(*scope)).await,
            StoreOp::FailSync {
                scope,
                keep_pending,
            } => {
                let model = &mut models[scope_of(scope)];
                let fault = DiskFault::FailNextSync {
                    scope: *scope,
                    keep_pending: *keep_pending,
                };
                if model.poisoned || !backend.inject(fault) {
                    continue;
                }
                let failed = backend.store(*scope).sync().await;
                assert!(failed.is_err(), "the injected sync failure was reported");
                model.poisoned = true;
                if !keep_pending {
                    model.visible = model.durable.clone();
                    model.unsynced.clear();
                }
            }
            StoreOp::FailWrite(scope, batch) => {
                let model = &mut models[scope_of(scope)];
                if model.poisoned || !backend.inject(DiskFault::FailNextWrite { scope: *scope }) {
                    continue;
                }
                let failed = backend.store(*scope).write(batch);
                assert!(failed.is_err(), "the injected write failure was reported");
                model.poisoned = true;
            }
            StoreOp::Reopen(crash) => {
                backend.reopen(*crash);
                for scope in Scope::ALL {
                    let observed = full_state(&backend.store(scope));
                    let loss = match backend.simulates_crashes() {
                        true => crash.tail_loss(scope).map(Some),
                        false => Some(None),
                    };
                    models[scope.index()].reopened(loss, observed);
                }
            }
            read => check_read(
                &backend.store(read_scope(read)),
                &models[read_scope(read).index()].visible,
                read,
            ),
        }
    }
}

fn read_scope(op: &StoreOp) -> Scope {
    match op {
        StoreOp::Get(scope, _, _)
        | StoreOp::Scan { scope, .. }
        | StoreOp::ScanPrefix { scope, .. }
        | StoreOp::Export(scope, _) => *scope,
        mutation => unreachable!("not a read: {mutation:?}"),
    }
}

/// Reads see every mutation, synced or not, poisoned or not.
fn check_read<S: Store>(store: &S, model: &Model, op: &StoreOp) {
    match op {
        StoreOp::Get(_, table, key) => {
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
            ..
        } => {
            let start = start.as_ref().map(Vec::as_slice);
            let end = end.as_ref().map(Vec::as_slice);
            let mut expected = model_scan(model, *table, start, end);
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
            ..
        } => {
            let mut expected: Vec<_> =
                model_scan(model, *table, Bound::Unbounded, Bound::Unbounded)
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
        StoreOp::Export(_, tables) => {
            let image = store.export(tables).expect("export");
            let expected: Vec<_> = (model.iter())
                .filter(|((table, _), _)| tables.contains(table))
                .map(|((table, key), value)| (*table, key.clone(), value.clone()))
                .collect();
            assert_eq!(image.rows, expected, "export {tables:?}");
        }
        mutation => unreachable!("not a read: {mutation:?}"),
    }
}

/// The state after some prefix of `unsynced` on top of `durable` equal to `observed`.
fn surviving_prefix(durable: &Model, unsynced: &[Mutation], observed: &Model) -> Model {
    let mut candidate = durable.clone();
    let mut candidates = vec![candidate.clone()];
    for mutation in unsynced {
        mutation.apply(&mut candidate);
        candidates.push(candidate.clone());
    }
    let found = candidates
        .into_iter()
        .find(|candidate| candidate == observed);
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
    use crate::store::sim_disk::{SimDisk, SimDiskStore};

    struct SimDiskBackend {
        disk: SimDisk,
        stores: [SimDiskStore; 2],
    }

    fn open(disk: &SimDisk) -> [SimDiskStore; 2] {
        Scope::ALL.map(|scope| disk.open(scope).expect("open"))
    }

    impl Backend for SimDiskBackend {
        type Store = SimDiskStore;
        fn store(&self, scope: Scope) -> SimDiskStore {
            self.stores[scope.index()].clone()
        }
        fn reopen(&mut self, crash: CrashMode) {
            self.disk.crash(crash);
            self.stores = open(&self.disk);
        }
        fn simulates_crashes(&self) -> bool {
            true
        }
        fn inject(&self, fault: DiskFault) -> bool {
            self.disk.inject(fault);
            true
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn sim_disk_conforms(ops in proptest::collection::vec(store_op(), 1..60)) {
            let disk = SimDisk::new();
            let stores = open(&disk);
            let mut backend = SimDiskBackend { disk, stores };
            block_on(check_sequence(&mut backend, &ops));
        }
    }
}

/// The production backends: two stores in two directories, as a node keeps its log and its
/// tables. A real process cannot crash inside a test, so a reopen closes them cleanly (which
/// keeps any prefix) and opens them again.
#[cfg(not(madsim))]
mod file_backends {
    use super::*;
    use crate::store::journal::JournalStore;
    use crate::store::sled::SledStore;
    use std::path::{Path, PathBuf};

    /// A store kept in a directory of files.
    trait FileStore: Store {
        fn open_in(directory: &Path) -> Self;
        fn close_now(&self);
    }

    impl FileStore for SledStore {
        fn open_in(directory: &Path) -> SledStore {
            SledStore::open(directory).expect("open")
        }
        fn close_now(&self) {
            self.close_blocking().expect("close");
        }
    }

    impl FileStore for JournalStore {
        fn open_in(directory: &Path) -> JournalStore {
            JournalStore::open(directory).expect("open")
        }
        fn close_now(&self) {
            self.close_blocking().expect("close");
        }
    }

    struct FileBackend<S> {
        directory: PathBuf,
        stores: Option<[S; 2]>,
    }

    fn open<S: FileStore>(directory: &Path) -> [S; 2] {
        let names = ["log", "tables"];
        Scope::ALL.map(|scope| S::open_in(&directory.join(names[scope.index()])))
    }

    impl<S: FileStore> Backend for FileBackend<S> {
        type Store = S;
        fn store(&self, scope: Scope) -> S {
            self.stores.as_ref().expect("open")[scope.index()].clone()
        }
        fn reopen(&mut self, _crash: CrashMode) {
            for store in self.stores.take().expect("open") {
                store.close_now();
            }
            self.stores = Some(open(&self.directory));
        }
        fn simulates_crashes(&self) -> bool {
            false
        }
        fn inject(&self, _fault: DiskFault) -> bool {
            false
        }
    }

    fn conforms<S: FileStore>(name: &str, ops: &[StoreOp]) {
        let directory = crate::testing::temp_dir(name);
        let stores = Some(open::<S>(&directory));
        let mut backend = FileBackend {
            directory: directory.clone(),
            stores,
        };
        block_on(check_sequence(&mut backend, ops));
        drop(backend);
        let _ = std::fs::remove_dir_all(&directory);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn sled_conforms(ops in proptest::collection::vec(store_op(), 1..40)) {
            conforms::<SledStore>("sled-suite", &ops);
        }

        #[test]
        fn journal_conforms(ops in proptest::collection::vec(store_op(), 1..40)) {
            conforms::<JournalStore>("journal-suite", &ops);
        }
    }
}
