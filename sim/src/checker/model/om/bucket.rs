//! Bucket requests.

use std::sync::Arc;

use super::names::{check_bucket_name, check_volume_name};
use super::{
    list_window, BucketInfo, BucketLayout, BucketState, KeyTable, OmErrorCode, OmModel, OmOp,
    OmOutcome, OmResponse, OpenKeyTable, Quota, Stamp,
};

impl OmModel {
    /// `CreateBucket` and `SetBucketProperty` (the two bucket writes with many arguments).
    pub(super) fn apply_bucket_write(&mut self, stamp: Stamp, op: &OmOp) -> OmOutcome {
        match op {
            OmOp::CreateBucket {
                volume,
                bucket,
                versioning,
                layout,
                quota,
            } => {
                let properties = BucketProperties {
                    versioning: *versioning,
                    layout: *layout,
                    quota: *quota,
                };
                self.create_bucket(stamp, volume, bucket, properties)
            }
            OmOp::SetBucketProperty {
                volume,
                bucket,
                versioning,
                quota,
            } => self.set_bucket_property(stamp, volume, bucket, *versioning, *quota),
            _ => unreachable!("apply routes only bucket writes here"),
        }
    }

    fn create_bucket(
        &mut self,
        stamp: Stamp,
        volume: &str,
        bucket: &str,
        properties: BucketProperties,
    ) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        let volume_state = self.volume(volume)?;
        if volume_state.buckets.contains_key(bucket) {
            return Err(OmErrorCode::BucketAlreadyExists);
        }
        let info = &volume_state.info;
        if info
            .quota_namespace
            .is_some_and(|quota| info.used_namespace + 1 > quota)
        {
            return Err(OmErrorCode::QuotaExceeded);
        }
        let volume_state = self.volume_mut(volume)?;
        volume_state.info.used_namespace += 1;
        let info = BucketInfo {
            volume: volume.to_string(),
            name: bucket.to_string(),
            versioning: properties.versioning,
            layout: properties.layout,
            quota_bytes: properties.quota.bytes,
            quota_namespace: properties.quota.namespace,
            used_bytes: 0,
            used_namespace: 0,
            creation_time_ms: stamp.time_ms,
            modification_time_ms: stamp.time_ms,
            object_id: stamp.index,
            update_id: stamp.index,
        };
        let state = BucketState {
            info,
            keys: KeyTable::default(),
            open_keys: OpenKeyTable::default(),
        };
        volume_state
            .buckets
            .insert(bucket.to_string(), Arc::new(state));
        Ok(OmResponse::Done)
    }

    pub(super) fn bucket_info(&self, volume: &str, bucket: &str) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        Ok(OmResponse::Bucket(
            self.bucket(volume, bucket)?.info.clone(),
        ))
    }

    fn set_bucket_property(
        &mut self,
        stamp: Stamp,
        volume: &str,
        bucket: &str,
        versioning: Option<bool>,
        quota: Option<Quota>,
    ) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        let info = &self.bucket(volume, bucket)?.info;
        if let Some(quota) = quota {
            let bytes_below_usage = quota.bytes.is_some_and(|bytes| bytes < info.used_bytes);
            let namespace_below_usage = quota
                .namespace
                .is_some_and(|namespace| namespace < info.used_namespace);
            if bytes_below_usage || namespace_below_usage {
                return Err(OmErrorCode::QuotaExceeded);
            }
        }
        let (_, bucket) = self.volume_and_bucket_mut(volume, bucket)?;
        let info = &mut bucket.info;
        if let Some(quota) = quota {
            info.quota_bytes = quota.bytes;
            info.quota_namespace = quota.namespace;
        }
        if let Some(versioning) = versioning {
            info.versioning = versioning;
        }
        info.modification_time_ms = stamp.time_ms;
        info.update_id = stamp.index;
        Ok(OmResponse::Done)
    }

    pub(super) fn delete_bucket(&mut self, volume: &str, bucket: &str) -> OmOutcome {
        check_volume_name(volume)?;
        check_bucket_name(bucket)?;
        let bucket_state = self.bucket(volume, bucket)?;
        if !bucket_state.keys.is_empty() || !bucket_state.open_keys.is_empty() {
            return Err(OmErrorCode::BucketNotEmpty);
        }
        self.volume_mut(volume)?.info.used_namespace -= 1;
        self.volume_mut(volume)?.buckets.remove(bucket);
        Ok(OmResponse::Done)
    }

    pub(super) fn list_buckets(
        &self,
        volume: &str,
        prefix: &str,
        start: &str,
        max: u64,
    ) -> OmOutcome {
        check_volume_name(volume)?;
        let buckets = &self.volume(volume)?.buckets;
        let entries = buckets
            .iter()
            .map(|(name, bucket)| (name.as_str(), &bucket.info));
        Ok(OmResponse::Buckets(
            list_window(entries, prefix, start, max).cloned().collect(),
        ))
    }
}

/// What `CreateBucket` sets besides the names.
#[derive(Clone, Copy, Debug)]
struct BucketProperties {
    versioning: bool,
    layout: BucketLayout,
    quota: Quota,
}
