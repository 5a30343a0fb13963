//! Snapshots cross the network in chunks, each its own call with its own deadline, so a state
//! of any size transfers: one frame is capped at `frame_bytes_max`, one call at openraft's
//! `install_snapshot_timeout`. The receiver reassembles the chunks of one transfer, keyed by
//! the leader's vote and the snapshot's last log id, and installs the snapshot on the last.
//!
//! To ensure correctness:
//! - the sender sends one chunk at a time and waits for its answer, so chunks arrive in order;
//!   a chunk that does not continue the transfer in hand is refused, the sender fails, and
//!   openraft sends the whole snapshot again (from offset 0, which restarts the assembly);
//! - a new transfer (another vote or another snapshot) replaces an unfinished one;
//! - only the last chunk installs, with every byte of the snapshot received.

use super::network::PeerRequest;
use super::{LogId, Snapshot, SnapshotMeta, Vote};
use crate::transport::{payload_bytes, RequestEnvelope};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Bytes a chunk's length prefix may take beyond the empty chunk's (a varint u64, at most).
const DATA_LENGTH_PREFIX_BYTES_MAX: usize = 9;

/// One piece of a snapshot's bytes, with what identifies its transfer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotChunk {
    pub vote: Vote,
    pub meta: SnapshotMeta,
    /// Where `data` starts in the snapshot's bytes.
    pub offset: u64,
    /// The snapshot's size in bytes.
    pub total_bytes: u64,
    pub data: Vec<u8>,
}

/// The largest `data` a chunk of this transfer may carry so that its request fits one frame,
/// at most `preferred` (openraft's `snapshot_max_chunk_size`). `None`: not even one byte fits.
pub fn chunk_bytes_max(
    vote: &Vote,
    meta: &SnapshotMeta,
    frame_bytes_max: usize,
    preferred: Option<usize>,
) -> Option<usize> {
    let empty = RequestEnvelope {
        call_id: u64::MAX,
        request: PeerRequest::SnapshotChunk(SnapshotChunk {
            vote: *vote,
            meta: meta.clone(),
            offset: u64::MAX,
            total_bytes: u64::MAX,
            data: Vec::new(),
        }),
    };
    let overhead = payload_bytes(&empty).ok()? + DATA_LENGTH_PREFIX_BYTES_MAX;
    let room = frame_bytes_max
        .checked_sub(overhead)
        .filter(|room| *room > 0)?;
    Some(preferred.map_or(room, |preferred| room.min(preferred.max(1))))
}

/// What receiving one chunk led to.
#[derive(Debug)]
pub enum ChunkReceived {
    /// More chunks are expected; this many bytes are in hand.
    Stored { received_bytes: u64 },
    /// The last chunk: the whole snapshot, to install with the sender's vote.
    Complete { vote: Vote, snapshot: Snapshot },
}

struct Assembly {
    vote: Vote,
    last_log_id: Option<LogId>,
    total_bytes: u64,
    data: Vec<u8>,
}

/// The receiving side: at most one transfer in hand.
#[derive(Default)]
pub struct SnapshotAssembly {
    current: Mutex<Option<Assembly>>,
}

impl SnapshotAssembly {
    pub fn new() -> SnapshotAssembly {
        SnapshotAssembly::default()
    }

    /// Adds `chunk` to its transfer; refuses one that does not continue the transfer in hand.
    pub fn receive(&self, chunk: SnapshotChunk) -> Result<ChunkReceived, String> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if chunk.offset == 0 {
            *current = Some(Assembly {
                vote: chunk.vote,
                last_log_id: chunk.meta.last_log_id,
                total_bytes: chunk.total_bytes,
                data: Vec::new(),
            });
        }
        let assembly = current.as_mut().filter(|assembly| {
            assembly.vote == chunk.vote
                && assembly.last_log_id == chunk.meta.last_log_id
                && assembly.total_bytes == chunk.total_bytes
        });
        let Some(assembly) = assembly else {
            return Err(format!(
                "snapshot chunk at offset {} belongs to no transfer in hand",
                chunk.offset
            ));
        };
        let received = assembly.data.len() as u64;
        let end = chunk.offset.saturating_add(chunk.data.len() as u64);
        if chunk.offset != received || end > assembly.total_bytes {
            return Err(format!(
                "snapshot chunk of bytes {}..{end} of {} after {received} bytes received",
                chunk.offset, assembly.total_bytes
            ));
        }
        assembly.data.extend_from_slice(&chunk.data);
        if end < assembly.total_bytes {
            return Ok(ChunkReceived::Stored {
                received_bytes: end,
            });
        }
        let assembly = current.take().expect("the transfer in hand");
        Ok(ChunkReceived::Complete {
            vote: assembly.vote,
            snapshot: Snapshot {
                meta: chunk.meta,
                snapshot: std::io::Cursor::new(assembly.data),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(term: u64, offset: u64, data: &[u8]) -> SnapshotChunk {
        SnapshotChunk {
            vote: Vote::new(term, 1),
            meta: SnapshotMeta::default(),
            offset,
            total_bytes: 6,
            data: data.to_vec(),
        }
    }

    fn stored(received: Result<ChunkReceived, String>) -> u64 {
        match received {
            Ok(ChunkReceived::Stored { received_bytes }) => received_bytes,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chunks_in_order_make_the_snapshot_and_others_are_refused() {
        let assembly = SnapshotAssembly::new();
        let refused = assembly.receive(chunk(1, 2, b"cd")).unwrap_err();
        assert!(refused.contains("no transfer in hand"), "{refused}");
        assert_eq!(stored(assembly.receive(chunk(1, 0, b"ab"))), 2);
        // Out of order, or from another leader's transfer: refused, the transfer in hand stays.
        let refused = assembly.receive(chunk(1, 4, b"ef")).unwrap_err();
        assert!(refused.contains("bytes 4..6 of 6 after 2"), "{refused}");
        let refused = assembly.receive(chunk(2, 2, b"cd")).unwrap_err();
        assert!(refused.contains("no transfer in hand"), "{refused}");
        assert_eq!(stored(assembly.receive(chunk(1, 2, b"cd"))), 4);
        let refused = assembly.receive(chunk(1, 4, b"efg")).unwrap_err();
        assert!(refused.contains("bytes 4..7 of 6"), "{refused}");
        match assembly.receive(chunk(1, 4, b"ef")) {
            Ok(ChunkReceived::Complete { vote, snapshot }) => {
                assert_eq!(vote, Vote::new(1, 1));
                assert_eq!(snapshot.snapshot.into_inner(), b"abcdef");
            }
            other => panic!("{other:?}"),
        }
        // A new transfer starts at offset 0 and replaces an unfinished one.
        assert_eq!(stored(assembly.receive(chunk(1, 0, b"ab"))), 2);
        assert_eq!(stored(assembly.receive(chunk(2, 0, b"xy"))), 2);
        let refused = assembly.receive(chunk(1, 2, b"cd")).unwrap_err();
        assert!(refused.contains("no transfer in hand"), "{refused}");
    }

    #[test]
    fn a_chunk_fits_its_frame() {
        let (vote, meta) = (Vote::new(1, 1), SnapshotMeta::default());
        let room = chunk_bytes_max(&vote, &meta, 4096, None).unwrap();
        let largest = SnapshotChunk {
            vote,
            meta: meta.clone(),
            offset: u64::MAX,
            total_bytes: u64::MAX,
            data: vec![7; room],
        };
        let request = RequestEnvelope {
            call_id: u64::MAX,
            request: PeerRequest::SnapshotChunk(largest),
        };
        assert!(payload_bytes(&request).unwrap() <= 4096);
        assert_eq!(chunk_bytes_max(&vote, &meta, 4096, Some(100)), Some(100));
        assert_eq!(
            chunk_bytes_max(&vote, &meta, 10, None),
            None,
            "nothing fits"
        );
    }
}
