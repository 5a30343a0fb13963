//! Linearizability checker: fast, correct, and it explains its verdict.
//!
//! A [`History`] of client operations (invocation and completion times, input, output; an
//! operation without a response is *indeterminate*) is checked against a sequential [`Model`]:
//! is there a total order of the operations, consistent with real time (an operation that
//! completed before another was invoked comes first), in which every completed operation gets
//! the answer it got and every indeterminate one either takes effect after its invocation or
//! never?
//!
//! The search is Wing–Gong/Lowe's, as in Porcupine ([`search`]): a doubly-linked list of call and
//! return entries, lift/unlift, and a memo of explored `(set of linearized operations, state)`
//! pairs (as fingerprints, in bounded memory: [`memo`]). Histories are first split into
//! independent parts when the model allows it (P-compositionality); the parts take turns under
//! one wall-clock budget, in slices of steps on up to two worker threads ([`schedule`]), so a
//! quickly refuted part is found however hard the others are. When the budget runs out, the
//! verdict is [`Verdict::Unknown`].
//!
//! A refuted history comes with the longest linearizable prefix found, the operation that could
//! not be placed after it, and the other candidates ([`explain`]), and can be drawn as an HTML
//! timeline ([`timeline`]).
//!
//! Two models ship: [`model::cas_register`] (Jepsen's etcd histories) and [`model::om`] (the
//! Ozone Manager's metadata semantics, also usable as a plain sequential reference model).
//!
//! # Input formats
//!
//! - **Jepsen** ([`jepsen`]): the `jepsen.util` log lines of the etcd test, read as Porcupine
//!   reads them (a `:fail` cas completed and answered false; `:info` is indeterminate; a
//!   `:fail :read :timed-out` is dropped). Register model only.
//! - **JSON lines** ([`json_lines`]): one operation per line,
//!
//!   ```text
//!   {"client": 3, "invoke_ns": 1000, "complete_ns": 2500, "input": ..., "output": ...}
//!   {"client": 4, "invoke_ns": 1200, "complete_ns": null, "input": ..., "output": null}
//!   ```
//!
//!   `client` is a u64 (one call at a time per client), times are u64 simulated nanoseconds,
//!   `complete_ns` and `output` are both `null` (or absent) for an indeterminate operation. Blank
//!   lines and lines starting with `#` are ignored. `input`/`output` depend on the model:
//!   - `cas-register`: input `{"op":"read"}`, `{"op":"write","value":3}`,
//!     `{"op":"cas","from":3,"to":4}`, each with an optional `"key": <u64>` (default 0; keys are
//!     independent registers); output `{"op":"read","value":3}` (`null` when absent),
//!     `{"op":"write"}`, `{"op":"cas","ok":true}`.
//!   - `om`: input is an [`model::om::OmOp`] and output an [`model::om::OmOutcome`] in serde's
//!     default JSON shape, e.g. input `{"CreateVolume":{"volume":"vol1","owner":"alice",
//!     "quota":{"bytes":null,"namespace":10}}}`, output `{"Ok":"Done"}`,
//!     `{"Err":"VOLUME_ALREADY_EXISTS"}` or `{"Ok":{"KeyOpened":{"open_id":7,"block_ids":[]}}}`.

pub mod bench;
pub mod bench_recorded;
pub mod budget;
pub mod cli;
pub mod entry_list;
pub mod explain;
pub mod fingerprint;
pub mod footprint;
pub mod history;
pub mod jepsen;
pub mod json_lines;
pub mod linearizability;
pub mod memo;
pub mod model;
pub mod pruning;
pub mod schedule;
pub mod search;
pub mod timeline;
pub mod workload;

pub use history::{History, Operation, OperationId};
pub use linearizability::{
    check, check_with_limits, CheckOptions, CheckReport, PartReport, SearchLimits, Verdict,
};
pub use model::Model;
pub use search::{Refutation, SearchOutcome};
