//! Table names and key encoding.
//!
//! Row keys follow Ozone's layout: `/volume`, `/volume/bucket`, `/volume/bucket/key`. Volume
//! and bucket names cannot hold `/`, so `/volume/bucket/` is exactly the prefix of a bucket's
//! keys. Open keys append NUL and the 8-byte big-endian open id to the key row: key names hold
//! no NUL, so rows sort by (key name, open id).

use serde::{Deserialize, Serialize};

/// A named table. Every backend stores each table as its own ordered key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Table {
    Volumes,
    Buckets,
    Keys,
    OpenKeys,
    /// Replicated (client id, call id) -> response.
    RetryCache,
    /// One row: the last applied entry written with each flush.
    TransactionInfo,
    /// Raft log entries by index.
    RaftLog,
    /// Raft vote, committed id, purged id.
    RaftState,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Volumes,
        Table::Buckets,
        Table::Keys,
        Table::OpenKeys,
        Table::RetryCache,
        Table::TransactionInfo,
        Table::RaftLog,
        Table::RaftState,
    ];

    /// Tables that make up the replicated state machine: what a snapshot holds.
    pub const STATE_MACHINE: [Table; 6] = [
        Table::Volumes,
        Table::Buckets,
        Table::Keys,
        Table::OpenKeys,
        Table::RetryCache,
        Table::TransactionInfo,
    ];

    /// Stable on-disk id (never reuse or renumber: it is part of the format).
    pub fn id(self) -> u8 {
        match self {
            Table::Volumes => 1,
            Table::Buckets => 2,
            Table::Keys => 3,
            Table::OpenKeys => 4,
            Table::RetryCache => 5,
            Table::TransactionInfo => 6,
            Table::RaftLog => 7,
            Table::RaftState => 8,
        }
    }

    pub fn from_id(id: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|table| table.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Volumes => "volumeTable",
            Table::Buckets => "bucketTable",
            Table::Keys => "keyTable",
            Table::OpenKeys => "openKeyTable",
            Table::RetryCache => "retryCacheTable",
            Table::TransactionInfo => "transactionInfoTable",
            Table::RaftLog => "raftLogTable",
            Table::RaftState => "raftStateTable",
        }
    }
}

/// The single row of `Table::TransactionInfo`.
pub const TRANSACTION_INFO_ROW: &[u8] = b"#TRANSACTIONINFO";

pub fn volume_row(volume: &str) -> Vec<u8> {
    format!("/{volume}").into_bytes()
}

pub fn bucket_row(volume: &str, bucket: &str) -> Vec<u8> {
    format!("/{volume}/{bucket}").into_bytes()
}

/// Prefix of every bucket row of a volume.
pub fn bucket_prefix(volume: &str) -> Vec<u8> {
    format!("/{volume}/").into_bytes()
}

pub fn key_row(volume: &str, bucket: &str, key: &str) -> Vec<u8> {
    format!("/{volume}/{bucket}/{key}").into_bytes()
}

/// Prefix of every key row (and open-key row) of a bucket.
pub fn key_prefix(volume: &str, bucket: &str) -> Vec<u8> {
    format!("/{volume}/{bucket}/").into_bytes()
}

pub fn open_key_row(volume: &str, bucket: &str, key: &str, open_id: u64) -> Vec<u8> {
    let mut row = key_row(volume, bucket, key);
    row.push(0);
    row.extend_from_slice(&open_id.to_be_bytes());
    row
}

/// The key name of an open-key row of the bucket whose prefix is `prefix`.
pub fn open_key_name(prefix: &[u8], row: &[u8]) -> Option<String> {
    let rest = row.strip_prefix(prefix)?;
    let name = rest.get(..rest.len().checked_sub(9)?)?;
    String::from_utf8(name.to_vec()).ok()
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_key_rows_sort_by_name_then_id() {
        let a = open_key_row("v", "b", "a", 9);
        let a_later = open_key_row("v", "b", "a", 10);
        let a_bang = open_key_row("v", "b", "a!", 1);
        let a_slash = open_key_row("v", "b", "a/b", 1);
        assert!(a < a_later);
        assert!(a_later < a_bang);
        assert!(a_bang < a_slash);
        let prefix = key_prefix("v", "b");
        assert_eq!(open_key_name(&prefix, &a_slash).as_deref(), Some("a/b"));
    }

    #[test]
    fn table_ids_round_trip() {
        for table in Table::ALL {
            assert_eq!(Table::from_id(table.id()), Some(table));
        }
        assert_eq!(Table::from_id(0), None);
    }

    #[test]
    fn prefix_end_skips_full_bytes() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
