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

use super::{OmErrorCode, OmOp, OmOutcome, OmResponse, UNKNOWN_OPEN_ID_BASE};
use crate::checker::footprint::Footprint;

/// How a request touches a cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    /// `Write`/`ReadWrite` when the request may have written, else `Read`.
    fn unless_failed(self, writes: bool) -> Access {
        if writes {
            self
        } else {
            Access::Read
        }
    }
}

fn touch<F: std::hash::Hash + ?Sized, C: std::hash::Hash + ?Sized>(
    footprint: Footprint,
    family: &F,
    member: Option<&C>,
    access: Access,
) -> Footprint {
    match access {
        Access::Read => footprint.read(family, member),
        Access::Write => footprint.write(family, member),
        Access::ReadWrite => footprint.read_write(family, member),
    }
}

/// The cells of one volume.
struct Cells<'a> {
    volume: &'a str,
}

impl Cells<'_> {
    fn volume(&self, footprint: Footprint, field: &str, access: Access) -> Footprint {
        touch(footprint, &("volume", self.volume), Some(field), access)
    }

    /// `bucket == None`: every bucket of the volume.
    fn bucket(
        &self,
        footprint: Footprint,
        field: &str,
        bucket: Option<&str>,
        access: Access,
    ) -> Footprint {
        touch(footprint, &("bucket", field, self.volume), bucket, access)
    }

    /// `key == None`: every committed key of the bucket.
    fn key(
        &self,
        footprint: Footprint,
        bucket: &str,
        key: Option<&str>,
        access: Access,
    ) -> Footprint {
        touch(footprint, &("key", self.volume, bucket), key, access)
    }

    /// `open == None`: every open of the bucket; an id `None` stands for the opens whose id is
    /// unknown.
    fn open(
        &self,
        footprint: Footprint,
        bucket: &str,
        open: Option<(&str, Option<u64>)>,
        access: Access,
    ) -> Footprint {
        touch(
            footprint,
            &("open", self.volume, bucket),
            open.as_ref(),
            access,
        )
    }
}

/// The footprint of `op` answered `output` (`None`: lost).
pub(super) fn footprint(op: &OmOp, output: Option<&OmOutcome>) -> Footprint {
    use Access::{Read, Write};
    let Some(volume) = op.volume() else {
        return Footprint::everything(); // ListVolumes reads every volume.
    };
    let cells = Cells { volume };
    if let Some(Err(code)) = output {
        if let Some(failure) = existence_failure(&cells, op, *code) {
            return failure;
        }
    }
    let writes = !matches!(output, Some(Err(_)));
    let reads = cells.volume(Footprint::nothing(), "exists", Read);
    match op {
        OmOp::CreateVolume { .. } | OmOp::DeleteVolume { .. } => {
            let reads = match op {
                OmOp::DeleteVolume { .. } => cells.bucket(reads, "exists", None, Read),
                _ => reads,
            };
            let written = cells.volume(reads, "exists", Write.unless_failed(writes));
            let written = cells.volume(written, "props", Write.unless_failed(writes));
            cells.volume(written, "bytes", Write.unless_failed(writes))
        }
        OmOp::VolumeInfo { .. } => {
            let reads = cells.volume(reads, "props", Read);
            let reads = cells.volume(reads, "bytes", Read);
            cells.bucket(reads, "exists", None, Read)
        }
        OmOp::SetVolumeOwner { .. } | OmOp::SetVolumeQuota { .. } => {
            let reads = cells.volume(reads, "bytes", Read);
            let reads = cells.bucket(reads, "exists", None, Read);
            cells.volume(reads, "props", Write.unless_failed(writes))
        }
        OmOp::ListBuckets { .. } => {
            let reads = cells.bucket(reads, "exists", None, Read);
            let reads = cells.bucket(reads, "props", None, Read);
            cells.bucket(reads, "usage", None, Read)
        }
        OmOp::ListVolumes { .. } => unreachable!("handled above"),
        _ => bucket_footprint(&cells, reads, op, output, writes),
    }
}

/// A request failing for want (or presence) of its volume or bucket reads only their existence:
/// every request checks the volume, then the bucket, before anything else it reads (name
/// checks read nothing).
fn existence_failure(cells: &Cells<'_>, op: &OmOp, code: OmErrorCode) -> Option<Footprint> {
    let volume = cells.volume(Footprint::nothing(), "exists", Access::Read);
    match code {
        OmErrorCode::VolumeNotFound | OmErrorCode::VolumeAlreadyExists => Some(volume),
        OmErrorCode::BucketNotFound | OmErrorCode::BucketAlreadyExists => {
            let bucket = bucket_of(op)?;
            Some(cells.bucket(volume, "exists", Some(bucket), Access::Read))
        }
        _ => None,
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
    use Access::{Read, ReadWrite, Write};
    let Some(bucket) = bucket_of(op) else {
        return Footprint::everything();
    };
    let reads = cells.bucket(reads, "exists", Some(bucket), Read);
    let update = ReadWrite.unless_failed(writes);
    match op {
        OmOp::CreateBucket { .. } | OmOp::DeleteBucket { .. } => {
            let reads = cells.volume(reads, "props", Read);
            let reads = cells.bucket(reads, "exists", None, Read);
            let reads = cells.key(reads, bucket, None, Read);
            let reads = cells.open(reads, bucket, None, Read);
            let written = cells.bucket(reads, "props", Some(bucket), Write.unless_failed(writes));
            let written = cells.bucket(written, "usage", Some(bucket), update);
            cells.bucket(written, "exists", Some(bucket), update)
        }
        OmOp::BucketInfo { .. } => {
            let reads = cells.bucket(reads, "props", Some(bucket), Read);
            cells.bucket(reads, "usage", Some(bucket), Read)
        }
        OmOp::SetBucketProperty { .. } => {
            let reads = cells.bucket(reads, "usage", Some(bucket), Read);
            cells.bucket(reads, "props", Some(bucket), Write.unless_failed(writes))
        }
        OmOp::OpenKey { key, .. } => match output {
            // A lost open's id counts the earlier lost opens of the key.
            None => cells.open(reads, bucket, Some((key, None)), ReadWrite),
            Some(Ok(OmResponse::KeyOpened { open_id, .. })) => {
                cells.open(reads, bucket, Some((key, open_id_cell(*open_id))), Write)
            }
            Some(Err(_)) => reads,
            Some(Ok(_)) => Footprint::everything(),
        },
        OmOp::CommitKey { key, open_id, .. } => {
            let reads = cells.volume(reads, "props", Read);
            let reads = cells.bucket(reads, "props", Some(bucket), Read);
            let reads = cells.open(reads, bucket, Some((key, open_id_cell(*open_id))), update);
            let reads = cells.key(reads, bucket, Some(key), update);
            let reads = cells.bucket(reads, "usage", Some(bucket), update);
            cells.volume(reads, "bytes", update)
        }
        OmOp::LookupKey { key, .. } => cells.key(reads, bucket, Some(key), Read),
        OmOp::ListKeys { .. } => cells.key(reads, bucket, None, Read),
        OmOp::ListOpenKeys { .. } => cells.open(reads, bucket, None, Read),
        OmOp::RenameKey {
            from_key, to_key, ..
        } => {
            let reads = cells.key(reads, bucket, Some(from_key), update);
            cells.key(reads, bucket, Some(to_key), update)
        }
        OmOp::DeleteKey { key, .. } => {
            let reads = cells.key(reads, bucket, Some(key), update);
            let reads = cells.bucket(reads, "usage", Some(bucket), update);
            cells.volume(reads, "bytes", update)
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
