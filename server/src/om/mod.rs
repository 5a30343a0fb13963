//! The OM metadata model: requests, responses and the records they read and write.
//!
//! Semantics (the reference model in `sim/` implements the same rules independently):
//!
//! - Checks run in a fixed order: stateless checks first, in argument order (volume name,
//!   bucket name, key name(s), size), then state checks (volume exists, bucket exists, the
//!   operation's own conditions). Every operation validates every name it takes; an invalid
//!   name can never exist.
//! - Volume ops on a missing volume: `VOLUME_NOT_FOUND`. Bucket and key ops: a missing volume
//!   is `VOLUME_NOT_FOUND`, a missing bucket `BUCKET_NOT_FOUND`.
//! - Object ids derive from the log index of the creating entry; an open key's `open_id` is the
//!   index of its open; its blocks are `index * BLOCKS_PER_KEY_MAX + n`, one per started
//!   `BLOCK_SIZE_BYTES`. Times come from the entry's leader-stamped time.
//! - Usage: a key uses `size * replication factor` bytes of its bucket and its volume; a bucket
//!   counts its committed keys (namespace), a volume its buckets. Quotas (None = unlimited)
//!   are checked on commit (bytes of bucket then volume, and the bucket's key count) and on
//!   bucket create (the volume's bucket count); setting a quota below current usage is
//!   `QUOTA_EXCEEDED`. A failed request changes nothing.
//! - Lists return names in byte order, `> start` when `start` is non-empty, starting with
//!   `prefix`, at most `min(max, LIST_ENTRIES_MAX)` entries.

pub mod apply;
mod bucket;
mod key;
pub mod names;
pub mod records;
pub mod view;
mod volume;

pub use apply::apply;
pub use records::{BucketInfo, BucketLayout, KeyInfo, OpenKeyInfo, Replication, VolumeInfo};
pub use view::{MetadataView, TableWrite};

use crate::error::OmError;
use crate::types::{LogIndex, TimeMs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A quota: `None` in a field means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub bytes: Option<u64>,
    pub namespace: Option<u64>,
}

/// One OM operation. Reads (`*Info`, `Lookup*`, `List*`) change nothing and are not replicated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OmRequest {
    CreateVolume {
        volume: String,
        owner: String,
        quota: Quota,
    },
    VolumeInfo {
        volume: String,
    },
    SetVolumeOwner {
        volume: String,
        owner: String,
    },
    SetVolumeQuota {
        volume: String,
        quota: Quota,
    },
    DeleteVolume {
        volume: String,
    },
    ListVolumes {
        prefix: String,
        start: String,
        max: usize,
    },
    CreateBucket {
        volume: String,
        bucket: String,
        versioning: bool,
        layout: BucketLayout,
        quota: Quota,
    },
    BucketInfo {
        volume: String,
        bucket: String,
    },
    /// `None` leaves a property unchanged.
    SetBucketProperty {
        volume: String,
        bucket: String,
        versioning: Option<bool>,
        quota: Option<Quota>,
    },
    DeleteBucket {
        volume: String,
        bucket: String,
    },
    ListBuckets {
        volume: String,
        prefix: String,
        start: String,
        max: usize,
    },
    /// First phase of a key write: records an open key and allocates its blocks.
    OpenKey {
        volume: String,
        bucket: String,
        key: String,
        size: u64,
        replication: Replication,
        metadata: BTreeMap<String, String>,
    },
    /// Second phase: moves the open key to the key table with its final size.
    CommitKey {
        volume: String,
        bucket: String,
        key: String,
        open_id: u64,
        size: u64,
    },
    LookupKey {
        volume: String,
        bucket: String,
        key: String,
    },
    ListKeys {
        volume: String,
        bucket: String,
        prefix: String,
        start: String,
        max: usize,
    },
    /// Open keys of a bucket, ordered by (key, open_id); `start` is a key name (exclusive).
    ListOpenKeys {
        volume: String,
        bucket: String,
        prefix: String,
        start: String,
        max: usize,
    },
    RenameKey {
        volume: String,
        bucket: String,
        from_key: String,
        to_key: String,
    },
    DeleteKey {
        volume: String,
        bucket: String,
        key: String,
    },
}

impl OmRequest {
    /// Reads are served from local state and never enter the Raft log.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            OmRequest::VolumeInfo { .. }
                | OmRequest::ListVolumes { .. }
                | OmRequest::BucketInfo { .. }
                | OmRequest::ListBuckets { .. }
                | OmRequest::LookupKey { .. }
                | OmRequest::ListKeys { .. }
                | OmRequest::ListOpenKeys { .. }
        )
    }
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OmResponse {
    /// A write without a payload succeeded.
    Done,
    Volume(VolumeInfo),
    Volumes(Vec<VolumeInfo>),
    Bucket(BucketInfo),
    Buckets(Vec<BucketInfo>),
    KeyOpened {
        open_id: u64,
        block_ids: Vec<u64>,
    },
    Key(KeyInfo),
    Keys(Vec<KeyInfo>),
    OpenKeys(Vec<OpenKeyInfo>),
}

/// What a request answers: a response or a domain error (both replicated results).
pub type OmResult = Result<OmResponse, OmError>;

/// One replicated entry as apply sees it: the leader stamped `time`, Raft chose `index`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmEntry {
    pub index: LogIndex,
    pub time: TimeMs,
    pub request: OmRequest,
}
