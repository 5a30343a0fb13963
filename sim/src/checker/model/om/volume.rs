//! Volume requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::names::check_volume_name;
use super::{
    list_window, OmErrorCode, OmModel, OmOutcome, OmResponse, Quota, Stamp, VolumeInfo, VolumeState,
};

impl OmModel {
    pub(super) fn create_volume(
        &mut self,
        stamp: Stamp,
        volume: &str,
        owner: &str,
        quota: Quota,
    ) -> OmOutcome {
        check_volume_name(volume)?;
        if self.volumes.contains_key(volume) {
            return Err(OmErrorCode::VolumeAlreadyExists);
        }
        let info = VolumeInfo {
            name: volume.to_string(),
            owner: owner.to_string(),
            quota_bytes: quota.bytes,
            quota_namespace: quota.namespace,
            used_bytes: 0,
            used_namespace: 0,
            creation_time_ms: stamp.time_ms,
            modification_time_ms: stamp.time_ms,
            object_id: stamp.index,
            update_id: stamp.index,
        };
        let state = VolumeState {
            info,
            buckets: BTreeMap::new(),
        };
        self.volumes.insert(volume.to_string(), Arc::new(state));
        Ok(OmResponse::Done)
    }

    pub(super) fn volume_info(&self, volume: &str) -> OmOutcome {
        check_volume_name(volume)?;
        Ok(OmResponse::Volume(self.volume(volume)?.info.clone()))
    }

    pub(super) fn set_volume_owner(
        &mut self,
        stamp: Stamp,
        volume: &str,
        owner: &str,
    ) -> OmOutcome {
        check_volume_name(volume)?;
        let info = &mut self.volume_mut(volume)?.info;
        info.owner = owner.to_string();
        info.modification_time_ms = stamp.time_ms;
        info.update_id = stamp.index;
        Ok(OmResponse::Done)
    }

    pub(super) fn set_volume_quota(
        &mut self,
        stamp: Stamp,
        volume: &str,
        quota: Quota,
    ) -> OmOutcome {
        check_volume_name(volume)?;
        let info = &self.volume(volume)?.info;
        let bytes_below_usage = quota.bytes.is_some_and(|bytes| bytes < info.used_bytes);
        let namespace_below_usage = quota
            .namespace
            .is_some_and(|namespace| namespace < info.used_namespace);
        if bytes_below_usage || namespace_below_usage {
            return Err(OmErrorCode::QuotaExceeded);
        }
        let info = &mut self.volume_mut(volume)?.info;
        info.quota_bytes = quota.bytes;
        info.quota_namespace = quota.namespace;
        info.modification_time_ms = stamp.time_ms;
        info.update_id = stamp.index;
        Ok(OmResponse::Done)
    }

    pub(super) fn delete_volume(&mut self, volume: &str) -> OmOutcome {
        check_volume_name(volume)?;
        if !self.volume(volume)?.buckets.is_empty() {
            return Err(OmErrorCode::VolumeNotEmpty);
        }
        self.volumes.remove(volume);
        Ok(OmResponse::Done)
    }

    pub(super) fn list_volumes(&self, prefix: &str, start: &str, max: u64) -> OmResponse {
        let entries = self
            .volumes
            .iter()
            .map(|(name, volume)| (name.as_str(), &volume.info));
        OmResponse::Volumes(list_window(entries, prefix, start, max).cloned().collect())
    }
}
