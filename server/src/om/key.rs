//! Key requests: two-phase write (open, commit), lookup, list, rename, delete.
//! A commit changes the key row, the open-key row and the usage of bucket and volume together.

use super::apply::{decode, list_rows, Failure, Handled, Transaction};
use super::names::is_valid_key_name;
use super::view::MetadataView;
use super::{bucket, BucketInfo, KeyInfo, OmResponse, OpenKeyInfo, Replication, VolumeInfo};
use crate::error::{OmError, StoreError};
use crate::limits::{BLOCKS_PER_KEY_MAX, BLOCK_SIZE_BYTES, KEY_SIZE_BYTES_MAX};
use crate::store::tables::{bucket_row, key_prefix, key_row, open_key_row, volume_row};
use crate::store::Table;
use std::collections::BTreeMap;

fn check_key_name(key: &str) -> Result<(), OmError> {
    if is_valid_key_name(key) {
        Ok(())
    } else {
        Err(OmError::InvalidKeyName)
    }
}

fn check_size(size: u64) -> Result<(), OmError> {
    if size <= KEY_SIZE_BYTES_MAX {
        Ok(())
    } else {
        Err(OmError::InvalidRequest)
    }
}

/// Block ids derive from the log index of the open: no generator, no randomness.
fn allocate_blocks(index: u64, size: u64) -> Vec<u64> {
    let count = size.div_ceil(BLOCK_SIZE_BYTES);
    debug_assert!(count <= BLOCKS_PER_KEY_MAX);
    (0..count).map(|n| index * BLOCKS_PER_KEY_MAX + n).collect()
}

pub(super) struct OpenArgs<'a> {
    pub volume: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub size: u64,
    pub replication: Replication,
    pub metadata: &'a BTreeMap<String, String>,
}

pub(super) fn on_open<V: MetadataView>(tx: &mut Transaction<'_, V>, args: OpenArgs<'_>) -> Handled {
    bucket::check_names(args.volume, args.bucket)?;
    check_key_name(args.key)?;
    check_size(args.size)?;
    bucket::existing(tx, args.volume, args.bucket)?;
    let index = tx.stamp.index;
    let block_ids = allocate_blocks(index, args.size);
    let open_key = OpenKeyInfo {
        open_id: index,
        key: KeyInfo {
            volume: args.volume.to_string(),
            bucket: args.bucket.to_string(),
            name: args.key.to_string(),
            size: args.size,
            replication: args.replication,
            block_ids: block_ids.clone(),
            metadata: args.metadata.clone(),
            creation_time_ms: tx.stamp.time_ms,
            modification_time_ms: tx.stamp.time_ms,
            object_id: index,
            update_id: index,
        },
    };
    let row = open_key_row(args.volume, args.bucket, args.key, index);
    tx.put(Table::OpenKeys, row, &open_key);
    Ok(OmResponse::KeyOpened {
        open_id: index,
        block_ids,
    })
}

/// Quota checks of a commit that changes usage by `delta` bytes and adds `new_key` keys.
fn check_commit_quota(
    volume: &VolumeInfo,
    bucket: &BucketInfo,
    delta: i128,
    new_key: bool,
) -> Result<(), OmError> {
    let exceeds = |used: u64, quota: Option<u64>| {
        delta > 0 && quota.is_some_and(|q| i128::from(used) + delta > i128::from(q))
    };
    if exceeds(bucket.used_bytes, bucket.quota_bytes) {
        return Err(OmError::QuotaExceeded);
    }
    if new_key
        && bucket
            .quota_namespace
            .is_some_and(|q| bucket.used_namespace + 1 > q)
    {
        return Err(OmError::QuotaExceeded);
    }
    if exceeds(volume.used_bytes, volume.quota_bytes) {
        return Err(OmError::QuotaExceeded);
    }
    Ok(())
}

fn add_usage(used: u64, delta: i128) -> u64 {
    u64::try_from(i128::from(used) + delta).expect("usage stays within u64")
}

pub(super) fn on_commit<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    key: &str,
    open_id: u64,
    size: u64,
) -> Handled {
    bucket::check_names(volume, bucket)?;
    check_key_name(key)?;
    check_size(size)?;
    let (mut volume_info, mut bucket_info) = bucket::existing(tx, volume, bucket)?;
    let open_row = open_key_row(volume, bucket, key, open_id);
    let open_key: OpenKeyInfo = tx
        .get(Table::OpenKeys, &open_row)?
        .ok_or(OmError::KeyNotFound)?;
    let row = key_row(volume, bucket, key);
    let previous: Option<KeyInfo> = tx.get(Table::Keys, &row)?;
    let committed = KeyInfo {
        size,
        modification_time_ms: tx.stamp.time_ms,
        update_id: tx.stamp.index,
        ..open_key.key
    };
    let previous_used = previous.as_ref().map_or(0, KeyInfo::used_bytes);
    let delta = i128::from(committed.used_bytes()) - i128::from(previous_used);
    let new_key = previous.is_none();
    check_commit_quota(&volume_info, &bucket_info, delta, new_key)?;
    bucket_info.used_bytes = add_usage(bucket_info.used_bytes, delta);
    bucket_info.used_namespace += u64::from(new_key);
    volume_info.used_bytes = add_usage(volume_info.used_bytes, delta);
    tx.delete(Table::OpenKeys, open_row);
    tx.put(Table::Keys, row, &committed);
    tx.put(Table::Buckets, bucket_row(volume, bucket), &bucket_info);
    tx.put(Table::Volumes, volume_row(volume), &volume_info);
    Ok(OmResponse::Done)
}

fn existing_key<V: MetadataView>(
    tx: &Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    key: &str,
) -> Result<KeyInfo, Failure> {
    let info: Option<KeyInfo> = tx.get(Table::Keys, &key_row(volume, bucket, key))?;
    Ok(info.ok_or(OmError::KeyNotFound)?)
}

pub(super) fn on_lookup<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    key: &str,
) -> Handled {
    bucket::check_names(volume, bucket)?;
    check_key_name(key)?;
    bucket::existing(tx, volume, bucket)?;
    Ok(OmResponse::Key(existing_key(tx, volume, bucket, key)?))
}

pub(super) fn on_list<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    prefix: &str,
    start: &str,
    max: usize,
) -> Handled {
    bucket::check_names(volume, bucket)?;
    bucket::existing(tx, volume, bucket)?;
    let rows = list_rows(
        tx,
        Table::Keys,
        &key_prefix(volume, bucket),
        prefix,
        start,
        max,
    )?;
    let keys = (rows.iter())
        .map(|(_, value)| decode(Table::Keys, value))
        .collect::<Result<Vec<KeyInfo>, StoreError>>()?;
    Ok(OmResponse::Keys(keys))
}

pub(super) fn on_list_open<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    prefix: &str,
    start: &str,
    max: usize,
) -> Handled {
    bucket::check_names(volume, bucket)?;
    bucket::existing(tx, volume, bucket)?;
    let limit = max.min(crate::limits::LIST_ENTRIES_MAX);
    let row_prefix = key_prefix(volume, bucket);
    let mut full_prefix = row_prefix.clone();
    full_prefix.extend_from_slice(prefix.as_bytes());
    // Rows of key `start` end in NUL + id; every row of a greater name sorts after them all.
    let after = (!start.is_empty())
        .then(|| [&row_prefix[..], start.as_bytes(), &[0], &[u8::MAX; 8]].concat());
    let rows = tx
        .view
        .scan(Table::OpenKeys, &full_prefix, after.as_deref(), limit)?;
    let open_keys = (rows.iter())
        .map(|(_, value)| decode(Table::OpenKeys, value))
        .collect::<Result<Vec<OpenKeyInfo>, StoreError>>()?;
    Ok(OmResponse::OpenKeys(open_keys))
}

pub(super) fn on_rename<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    from_key: &str,
    to_key: &str,
) -> Handled {
    bucket::check_names(volume, bucket)?;
    check_key_name(from_key)?;
    check_key_name(to_key)?;
    bucket::existing(tx, volume, bucket)?;
    let mut info = existing_key(tx, volume, bucket, from_key)?;
    let to_row = key_row(volume, bucket, to_key);
    if tx.get::<KeyInfo>(Table::Keys, &to_row)?.is_some() {
        return Err(OmError::KeyAlreadyExists.into());
    }
    info.name = to_key.to_string();
    info.modification_time_ms = tx.stamp.time_ms;
    info.update_id = tx.stamp.index;
    tx.delete(Table::Keys, key_row(volume, bucket, from_key));
    tx.put(Table::Keys, to_row, &info);
    Ok(OmResponse::Done)
}

pub(super) fn on_delete<V: MetadataView>(
    tx: &mut Transaction<'_, V>,
    volume: &str,
    bucket: &str,
    key: &str,
) -> Handled {
    bucket::check_names(volume, bucket)?;
    check_key_name(key)?;
    let (mut volume_info, mut bucket_info) = bucket::existing(tx, volume, bucket)?;
    let info = existing_key(tx, volume, bucket, key)?;
    let used = info.used_bytes();
    bucket_info.used_bytes -= used;
    bucket_info.used_namespace -= 1;
    volume_info.used_bytes -= used;
    tx.delete(Table::Keys, key_row(volume, bucket, key));
    tx.put(Table::Buckets, bucket_row(volume, bucket), &bucket_info);
    tx.put(Table::Volumes, volume_row(volume), &volume_info);
    Ok(OmResponse::Done)
}
