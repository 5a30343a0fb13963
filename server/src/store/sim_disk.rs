//! The simulated disk: a node's two stores (Raft log and tables) whose durability is
//! modelled, for deterministic simulation.
//!
//! Each scope ([`Scope`]) has its own journal of checksummed records, as the Raft log and the
//! OM DB are separate files in Ozone: a sync of one never makes the other durable. Writes append
//! to the *pending* part (readable at once, as through a page cache); `sync` moves that scope's
//! pending bytes to the *synced* part. A process crash keeps pending bytes (the page cache
//! survives); a power loss drops them or tears them at a byte the caller chooses. Recovery
//! replays whole records and discards a torn tail, so a batch is all-or-nothing.
//!
//! A failed write or sync poisons *that scope's* store until the next crash: every later write
//! and sync of it fails. Per scope, not per device, because Linux reports a writeback error per
//! file and the two stores are separate files (often separate disks in Ozone); and because a
//! whole-device poison would stop the node through the other store too, hiding a server that
//! ignored the failure of one.
//!
//! The device ([`SimDisk`]) is owned by whoever builds the cluster and outlives node restarts;
//! a node holds [`SimDiskStore`] handles of one generation. A crash starts a new generation:
//! handles of the old one fail with `StoreError::Closed`, so a dead node's leftover task can
//! never write into the disk of its successor. No randomness and no clock inside: faults are
//! injected by the caller, latency is a `tokio::time::sleep` (simulated time under madsim).

mod fault;
mod journal;
#[cfg(test)]
mod tests;

pub use fault::{CrashMode, CrashTrigger, DiskFault, DiskStats, DiskTrip, ScopeStats, TailLoss};

use super::{row_map, Rows, Scope, Store, StoreImage, Table, TableWrite};
use crate::error::StoreError;
use journal::{Journal, Record};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The rows of one scope (table, key) -> value.
pub type DurableRows = super::row_map::RowMap;

/// Called after every successful sync with the scope and its rows, every one of them durable at
/// that instant (the harness checks what a power loss then would leave). It runs under the
/// device's lock: it must not call the disk.
pub type SyncObserver = Arc<dyn Fn(Scope, &DurableRows) + Send + Sync>;

/// Faults, poison and counters of one scope.
#[derive(Default)]
struct ScopeState {
    /// The first failure since the last crash; later writes and syncs fail with it.
    poison: Option<StoreError>,
    /// `Some(keep_pending)`: the next sync fails.
    fail_next_sync: Option<bool>,
    fail_next_write: bool,
    sync_latency: Duration,
    stats: ScopeStats,
    /// Writes and syncs that reached the device (what crash triggers count).
    write_calls: u64,
    sync_calls: u64,
}

/// A crash waiting for its trigger: the call count of its scope at which it fires.
#[derive(Clone, Copy)]
struct ArmedCrash {
    trigger: CrashTrigger,
    mode: CrashMode,
    at_call: u64,
}

struct Device {
    journals: [Journal; 2],
    scopes: [ScopeState; 2],
    generation: u64,
    armed: Option<ArmedCrash>,
    tripped: Option<DiskTrip>,
    crashes: u64,
    trips: u64,
    observer: Option<SyncObserver>,
}

/// One node's disk. Cloning shares the device.
#[derive(Clone)]
pub struct SimDisk {
    device: Arc<Mutex<Device>>,
}

/// The `Store` of one scope a node uses: a handle on one generation of a [`SimDisk`].
#[derive(Clone)]
pub struct SimDiskStore {
    device: Arc<Mutex<Device>>,
    generation: u64,
    scope: Scope,
}

impl Default for SimDisk {
    fn default() -> Self {
        SimDisk::new()
    }
}

fn lock(device: &Mutex<Device>) -> MutexGuard<'_, Device> {
    // A panic while holding the lock already aborts the run; the data is still consistent.
    device
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimDisk {
    /// A blank device (each scope is formatted on its first open).
    pub fn new() -> SimDisk {
        SimDisk::with_journals([Journal::new(), Journal::new()])
    }

    fn with_journals(journals: [Journal; 2]) -> SimDisk {
        SimDisk {
            device: Arc::new(Mutex::new(Device {
                journals,
                scopes: Default::default(),
                generation: 0,
                armed: None,
                tripped: None,
                crashes: 0,
                trips: 0,
                observer: None,
            })),
        }
    }

    /// A device whose scopes are formatted with another format version (refusal tests).
    #[doc(hidden)]
    pub fn formatted_for_test(format_version: u32) -> SimDisk {
        SimDisk::with_journals([
            Journal::formatted(format_version),
            Journal::formatted(format_version),
        ])
    }

    /// A device whose `scope` holds `platter` as its synced journal, as found after a power
    /// loss (fuzzing of recovery: arbitrary or corrupted bytes).
    #[doc(hidden)]
    pub fn with_platter_for_test(scope: Scope, platter: Vec<u8>) -> SimDisk {
        let mut journals = [Journal::new(), Journal::new()];
        journals[scope.index()].synced = platter;
        SimDisk::with_journals(journals)
    }

    /// The synced journal of `scope`: what a power loss that drops every unsynced byte keeps.
    #[doc(hidden)]
    pub fn platter_for_test(&self, scope: Scope) -> Vec<u8> {
        lock(&self.device).journals[scope.index()].synced.clone()
    }

    /// What this disk would hold after a power loss now (every unsynced byte dropped), as a
    /// disk of its own: the harness checks that what is durable at a moment is recoverable.
    pub fn power_loss_image(&self) -> SimDisk {
        let device = lock(&self.device);
        SimDisk::with_journals([
            device.journals[0].durable_copy(),
            device.journals[1].durable_copy(),
        ])
    }

    /// Calls `observer` after every successful sync from now on (replacing an earlier one).
    pub fn observe_syncs(&self, observer: SyncObserver) {
        lock(&self.device).observer = Some(observer);
    }

    /// Opens the store of `scope`: recovers it after a crash, formats it when blank.
    pub fn open(&self, scope: Scope) -> Result<SimDiskStore, StoreError> {
        let mut device = lock(&self.device);
        let journal = &mut device.journals[scope.index()];
        if !journal.recovered {
            journal.recover()?;
        }
        Ok(SimDiskStore {
            device: self.device.clone(),
            generation: device.generation,
            scope,
        })
    }

    /// Crashes the node's disk: a process crash keeps unsynced bytes, a power loss drops or
    /// tears them per scope. Open handles go dead, poison is cleared, and a trip is settled.
    pub fn crash(&self, mode: CrashMode) {
        let mut device = lock(&self.device);
        device.crash(mode);
        device.tripped = None;
    }

    pub fn inject(&self, fault: DiskFault) {
        let mut device = lock(&self.device);
        match fault {
            DiskFault::FailNextSync {
                scope,
                keep_pending,
            } => device.scopes[scope.index()].fail_next_sync = Some(keep_pending),
            DiskFault::FailNextWrite { scope } => {
                device.scopes[scope.index()].fail_next_write = true
            }
            DiskFault::SyncLatency { scope, latency } => {
                device.scopes[scope.index()].sync_latency = latency
            }
        }
    }

    /// Removes every fault not yet fired, sync latency, and an armed crash (a repaired disk).
    /// A poisoned store stays poisoned until the next crash.
    pub fn clear_faults(&self) {
        let mut device = lock(&self.device);
        for scope in &mut device.scopes {
            scope.fail_next_sync = None;
            scope.fail_next_write = false;
            scope.sync_latency = Duration::ZERO;
        }
        device.armed = None;
    }

    /// Arms a crash in `mode` at `trigger` (replacing one armed before). It stays armed across
    /// crashes until it fires or `clear_faults`.
    pub fn arm_crash(&self, trigger: CrashTrigger, mode: CrashMode) {
        let (CrashTrigger::Write { nth, .. } | CrashTrigger::Sync { nth, .. }) = trigger;
        assert!(nth >= 1, "a trigger counts from 1 (the next event)");
        let mut device = lock(&self.device);
        let (event, scope) = event_of(trigger);
        let at_call = device.scopes[scope.index()].calls(event) + nth;
        device.armed = Some(ArmedCrash {
            trigger,
            mode,
            at_call,
        });
    }

    /// The armed crash that fired since the last `crash` call, if any: the harness should kill
    /// and restart the node (a `CrashMode::ProcessCrash` kill adds nothing to what it did).
    pub fn tripped(&self) -> Option<DiskTrip> {
        lock(&self.device).tripped
    }

    pub fn stats(&self) -> DiskStats {
        let device = lock(&self.device);
        let scope = |scope: Scope| {
            let journal = &device.journals[scope.index()];
            let state = &device.scopes[scope.index()];
            ScopeStats {
                synced_bytes: journal.synced.len(),
                pending_bytes: journal.pending.len(),
                poisoned: state.poison.is_some(),
                ..state.stats
            }
        };
        DiskStats {
            crashes: device.crashes,
            trips: device.trips,
            log: scope(Scope::Log),
            tables: scope(Scope::Tables),
        }
    }
}

impl Device {
    fn crash(&mut self, mode: CrashMode) {
        for scope in Scope::ALL {
            let journal = &mut self.journals[scope.index()];
            match mode.tail_loss(scope) {
                None => journal.close(),
                Some(loss) => journal.lose_power(loss),
            }
            self.scopes[scope.index()].poison = None;
        }
        self.generation += 1;
        self.crashes += 1;
    }

    /// Fires the armed crash if this `event` of `scope` reached its count.
    fn trip_if_armed(&mut self, event: Event, scope: Scope) -> bool {
        let Some(armed) = self.armed else {
            return false;
        };
        if event_of(armed.trigger) != (event, scope)
            || self.scopes[scope.index()].calls(event) < armed.at_call
        {
            return false;
        }
        self.armed = None;
        let pending_bytes = Scope::ALL.map(|scope| self.journals[scope.index()].pending.len());
        self.crash(armed.mode);
        self.trips += 1;
        self.tripped = Some(DiskTrip {
            trigger: armed.trigger,
            mode: armed.mode,
            pending_bytes,
        });
        true
    }
}

/// The disk events crash triggers count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Write,
    Sync,
}

fn event_of(trigger: CrashTrigger) -> (Event, Scope) {
    match trigger {
        CrashTrigger::Write { scope, .. } => (Event::Write, scope),
        CrashTrigger::Sync { scope, .. } => (Event::Sync, scope),
    }
}

impl ScopeState {
    fn calls(&self, event: Event) -> u64 {
        match event {
            Event::Write => self.write_calls,
            Event::Sync => self.sync_calls,
        }
    }
}

fn poisoned_error(first: &StoreError) -> StoreError {
    StoreError::Io(format!("store failed earlier and is stopped: {first}"))
}

impl SimDiskStore {
    fn live_device(&self) -> Result<MutexGuard<'_, Device>, StoreError> {
        let device = lock(&self.device);
        if device.generation != self.generation || !device.journals[self.scope.index()].recovered {
            return Err(StoreError::Closed);
        }
        Ok(device)
    }

    /// The device, live and not poisoned, for a write or a sync.
    fn writable_device(&self) -> Result<MutexGuard<'_, Device>, StoreError> {
        let device = self.live_device()?;
        match &device.scopes[self.scope.index()].poison {
            Some(first) => Err(poisoned_error(first)),
            None => Ok(device),
        }
    }

    fn journal<'a>(&self, device: &'a Device) -> &'a Journal {
        &device.journals[self.scope.index()]
    }

    /// Appends one record, through the fault and the crash trigger of this scope.
    fn append(&self, record: &Record) -> Result<(), StoreError> {
        let mut device = self.writable_device()?;
        let index = self.scope.index();
        let state = &mut device.scopes[index];
        if state.fail_next_write {
            state.fail_next_write = false;
            state.stats.failed_writes += 1;
            let error = StoreError::Io("injected write failure".into());
            state.poison = Some(error.clone());
            return Err(error);
        }
        state.write_calls += 1;
        state.stats.writes += 1;
        device.journals[index].append(record);
        if device.trip_if_armed(Event::Write, self.scope) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Counts a sync call and fires a crash armed on it; returns the scope's sync latency.
    fn start_sync(&self) -> Result<Duration, StoreError> {
        let mut device = self.writable_device()?;
        device.scopes[self.scope.index()].sync_calls += 1;
        if device.trip_if_armed(Event::Sync, self.scope) {
            return Err(StoreError::Closed);
        }
        Ok(device.scopes[self.scope.index()].sync_latency)
    }
}

impl Store for SimDiskStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let device = self.live_device()?;
        Ok(self
            .journal(&device)
            .rows
            .get(&(table, key.to_vec()))
            .cloned())
    }

    fn scan(
        &self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        let device = self.live_device()?;
        let rows = &self.journal(&device).rows;
        Ok(row_map::scan(rows, table, start, end, limit))
    }

    fn write(&self, batch: &[TableWrite]) -> Result<(), StoreError> {
        self.append(&Record::Batch(batch.to_vec()))
    }

    async fn sync(&self) -> Result<(), StoreError> {
        let latency = self.start_sync()?;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut device = self.writable_device()?;
        let index = self.scope.index();
        let state = &mut device.scopes[index];
        if let Some(keep_pending) = state.fail_next_sync.take() {
            state.stats.failed_syncs += 1;
            let error = StoreError::Io("injected sync failure".into());
            state.poison = Some(error.clone());
            if !keep_pending {
                device.journals[index].drop_pending()?;
            }
            return Err(error);
        }
        state.stats.syncs += 1;
        device.journals[index].sync();
        if let Some(observer) = device.observer.clone() {
            // Nothing is pending now: the rows reads see are exactly the durable ones.
            observer(self.scope, &device.journals[index].rows);
        }
        Ok(())
    }

    fn export(&self, tables: &[Table]) -> Result<StoreImage, StoreError> {
        let device = self.live_device()?;
        Ok(row_map::export(&self.journal(&device).rows, tables))
    }

    fn import(&self, image: &StoreImage) -> Result<(), StoreError> {
        image.check_tables()?;
        self.append(&Record::Image(image.clone()))
    }
}
