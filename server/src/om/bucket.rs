//! Bucket requests. A bucket's existence and the volume's bucket count change together.

use super::apply::{decode, list_rows, Failure, Handled, Transaction};
use super::names::is_valid_resource_name;
use super::view::MetadataView;
use super::{volume, BucketInfo, BucketLayout, OmResponse, Quota};
use crate::error::{OmError, StoreError};
use crate::store::tables::{bucket_prefix, bucket_row, key_prefix, volume_row};
use crate::store::Table;

pub(super) fn check_names(volume: &str, bucket: &str) -> Result<(), OmError> {
    volume::check_name(volume)?;
    if is_valid_resource_name(bucket) {
        Ok(())
    } else {
        Err(OmError::InvalidBucketName)
    }
}

/// The bucket's record: `VOLUME_NOT_FOUND` or `BUCKET_NOT_FOUND` if absent.
pub(super) fn existing<V: MetadataView>(
    tx: &Transaction<'_, V>,
    volume: &str,
    bucket: &str,
) -> Result<(super::VolumeInfo, BucketInfo), Failure> {
    let volume_info = volume::existing(tx, volume)?;
    let info: Option<BucketInfo> = tx.get(Table::Buckets, &bucket_row(volume, bucket))?;
    Ok((volume_info, info.ok_or(OmError::BucketNotFound)?))
}

pub(super) fn on_create<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    versioning: bool,
    layout: BucketLayout,
    quota: Quota,
) -> Handled {
    check_names(volume, bucket)?;
    let mut volume_info = volume::existing(tx, volume)?;
    let row = bucket_row(volume, bucket);
    if tx.get::<BucketInfo>(Table::Buckets, &row)?.is_some() {
        return Err(OmError::BucketAlreadyExists.into());
    }
    if volume_info
        .quota_namespace
        .is_some_and(|quota| volume_info.used_namespace + 1 > quota)
    {
        return Err(OmError::QuotaExceeded.into());
    }
    let info = BucketInfo {
        volume: volume.to_string(),
        name: bucket.to_string(),
        versioning,
        layout,
        quota_bytes: quota.bytes,
        quota_namespace: quota.namespace,
        used_bytes: 0,
        used_namespace: 0,
        creation_time_ms: tx.stamp.time_ms,
        modification_time_ms: tx.stamp.time_ms,
        object_id: tx.stamp.index,
        update_id: tx.stamp.index,
    };
    volume_info.used_namespace += 1;
    tx.put(Table::Buckets, row, &info);
    tx.put(Table::Volumes, volume_row(volume), &volume_info);
    Ok(OmResponse::Done)
}

pub(super) fn on_info<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
) -> Handled {
    check_names(volume, bucket)?;
    Ok(OmResponse::Bucket(existing(tx, volume, bucket)?.1))
}

pub(super) fn on_set_property<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    versioning: Option<bool>,
    quota: Option<Quota>,
) -> Handled {
    check_names(volume, bucket)?;
    let (_, mut info) = existing(tx, volume, bucket)?;
    if let Some(quota) = quota {
        if quota.bytes.is_some_and(|bytes| bytes < info.used_bytes)
            || quota
                .namespace
                .is_some_and(|namespace| namespace < info.used_namespace)
        {
            return Err(OmError::QuotaExceeded.into());
        }
        info.quota_bytes = quota.bytes;
        info.quota_namespace = quota.namespace;
    }
    if let Some(versioning) = versioning {
        info.versioning = versioning;
    }
    info.modification_time_ms = tx.stamp.time_ms;
    info.update_id = tx.stamp.index;
    tx.put(Table::Buckets, bucket_row(volume, bucket), &info);
    Ok(OmResponse::Done)
}

pub(super) fn on_delete<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
) -> Handled {
    check_names(volume, bucket)?;
    let (mut volume_info, _) = existing(tx, volume, bucket)?;
    let prefix = key_prefix(volume, bucket);
    let has_keys = !tx.view.scan(Table::Keys, &prefix, None, 1)?.is_empty();
    let has_open_keys = !tx.view.scan(Table::OpenKeys, &prefix, None, 1)?.is_empty();
    if has_keys || has_open_keys {
        return Err(OmError::BucketNotEmpty.into());
    }
    volume_info.used_namespace -= 1;
    tx.delete(Table::Buckets, bucket_row(volume, bucket));
    tx.put(Table::Volumes, volume_row(volume), &volume_info);
    Ok(OmResponse::Done)
}

pub(super) fn on_list<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    prefix: &str,
    start: &str,
    max: usize,
) -> Handled {
    volume::check_name(volume)?;
    volume::existing(tx, volume)?;
    let rows = list_rows(
        tx,
        Table::Buckets,
        &bucket_prefix(volume),
        prefix,
        start,
        max,
    )?;
    let buckets = (rows.iter())
        .map(|(_, value)| decode(Table::Buckets, value))
        .collect::<Result<Vec<BucketInfo>, StoreError>>()?;
    Ok(OmResponse::Buckets(buckets))
}
