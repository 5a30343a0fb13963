//! The records stored in the metadata tables (and returned by reads).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    pub name: String,
    pub owner: String,
    pub quota_bytes: Option<u64>,
    /// Maximum number of buckets.
    pub quota_namespace: Option<u64>,
    /// Sum of `size * replication factor` of the volume's committed keys.
    pub used_bytes: u64,
    /// Number of buckets.
    pub used_namespace: u64,
    pub creation_time_ms: u64,
    pub modification_time_ms: u64,
    pub object_id: u64,
    pub update_id: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketLayout {
    ObjectStore,
    FileSystemOptimized,
    Legacy,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub volume: String,
    pub name: String,
    pub versioning: bool,
    pub layout: BucketLayout,
    pub quota_bytes: Option<u64>,
    /// Maximum number of committed keys.
    pub quota_namespace: Option<u64>,
    pub used_bytes: u64,
    /// Number of committed keys.
    pub used_namespace: u64,
    pub creation_time_ms: u64,
    pub modification_time_ms: u64,
    pub object_id: u64,
    pub update_id: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replication {
    RatisOne,
    RatisThree,
}

impl Replication {
    pub fn factor(self) -> u64 {
        match self {
            Replication::RatisOne => 1,
            Replication::RatisThree => 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The log index of the open that created this version.
    pub object_id: u64,
    /// The log index of the last change (commit or rename).
    pub update_id: u64,
}

impl KeyInfo {
    /// Bytes this key counts against its bucket's and volume's quota.
    pub fn used_bytes(&self) -> u64 {
        self.size * self.replication.factor()
    }
}

/// A key between open and commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenKeyInfo {
    pub open_id: u64,
    pub key: KeyInfo,
}
