//! Requests, responses and error codes of the OM metadata model (own types, not the server's).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Limits on what a volume or bucket may hold; `None` means unlimited.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Quota {
    /// Maximum bytes used (size times replication factor, summed over committed keys).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Maximum number of children (buckets of a volume, committed keys of a bucket).
    #[serde(default)]
    pub namespace: Option<u64>,
}

/// How a bucket lays out its keys (recorded only: every bucket behaves as an object store).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BucketLayout {
    /// Flat key space.
    ObjectStore,
    /// Directory tree (FSO); recorded only.
    FileSystemOptimized,
    /// Pre-layout buckets.
    Legacy,
}

/// Replication of a key's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Replication {
    /// One copy (Ratis, factor 1).
    RatisOne,
    /// Three copies (Ratis, factor 3).
    RatisThree,
}

impl Replication {
    /// Number of copies: the multiplier of a key's size in quota usage.
    pub fn factor(self) -> u64 {
        match self {
            Replication::RatisOne => 1,
            Replication::RatisThree => 3,
        }
    }
}

/// One OM request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)] // Field meanings follow the variant names (DESIGN.md, metadata operations).
pub enum OmOp {
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
        max: u64,
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
        max: u64,
    },
    OpenKey {
        volume: String,
        bucket: String,
        key: String,
        size: u64,
        replication: Replication,
        metadata: BTreeMap<String, String>,
    },
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
        max: u64,
    },
    ListOpenKeys {
        volume: String,
        bucket: String,
        prefix: String,
        start: String,
        max: u64,
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

impl OmOp {
    /// The volume the request is about; `None` for `ListVolumes`, which spans volumes.
    pub fn volume(&self) -> Option<&str> {
        match self {
            OmOp::ListVolumes { .. } => None,
            OmOp::CreateVolume { volume, .. }
            | OmOp::VolumeInfo { volume }
            | OmOp::SetVolumeOwner { volume, .. }
            | OmOp::SetVolumeQuota { volume, .. }
            | OmOp::DeleteVolume { volume }
            | OmOp::CreateBucket { volume, .. }
            | OmOp::BucketInfo { volume, .. }
            | OmOp::SetBucketProperty { volume, .. }
            | OmOp::DeleteBucket { volume, .. }
            | OmOp::ListBuckets { volume, .. }
            | OmOp::OpenKey { volume, .. }
            | OmOp::CommitKey { volume, .. }
            | OmOp::LookupKey { volume, .. }
            | OmOp::ListKeys { volume, .. }
            | OmOp::ListOpenKeys { volume, .. }
            | OmOp::RenameKey { volume, .. }
            | OmOp::DeleteKey { volume, .. } => Some(volume),
        }
    }

    /// True for requests that change nothing.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            OmOp::VolumeInfo { .. }
                | OmOp::ListVolumes { .. }
                | OmOp::BucketInfo { .. }
                | OmOp::ListBuckets { .. }
                | OmOp::LookupKey { .. }
                | OmOp::ListKeys { .. }
                | OmOp::ListOpenKeys { .. }
        )
    }
}

/// A volume as `VolumeInfo` and `ListVolumes` return it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct VolumeInfo {
    pub name: String,
    pub owner: String,
    pub quota_bytes: Option<u64>,
    pub quota_namespace: Option<u64>,
    pub used_bytes: u64,
    /// Number of buckets.
    pub used_namespace: u64,
    pub creation_time_ms: u64,
    pub modification_time_ms: u64,
    pub object_id: u64,
    pub update_id: u64,
}

/// A bucket as `BucketInfo` and `ListBuckets` return it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct BucketInfo {
    pub volume: String,
    pub name: String,
    pub versioning: bool,
    pub layout: BucketLayout,
    pub quota_bytes: Option<u64>,
    pub quota_namespace: Option<u64>,
    pub used_bytes: u64,
    /// Number of committed keys.
    pub used_namespace: u64,
    pub creation_time_ms: u64,
    pub modification_time_ms: u64,
    pub object_id: u64,
    pub update_id: u64,
}

/// A key (committed or open) as the key requests return it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct KeyInfo {
    pub volume: String,
    pub bucket: String,
    pub name: String,
    pub size: u64,
    pub replication: Replication,
    pub block_ids: Vec<u64>,
    pub metadata: BTreeMap<String, String>,
    pub creation_time_ms: u64,
    pub modification_time_ms: u64,
    pub object_id: u64,
    pub update_id: u64,
}

/// An open (uncommitted) key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpenKeyInfo {
    /// The id a commit names: the log index of the open.
    pub open_id: u64,
    /// What the open recorded.
    pub key: KeyInfo,
}

/// A successful response.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum OmResponse {
    /// A write without payload succeeded.
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

/// A domain error, named after Ozone's `OMException.ResultCodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum OmErrorCode {
    InvalidVolumeName,
    VolumeAlreadyExists,
    VolumeNotFound,
    VolumeNotEmpty,
    InvalidBucketName,
    BucketAlreadyExists,
    BucketNotFound,
    BucketNotEmpty,
    InvalidKeyName,
    KeyNotFound,
    KeyAlreadyExists,
    QuotaExceeded,
    InvalidRequest,
    /// The server's refusal of a reused (client id, call id) carrying another request. The
    /// model never answers it: with unique client ids it cannot happen, so a history holding
    /// it is refuted by the linearizability check instead of passing as a normal outcome.
    RetryRequestMismatch,
}

impl OmErrorCode {
    /// Every code the model answers, for conversions and tests.
    pub const ALL: [OmErrorCode; 13] = [
        OmErrorCode::InvalidVolumeName,
        OmErrorCode::VolumeAlreadyExists,
        OmErrorCode::VolumeNotFound,
        OmErrorCode::VolumeNotEmpty,
        OmErrorCode::InvalidBucketName,
        OmErrorCode::BucketAlreadyExists,
        OmErrorCode::BucketNotFound,
        OmErrorCode::BucketNotEmpty,
        OmErrorCode::InvalidKeyName,
        OmErrorCode::KeyNotFound,
        OmErrorCode::KeyAlreadyExists,
        OmErrorCode::QuotaExceeded,
        OmErrorCode::InvalidRequest,
    ];

    /// Codes the server may answer and the model never does: a history holding one is wrong.
    pub const NEVER_ANSWERED: [OmErrorCode; 1] = [OmErrorCode::RetryRequestMismatch];

    /// Ozone's name for the code.
    pub fn code(self) -> &'static str {
        match self {
            OmErrorCode::InvalidVolumeName => "INVALID_VOLUME_NAME",
            OmErrorCode::VolumeAlreadyExists => "VOLUME_ALREADY_EXISTS",
            OmErrorCode::VolumeNotFound => "VOLUME_NOT_FOUND",
            OmErrorCode::VolumeNotEmpty => "VOLUME_NOT_EMPTY",
            OmErrorCode::InvalidBucketName => "INVALID_BUCKET_NAME",
            OmErrorCode::BucketAlreadyExists => "BUCKET_ALREADY_EXISTS",
            OmErrorCode::BucketNotFound => "BUCKET_NOT_FOUND",
            OmErrorCode::BucketNotEmpty => "BUCKET_NOT_EMPTY",
            OmErrorCode::InvalidKeyName => "INVALID_KEY_NAME",
            OmErrorCode::KeyNotFound => "KEY_NOT_FOUND",
            OmErrorCode::KeyAlreadyExists => "KEY_ALREADY_EXISTS",
            OmErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            OmErrorCode::InvalidRequest => "INVALID_REQUEST",
            OmErrorCode::RetryRequestMismatch => "RETRY_REQUEST_MISMATCH",
        }
    }

    /// The code with Ozone's name `code`.
    pub fn from_code(code: &str) -> Option<OmErrorCode> {
        (OmErrorCode::ALL.into_iter())
            .chain(OmErrorCode::NEVER_ANSWERED)
            .find(|candidate| candidate.code() == code)
    }
}

impl fmt::Display for OmErrorCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

/// The full answer to a request: a response or a domain error.
pub type OmOutcome = Result<OmResponse, OmErrorCode>;
