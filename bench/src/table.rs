//! The printed table: one row per client count, ours then etcd, and their ratio.

use crate::load::Summary;
use std::time::Duration;

pub fn header() -> String {
    format!(
        "{:>7} | {:>12} {:>8} {:>8} | {:>12} {:>8} {:>8} | {:>9}",
        "clients", "ours w/s", "p50 ms", "p99 ms", "etcd w/s", "p50 ms", "p99 ms", "ours/etcd"
    )
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

fn columns(summary: Option<&Summary>) -> String {
    match summary {
        Some(summary) => format!(
            "{:>12.0} {:>8} {:>8}",
            summary.writes_per_second,
            milliseconds(summary.p50),
            milliseconds(summary.p99)
        ),
        None => format!("{:>12} {:>8} {:>8}", "-", "-", "-"),
    }
}

pub fn row(clients: usize, ours: &Summary, etcd: Option<&Summary>) -> String {
    let ratio = match etcd {
        Some(etcd) if etcd.writes_per_second > 0.0 => {
            format!("{:.2}", ours.writes_per_second / etcd.writes_per_second)
        }
        _ => "-".to_string(),
    };
    format!(
        "{clients:>7} | {} | {} | {ratio:>9}",
        columns(Some(ours)),
        columns(etcd)
    )
}
