//! Every error path of the metadata operations: bad input gets Ozone's result code and
//! changes nothing.

mod common;

use common::{commit_key, create_bucket, create_volume, dump, open_key, MemoryReplica};
use om_server::om::{OmRequest, OmResponse, Quota};
use om_server::OmError;

fn s(text: &str) -> String {
    text.to_string()
}

/// A replica holding volume `vol` with bucket `buck`, key `k1` (committed) and one open key.
fn populated() -> MemoryReplica {
    let mut replica = MemoryReplica::default();
    for request in [create_volume("vol"), create_bucket("vol", "buck")] {
        assert_eq!(replica.submit(request), Ok(OmResponse::Done));
    }
    let opened = replica.submit(open_key("vol", "buck", "k1", 10));
    let Ok(OmResponse::KeyOpened { open_id, .. }) = opened else {
        panic!("open failed: {opened:?}")
    };
    assert_eq!(
        replica.submit(commit_key("vol", "buck", "k1", open_id, 10)),
        Ok(OmResponse::Done)
    );
    assert!(replica
        .submit(open_key("vol", "buck", "pending", 5))
        .is_ok());
    replica
}

/// Submits `request`, expects `error`, and checks nothing changed.
fn rejects(replica: &mut MemoryReplica, request: OmRequest, error: OmError) {
    let before = dump(&replica.tables);
    let answer = replica.submit(request.clone());
    assert_eq!(answer, Err(error.clone()), "{request:?}");
    assert_eq!(answer.unwrap_err().code(), error.code());
    assert_eq!(
        dump(&replica.tables),
        before,
        "a rejected {request:?} changed state"
    );
}

#[test]
fn volume_errors() {
    let mut replica = populated();
    for bad in [
        "ab",
        "Vol",
        "-vol",
        "vol.",
        "a..b",
        "10.0.0.1",
        "under_score",
    ] {
        rejects(&mut replica, create_volume(bad), OmError::InvalidVolumeName);
        rejects(
            &mut replica,
            OmRequest::VolumeInfo { volume: s(bad) },
            OmError::InvalidVolumeName,
        );
    }
    rejects(
        &mut replica,
        create_volume("vol"),
        OmError::VolumeAlreadyExists,
    );
    rejects(
        &mut replica,
        OmRequest::VolumeInfo { volume: s("nope") },
        OmError::VolumeNotFound,
    );
    let set_owner = OmRequest::SetVolumeOwner {
        volume: s("nope"),
        owner: s("x"),
    };
    rejects(&mut replica, set_owner, OmError::VolumeNotFound);
    rejects(
        &mut replica,
        OmRequest::DeleteVolume { volume: s("nope") },
        OmError::VolumeNotFound,
    );
    rejects(
        &mut replica,
        OmRequest::DeleteVolume { volume: s("vol") },
        OmError::VolumeNotEmpty,
    );
    let below_usage = Quota {
        bytes: Some(29),
        namespace: None,
    };
    let set_quota = OmRequest::SetVolumeQuota {
        volume: s("vol"),
        quota: below_usage,
    };
    rejects(&mut replica, set_quota, OmError::QuotaExceeded);
    let no_buckets = Quota {
        bytes: None,
        namespace: Some(0),
    };
    let set_quota = OmRequest::SetVolumeQuota {
        volume: s("vol"),
        quota: no_buckets,
    };
    rejects(&mut replica, set_quota, OmError::QuotaExceeded);
    let list = OmRequest::ListBuckets {
        volume: s("nope"),
        prefix: s(""),
        start: s(""),
        max: 10,
    };
    rejects(&mut replica, list, OmError::VolumeNotFound);
}

#[test]
fn bucket_errors() {
    let mut replica = populated();
    rejects(
        &mut replica,
        create_bucket("BAD", "buck2"),
        OmError::InvalidVolumeName,
    );
    rejects(
        &mut replica,
        create_bucket("vol", "b"),
        OmError::InvalidBucketName,
    );
    rejects(
        &mut replica,
        create_bucket("vol", "1.2.3.4"),
        OmError::InvalidBucketName,
    );
    rejects(
        &mut replica,
        create_bucket("nope", "buck2"),
        OmError::VolumeNotFound,
    );
    rejects(
        &mut replica,
        create_bucket("vol", "buck"),
        OmError::BucketAlreadyExists,
    );
    let info = OmRequest::BucketInfo {
        volume: s("vol"),
        bucket: s("nope"),
    };
    rejects(&mut replica, info, OmError::BucketNotFound);
    let info = OmRequest::BucketInfo {
        volume: s("nope"),
        bucket: s("buck"),
    };
    rejects(&mut replica, info, OmError::VolumeNotFound);
    let delete = OmRequest::DeleteBucket {
        volume: s("vol"),
        bucket: s("buck"),
    };
    rejects(&mut replica, delete, OmError::BucketNotEmpty);
    let property = OmRequest::SetBucketProperty {
        volume: s("vol"),
        bucket: s("buck"),
        versioning: Some(true),
        quota: Some(Quota {
            bytes: Some(29),
            namespace: None,
        }),
    };
    rejects(&mut replica, property, OmError::QuotaExceeded);
    // The volume allows one more bucket only.
    let quota = Quota {
        bytes: None,
        namespace: Some(2),
    };
    let set_quota = OmRequest::SetVolumeQuota {
        volume: s("vol"),
        quota,
    };
    assert_eq!(replica.submit(set_quota), Ok(OmResponse::Done));
    assert_eq!(
        replica.submit(create_bucket("vol", "second")),
        Ok(OmResponse::Done)
    );
    rejects(
        &mut replica,
        create_bucket("vol", "third"),
        OmError::QuotaExceeded,
    );
}

#[test]
fn bucket_with_only_an_open_key_is_not_empty() {
    let mut replica = MemoryReplica::default();
    assert!(replica.submit(create_volume("vol")).is_ok());
    assert!(replica.submit(create_bucket("vol", "buck")).is_ok());
    assert!(replica.submit(open_key("vol", "buck", "k", 1)).is_ok());
    let delete = OmRequest::DeleteBucket {
        volume: s("vol"),
        bucket: s("buck"),
    };
    rejects(&mut replica, delete, OmError::BucketNotEmpty);
}

#[test]
fn key_errors() {
    let mut replica = populated();
    rejects(
        &mut replica,
        open_key("vol", "buck", "", 1),
        OmError::InvalidKeyName,
    );
    rejects(
        &mut replica,
        open_key("vol", "buck", "a\0b", 1),
        OmError::InvalidKeyName,
    );
    rejects(
        &mut replica,
        open_key("vol", "buck", &"k".repeat(1025), 1),
        OmError::InvalidKeyName,
    );
    rejects(
        &mut replica,
        open_key("vol", "buck", "k", (1 << 40) + 1),
        OmError::InvalidRequest,
    );
    rejects(
        &mut replica,
        open_key("vol", "nope", "k", 1),
        OmError::BucketNotFound,
    );
    rejects(
        &mut replica,
        open_key("nope", "buck", "k", 1),
        OmError::VolumeNotFound,
    );
    rejects(
        &mut replica,
        commit_key("vol", "buck", "k1", 999, 1),
        OmError::KeyNotFound,
    );
    let lookup = OmRequest::LookupKey {
        volume: s("vol"),
        bucket: s("buck"),
        key: s("nope"),
    };
    rejects(&mut replica, lookup, OmError::KeyNotFound);
    let delete = OmRequest::DeleteKey {
        volume: s("vol"),
        bucket: s("buck"),
        key: s("nope"),
    };
    rejects(&mut replica, delete, OmError::KeyNotFound);
    let rename = |from: &str, to: &str| OmRequest::RenameKey {
        volume: s("vol"),
        bucket: s("buck"),
        from_key: s(from),
        to_key: s(to),
    };
    rejects(&mut replica, rename("nope", "other"), OmError::KeyNotFound);
    rejects(&mut replica, rename("k1", ""), OmError::InvalidKeyName);
    rejects(&mut replica, rename("k1", "k1"), OmError::KeyAlreadyExists);
    let Ok(OmResponse::KeyOpened { open_id, .. }) =
        replica.submit(open_key("vol", "buck", "k2", 1))
    else {
        panic!("open k2")
    };
    assert!(replica
        .submit(commit_key("vol", "buck", "k2", open_id, 1))
        .is_ok());
    rejects(&mut replica, rename("k1", "k2"), OmError::KeyAlreadyExists);
}

#[test]
fn commit_enforces_quota_and_keeps_the_open_key() {
    let mut replica = MemoryReplica::default();
    let quota = Quota {
        bytes: Some(100),
        namespace: Some(2),
    };
    let volume = OmRequest::CreateVolume {
        volume: s("vol"),
        owner: s("o"),
        quota: Quota {
            bytes: Some(150),
            namespace: None,
        },
    };
    assert!(replica.submit(volume).is_ok());
    let bucket = OmRequest::CreateBucket {
        volume: s("vol"),
        bucket: s("buck"),
        versioning: false,
        layout: om_server::om::BucketLayout::ObjectStore,
        quota,
    };
    assert!(replica.submit(bucket).is_ok());
    assert!(replica.submit(create_bucket("vol", "free")).is_ok());
    let open = |replica: &mut MemoryReplica, bucket: &str, key: &str| match replica
        .submit(open_key("vol", bucket, key, 0))
    {
        Ok(OmResponse::KeyOpened { open_id, .. }) => open_id,
        other => panic!("open: {other:?}"),
    };
    // Bucket bytes: 34 * 3 = 102 > 100.
    let id = open(&mut replica, "buck", "big");
    rejects(
        &mut replica,
        commit_key("vol", "buck", "big", id, 34),
        OmError::QuotaExceeded,
    );
    assert!(replica
        .submit(commit_key("vol", "buck", "big", id, 33))
        .is_ok());
    // Bucket namespace: two keys at most.
    let id = open(&mut replica, "buck", "second");
    assert!(replica
        .submit(commit_key("vol", "buck", "second", id, 0))
        .is_ok());
    let id = open(&mut replica, "buck", "third");
    rejects(
        &mut replica,
        commit_key("vol", "buck", "third", id, 0),
        OmError::QuotaExceeded,
    );
    // Replacing a key needs no new namespace and only the size difference.
    let id = open(&mut replica, "buck", "second");
    assert!(replica
        .submit(commit_key("vol", "buck", "second", id, 0))
        .is_ok());
    // Volume bytes: 99 used; 17 * 3 = 51 more would be 150 (allowed), 18 * 3 would not.
    let id = open(&mut replica, "free", "k");
    rejects(
        &mut replica,
        commit_key("vol", "free", "k", id, 18),
        OmError::QuotaExceeded,
    );
    assert!(replica
        .submit(commit_key("vol", "free", "k", id, 17))
        .is_ok());
}
