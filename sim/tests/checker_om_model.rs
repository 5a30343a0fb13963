//! The OM reference model, request by request: results, error codes, check order, usage.

use std::collections::BTreeMap;

use om_sim::checker::model::om::{
    matches, BucketLayout, OmErrorCode as E, OmModel, OmOp, OmOutcome, OmResponse, Quota,
    Replication,
};

const NO_QUOTA: Quota = Quota {
    bytes: None,
    namespace: None,
};
const MIB256: u64 = 268_435_456;

fn create_volume(volume: &str, quota: Quota) -> OmOp {
    OmOp::CreateVolume {
        volume: volume.into(),
        owner: "alice".into(),
        quota,
    }
}

fn create_bucket(volume: &str, bucket: &str, quota: Quota) -> OmOp {
    OmOp::CreateBucket {
        volume: volume.into(),
        bucket: bucket.into(),
        versioning: false,
        layout: BucketLayout::ObjectStore,
        quota,
    }
}

fn open_key(key: &str, size: u64, replication: Replication) -> OmOp {
    OmOp::OpenKey {
        volume: "vol".into(),
        bucket: "buc".into(),
        key: key.into(),
        size,
        replication,
        metadata: BTreeMap::from([("k".to_string(), "v".to_string())]),
    }
}

fn commit_key(key: &str, open_id: u64, size: u64) -> OmOp {
    OmOp::CommitKey {
        volume: "vol".into(),
        bucket: "buc".into(),
        key: key.into(),
        open_id,
        size,
    }
}

/// A model and a log index counter: `run` applies at the next index, time = index * 10.
struct Log {
    model: OmModel,
    index: u64,
}

impl Log {
    fn new() -> Self {
        Log {
            model: OmModel::new(),
            index: 0,
        }
    }

    fn run(&mut self, op: OmOp) -> OmOutcome {
        self.index += 1;
        let outcome = self.model.apply(self.index, self.index * 10, &op);
        assert!(self.model.invariants_hold());
        outcome
    }

    fn ok(&mut self, op: OmOp) -> OmResponse {
        let description = format!("{op:?}");
        self.run(op)
            .unwrap_or_else(|code| panic!("{description}: {code}"))
    }

    /// Opens a key of `vol/buc` and returns its open id.
    fn open(&mut self, key: &str, size: u64, replication: Replication) -> u64 {
        match self.ok(open_key(key, size, replication)) {
            OmResponse::KeyOpened { open_id, .. } => open_id,
            other => panic!("{other:?}"),
        }
    }

    fn volume(&mut self) -> om_sim::checker::model::om::VolumeInfo {
        match self.ok(OmOp::VolumeInfo {
            volume: "vol".into(),
        }) {
            OmResponse::Volume(info) => info,
            other => panic!("{other:?}"),
        }
    }

    fn bucket(&mut self) -> om_sim::checker::model::om::BucketInfo {
        match self.ok(OmOp::BucketInfo {
            volume: "vol".into(),
            bucket: "buc".into(),
        }) {
            OmResponse::Bucket(info) => info,
            other => panic!("{other:?}"),
        }
    }

    /// A volume `vol` with a bucket `buc`.
    fn with_bucket(volume_quota: Quota, bucket_quota: Quota) -> Self {
        let mut log = Log::new();
        log.ok(create_volume("vol", volume_quota));
        log.ok(create_bucket("vol", "buc", bucket_quota));
        log
    }
}

#[test]
fn volumes_are_created_once_and_stamped_with_index_and_time() {
    let mut log = Log::new();
    assert_eq!(
        log.run(create_volume("vol", NO_QUOTA)),
        Ok(OmResponse::Done)
    );
    assert_eq!(
        log.run(create_volume("vol", NO_QUOTA)),
        Err(E::VolumeAlreadyExists)
    );
    let info = log.volume();
    assert_eq!((info.object_id, info.update_id), (1, 1));
    assert_eq!((info.creation_time_ms, info.modification_time_ms), (10, 10));
    assert_eq!((info.used_bytes, info.used_namespace), (0, 0));
    log.ok(OmOp::SetVolumeOwner {
        volume: "vol".into(),
        owner: "bob".into(),
    });
    let info = log.volume();
    assert_eq!(info.owner, "bob");
    assert_eq!(
        (
            info.object_id,
            info.update_id,
            info.creation_time_ms,
            info.modification_time_ms
        ),
        (1, 4, 10, 40)
    );
    assert_eq!(
        log.run(OmOp::VolumeInfo {
            volume: "nope".into()
        }),
        Err(E::VolumeNotFound)
    );
    assert_eq!(
        log.run(OmOp::VolumeInfo {
            volume: "No".into()
        }),
        Err(E::InvalidVolumeName)
    );
}

#[test]
fn volume_quota_cannot_go_below_usage_and_delete_needs_empty() {
    let mut log = Log::with_bucket(NO_QUOTA, NO_QUOTA);
    let too_small = Quota {
        bytes: None,
        namespace: Some(0),
    };
    assert_eq!(
        log.run(OmOp::SetVolumeQuota {
            volume: "vol".into(),
            quota: too_small
        }),
        Err(E::QuotaExceeded)
    );
    let fits = Quota {
        bytes: Some(10),
        namespace: Some(1),
    };
    assert_eq!(
        log.run(OmOp::SetVolumeQuota {
            volume: "vol".into(),
            quota: fits
        }),
        Ok(OmResponse::Done)
    );
    assert_eq!(
        (log.volume().quota_bytes, log.volume().quota_namespace),
        (Some(10), Some(1))
    );
    assert_eq!(
        log.run(create_bucket("vol", "two", NO_QUOTA)),
        Err(E::QuotaExceeded)
    );
    assert_eq!(
        log.run(OmOp::DeleteVolume {
            volume: "vol".into()
        }),
        Err(E::VolumeNotEmpty)
    );
    log.ok(OmOp::DeleteBucket {
        volume: "vol".into(),
        bucket: "buc".into(),
    });
    assert_eq!(log.volume().used_namespace, 0);
    assert_eq!(
        log.run(OmOp::DeleteVolume {
            volume: "vol".into()
        }),
        Ok(OmResponse::Done)
    );
    assert_eq!(
        log.run(OmOp::DeleteVolume {
            volume: "vol".into()
        }),
        Err(E::VolumeNotFound)
    );
}

#[test]
fn bucket_creation_counts_in_the_volume_without_touching_its_stamps() {
    let mut log = Log::with_bucket(NO_QUOTA, NO_QUOTA);
    let volume = log.volume();
    assert_eq!(volume.used_namespace, 1);
    assert_eq!((volume.update_id, volume.modification_time_ms), (1, 10));
    let bucket = log.bucket();
    assert_eq!(
        (bucket.object_id, bucket.update_id, bucket.creation_time_ms),
        (2, 2, 20)
    );
    assert_eq!(
        log.run(create_bucket("vol", "buc", NO_QUOTA)),
        Err(E::BucketAlreadyExists)
    );
    assert_eq!(
        log.run(create_bucket("nov", "buc", NO_QUOTA)),
        Err(E::VolumeNotFound)
    );
    assert_eq!(
        log.run(create_bucket("BAD", "b", NO_QUOTA)),
        Err(E::InvalidVolumeName),
        "volume name first"
    );
    assert_eq!(
        log.run(create_bucket("nov", "b", NO_QUOTA)),
        Err(E::InvalidBucketName),
        "names before state"
    );
}

#[test]
fn set_bucket_property_changes_only_what_is_given() {
    let mut log = Log::with_bucket(NO_QUOTA, NO_QUOTA);
    let set = |versioning, quota| OmOp::SetBucketProperty {
        volume: "vol".into(),
        bucket: "buc".into(),
        versioning,
        quota,
    };
    log.ok(set(Some(true), None));
    let bucket = log.bucket();
    assert!(bucket.versioning);
    assert_eq!(
        (
            bucket.quota_bytes,
            bucket.update_id,
            bucket.modification_time_ms
        ),
        (None, 3, 30)
    );
    log.ok(set(
        None,
        Some(Quota {
            bytes: Some(100),
            namespace: None,
        }),
    ));
    let bucket = log.bucket();
    assert!(bucket.versioning, "unchanged");
    assert_eq!(
        (bucket.quota_bytes, bucket.quota_namespace),
        (Some(100), None)
    );
    let opened = log.ok(open_key("k", 10, Replication::RatisThree));
    let OmResponse::KeyOpened { open_id, .. } = opened else {
        panic!("{opened:?}")
    };
    log.ok(commit_key("k", open_id, 10));
    assert_eq!(
        log.run(set(
            Some(false),
            Some(Quota {
                bytes: Some(29),
                namespace: None
            })
        )),
        Err(E::QuotaExceeded)
    );
    assert!(log.bucket().versioning, "a refused request changes nothing");
    assert_eq!(
        log.run(set(
            None,
            Some(Quota {
                bytes: None,
                namespace: Some(0)
            })
        )),
        Err(E::QuotaExceeded)
    );
}

#[test]
fn open_allocates_blocks_from_the_log_index_and_commit_moves_the_key() {
    let mut log = Log::with_bucket(NO_QUOTA, NO_QUOTA);
    let opened = log.ok(open_key("k", MIB256 + 1, Replication::RatisOne));
    assert_eq!(
        opened,
        OmResponse::KeyOpened {
            open_id: 3,
            block_ids: vec![3 * 4096, 3 * 4096 + 1]
        }
    );
    assert_eq!(
        log.run(OmOp::LookupKey {
            volume: "vol".into(),
            bucket: "buc".into(),
            key: "k".into()
        }),
        Err(E::KeyNotFound)
    );
    assert_eq!(
        log.run(commit_key("k", 99, 5)),
        Err(E::KeyNotFound),
        "no such open"
    );
    assert_eq!(
        log.run(commit_key("other", 3, 5)),
        Err(E::KeyNotFound),
        "open of another key"
    );
    log.ok(commit_key("k", 3, 5));
    assert_eq!(
        log.run(commit_key("k", 3, 5)),
        Err(E::KeyNotFound),
        "the open is consumed"
    );
    let found = log.ok(OmOp::LookupKey {
        volume: "vol".into(),
        bucket: "buc".into(),
        key: "k".into(),
    });
    let OmResponse::Key(key) = found else {
        panic!("{found:?}")
    };
    assert_eq!((key.size, key.object_id, key.update_id), (5, 3, 7));
    assert_eq!((key.creation_time_ms, key.modification_time_ms), (30, 70));
    assert_eq!(
        key.block_ids,
        vec![3 * 4096, 3 * 4096 + 1],
        "blocks come from the open"
    );
    assert_eq!(key.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(
        (
            log.bucket().used_bytes,
            log.bucket().used_namespace,
            log.volume().used_bytes
        ),
        (5, 1, 5)
    );
    let bucket = log.bucket();
    assert_eq!(bucket.update_id, 2, "commits do not stamp the bucket");
}

#[test]
fn commit_replacing_a_key_uses_the_delta_and_quotas_apply_in_order() {
    let mut log = Log::with_bucket(
        Quota {
            bytes: Some(100),
            namespace: None,
        },
        Quota {
            bytes: Some(60),
            namespace: Some(1),
        },
    );
    let first = log.open("a", 0, Replication::RatisThree);
    log.ok(commit_key("a", first, 20)); // 60 bytes used
    assert_eq!((log.bucket().used_bytes, log.volume().used_bytes), (60, 60));
    let second = log.open("a", 0, Replication::RatisThree);
    assert_eq!(
        log.run(commit_key("a", second, 21)),
        Err(E::QuotaExceeded),
        "bucket bytes"
    );
    log.ok(commit_key("a", second, 10)); // delta -30
    assert_eq!(
        (
            log.bucket().used_bytes,
            log.bucket().used_namespace,
            log.volume().used_bytes
        ),
        (30, 1, 30)
    );
    let third = log.open("b", 0, Replication::RatisOne);
    assert_eq!(
        log.run(commit_key("b", third, 0)),
        Err(E::QuotaExceeded),
        "bucket namespace, even at size 0"
    );
    let open_keys = log.ok(OmOp::ListOpenKeys {
        volume: "vol".into(),
        bucket: "buc".into(),
        prefix: String::new(),
        start: String::new(),
        max: 10,
    });
    let OmResponse::OpenKeys(open_keys) = open_keys else {
        panic!()
    };
    assert_eq!(open_keys.len(), 1, "a failed commit leaves the open key");
    assert_eq!(
        log.run(OmOp::DeleteBucket {
            volume: "vol".into(),
            bucket: "buc".into()
        }),
        Err(E::BucketNotEmpty)
    );
}

#[test]
fn volume_bytes_quota_is_checked_after_the_bucket_quotas() {
    let mut log = Log::with_bucket(
        Quota {
            bytes: Some(10),
            namespace: None,
        },
        NO_QUOTA,
    );
    let open_id = log.open("a", 0, Replication::RatisOne);
    assert_eq!(log.run(commit_key("a", open_id, 11)), Err(E::QuotaExceeded));
    log.ok(commit_key("a", open_id, 10));
    assert_eq!(log.volume().used_bytes, 10);
}

#[test]
fn stateless_checks_come_first_in_argument_order() {
    let mut log = Log::new();
    let commit = |volume: &str, bucket: &str, key: &str, size| OmOp::CommitKey {
        volume: volume.into(),
        bucket: bucket.into(),
        key: key.into(),
        open_id: 1,
        size,
    };
    assert_eq!(
        log.run(commit("V", "B", "", 1 << 41)),
        Err(E::InvalidVolumeName)
    );
    assert_eq!(
        log.run(commit("vol", "B", "", 1 << 41)),
        Err(E::InvalidBucketName)
    );
    assert_eq!(
        log.run(commit("vol", "buc", "", 1 << 41)),
        Err(E::InvalidKeyName)
    );
    assert_eq!(
        log.run(commit("vol", "buc", "k", 1 << 41)),
        Err(E::InvalidRequest)
    );
    assert_eq!(
        log.run(commit("vol", "buc", "k", 1 << 40)),
        Err(E::VolumeNotFound)
    );
    log.ok(create_volume("vol", NO_QUOTA));
    assert_eq!(
        log.run(commit("vol", "buc", "k", 1)),
        Err(E::BucketNotFound)
    );
    let rename = |from: &str, to: &str| OmOp::RenameKey {
        volume: "vol".into(),
        bucket: "buc".into(),
        from_key: from.into(),
        to_key: to.into(),
    };
    assert_eq!(log.run(rename("", "a\0")), Err(E::InvalidKeyName));
    assert_eq!(
        log.run(rename("a", "a\0")),
        Err(E::InvalidKeyName),
        "to is validated too"
    );
    assert_eq!(log.run(rename("a", "b")), Err(E::BucketNotFound));
    let list = OmOp::ListKeys {
        volume: "vol".into(),
        bucket: "x".into(),
        prefix: String::new(),
        start: String::new(),
        max: 1,
    };
    assert_eq!(
        log.run(list),
        Err(E::InvalidBucketName),
        "reads validate names too"
    );
}

#[test]
fn rename_and_delete_keep_usage_right() {
    let mut log = Log::with_bucket(NO_QUOTA, NO_QUOTA);
    log.ok(open_key("a", 0, Replication::RatisThree)); // 3
    log.ok(commit_key("a", 3, 7));
    log.ok(open_key("b", 0, Replication::RatisOne)); // 5
    log.ok(commit_key("b", 5, 1));
    log.ok(open_key("a", 0, Replication::RatisOne)); // 7: open, uncommitted
    let rename = |from: &str, to: &str| OmOp::RenameKey {
        volume: "vol".into(),
        bucket: "buc".into(),
        from_key: from.into(),
        to_key: to.into(),
    };
    assert_eq!(log.run(rename("zz", "c")), Err(E::KeyNotFound));
    assert_eq!(log.run(rename("a", "b")), Err(E::KeyAlreadyExists));
    assert_eq!(log.run(rename("a", "a")), Err(E::KeyAlreadyExists));
    log.ok(rename("a", "c")); // 11
    let found = log.ok(OmOp::LookupKey {
        volume: "vol".into(),
        bucket: "buc".into(),
        key: "c".into(),
    });
    let OmResponse::Key(key) = found else {
        panic!()
    };
    assert_eq!(
        (
            key.name.as_str(),
            key.update_id,
            key.modification_time_ms,
            key.object_id
        ),
        ("c", 11, 110, 3)
    );
    assert_eq!(
        (log.bucket().used_bytes, log.bucket().used_namespace),
        (22, 2)
    );
    let open_keys = log.ok(OmOp::ListOpenKeys {
        volume: "vol".into(),
        bucket: "buc".into(),
        prefix: String::new(),
        start: String::new(),
        max: 10,
    });
    let OmResponse::OpenKeys(open_keys) = open_keys else {
        panic!()
    };
    assert_eq!(
        open_keys
            .iter()
            .map(|open| (open.key.name.as_str(), open.open_id))
            .collect::<Vec<_>>(),
        vec![("a", 7)],
        "open keys are not renamed"
    );
    log.ok(OmOp::DeleteKey {
        volume: "vol".into(),
        bucket: "buc".into(),
        key: "c".into(),
    });
    assert_eq!(
        log.run(OmOp::DeleteKey {
            volume: "vol".into(),
            bucket: "buc".into(),
            key: "c".into()
        }),
        Err(E::KeyNotFound)
    );
    assert_eq!(
        (
            log.bucket().used_bytes,
            log.bucket().used_namespace,
            log.volume().used_bytes
        ),
        (1, 1, 1)
    );
}

#[test]
fn lists_filter_by_prefix_and_exclusive_start_and_cap_at_max() {
    let mut log = Log::new();
    for volume in ["vol-c", "vol-a", "vol-b", "other"] {
        log.ok(create_volume(volume, NO_QUOTA));
    }
    let names = |response: OmResponse| match response {
        OmResponse::Volumes(list) => list
            .into_iter()
            .map(|volume| volume.name)
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let list = |prefix: &str, start: &str, max| OmOp::ListVolumes {
        prefix: prefix.into(),
        start: start.into(),
        max,
    };
    assert_eq!(
        names(log.ok(list("", "", 10))),
        ["other", "vol-a", "vol-b", "vol-c"]
    );
    assert_eq!(names(log.ok(list("vol-", "vol-a", 10))), ["vol-b", "vol-c"]);
    assert_eq!(names(log.ok(list("vol-", "", 2))), ["vol-a", "vol-b"]);
    assert!(names(log.ok(list("", "", 0))).is_empty());
    for n in 0..1005 {
        log.ok(create_bucket("vol-a", &format!("b{n:04}"), NO_QUOTA));
    }
    let buckets = log.ok(OmOp::ListBuckets {
        volume: "vol-a".into(),
        prefix: String::new(),
        start: String::new(),
        max: 5000,
    });
    let OmResponse::Buckets(buckets) = buckets else {
        panic!()
    };
    assert_eq!(buckets.len(), 1000, "ozone.om.server.list.max.size");
    let missing = OmOp::ListBuckets {
        volume: "vol-z".into(),
        prefix: String::new(),
        start: String::new(),
        max: 1,
    };
    assert_eq!(log.run(missing), Err(E::VolumeNotFound));
}

#[test]
fn matches_ignores_what_a_client_cannot_predict() {
    let mut early = Log::with_bucket(NO_QUOTA, NO_QUOTA);
    let mut late = Log::new();
    late.index = 500;
    late.ok(create_volume("vol", NO_QUOTA));
    late.ok(create_bucket("vol", "buc", NO_QUOTA));
    let early_open = early.run(open_key("k", 1, Replication::RatisOne));
    let late_open = late.run(open_key("k", 1, Replication::RatisOne));
    assert_ne!(early_open, late_open);
    assert!(
        matches(&early_open, &late_open),
        "ids differ, block count agrees"
    );
    assert!(!matches(
        &early_open,
        &late.run(open_key("k", MIB256 + 1, Replication::RatisOne))
    ));
    assert!(matches(
        &Ok(OmResponse::Volume(early.volume())),
        &Ok(OmResponse::Volume(late.volume()))
    ));
    late.ok(OmOp::SetVolumeOwner {
        volume: "vol".into(),
        owner: "bob".into(),
    });
    assert!(!matches(
        &Ok(OmResponse::Volume(early.volume())),
        &Ok(OmResponse::Volume(late.volume()))
    ));
    assert!(!matches(&Err(E::KeyNotFound), &Err(E::BucketNotFound)));
    assert!(!matches(&Ok(OmResponse::Done), &Err(E::BucketNotFound)));
}

#[test]
fn error_codes_have_ozone_names() {
    assert_eq!(E::QuotaExceeded.code(), "QUOTA_EXCEEDED");
    assert_eq!(
        serde_json::to_string(&E::VolumeNotEmpty).expect("serialises"),
        "\"VOLUME_NOT_EMPTY\""
    );
    for code in E::ALL {
        assert_eq!(E::from_code(code.code()), Some(code));
    }
}
