//! Volume requests: validate against current state, then write the volume row.

use super::apply::{decode, list_rows, Handled, Transaction};
use super::names::is_valid_resource_name;
use super::view::MetadataView;
use super::{OmResponse, Quota, VolumeInfo};
use crate::error::{OmError, StoreError};
use crate::store::tables::{bucket_prefix, volume_row};
use crate::store::Table;

pub(super) fn check_name(volume: &str) -> Result<(), OmError> {
    if is_valid_resource_name(volume) {
        Ok(())
    } else {
        Err(OmError::InvalidVolumeName)
    }
}

/// The volume's record, or `VOLUME_NOT_FOUND`.
pub(super) fn existing<V: MetadataView>(
    tx: &Transaction<'_, V>,
    volume: &str,
) -> Result<VolumeInfo, super::apply::Failure> {
    let info: Option<VolumeInfo> = tx.get(Table::Volumes, &volume_row(volume))?;
    Ok(info.ok_or(OmError::VolumeNotFound)?)
}

pub(super) fn on_create<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    owner: &str,
    quota: Quota,
) -> Handled {
    check_name(volume)?;
    let row = volume_row(volume);
    if tx.get::<VolumeInfo>(Table::Volumes, &row)?.is_some() {
        return Err(OmError::VolumeAlreadyExists.into());
    }
    let info = VolumeInfo {
        name: volume.to_string(),
        owner: owner.to_string(),
        quota_bytes: quota.bytes,
        quota_namespace: quota.namespace,
        used_bytes: 0,
        used_namespace: 0,
        creation_time_ms: tx.stamp.time_ms,
        modification_time_ms: tx.stamp.time_ms,
        object_id: tx.stamp.index,
        update_id: tx.stamp.index,
    };
    tx.put(Table::Volumes, row, &info);
    Ok(OmResponse::Done)
}

pub(super) fn on_info<V: MetadataView>(tx: &mut Transaction<'_, V>, volume: &str) -> Handled {
    check_name(volume)?;
    Ok(OmResponse::Volume(existing(tx, volume)?))
}

pub(super) fn on_set_owner<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    owner: &str,
) -> Handled {
    check_name(volume)?;
    let mut info = existing(tx, volume)?;
    info.owner = owner.to_string();
    info.modification_time_ms = tx.stamp.time_ms;
    info.update_id = tx.stamp.index;
    tx.put(Table::Volumes, volume_row(volume), &info);
    Ok(OmResponse::Done)
}

pub(super) fn on_set_quota<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    quota: Quota,
) -> Handled {
    check_name(volume)?;
    let mut info = existing(tx, volume)?;
    if quota.bytes.is_some_and(|bytes| bytes < info.used_bytes)
        || quota
            .namespace
            .is_some_and(|namespace| namespace < info.used_namespace)
    {
        return Err(OmError::QuotaExceeded.into());
    }
    info.quota_bytes = quota.bytes;
    info.quota_namespace = quota.namespace;
    info.modification_time_ms = tx.stamp.time_ms;
    info.update_id = tx.stamp.index;
    tx.put(Table::Volumes, volume_row(volume), &info);
    Ok(OmResponse::Done)
}

pub(super) fn on_delete<V: MetadataView>(tx: &mut Transaction<'_, V>, volume: &str) -> Handled {
    check_name(volume)?;
    existing(tx, volume)?;
    if !tx
        .view
        .scan(Table::Buckets, &bucket_prefix(volume), None, 1)?
        .is_empty()
    {
        return Err(OmError::VolumeNotEmpty.into());
    }
    tx.delete(Table::Volumes, volume_row(volume));
    Ok(OmResponse::Done)
}

pub(super) fn on_list<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    prefix: &str,
    start: &str,
    max: usize,
) -> Handled {
    let rows = list_rows(tx, Table::Volumes, b"/", prefix, start, max)?;
    let volumes = (rows.iter())
        .map(|(_, value)| decode(Table::Volumes, value))
        .collect::<Result<Vec<VolumeInfo>, StoreError>>()?;
    Ok(OmResponse::Volumes(volumes))
}
