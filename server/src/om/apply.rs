//! The single entry point that changes metadata state: a pure function of (state, entry).
//!
//! `apply` reads through a [`MetadataView`] and returns the answer plus the table writes that
//! realise it; it never writes, never reads a clock, never draws randomness. A domain error is
//! a normal answer with no writes; a `StoreError` means the node must stop.

use super::view::MetadataView;
use super::{bucket, key, volume, OmEntry, OmRequest, OmResponse, OmResult};
use crate::error::{OmError, StoreError};
use crate::store::{Rows, Table, TableWrite};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a handler stopped: a replicated domain error, or a store failure (fatal).
pub(super) enum Failure {
    Om(OmError),
    Store(StoreError),
}

impl From<OmError> for Failure {
    fn from(error: OmError) -> Self {
        Failure::Om(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

pub(super) type Handled = Result<OmResponse, Failure>;

/// The entry's identity as handlers see it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stamp {
    pub index: u64,
    pub time_ms: u64,
}

/// What one apply reads and the writes it collects. Handlers read every row before writing
/// any, so reads never need to see this entry's own writes.
pub(super) struct Transaction<'a, V: MetadataView> {
    pub view: &'a V,
    pub stamp: Stamp,
    pub writes: Vec<TableWrite>,
}

impl<V: MetadataView> Transaction<'_, V> {
    pub fn get<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.view.get(table, key)? {
            Some(bytes) => decode(table, &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize>(&mut self, table: Table, key: Vec<u8>, value: &T) {
        let value = Some(encode(value));
        self.writes.push(TableWrite { table, key, value });
    }

    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.writes.push(TableWrite {
            table,
            key,
            value: None,
        });
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("metadata records serialize")
}

pub(super) fn decode<T: DeserializeOwned>(table: Table, bytes: &[u8]) -> Result<T, StoreError> {
    bincode::deserialize(bytes)
        .map_err(|error| StoreError::Corrupt(format!("{}: undecodable row: {error}", table.name())))
}

/// Applies one entry: the answer and the writes to put in the table cache at `entry.index`.
pub fn apply<V: MetadataView>(
    view: &V,
    entry: &OmEntry,
) -> Result<(OmResult, Vec<TableWrite>), StoreError> {
    let stamp = Stamp {
        index: entry.index.0,
        time_ms: entry.time.0,
    };
    let mut transaction = Transaction {
        view,
        stamp,
        writes: Vec::new(),
    };
    match route(&mut transaction, &entry.request) {
        Ok(response) => Ok((Ok(response), transaction.writes)),
        // A domain error writes nothing.
        Err(Failure::Om(error)) => Ok((Err(error), Vec::new())),
        Err(Failure::Store(error)) => Err(error),
    }
}

/// Answers a read request from `view` (reads are never replicated).
pub fn read<V: MetadataView>(view: &V, request: &OmRequest) -> Result<OmResult, StoreError> {
    assert!(request.is_read(), "read() takes read requests only");
    let (result, writes) = apply(
        view,
        &OmEntry {
            index: crate::types::LogIndex(0),
            time: crate::types::TimeMs(0),
            request: request.clone(),
        },
    )?;
    assert!(writes.is_empty());
    Ok(result)
}

fn route<V: MetadataView>(tx: &mut Transaction<'_, V>, request: &OmRequest) -> Handled {
    use OmRequest as R;
    match request {
        R::CreateVolume {
            volume: v,
            owner,
            quota,
        } => volume::on_create(tx, v, owner, *quota),
        R::VolumeInfo { volume: v } => volume::on_info(tx, v),
        R::SetVolumeOwner { volume: v, owner } => volume::on_set_owner(tx, v, owner),
        R::SetVolumeQuota { volume: v, quota } => volume::on_set_quota(tx, v, *quota),
        R::DeleteVolume { volume: v } => volume::on_delete(tx, v),
        R::ListVolumes { prefix, start, max } => volume::on_list(tx, prefix, start, *max),
        R::CreateBucket {
            volume: v,
            bucket: b,
            versioning,
            layout,
            quota,
        } => bucket::on_create(tx, v, b, *versioning, *layout, *quota),
        R::BucketInfo {
            volume: v,
            bucket: b,
        } => bucket::on_info(tx, v, b),
        R::SetBucketProperty {
            volume: v,
            bucket: b,
            versioning,
            quota,
        } => bucket::on_set_property(tx, v, b, *versioning, *quota),
        R::DeleteBucket {
            volume: v,
            bucket: b,
        } => bucket::on_delete(tx, v, b),
        R::ListBuckets {
            volume: v,
            prefix,
            start,
            max,
        } => bucket::on_list(tx, v, prefix, start, *max),
        R::OpenKey {
            volume: v,
            bucket: b,
            key: k,
            size,
            replication,
            metadata,
        } => key::on_open(
            tx,
            key::OpenArgs {
                volume: v,
                bucket: b,
                key: k,
                size: *size,
                replication: *replication,
                metadata,
            },
        ),
        R::CommitKey {
            volume: v,
            bucket: b,
            key: k,
            open_id,
            size,
        } => key::on_commit(tx, v, b, k, *open_id, *size),
        R::LookupKey {
            volume: v,
            bucket: b,
            key: k,
        } => key::on_lookup(tx, v, b, k),
        R::ListKeys {
            volume: v,
            bucket: b,
            prefix,
            start,
            max,
        } => key::on_list(tx, v, b, prefix, start, *max),
        R::ListOpenKeys {
            volume: v,
            bucket: b,
            prefix,
            start,
            max,
        } => key::on_list_open(tx, v, b, prefix, start, *max),
        R::RenameKey {
            volume: v,
            bucket: b,
            from_key,
            to_key,
        } => key::on_rename(tx, v, b, from_key, to_key),
        R::DeleteKey {
            volume: v,
            bucket: b,
            key: k,
        } => key::on_delete(tx, v, b, k),
    }
}

/// Rows of a list request: names starting with `prefix`, after `start` when non-empty.
pub(super) fn list_rows<V: MetadataView>(
    tx: &Transaction<'_, V>,
    table: Table,
    row_prefix: &[u8],
    prefix: &str,
    start: &str,
    max: usize,
) -> Result<Rows, StoreError> {
    let limit = max.min(crate::limits::LIST_ENTRIES_MAX);
    let mut full_prefix = row_prefix.to_vec();
    full_prefix.extend_from_slice(prefix.as_bytes());
    let after = (!start.is_empty()).then(|| [row_prefix, start.as_bytes()].concat());
    if crate::bug_zoo::planted(crate::bug_zoo::Defect::ListStartInclusive) {
        let rows = tx.view.scan(table, &full_prefix, None, usize::MAX)?;
        let from = after.unwrap_or_default();
        return Ok((rows.into_iter())
            .filter(|(key, _)| *key >= from)
            .take(limit)
            .collect());
    }
    tx.view.scan(table, &full_prefix, after.as_deref(), limit)
}
