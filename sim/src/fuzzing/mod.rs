//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz, nightly): each takes libFuzzer's
//! bytes and panics when its property fails. They live here, in stable code, so that every
//! committed corpus file also runs as a plain regression test (`tests/fuzz_corpora.rs`).
//!
//! A body must never panic on its own account: any input is valid, and a panic is a bug in the
//! code under test (or in the body's oracle).

mod frame;
mod history;
mod journal;
mod om_apply;
mod request;

pub use frame::frame_decoder;
pub use history::{jepsen_history, json_history};
pub use journal::{journal_bytes, journal_recovery};
pub use om_apply::om_apply;
pub use request::request_decoder;

/// A fuzz target: its name (its file in `fuzz/fuzz_targets/` and its corpus directory in
/// `fuzz/corpus/`) and its body.
pub struct FuzzTarget {
    pub name: &'static str,
    pub body: fn(&[u8]),
}

/// Every fuzz target.
pub const TARGETS: [FuzzTarget; 7] = [
    FuzzTarget {
        name: "frame_decoder",
        body: frame_decoder,
    },
    FuzzTarget {
        name: "request_decoder",
        body: request_decoder,
    },
    FuzzTarget {
        name: "om_apply",
        body: om_apply,
    },
    FuzzTarget {
        name: "journal_recovery",
        body: journal_recovery,
    },
    FuzzTarget {
        name: "journal_bytes",
        body: journal_bytes,
    },
    FuzzTarget {
        name: "jepsen_history",
        body: jepsen_history,
    },
    FuzzTarget {
        name: "json_history",
        body: json_history,
    },
];

/// Runs a future that never waits (it reads from memory) to completion, without a runtime.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a future over a byte slice waited"),
    }
}
