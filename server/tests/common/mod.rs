//! Helpers shared by the server's integration tests.
#![allow(dead_code)]

use om_server::om::view::MemoryTables;
use om_server::om::{self, MetadataView, OmEntry, OmRequest, OmResult, Quota};
use om_server::types::{LogIndex, TimeMs};
use std::future::Future;

/// Runs a future on a fresh runtime of the build's kind; time is virtual in both (madsim's
/// simulated clock, or tokio's paused clock that jumps when every task waits).
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(madsim)]
    {
        madsim::runtime::Runtime::new().block_on(future)
    }
    #[cfg(not(madsim))]
    {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime")
            .block_on(future)
    }
}

pub fn entry(index: u64, request: OmRequest) -> OmEntry {
    OmEntry {
        index: LogIndex(index),
        time: TimeMs(1_700_000_000_000 + index * 1000),
        request,
    }
}

/// Applies requests in order to in-memory tables, as a single replica would.
pub struct MemoryReplica {
    pub tables: MemoryTables,
    pub next_index: u64,
}

impl Default for MemoryReplica {
    fn default() -> Self {
        MemoryReplica {
            tables: MemoryTables::default(),
            next_index: 1,
        }
    }
}

impl MemoryReplica {
    pub fn submit(&mut self, request: OmRequest) -> OmResult {
        let entry = entry(self.next_index, request);
        self.next_index += 1;
        let (result, writes) = om::apply(&self.tables, &entry).expect("memory tables never fail");
        self.tables.write(&writes);
        result
    }

    pub fn read(&self, request: OmRequest) -> OmResult {
        om::apply::read(&self.tables, &request).expect("memory tables never fail")
    }
}

pub fn create_volume(volume: &str) -> OmRequest {
    OmRequest::CreateVolume {
        volume: volume.to_string(),
        owner: "hadoop".to_string(),
        quota: Quota::default(),
    }
}

pub fn create_bucket(volume: &str, bucket: &str) -> OmRequest {
    OmRequest::CreateBucket {
        volume: volume.to_string(),
        bucket: bucket.to_string(),
        versioning: false,
        layout: om::BucketLayout::ObjectStore,
        quota: Quota::default(),
    }
}

pub fn open_key(volume: &str, bucket: &str, key: &str, size: u64) -> OmRequest {
    OmRequest::OpenKey {
        volume: volume.to_string(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        size,
        replication: om::Replication::RatisThree,
        metadata: Default::default(),
    }
}

pub fn commit_key(volume: &str, bucket: &str, key: &str, open_id: u64, size: u64) -> OmRequest {
    OmRequest::CommitKey {
        volume: volume.to_string(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        open_id,
        size,
    }
}

/// Every row of the metadata tables, to compare whole states.
pub fn dump<V: MetadataView>(view: &V) -> Vec<(om_server::store::Table, Vec<u8>, Vec<u8>)> {
    use om_server::store::Table;
    let mut rows = Vec::new();
    for table in [Table::Volumes, Table::Buckets, Table::Keys, Table::OpenKeys] {
        for (key, value) in view.scan(table, b"", None, usize::MAX).expect("scan") {
            rows.push((table, key, value));
        }
    }
    rows
}
