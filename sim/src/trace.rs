//! The run's fingerprint: an ordered trace of our own events (simulated time, source, event),
//! hashed. madsim's determinism check compares only its random draws; two runs of one seed
//! must also produce the same trace, byte for byte.

use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A shared, append-only event trace. Cloning shares it.
#[derive(Clone, Default)]
pub struct Trace {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Records `event` of `source` at simulated time `elapsed`.
    pub fn record(&self, elapsed: Duration, source: &str, event: impl std::fmt::Display) {
        let mut line = String::new();
        let _ = write!(line, "{:>12.6} {source:<10} {event}", elapsed.as_secs_f64());
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// FNV-1a of every line: equal traces have equal fingerprints.
    pub fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for line in self.lines() {
            for byte in line.bytes().chain(std::iter::once(b'\n')) {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }
}
