//! Wall-clock time for the leader's stamp, the one place the server reads it.
//!
//! Only the leader reads the clock, while pre-executing a write; the time travels inside the
//! log entry, so replicas never read their own clocks during apply. Under madsim this clock is
//! the simulation's (madsim intercepts the system clock), so runs replay exactly.

use crate::types::TimeMs;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A node's wall clock: the system's, off by an adjustable offset (zero in production). The
/// simulation skews one node's clock through it; cloning shares the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> TimeMs {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        TimeMs(now().0.saturating_add_signed(offset))
    }

    /// Runs this clock `offset_ms` off the system's from now on.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }
}

#[allow(clippy::disallowed_methods)] // the leader's stamp: the one sanctioned wall-clock read
pub fn now() -> TimeMs {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    TimeMs(since_epoch.as_millis() as u64)
}

/// Monotonic time on the runtime's clock. Under `--cfg madsim`, `tokio::time::Instant` is
/// std's `Instant`, which madsim simulates; the lint that bans std's clock cannot tell.
#[allow(clippy::disallowed_methods)]
pub fn monotonic_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}
