//! Runs one request sequence through the whole apply pipeline of one server replica (om::apply
//! over the table cache, double buffer, simulated disk) and through the reference model written
//! independently in `checker::model::om`, and panics at the first difference: every answer and
//! the final state must be identical, also after the replica reopens from its disk.
//!
//! The model-based proptest (`tests/server_matches_model.rs`) and the `om_apply` fuzz target
//! drive the same comparison with their own generators and runtimes.

use crate::checker::model::om::{BucketLayout, OmModel, OmOp, OmOutcome, OmResponse, Quota};
use crate::recorder::model_outcome;
use om_server::applier::Applier;
use om_server::om::{OmEntry, OmRequest, OmResult};
use om_server::store::sim_disk::{DiskFault, SimDisk};
use om_server::store::{Scope, Store};
use om_server::types::{LogIndex, Term, TimeMs};
use std::time::Duration;

const TIME_BASE_MS: u64 = 1_700_000_000_000;

/// Entries the double buffer may hold unflushed (small, so applies wait for flushes too).
const UNFLUSHED_MAX: usize = 8;

/// A commit with this open id commits the most recent open, with its names (ids are log
/// indexes, which a generator cannot know); other ids mostly name no open key.
pub const LAST_OPEN: u64 = 0;

/// How the replica's background work interleaves with the requests.
#[derive(Clone, Debug)]
pub struct Pacing {
    /// Every table sync takes this long (non-zero: reads cross cache and store).
    pub sync_latency: Duration,
    /// After request `n`, the driver pauses if `pauses[n % pauses.len()]` (none when empty).
    pub pauses: Vec<bool>,
    /// A pause sleeps this long; zero yields to the replica's tasks instead (for runtimes whose
    /// clock is real).
    pub pause: Duration,
}

/// The leader-stamped time of the entry at `index`.
/// Volumes and buckets without quotas, created first so that later requests mostly meet
/// existing parents (a generator may take a subsequence).
pub fn setup_ops() -> Vec<OmOp> {
    let volume = |volume: &str| OmOp::CreateVolume {
        volume: volume.into(),
        owner: "setup".into(),
        quota: Quota::default(),
    };
    let bucket = |volume: &str, bucket: &str| OmOp::CreateBucket {
        volume: volume.into(),
        bucket: bucket.into(),
        versioning: false,
        layout: BucketLayout::ObjectStore,
        quota: Quota::default(),
    };
    vec![
        volume("vol-a"),
        volume("vol.c"),
        bucket("vol-a", "buck"),
        bucket("vol-a", "bucket-2"),
        bucket("vol.c", "buck"),
    ]
}

pub fn time_of(index: u64) -> u64 {
    TIME_BASE_MS + index * 10
}

/// The last open: its index and names.
#[derive(Clone, Default)]
struct LastOpen {
    index: u64,
    names: (String, String, String),
}

/// Replaces `LAST_OPEN` commits in `ops` by commits of the last open, given the log index
/// each write will get (reads take none).
pub fn resolve_commits(ops: &[OmOp]) -> Vec<OmOp> {
    let mut index = 0;
    let mut last = LastOpen::default();
    let mut resolved = Vec::with_capacity(ops.len());
    for op in ops {
        if !op.is_read() {
            index += 1;
        }
        resolved.push(resolve(op, index, &mut last));
    }
    resolved
}

/// Rewrites a `LAST_OPEN` commit into a commit of the last open, and records opens.
fn resolve(op: &OmOp, index: u64, last: &mut LastOpen) -> OmOp {
    let mut op = op.clone();
    match &mut op {
        OmOp::OpenKey {
            volume,
            bucket,
            key,
            ..
        } => {
            *last = LastOpen {
                index,
                names: (volume.clone(), bucket.clone(), key.clone()),
            };
        }
        OmOp::CommitKey {
            volume,
            bucket,
            key,
            open_id,
            ..
        } if *open_id == LAST_OPEN => {
            *open_id = last.index;
            (*volume, *bucket, *key) = last.names.clone();
        }
        _ => {}
    }
    op
}

/// The two implementations share field and variant names, so serde maps one onto the other.
pub fn to_server(op: &OmOp) -> OmRequest {
    serde_json::from_value(serde_json::to_value(op).expect("requests serialize"))
        .expect("same request shape")
}

/// A server request in the model's terms.
pub fn to_model_op(request: &OmRequest) -> OmOp {
    serde_json::from_value(serde_json::to_value(request).expect("requests serialize"))
        .expect("same request shape")
}

/// The server's answer in the model's terms (the mapping the simulation's recorder uses).
pub fn to_model(result: OmResult) -> OmOutcome {
    model_outcome(&result).unwrap_or_else(|| panic!("not a replicated answer: {result:?}"))
}

/// Reads that cover the whole namespace: every volume, bucket, key and open key.
pub fn full_listing(read: &mut dyn FnMut(&OmOp) -> OmOutcome) -> Vec<OmOutcome> {
    let everything = || (String::new(), String::new(), 1000);
    let mut outcomes = Vec::new();
    let (prefix, start, max) = everything();
    let volumes = read(&OmOp::ListVolumes { prefix, start, max });
    let names: Vec<String> = match &volumes {
        Ok(OmResponse::Volumes(volumes)) => {
            volumes.iter().map(|volume| volume.name.clone()).collect()
        }
        other => panic!("volume list: {other:?}"),
    };
    outcomes.push(volumes);
    for volume in names {
        let (prefix, start, max) = everything();
        let buckets = read(&OmOp::ListBuckets {
            volume: volume.clone(),
            prefix,
            start,
            max,
        });
        let bucket_names: Vec<String> = match &buckets {
            Ok(OmResponse::Buckets(buckets)) => {
                buckets.iter().map(|bucket| bucket.name.clone()).collect()
            }
            other => panic!("bucket list: {other:?}"),
        };
        outcomes.push(buckets);
        for bucket in bucket_names {
            let (prefix, start, max) = everything();
            outcomes.push(read(&OmOp::ListKeys {
                volume: volume.clone(),
                bucket: bucket.clone(),
                prefix,
                start,
                max,
            }));
            let (prefix, start, max) = everything();
            outcomes.push(read(&OmOp::ListOpenKeys {
                volume: volume.clone(),
                bucket,
                prefix,
                start,
                max,
            }));
        }
    }
    outcomes
}

fn server_read<S: Store>(applier: &Applier<S>, op: &OmOp) -> OmOutcome {
    to_model(applier.read(&to_server(op)).expect("store read"))
}

async fn pause(pacing: &Pacing, position: usize) {
    if pacing.pauses.is_empty() || !pacing.pauses[position % pacing.pauses.len()] {
        return;
    }
    if pacing.pause.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(pacing.pause).await;
    }
}

/// The model's answers to `ops` (commits already resolved), numbered as `compare` numbers them.
pub fn model_outcomes(ops: &[OmOp]) -> Vec<OmOutcome> {
    let mut model = OmModel::new();
    let mut index = 0;
    let mut outcomes = Vec::with_capacity(ops.len());
    for op in ops {
        if op.is_read() {
            outcomes.push(model.apply(index, 0, op));
        } else {
            index += 1;
            outcomes.push(model.apply(index, time_of(index), op));
        }
    }
    outcomes
}

/// Applies `ops` (commits already resolved) to a fresh replica and to the model; panics at the
/// first answer or state that differs. Runs inside whatever runtime the caller provides.
pub async fn compare(ops: &[OmOp], pacing: &Pacing) {
    let disk = SimDisk::new();
    disk.inject(DiskFault::SyncLatency {
        scope: Scope::Tables,
        latency: pacing.sync_latency,
    });
    let applier = Applier::open(disk.open(Scope::Tables).unwrap(), UNFLUSHED_MAX).unwrap();
    let mut model = OmModel::new();
    let mut index = 0;
    for (position, op) in ops.iter().enumerate() {
        let expected;
        let observed;
        if op.is_read() {
            expected = model.apply(index, 0, op);
            observed = server_read(&applier, op);
        } else {
            index += 1;
            let time_ms = time_of(index);
            expected = model.apply(index, time_ms, op);
            let entry = OmEntry {
                index: LogIndex(index),
                time: TimeMs(time_ms),
                request: to_server(op),
            };
            observed = to_model(applier.apply(Term(1), &entry).await.expect("apply"));
        }
        assert_eq!(observed, expected, "op {position}: {op:?}");
        pause(pacing, position).await;
    }
    let mut model_read = |op: &OmOp| model.clone().apply(0, 0, op);
    let expected = full_listing(&mut model_read);
    assert_eq!(
        full_listing(&mut |op| server_read(&applier, op)),
        expected,
        "final state"
    );

    // Everything applied is durable once flushed; a reopened replica holds the same state.
    applier.double_buffer().stop().await;
    let reopened = Applier::open(disk.open(Scope::Tables).unwrap(), UNFLUSHED_MAX).unwrap();
    assert_eq!(reopened.last_applied().index, LogIndex(index));
    assert_eq!(
        full_listing(&mut |op| server_read(&reopened, op)),
        expected,
        "state after reopen"
    );
    reopened.double_buffer().stop().await;
}
