//! One-line descriptions of requests, answers and states, for verdicts and timelines.

use std::fmt::Write;

use super::{OmModel, OmOp, OmOutcome, OmResponse, Quota};

/// `CreateVolume(vol1 owner=alice) -> Done`.
pub(super) fn operation(op: &OmOp, outcome: Option<&OmOutcome>) -> String {
    let answer = match outcome {
        None => "?".to_string(),
        Some(Err(code)) => code.code().to_string(),
        Some(Ok(response)) => response_summary(response),
    };
    format!("{} -> {answer}", request(op))
}

fn quota(quota: &Quota) -> String {
    let limit = |value: Option<u64>| value.map_or("-".to_string(), |value| value.to_string());
    format!("quota={}B/{}", limit(quota.bytes), limit(quota.namespace))
}

fn request(op: &OmOp) -> String {
    match op {
        OmOp::CreateVolume {
            volume,
            owner,
            quota: limits,
        } => {
            format!("CreateVolume({volume} owner={owner} {})", quota(limits))
        }
        OmOp::VolumeInfo { volume } => format!("VolumeInfo({volume})"),
        OmOp::SetVolumeOwner { volume, owner } => format!("SetVolumeOwner({volume} owner={owner})"),
        OmOp::SetVolumeQuota {
            volume,
            quota: limits,
        } => {
            format!("SetVolumeQuota({volume} {})", quota(limits))
        }
        OmOp::DeleteVolume { volume } => format!("DeleteVolume({volume})"),
        OmOp::ListVolumes { prefix, start, max } => {
            format!("ListVolumes(prefix={prefix:?} start={start:?} max={max})")
        }
        OmOp::CreateBucket {
            volume,
            bucket,
            versioning,
            layout,
            quota: limits,
        } => format!(
            "CreateBucket({volume}/{bucket} versioning={versioning} {layout:?} {})",
            quota(limits)
        ),
        OmOp::BucketInfo { volume, bucket } => format!("BucketInfo({volume}/{bucket})"),
        OmOp::SetBucketProperty {
            volume,
            bucket,
            versioning,
            quota: limits,
        } => format!(
            "SetBucketProperty({volume}/{bucket} versioning={versioning:?} {})",
            limits.as_ref().map_or("quota=unchanged".to_string(), quota)
        ),
        OmOp::DeleteBucket { volume, bucket } => format!("DeleteBucket({volume}/{bucket})"),
        OmOp::ListBuckets {
            volume,
            prefix,
            start,
            max,
        } => {
            format!("ListBuckets({volume} prefix={prefix:?} start={start:?} max={max})")
        }
        OmOp::OpenKey {
            volume,
            bucket,
            key,
            size,
            replication,
            ..
        } => {
            format!("OpenKey({volume}/{bucket}/{key} size={size} {replication:?})")
        }
        OmOp::CommitKey {
            volume,
            bucket,
            key,
            open_id,
            size,
        } => {
            format!("CommitKey({volume}/{bucket}/{key} open_id={open_id} size={size})")
        }
        OmOp::LookupKey {
            volume,
            bucket,
            key,
        } => format!("LookupKey({volume}/{bucket}/{key})"),
        OmOp::ListKeys {
            volume,
            bucket,
            prefix,
            start,
            max,
        } => {
            format!("ListKeys({volume}/{bucket} prefix={prefix:?} start={start:?} max={max})")
        }
        OmOp::ListOpenKeys {
            volume,
            bucket,
            prefix,
            start,
            max,
        } => {
            format!("ListOpenKeys({volume}/{bucket} prefix={prefix:?} start={start:?} max={max})")
        }
        OmOp::RenameKey {
            volume,
            bucket,
            from_key,
            to_key,
        } => {
            format!("RenameKey({volume}/{bucket}/{from_key} -> {to_key})")
        }
        OmOp::DeleteKey {
            volume,
            bucket,
            key,
        } => format!("DeleteKey({volume}/{bucket}/{key})"),
    }
}

fn response_summary(response: &OmResponse) -> String {
    match response {
        OmResponse::Done => "Done".to_string(),
        OmResponse::Volume(info) => format!(
            "Volume({} owner={} used={}B/{})",
            info.name, info.owner, info.used_bytes, info.used_namespace
        ),
        OmResponse::Volumes(list) => {
            format!(
                "Volumes[{}]",
                list.iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        OmResponse::Bucket(info) => format!(
            "Bucket({}/{} used={}B/{})",
            info.volume, info.name, info.used_bytes, info.used_namespace
        ),
        OmResponse::Buckets(list) => {
            format!(
                "Buckets[{}]",
                list.iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        OmResponse::KeyOpened { open_id, block_ids } => {
            format!("KeyOpened(open_id={open_id} blocks={})", block_ids.len())
        }
        OmResponse::Key(info) => format!("Key({} size={})", info.name, info.size),
        OmResponse::Keys(list) => {
            format!(
                "Keys[{}]",
                list.iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        OmResponse::OpenKeys(list) => format!(
            "OpenKeys[{}]",
            list.iter()
                .map(|o| format!("{}#{}", o.key.name, o.open_id))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// `vol1{owner=alice used=0B/1 b1{keys=[k1:10] open=[k2#7]}}`, volumes separated by spaces.
pub(super) fn state(model: &OmModel) -> String {
    let mut text = String::new();
    for (name, volume) in &model.volumes {
        let info = &volume.info;
        let _ = write!(
            text,
            "{name}{{owner={} used={}B/{}",
            info.owner, info.used_bytes, info.used_namespace
        );
        for (bucket_name, bucket) in &volume.buckets {
            let keys: Vec<String> = bucket
                .keys
                .values()
                .map(|key| format!("{}:{}", key.name, key.size))
                .collect();
            let open: Vec<String> = bucket
                .open_keys
                .iter()
                .map(|(key, id, _)| format!("{key}#{id}"))
                .collect();
            let _ = write!(
                text,
                " {bucket_name}{{keys=[{}] open=[{}]}}",
                keys.join(","),
                open.join(",")
            );
        }
        text.push_str("} ");
    }
    if text.is_empty() {
        return "(empty)".to_string();
    }
    text.truncate(text.trim_end().len());
    text
}
