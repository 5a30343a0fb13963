//! The OM metadata model: volumes, buckets and keys with Ozone's semantics and error codes.
//!
//! Written from the specification (DESIGN.md and the checker issue), independently of the
//! server's code: the two implementations must agree, which is what makes the model-based test
//! and the linearizability checker mean something.
//!
//! Two uses:
//! - a sequential reference model: [`OmModel::apply`] takes the log index and leader-stamped time
//!   of the request and returns the full response, server-assigned ids and times included;
//! - a checker [`Model`] ([`OmSpec`]): a client history does not know log indexes, so a response
//!   is compared with [`matches`], which ignores what the client could not predict (object and
//!   update ids, open ids, block ids, creation and modification times). An `OpenKey`'s open id is
//!   learned from its observed answer; a later `CommitKey` names it.
//!
//! Check order: stateless checks first in argument order (volume name, bucket name, key names,
//! size), then volume exists, bucket exists, then the operation's own conditions.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::checker::footprint::Footprint;
use crate::checker::history::Operation;
use crate::checker::model::Model;

mod bucket;
mod describe;
mod footprint;
mod key;
mod matching;
pub mod names;
mod tables;
mod types;
mod volume;

pub use matching::matches;
use tables::{KeyTable, OpenKeyTable};
pub use types::{
    BucketInfo, BucketLayout, KeyInfo, OmErrorCode, OmOp, OmOutcome, OmResponse, OpenKeyInfo,
    Quota, Replication, VolumeInfo,
};

/// Lists return at most this many entries (`ozone.om.server.list.max.size`).
pub const LIST_ENTRIES_MAX: u64 = 1000;

/// Open ids the checker gives opens whose answer was lost (a real log index never gets here).
const UNKNOWN_OPEN_ID_BASE: u64 = 1 << 50;

/// The whole metadata state. Volumes and buckets are shared between copies (copy on write), so
/// copying a state costs little; the checker copies one at every step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OmModel {
    volumes: BTreeMap<String, Arc<VolumeState>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct VolumeState {
    info: VolumeInfo,
    buckets: BTreeMap<String, Arc<BucketState>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BucketState {
    info: BucketInfo,
    keys: KeyTable,
    open_keys: OpenKeyTable,
}

/// Where a request sits in the log: its index and the leader-stamped time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    index: u64,
    time_ms: u64,
}

impl OmModel {
    /// An empty namespace.
    pub fn new() -> Self {
        OmModel::default()
    }

    /// Applies one request at log index `index`, stamped `time_ms` by the leader.
    pub fn apply(&mut self, index: u64, time_ms: u64, op: &OmOp) -> OmOutcome {
        let stamp = Stamp { index, time_ms };
        let outcome = match op {
            OmOp::CreateVolume {
                volume,
                owner,
                quota,
            } => self.create_volume(stamp, volume, owner, *quota),
            OmOp::VolumeInfo { volume } => self.volume_info(volume),
            OmOp::SetVolumeOwner { volume, owner } => self.set_volume_owner(stamp, volume, owner),
            OmOp::SetVolumeQuota { volume, quota } => self.set_volume_quota(stamp, volume, *quota),
            OmOp::DeleteVolume { volume } => self.delete_volume(volume),
            OmOp::ListVolumes { prefix, start, max } => Ok(self.list_volumes(prefix, start, *max)),
            OmOp::CreateBucket { .. } | OmOp::SetBucketProperty { .. } => {
                self.apply_bucket_write(stamp, op)
            }
            OmOp::BucketInfo { volume, bucket } => self.bucket_info(volume, bucket),
            OmOp::DeleteBucket { volume, bucket } => self.delete_bucket(volume, bucket),
            OmOp::ListBuckets {
                volume,
                prefix,
                start,
                max,
            } => self.list_buckets(volume, prefix, start, *max),
            _ => self.apply_key_request(stamp, op),
        };
        debug_assert!(self.invariants_hold(), "model invariants after {op:?}");
        outcome
    }

    fn volume(&self, volume: &str) -> Result<&VolumeState, OmErrorCode> {
        self.volumes
            .get(volume)
            .map(|state| &**state)
            .ok_or(OmErrorCode::VolumeNotFound)
    }

    /// The volume, unshared from other copies of the state (call once the request will
    /// change it: unsharing copies it).
    fn volume_mut(&mut self, volume: &str) -> Result<&mut VolumeState, OmErrorCode> {
        self.volumes
            .get_mut(volume)
            .map(Arc::make_mut)
            .ok_or(OmErrorCode::VolumeNotFound)
    }

    fn bucket(&self, volume: &str, bucket: &str) -> Result<&BucketState, OmErrorCode> {
        self.volume(volume)?
            .buckets
            .get(bucket)
            .map(|state| &**state)
            .ok_or(OmErrorCode::BucketNotFound)
    }

    /// The volume and one of its buckets, both mutable (key writes update both usages).
    fn volume_and_bucket_mut(
        &mut self,
        volume: &str,
        bucket: &str,
    ) -> Result<(&mut VolumeInfo, &mut BucketState), OmErrorCode> {
        self.bucket(volume, bucket)?;
        let volume = self.volume_mut(volume)?;
        let bucket = volume
            .buckets
            .get_mut(bucket)
            .map(Arc::make_mut)
            .ok_or(OmErrorCode::BucketNotFound)?;
        Ok((&mut volume.info, bucket))
    }

    /// Usage counters agree with contents.
    pub fn invariants_hold(&self) -> bool {
        self.volumes.iter().all(|(name, volume)| {
            let bytes: u64 = volume
                .buckets
                .values()
                .map(|bucket| bucket.info.used_bytes)
                .sum();
            volume.info.name == *name
                && volume.info.used_namespace == volume.buckets.len() as u64
                && volume.info.used_bytes == bytes
                && volume
                    .buckets
                    .iter()
                    .all(|(name, bucket)| bucket.invariants_hold(name))
        })
    }

    /// An open id for an `OpenKey` whose answer was lost: unique within the key's open entries,
    /// above every real log index.
    fn unknown_open_id(&self, volume: &str, bucket: &str, key: &str) -> u64 {
        let Ok(bucket) = self.bucket(volume, bucket) else {
            return UNKNOWN_OPEN_ID_BASE;
        };
        UNKNOWN_OPEN_ID_BASE + bucket.open_keys.count_from(key, UNKNOWN_OPEN_ID_BASE) as u64
    }
}

impl BucketState {
    fn invariants_hold(&self, name: &str) -> bool {
        let bytes: u64 = self.keys.values().map(key_used_bytes).sum();
        self.info.name == name
            && self.info.used_namespace == self.keys.len() as u64
            && self.info.used_bytes == bytes
            && self.keys.iter().all(|(name, key)| key.name == *name)
    }
}

/// Bytes a committed key counts against quotas.
fn key_used_bytes(key: &KeyInfo) -> u64 {
    key.size * key.replication.factor()
}

/// How many entries a list request asking for `max` gets at most.
fn list_limit(max: u64) -> usize {
    usize::try_from(max.min(LIST_ENTRIES_MAX)).expect("at most 1000")
}

/// The entries of a sorted listing after the prefix and start filters and the size limit.
fn list_window<'a, T: 'a>(
    entries: impl Iterator<Item = (&'a str, T)> + 'a,
    prefix: &'a str,
    start: &'a str,
    max: u64,
) -> impl Iterator<Item = T> + 'a {
    let limit = list_limit(max);
    entries
        .filter(move |(name, _)| name.starts_with(prefix) && (start.is_empty() || *name > start))
        .map(|(_, entry)| entry)
        .take(limit)
}

/// The OM model as the checker's sequential specification.
#[derive(Clone, Copy, Debug, Default)]
pub struct OmSpec;

impl Model for OmSpec {
    type State = OmModel;
    type Input = OmOp;
    type Output = OmOutcome;

    fn init(&self) -> OmModel {
        OmModel::new()
    }

    fn step(&self, state: &OmModel, input: &OmOp, output: Option<&OmOutcome>) -> Option<OmModel> {
        if let (
            OmOp::ListOpenKeys {
                volume,
                bucket,
                prefix,
                start,
                max,
            },
            Some(observed),
        ) = (input, output)
        {
            // The order of opens whose id is unknown is unknown: compare against every candidate.
            let full = state.open_keys_listed(volume, bucket, prefix, start);
            let accepted = match (full, observed) {
                (Ok(full), Ok(OmResponse::OpenKeys(listed))) => {
                    let full: Vec<&KeyInfo> = full.into_iter().map(|(_, key)| key).collect();
                    matching::open_keys_match(&full, list_limit(*max), listed)
                }
                (Err(expected), Err(observed)) => expected == *observed,
                _ => false,
            };
            return accepted.then(|| state.clone());
        }
        // Client histories carry no log index: ids and times are left at 0 (matching ignores
        // them), except an open's id, which a later commit names.
        let index = match (input, output) {
            (_, Some(Ok(OmResponse::KeyOpened { open_id, .. }))) => *open_id,
            (
                OmOp::OpenKey {
                    volume,
                    bucket,
                    key,
                    ..
                },
                None,
            ) => state.unknown_open_id(volume, bucket, key),
            _ => 0,
        };
        let mut next = state.clone();
        let expected = next.apply(index, 0, input);
        match output {
            None => Some(next),
            Some(observed) => matches(&expected, observed).then_some(next),
        }
    }

    fn is_read_only(&self, input: &OmOp, output: Option<&OmOutcome>) -> bool {
        input.is_read() || matches!(output, Some(Err(_)))
    }

    fn footprint(&self, input: &OmOp, output: Option<&OmOutcome>) -> Footprint {
        footprint::footprint(input, output)
    }

    /// A request that fails changes nothing, and whether it fails depends only on what it
    /// reads.
    fn is_inert(&self, state: &OmModel, input: &OmOp) -> bool {
        state.clone().apply(0, 0, input).is_err()
    }

    /// Failing with the same error needs only what that answer reads.
    fn inert_footprint(&self, state: &OmModel, input: &OmOp) -> Option<Footprint> {
        let failure = state.clone().apply(0, 0, input).err()?;
        Some(self.footprint(input, Some(&Err(failure))))
    }

    /// By volume, unless some `ListVolumes` spans them all.
    fn partition(&self, operations: &[Operation<OmOp, OmOutcome>]) -> Vec<Vec<usize>> {
        let mut parts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, operation) in operations.iter().enumerate() {
            let Some(volume) = operation.input.volume() else {
                return vec![(0..operations.len()).collect()];
            };
            parts.entry(volume).or_default().push(index);
        }
        parts.into_values().collect()
    }

    fn describe_operation(&self, input: &OmOp, output: Option<&OmOutcome>) -> String {
        describe::operation(input, output)
    }

    fn describe_state(&self, state: &OmModel) -> String {
        describe::state(state)
    }
}
