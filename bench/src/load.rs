//! The closed loop: each client sends one write, waits for its answer, sends the next, until
//! the time is up. Writes that complete inside the measured window (after the warm-up) count
//! toward throughput and latency.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// One client's connection to a service: each `write` is one replicated, durable write.
pub trait Writer: Send + 'static {
    fn write(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// The warm-up, then the window that is measured.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub warmup: Duration,
    pub measured: Duration,
}

/// One service at one client count.
#[derive(Clone, Debug)]
pub struct Summary {
    pub failures: u64,
    /// The first failure's message, if any.
    pub first_failure: Option<String>,
    pub writes_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// What one client saw inside the window.
#[derive(Default)]
struct ClientRecord {
    latencies_us: Vec<u32>,
    failures: u64,
    first_failure: Option<String>,
}

/// Runs every writer in its own task for the warm-up plus the window.
pub async fn closed_loop<W: Writer>(writers: Vec<W>, schedule: Schedule) -> Summary {
    let started = Instant::now();
    let window_start = started + schedule.warmup;
    let window_end = window_start + schedule.measured;
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|writer| tokio::spawn(client_loop(writer, window_start, window_end)))
        .collect();
    let mut latencies_us = Vec::new();
    let mut failures = 0;
    let mut first_failure = None;
    for task in tasks {
        let record = task.await.expect("a client task panicked");
        latencies_us.extend(record.latencies_us);
        failures += record.failures;
        first_failure = first_failure.or(record.first_failure);
    }
    latencies_us.sort_unstable();
    Summary {
        failures,
        first_failure,
        writes_per_second: latencies_us.len() as f64 / schedule.measured.as_secs_f64(),
        p50: percentile(&latencies_us, 50),
        p99: percentile(&latencies_us, 99),
    }
}

async fn client_loop<W: Writer>(
    mut writer: W,
    window_start: Instant,
    window_end: Instant,
) -> ClientRecord {
    let mut record = ClientRecord::default();
    loop {
        let begun = Instant::now();
        if begun >= window_end {
            return record;
        }
        let result = writer.write().await;
        let done = Instant::now();
        let counted = done >= window_start && done < window_end;
        match result {
            Ok(()) if counted => {
                let micros = (done - begun).as_micros();
                record
                    .latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
            Ok(()) => {}
            Err(error) => {
                record.failures += u64::from(counted);
                record.first_failure.get_or_insert(error);
                // A refusing service must not turn the loop into a spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// The nearest-rank percentile of sorted samples (zero when there are none).
fn percentile(sorted_us: &[u32], percent: usize) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted_us.len() * percent).div_ceil(100).max(1);
    Duration::from_micros(u64::from(sorted_us[rank - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u32> = (1..=200).collect();
        assert_eq!(percentile(&samples, 50), Duration::from_micros(100));
        assert_eq!(percentile(&samples, 99), Duration::from_micros(198));
        assert_eq!(percentile(&[7], 99), Duration::from_micros(7));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
