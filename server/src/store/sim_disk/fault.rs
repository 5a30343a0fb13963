//! What the caller can do to a simulated disk: crash it (process crash or power loss), inject
//! a fault into one scope, or arm a crash that fires at a disk event. The caller chooses every
//! byte and flag (seeded by the harness); the disk draws nothing itself.

use crate::store::Scope;
use std::time::Duration;

/// What a power loss leaves of one scope's unsynced bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailLoss {
    /// Every unsynced byte is lost.
    Drop,
    /// The first `keep_bytes` unsynced bytes reached the platter; the rest is lost. The cut may
    /// fall inside a record (a torn write); recovery discards that record whole.
    Tear { keep_bytes: usize },
}

/// How a node goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// The process died (kill -9); the machine kept running. The page cache survives: unsynced
    /// bytes stay pending, readable after reopen, and become durable at the next sync (of the
    /// restarted process), or are lost or torn by a later power loss.
    ProcessCrash,
    /// The machine lost power: per scope, unsynced bytes are dropped or torn.
    PowerLoss { log: TailLoss, tables: TailLoss },
}

impl CrashMode {
    /// Power loss that drops every unsynced byte of both scopes.
    pub const DROP_PENDING: CrashMode = CrashMode::PowerLoss {
        log: TailLoss::Drop,
        tables: TailLoss::Drop,
    };

    /// What a power loss keeps of `scope` (`None` for a process crash: everything stays).
    pub fn tail_loss(self, scope: Scope) -> Option<TailLoss> {
        match (self, scope) {
            (CrashMode::ProcessCrash, _) => None,
            (CrashMode::PowerLoss { log, .. }, Scope::Log) => Some(log),
            (CrashMode::PowerLoss { tables, .. }, Scope::Tables) => Some(tables),
        }
    }
}

/// A fault injected into one scope. A failed write or sync poisons that scope's store until the
/// next crash (restart): every later write and sync of it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// The next sync of `scope` fails. `keep_pending: false` drops its pending bytes (Linux may
    /// mark dirty pages clean after a failed fsync: reads then see the platter); `true` leaves
    /// them in the page cache, where a process crash keeps them and a power loss may not.
    FailNextSync { scope: Scope, keep_pending: bool },
    /// The next write (or import) of `scope` fails; nothing of it is written.
    FailNextWrite { scope: Scope },
    /// Every sync of `scope` takes `latency` (zero: instant) until changed.
    SyncLatency { scope: Scope, latency: Duration },
}

/// A disk event at which an armed crash fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashTrigger {
    /// The `nth` write to `scope` from arming (1: the next). Its bytes reach the page cache, then
    /// the crash happens: a tear may cut into them. The write reports `StoreError::Closed`.
    Write { scope: Scope, nth: u64 },
    /// The `nth` sync of `scope` from arming, before it makes anything durable: what was written
    /// since the last sync is unsynced at the crash. The sync reports `StoreError::Closed`.
    Sync { scope: Scope, nth: u64 },
}

impl CrashTrigger {
    pub fn scope(self) -> Scope {
        match self {
            CrashTrigger::Write { scope, .. } | CrashTrigger::Sync { scope, .. } => scope,
        }
    }
}

/// An armed crash that fired: the disk crashed itself, its handles are dead, and the host must
/// be killed and restarted by the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskTrip {
    pub trigger: CrashTrigger,
    pub mode: CrashMode,
    /// Unsynced bytes of each scope at the instant of the crash (what `mode` dropped, tore or
    /// kept), indexed by `Scope::index`.
    pub pending_bytes: [usize; 2],
}

/// Counters of one scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScopeStats {
    pub writes: u64,
    pub syncs: u64,
    pub failed_writes: u64,
    pub failed_syncs: u64,
    pub synced_bytes: usize,
    pub pending_bytes: usize,
    /// A failed write or sync poisoned the store until the next crash.
    pub poisoned: bool,
}

/// Counters for tests and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Crashes of every kind, self-inflicted ones included.
    pub crashes: u64,
    /// Armed crashes that fired.
    pub trips: u64,
    pub log: ScopeStats,
    pub tables: ScopeStats,
}

impl DiskStats {
    pub fn scope(&self, scope: Scope) -> &ScopeStats {
        match scope {
            Scope::Log => &self.log,
            Scope::Tables => &self.tables,
        }
    }
}
