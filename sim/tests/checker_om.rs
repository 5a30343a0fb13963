//! Hand-made OM client histories checked against the OM model.

use std::collections::BTreeMap;

use om_sim::checker::model::om::{
    BucketLayout, KeyInfo, OmErrorCode as E, OmOp, OmOutcome, OmResponse as R, OmSpec, OpenKeyInfo,
    Quota, Replication, VolumeInfo,
};
use om_sim::checker::{check, json_lines, CheckOptions, History, Operation, Verdict};

type Op = Operation<OmOp, OmOutcome>;

fn done(client: u64, invoke: u64, complete: u64, input: OmOp, output: OmOutcome) -> Op {
    Operation::completed(client, invoke, complete, input, output)
}

fn create_volume(volume: &str) -> OmOp {
    OmOp::CreateVolume {
        volume: volume.into(),
        owner: "alice".into(),
        quota: Quota::default(),
    }
}

fn create_bucket(volume: &str) -> OmOp {
    OmOp::CreateBucket {
        volume: volume.into(),
        bucket: "buc".into(),
        versioning: false,
        layout: BucketLayout::ObjectStore,
        quota: Quota::default(),
    }
}

fn open_key(volume: &str, key: &str) -> OmOp {
    OmOp::OpenKey {
        volume: volume.into(),
        bucket: "buc".into(),
        key: key.into(),
        size: 10,
        replication: Replication::RatisOne,
        metadata: BTreeMap::new(),
    }
}

fn commit_key(volume: &str, key: &str, open_id: u64) -> OmOp {
    OmOp::CommitKey {
        volume: volume.into(),
        bucket: "buc".into(),
        key: key.into(),
        open_id,
        size: 10,
    }
}

fn lookup_key(volume: &str, key: &str) -> OmOp {
    OmOp::LookupKey {
        volume: volume.into(),
        bucket: "buc".into(),
        key: key.into(),
    }
}

fn key_info(volume: &str, key: &str) -> KeyInfo {
    KeyInfo {
        volume: volume.into(),
        bucket: "buc".into(),
        name: key.into(),
        size: 10,
        replication: Replication::RatisOne,
        block_ids: vec![123_456],
        metadata: BTreeMap::new(),
        creation_time_ms: 1_700_000_000_000,
        modification_time_ms: 1_700_000_000_500,
        object_id: 42,
        update_id: 47,
    }
}

fn verdict(operations: Vec<Op>) -> Verdict {
    check(&OmSpec, &History::new(operations), &CheckOptions::default()).verdict
}

/// Volume `vol` with bucket `buc`, created by client 9 before time 100.
fn setup(volume: &str) -> Vec<Op> {
    vec![
        done(9, 0, 10, create_volume(volume), Ok(R::Done)),
        done(9, 20, 30, create_bucket(volume), Ok(R::Done)),
    ]
}

#[test]
fn concurrent_creates_of_one_volume_exactly_one_succeeds() {
    let one_wins = vec![
        done(0, 0, 10, create_volume("vol"), Ok(R::Done)),
        done(1, 0, 10, create_volume("vol"), Err(E::VolumeAlreadyExists)),
    ];
    assert_eq!(verdict(one_wins), Verdict::Linearizable);
    let both_win = vec![
        done(0, 0, 10, create_volume("vol"), Ok(R::Done)),
        done(1, 0, 10, create_volume("vol"), Ok(R::Done)),
    ];
    assert_eq!(verdict(both_win), Verdict::NotLinearizable);
    let none_wins = vec![
        done(0, 0, 10, create_volume("vol"), Err(E::VolumeAlreadyExists)),
        done(1, 0, 10, create_volume("vol"), Err(E::VolumeAlreadyExists)),
    ];
    assert_eq!(verdict(none_wins), Verdict::NotLinearizable);
}

#[test]
fn a_lookup_that_misses_a_completed_commit_is_refuted() {
    let mut history = setup("vol");
    history.push(done(
        0,
        100,
        110,
        open_key("vol", "k"),
        Ok(R::KeyOpened {
            open_id: 77,
            block_ids: vec![1],
        }),
    ));
    history.push(done(0, 120, 130, commit_key("vol", "k", 77), Ok(R::Done)));
    let mut found = history.clone();
    found.push(done(
        1,
        140,
        150,
        lookup_key("vol", "k"),
        Ok(R::Key(key_info("vol", "k"))),
    ));
    assert_eq!(
        verdict(found),
        Verdict::Linearizable,
        "ids and times are not compared"
    );
    history.push(done(
        1,
        140,
        150,
        lookup_key("vol", "k"),
        Err(E::KeyNotFound),
    ));
    assert_eq!(verdict(history), Verdict::NotLinearizable);
}

#[test]
fn a_lookup_concurrent_with_the_commit_may_miss_it() {
    let mut history = setup("vol");
    history.push(done(
        0,
        100,
        110,
        open_key("vol", "k"),
        Ok(R::KeyOpened {
            open_id: 77,
            block_ids: vec![1],
        }),
    ));
    history.push(done(0, 120, 130, commit_key("vol", "k", 77), Ok(R::Done)));
    history.push(done(
        1,
        125,
        150,
        lookup_key("vol", "k"),
        Err(E::KeyNotFound),
    ));
    assert_eq!(verdict(history), Verdict::Linearizable);
}

#[test]
fn volume_info_missing_a_completed_create_is_refuted() {
    let history = vec![
        done(0, 0, 10, create_volume("vol"), Ok(R::Done)),
        done(
            1,
            20,
            30,
            OmOp::VolumeInfo {
                volume: "vol".into(),
            },
            Err(E::VolumeNotFound),
        ),
    ];
    assert_eq!(verdict(history), Verdict::NotLinearizable);
}

#[test]
fn a_commit_needs_the_open_it_names_to_come_first() {
    // The commit completes before the open it names was even invoked.
    let mut history = setup("vol");
    history.push(done(0, 100, 110, commit_key("vol", "k", 5), Ok(R::Done)));
    history.push(done(
        1,
        120,
        130,
        open_key("vol", "k"),
        Ok(R::KeyOpened {
            open_id: 5,
            block_ids: vec![1],
        }),
    ));
    assert_eq!(verdict(history), Verdict::NotLinearizable);
}

#[test]
fn indeterminate_requests_may_or_may_not_have_happened() {
    let volume_info = |owner: &str| {
        R::Volume(VolumeInfo {
            name: "vol".into(),
            owner: owner.into(),
            quota_bytes: None,
            quota_namespace: None,
            used_bytes: 0,
            used_namespace: 0,
            creation_time_ms: 5,
            modification_time_ms: 5,
            object_id: 1,
            update_id: 1,
        })
    };
    let applied = vec![
        Operation::indeterminate(0, 0, create_volume("vol")),
        done(
            1,
            20,
            30,
            OmOp::VolumeInfo {
                volume: "vol".into(),
            },
            Ok(volume_info("alice")),
        ),
    ];
    assert_eq!(verdict(applied), Verdict::Linearizable);
    let not_applied = vec![
        Operation::indeterminate(0, 0, create_volume("vol")),
        done(
            1,
            20,
            30,
            OmOp::VolumeInfo {
                volume: "vol".into(),
            },
            Err(E::VolumeNotFound),
        ),
        done(1, 40, 50, create_volume("vol"), Ok(R::Done)),
    ];
    assert_eq!(verdict(not_applied), Verdict::Linearizable);
    let wrong_owner = vec![
        Operation::indeterminate(0, 0, create_volume("vol")),
        done(
            1,
            20,
            30,
            OmOp::VolumeInfo {
                volume: "vol".into(),
            },
            Ok(volume_info("mallory")),
        ),
    ];
    assert_eq!(verdict(wrong_owner), Verdict::NotLinearizable);
}

#[test]
fn an_open_whose_answer_was_lost_still_blocks_bucket_deletion_and_is_listed() {
    let delete_bucket = OmOp::DeleteBucket {
        volume: "vol".into(),
        bucket: "buc".into(),
    };
    let list_open = OmOp::ListOpenKeys {
        volume: "vol".into(),
        bucket: "buc".into(),
        prefix: String::new(),
        start: String::new(),
        max: 10,
    };
    let listed = |open_id| {
        let key = KeyInfo {
            block_ids: vec![9],
            ..key_info("vol", "k")
        };
        R::OpenKeys(vec![OpenKeyInfo { open_id, key }])
    };
    let mut history = setup("vol");
    history.push(Operation::indeterminate(0, 100, open_key("vol", "k")));
    history.push(done(1, 200, 210, list_open.clone(), Ok(listed(3))));
    history.push(done(
        1,
        220,
        230,
        delete_bucket.clone(),
        Err(E::BucketNotEmpty),
    ));
    assert_eq!(verdict(history), Verdict::Linearizable);
    let mut history = setup("vol");
    history.push(Operation::indeterminate(0, 100, open_key("vol", "k")));
    history.push(done(1, 200, 210, list_open, Ok(listed(3))));
    history.push(done(1, 220, 230, delete_bucket, Ok(R::Done)));
    assert_eq!(
        verdict(history),
        Verdict::NotLinearizable,
        "the listed open key is still there"
    );
}

#[test]
fn volumes_are_independent_parts_unless_a_history_lists_volumes() {
    let mut operations = setup("vol-a");
    operations.extend(setup("vol-b"));
    operations.push(done(
        0,
        100,
        110,
        lookup_key("vol-b", "k"),
        Ok(R::Key(key_info("vol-b", "k"))),
    ));
    let history = History::new(operations.clone());
    let report = check(&OmSpec, &history, &CheckOptions::default());
    assert_eq!(
        (report.parts.len(), report.verdict),
        (2, Verdict::NotLinearizable)
    );
    assert_eq!(
        report
            .refutation()
            .map(|(part, refutation)| (part, refutation.blocking)),
        Some((1, 4))
    );
    let list = OmOp::ListVolumes {
        prefix: String::new(),
        start: String::new(),
        max: 10,
    };
    operations[4] = done(0, 100, 110, list, Ok(R::Volumes(Vec::new())));
    let report = check(&OmSpec, &History::new(operations), &CheckOptions::default());
    assert_eq!(
        (report.parts.len(), report.verdict),
        (1, Verdict::NotLinearizable)
    );
}

#[test]
fn recorded_json_history_round_trips_and_checks() {
    let mut operations = setup("vol");
    operations.push(done(
        0,
        100,
        110,
        open_key("vol", "k"),
        Ok(R::KeyOpened {
            open_id: 3,
            block_ids: vec![12288],
        }),
    ));
    operations.push(Operation::indeterminate(1, 105, commit_key("vol", "k", 3)));
    operations.push(done(
        2,
        200,
        210,
        lookup_key("vol", "k"),
        Ok(R::Key(key_info("vol", "k"))),
    ));
    let history = History::new(operations);
    let text = json_lines::write(&history);
    let parsed: History<OmOp, OmOutcome> = json_lines::parse(&text).expect("parses");
    assert_eq!(parsed, history);
    assert_eq!(
        check(&OmSpec, &parsed, &CheckOptions::default()).verdict,
        Verdict::Linearizable
    );
}
