//! Errors. `OmError` mirrors Ozone's `OMException.ResultCodes` and is a replicated result;
//! `StoreError` is an operating failure of the store and stops the node.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A domain error answered to the client. Apply produces the same one on every replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OmError {
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
    /// A call (client id, call id) already applied came again with a different request: ids
    /// were reused. Nothing is applied; the recorded answer stays for true retries.
    RetryRequestMismatch,
    /// Ozone's `OMNotLeaderException`: the leader's node id and address when known.
    NotLeader {
        leader_id: Option<u64>,
        leader_address: Option<String>,
    },
    /// Ozone's `OMLeaderNotReadyException`: retry the same node after a wait.
    LeaderNotReady,
    /// The node cannot serve (store failed, shutting down); never a replicated result.
    InternalError(String),
}

impl OmError {
    /// The Ozone result-code name.
    pub fn code(&self) -> &'static str {
        match self {
            OmError::InvalidVolumeName => "INVALID_VOLUME_NAME",
            OmError::VolumeAlreadyExists => "VOLUME_ALREADY_EXISTS",
            OmError::VolumeNotFound => "VOLUME_NOT_FOUND",
            OmError::VolumeNotEmpty => "VOLUME_NOT_EMPTY",
            OmError::InvalidBucketName => "INVALID_BUCKET_NAME",
            OmError::BucketAlreadyExists => "BUCKET_ALREADY_EXISTS",
            OmError::BucketNotFound => "BUCKET_NOT_FOUND",
            OmError::BucketNotEmpty => "BUCKET_NOT_EMPTY",
            OmError::InvalidKeyName => "INVALID_KEY_NAME",
            OmError::KeyNotFound => "KEY_NOT_FOUND",
            OmError::KeyAlreadyExists => "KEY_ALREADY_EXISTS",
            OmError::QuotaExceeded => "QUOTA_EXCEEDED",
            OmError::InvalidRequest => "INVALID_REQUEST",
            OmError::RetryRequestMismatch => "RETRY_REQUEST_MISMATCH",
            OmError::NotLeader { .. } => "NOT_LEADER",
            OmError::LeaderNotReady => "LEADER_NOT_READY",
            OmError::InternalError(_) => "INTERNAL_ERROR",
        }
    }
}

impl fmt::Display for OmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OmError::NotLeader {
                leader_id,
                leader_address,
            } => write!(
                f,
                "NOT_LEADER (leader: {}, address: {})",
                leader_id.map_or("unknown".to_string(), |id| id.to_string()),
                leader_address.as_deref().unwrap_or("unknown"),
            ),
            OmError::InternalError(reason) => write!(f, "INTERNAL_ERROR: {reason}"),
            other => f.write_str(other.code()),
        }
    }
}

impl std::error::Error for OmError {}

/// The store failed. Apply and flush stop on it: the node fails instead of diverging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The device refused a write or a sync (real I/O error or injected fault).
    Io(String),
    /// Stored bytes do not decode: corruption or a bug.
    Corrupt(String),
    /// The store's on-disk format version is not one this build reads.
    UnsupportedFormat { found: u32, supported: u32 },
    /// The store was closed or its node crashed.
    Closed,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(reason) => write!(f, "store I/O error: {reason}"),
            StoreError::Corrupt(reason) => write!(f, "store corrupt: {reason}"),
            StoreError::UnsupportedFormat { found, supported } => write!(
                f,
                "store format version {found} is not supported (this build reads version {supported})"
            ),
            StoreError::Closed => f.write_str("store closed"),
        }
    }
}

impl std::error::Error for StoreError {}
