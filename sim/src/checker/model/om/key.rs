//! Key requests: open, commit, lookup, list, rename, delete.

use std::collections::BTreeMap;

use super::names::{block_ids, check_bucket_name, check_key_name, check_size, check_volume_name};
use super::{
    key_used_bytes, list_limit, list_window, KeyInfo, OmErrorCode, OmModel, OmOp, OmOutcome,
    OmResponse, OpenKeyInfo, Replication, Stamp,
};

impl OmModel {
    /// Routes the key requests.
    pub(super) fn apply_key_request(&mut self, stamp: Stamp, op: &OmOp) -> OmOutcome {
        match op {
            OmOp::OpenKey {
                volume,
                bucket,
                key,
                size,
                replication,
                metadata,
            } => {
                let request = OpenRequest {
                    size: *size,
                    replication: *replication,
                    metadata,
                };
                self.open_key(stamp, volume, bucket, key, request)
            }
            OmOp::CommitKey {
                volume,
                bucket,
                key,
                open_id,
                size,
            } => self.commit_key(stamp, volume, bucket, key, (*open_id, *size)),
            OmOp::LookupKey {
                volume,
                bucket,
                key,
            } => self.lookup_key(volume, bucket, key),
            OmOp::ListKeys {
                volume,
                bucket,
                prefix,
                start,
                max,
            } => self.list_keys(volume, bucket, (prefix, start, *max)),
            OmOp::ListOpenKeys {
                volume,
                bucket,
                prefix,
                start,
                max,
            } => self.list_open_keys(volume, bucket, (prefix, start, *max)),
            OmOp::RenameKey {
                volume,
                bucket,
                from_key,
                to_key,
            } => self.rename_key(stamp, volume, bucket, from_key, to_key),
            OmOp::DeleteKey {
                volume,
                bucket,
                key,
            } => self.delete_key(volume, bucket, key),
            _ => unreachable!("apply routes only key requests here"),
        }
    }

    fn open_key(
        &mut self,
        stamp: Stamp,
        volume: &str,
        bucket: &str,
        key: &str,
        request: OpenRequest<'_>,
    ) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        check_key_name(key)?;
        check_size(request.size)?;
        let (_, bucket_state) = self.volume_and_bucket_mut(volume, bucket)?;
        let block_ids = block_ids(stamp.index, request.size);
        let info = KeyInfo {
            volume: volume.to_string(),
            bucket: bucket.to_string(),
            name: key.to_string(),
            size: request.size,
            replication: request.replication,
            block_ids: block_ids.clone(),
            metadata: request.metadata.clone(),
            creation_time_ms: stamp.time_ms,
            modification_time_ms: stamp.time_ms,
            object_id: stamp.index,
            update_id: stamp.index,
        };
        bucket_state.open_keys.insert(key, stamp.index, info);
        Ok(OmResponse::KeyOpened {
            open_id: stamp.index,
            block_ids,
        })
    }

    fn commit_key(
        &mut self,
        stamp: Stamp,
        volume: &str,
        bucket: &str,
        key: &str,
        (open_id, size): (u64, u64),
    ) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        check_key_name(key)?;
        check_size(size)?;
        // Decide on the shared state; unshare (copy) only what a success changes.
        let volume_info = &self.volume(volume)?.info;
        let bucket_state = self.bucket(volume, bucket)?;
        let open = bucket_state
            .open_keys
            .get(key, open_id)
            .ok_or(OmErrorCode::KeyNotFound)?;
        let committed = KeyInfo {
            size,
            modification_time_ms: stamp.time_ms,
            update_id: stamp.index,
            ..open.clone()
        };
        let previous = bucket_state.keys.get(key);
        let delta =
            i128::from(key_used_bytes(&committed)) - i128::from(previous.map_or(0, key_used_bytes));
        let new_key = previous.is_none();
        let bucket_info = &bucket_state.info;
        let exceeds = |quota: Option<u64>, used: u64| {
            quota.is_some_and(|quota| delta > 0 && i128::from(used) + delta > i128::from(quota))
        };
        if exceeds(bucket_info.quota_bytes, bucket_info.used_bytes)
            || (new_key
                && bucket_info
                    .quota_namespace
                    .is_some_and(|quota| bucket_info.used_namespace + 1 > quota))
            || exceeds(volume_info.quota_bytes, volume_info.used_bytes)
        {
            return Err(OmErrorCode::QuotaExceeded);
        }
        let (volume_info, bucket_state) = self.volume_and_bucket_mut(volume, bucket)?;
        bucket_state.open_keys.remove(key, open_id);
        bucket_state.keys.insert(key.to_string(), committed);
        bucket_state.info.used_bytes = add_signed(bucket_state.info.used_bytes, delta);
        bucket_state.info.used_namespace += u64::from(new_key);
        volume_info.used_bytes = add_signed(volume_info.used_bytes, delta);
        Ok(OmResponse::Done)
    }

    pub(super) fn lookup_key(&self, volume: &str, bucket: &str, key: &str) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        check_key_name(key)?;
        let found = self
            .bucket(volume, bucket)?
            .keys
            .get(key)
            .ok_or(OmErrorCode::KeyNotFound)?;
        Ok(OmResponse::Key(found.clone()))
    }

    fn list_keys(
        &self,
        volume: &str,
        bucket: &str,
        (prefix, start, max): (&str, &str, u64),
    ) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        let entries = self.bucket(volume, bucket)?.keys.iter();
        Ok(OmResponse::Keys(
            list_window(entries, prefix, start, max).cloned().collect(),
        ))
    }

    fn list_open_keys(
        &self,
        volume: &str,
        bucket: &str,
        (prefix, start, max): (&str, &str, u64),
    ) -> OmOutcome {
        let mut listed = self.list_open_keys_unbounded(volume, bucket, prefix, start)?;
        listed.truncate(list_limit(max));
        Ok(OmResponse::OpenKeys(listed))
    }

    /// Every open key `ListOpenKeys` would list, before the size limit.
    pub(super) fn list_open_keys_unbounded(
        &self,
        volume: &str,
        bucket: &str,
        prefix: &str,
        start: &str,
    ) -> Result<Vec<OpenKeyInfo>, OmErrorCode> {
        let listed = self.open_keys_listed(volume, bucket, prefix, start)?;
        Ok(listed
            .into_iter()
            .map(|(open_id, key)| OpenKeyInfo {
                open_id,
                key: key.clone(),
            })
            .collect())
    }

    /// [`OmModel::list_open_keys_unbounded`] without copying the entries.
    pub(super) fn open_keys_listed(
        &self,
        volume: &str,
        bucket: &str,
        prefix: &str,
        start: &str,
    ) -> Result<Vec<(u64, &KeyInfo)>, OmErrorCode> {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        let open_keys = &self.bucket(volume, bucket)?.open_keys;
        let listed = open_keys
            .iter()
            .filter(|(name, _, _)| name.starts_with(prefix) && (start.is_empty() || *name > start))
            .map(|(_, open_id, key)| (open_id, key))
            .collect();
        Ok(listed)
    }

    fn rename_key(
        &mut self,
        stamp: Stamp,
        volume: &str,
        bucket: &str,
        from_key: &str,
        to_key: &str,
    ) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        check_key_name(from_key)?;
        check_key_name(to_key)?;
        let keys = &self.bucket(volume, bucket)?.keys;
        if !keys.contains_key(from_key) {
            return Err(OmErrorCode::KeyNotFound);
        }
        if keys.contains_key(to_key) {
            return Err(OmErrorCode::KeyAlreadyExists);
        }
        let (_, bucket_state) = self.volume_and_bucket_mut(volume, bucket)?;
        let mut moved = bucket_state.keys.remove(from_key).expect("checked above");
        moved.name = to_key.to_string();
        moved.modification_time_ms = stamp.time_ms;
        moved.update_id = stamp.index;
        bucket_state.keys.insert(to_key.to_string(), moved);
        Ok(OmResponse::Done)
    }

    fn delete_key(&mut self, volume: &str, bucket: &str, key: &str) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        check_key_name(key)?;
        if !self.bucket(volume, bucket)?.keys.contains_key(key) {
            return Err(OmErrorCode::KeyNotFound);
        }
        let (volume_info, bucket_state) = self.volume_and_bucket_mut(volume, bucket)?;
        let removed = bucket_state.keys.remove(key).expect("checked above");
        let used = key_used_bytes(&removed);
        bucket_state.info.used_bytes -= used;
        bucket_state.info.used_namespace -= 1;
        volume_info.used_bytes -= used;
        Ok(OmResponse::Done)
    }
}

/// What `OpenKey` records besides the names.
struct OpenRequest<'a> {
    size: u64,
    replication: Replication,
    metadata: &'a BTreeMap<String, String>,
}

fn add_signed(value: u64, delta: i128) -> u64 {
    u64::try_from(i128::from(value) + delta).expect("usage never goes negative")
}
