//! Which parts of the namespace a request, with its answer, may read and write (for the search's
//! commutation shortcut, see [`crate::checker::footprint`]).
//!
//! Cells, per volume `v`: `v`'s existence, properties (owner, quotas) and bytes used; per bucket
//! `b` of `v` (family and member): existence (every bucket's existence together is the volume's
//! bucket count), properties (versioning, layout, quotas), usage; per key `k` of `b`: the
//! committed key, and each open `(k, open id)` (opens whose answer was lost share one cell per
//! key: their ids are given in order). Ids and times are zero in client histories, so they are
//! no part of any cell. A failed request writes nothing; a lost one may have written what a
//! success writes.

use super::{OmOp, OmOutcome, OmResponse, UNKNOWN_OPEN_ID_BASE};
use crate::checker::footprint::Footprint;

/// The cells of one volume.
struct Cells<'a> {
    volume: &'a str,
}

impl<'a> Cells<'a> {
    fn volume(&self, footprint: Footprint, field: &str, write: bool) -> Footprint {
        let family = ("volume", self.volume);
        if write {
            footprint.write(&family, Some(field))
        } else {
            footprint.read(&family, Some(field))
        }
    }

    /// `bucket == None`: every bucket of the volume.
    fn bucket(
        &self,
        footprint: Footprint,
        field: &str,
        bucket: Option<&str>,
        write: bool,
    ) -> Footprint {
        let family = ("bucket", field, self.volume);
        if write {
            footprint.write(&family, bucket)
        } else {
            footprint.read(&family, bucket)
        }
    }

    /// `key == None`: every committed key of the bucket.
    fn key(&self, footprint: Footprint, bucket: &str, key: Option<&str>, write: bool) -> Footprint {
        let family = ("key", self.volume, bucket);
        if write {
            footprint.write(&family, key)
        } else {
            footprint.read(&family, key)
        }
    }

    /// `open == None`: every open of the bucket; an id `None` stands for the opens whose id is
    /// unknown.
    fn open(
        &self,
        footprint: Footprint,
        bucket: &str,
        open: Option<(&str, Option<u64>)>,
        write: bool,
    ) -> Footprint {
        let family = ("open", self.volume, bucket);
        if write {
            footprint.write(&family, open.as_ref())
        } else {
            footprint.read(&family, open.as_ref())
        }
    }
}

/// The footprint of `op` answered `output` (`None`: lost).
pub(super) fn footprint(op: &OmOp, output: Option<&OmOutcome>) -> Footprint {
    let Some(volume) = op.volume() else {
        return Footprint::everything(); // ListVolumes reads every volume.
    };
    let cells = Cells { volume };
    let writes = !matches!(output, Some(Err(_)));
    let reads = cells.volume(Footprint::nothing(), "exists", false);
    match op {
        OmOp::CreateVolume { .. } | OmOp::DeleteVolume { .. } => {
            let reads = cells.bucket(reads, "exists", None, false);
            if !writes {
                return reads;
            }
            let written = cells.volume(reads, "exists", true);
            let written = cells.volume(written, "props", true);
            cells.volume(written, "bytes", true)
        }
        OmOp::VolumeInfo { .. } => {
            let reads = cells.volume(reads, "props", false);
            let reads = cells.volume(reads, "bytes", false);
            cells.bucket(reads, "exists", None, false)
        }
        OmOp::SetVolumeOwner { .. } | OmOp::SetVolumeQuota { .. } => {
            let reads = cells.volume(reads, "bytes", false);
            let reads = cells.bucket(reads, "exists", None, false);
            cells.volume(reads, "props", writes)
        }
        OmOp::ListBuckets { .. } => {
            let reads = cells.bucket(reads, "exists", None, false);
            let reads = cells.bucket(reads, "props", None, false);
            cells.bucket(reads, "usage", None, false)
        }
        OmOp::ListVolumes { .. } => unreachable!("handled above"),
        _ => bucket_footprint(&cells, reads, op, output, writes),
    }
}

/// Requests about one bucket or its keys.
fn bucket_footprint(
    cells: &Cells<'_>,
    reads: Footprint,
    op: &OmOp,
    output: Option<&OmOutcome>,
    writes: bool,
) -> Footprint {
    let Some(bucket) = bucket_of(op) else {
        return Footprint::everything();
    };
    let reads = cells.bucket(reads, "exists", Some(bucket), false);
    match op {
        OmOp::CreateBucket { .. } | OmOp::DeleteBucket { .. } => {
            let reads = cells.volume(reads, "props", false);
            let reads = cells.bucket(reads, "exists", None, false);
            let reads = cells.key(reads, bucket, None, false);
            let reads = cells.open(reads, bucket, None, false);
            let reads = cells.bucket(reads, "props", Some(bucket), writes);
            let reads = cells.bucket(reads, "usage", Some(bucket), writes);
            cells.bucket(reads, "exists", Some(bucket), writes)
        }
        OmOp::BucketInfo { .. } => {
            let reads = cells.bucket(reads, "props", Some(bucket), false);
            cells.bucket(reads, "usage", Some(bucket), false)
        }
        OmOp::SetBucketProperty { .. } => {
            let reads = cells.bucket(reads, "usage", Some(bucket), false);
            cells.bucket(reads, "props", Some(bucket), writes)
        }
        OmOp::OpenKey { key, .. } => {
            let id = match output {
                None => None,
                Some(Ok(OmResponse::KeyOpened { open_id, .. })) => open_id_cell(*open_id),
                Some(Err(_)) => return reads,
                Some(Ok(_)) => return Footprint::everything(),
            };
            cells.open(reads, bucket, Some((key, id)), true)
        }
        OmOp::CommitKey { key, open_id, .. } => {
            let reads = cells.volume(reads, "props", false);
            let reads = cells.bucket(reads, "props", Some(bucket), false);
            let reads = cells.open(reads, bucket, Some((key, open_id_cell(*open_id))), writes);
            let reads = cells.key(reads, bucket, Some(key), writes);
            let reads = cells.bucket(reads, "usage", Some(bucket), writes);
            cells.volume(reads, "bytes", writes)
        }
        OmOp::LookupKey { key, .. } => cells.key(reads, bucket, Some(key), false),
        OmOp::ListKeys { .. } => cells.key(reads, bucket, None, false),
        OmOp::ListOpenKeys { .. } => cells.open(reads, bucket, None, false),
        OmOp::RenameKey {
            from_key, to_key, ..
        } => {
            let reads = cells.key(reads, bucket, Some(from_key), writes);
            cells.key(reads, bucket, Some(to_key), writes)
        }
        OmOp::DeleteKey { key, .. } => {
            let reads = cells.key(reads, bucket, Some(key), writes);
            let reads = cells.bucket(reads, "usage", Some(bucket), writes);
            cells.volume(reads, "bytes", writes)
        }
        _ => Footprint::everything(),
    }
}

/// The open cell of an id: ids given to opens whose answer was lost share one cell.
fn open_id_cell(open_id: u64) -> Option<u64> {
    (open_id < UNKNOWN_OPEN_ID_BASE).then_some(open_id)
}

fn bucket_of(op: &OmOp) -> Option<&str> {
    match op {
        OmOp::CreateBucket { bucket, .. }
        | OmOp::BucketInfo { bucket, .. }
        | OmOp::SetBucketProperty { bucket, .. }
        | OmOp::DeleteBucket { bucket, .. }
        | OmOp::OpenKey { bucket, .. }
        | OmOp::CommitKey { bucket, .. }
        | OmOp::LookupKey { bucket, .. }
        | OmOp::ListKeys { bucket, .. }
        | OmOp::ListOpenKeys { bucket, .. }
        | OmOp::RenameKey { bucket, .. }
        | OmOp::DeleteKey { bucket, .. } => Some(bucket),
        _ => None,
    }
}
