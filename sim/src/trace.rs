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
    last: Arc<Mutex<Duration>>,
    /// Print each line as it is recorded (`--trace`).
    print: bool,
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    /// A trace that also prints every line to stdout as it happens.
    pub fn printing() -> Trace {
        Trace {
            print: true,
            ..Trace::default()
        }
    }

    /// The simulated time of the latest line.
    pub fn last_elapsed(&self) -> Duration {
        *self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `event` of `source` at simulated time `elapsed`.
    pub fn record(&self, elapsed: Duration, source: &str, event: impl std::fmt::Display) {
        let mut line = String::new();
        write!(line, "{:>12.6} {source:<10} {event}", elapsed.as_secs_f64())
            .expect("writing to a String cannot fail");
        if self.print {
            println!("{line}");
        }
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *last = (*last).max(elapsed);
        drop(last);
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
        let mut text = self.lines().join("\n");
        text.push('\n');
        fnv1a(text.as_bytes())
    }
}

/// FNV-1a: a stable hash (the same in every process and build).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
