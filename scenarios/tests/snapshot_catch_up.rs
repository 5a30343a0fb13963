//! Bug class 8 (a node that can never catch up after purge): a follower is down while the
//! others write past a snapshot and purge their logs; restarted, it can only catch up by
//! installing a snapshot, and it must end with the same tables as the others.
#![cfg(madsim)]

use om_server::om::{BucketLayout, OmRequest, OmResponse, Quota};
use om_server::store::sim_disk::CrashMode;
use om_sim::scenario::{
    agreed_leader, client, client_host, converge, for_each_seed, seeds, start_group, wait_until,
};
use std::time::Duration;

const SNAPSHOT_ENTRIES: u64 = 50;

async fn scenario() {
    let cluster = start_group(3, |config| {
        config.snapshot_entries_threshold = SNAPSHOT_ENTRIES
    })
    .await;
    let leader = agreed_leader(&cluster).unwrap();
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    cluster.kill(follower, CrashMode::DROP_PENDING);

    let writer_cluster = cluster.clone();
    client_host(1)
        .spawn(async move {
            let mut client = client(&writer_cluster);
            let volume = OmRequest::CreateVolume {
                volume: "vol".into(),
                owner: "o".into(),
                quota: Quota::default(),
            };
            assert_eq!(client.call(volume).await.unwrap(), Ok(OmResponse::Done));
            for n in 0..(SNAPSHOT_ENTRIES * 4) {
                let bucket = OmRequest::CreateBucket {
                    volume: "vol".into(),
                    bucket: format!("bucket-{n:04}"),
                    versioning: false,
                    layout: BucketLayout::ObjectStore,
                    quota: Quota::default(),
                };
                assert_eq!(client.call(bucket).await.unwrap(), Ok(OmResponse::Done));
            }
        })
        .await
        .unwrap();

    let purged_past_follower = || {
        let node = cluster.node(leader)?;
        let metrics = node.raft().metrics();
        let purged = openraft::rt::WatchReceiver::borrow_watched(&metrics).purged;
        purged.map(|log_id| log_id.index)
    };
    let purged = wait_until(Duration::from_secs(10), || {
        purged_past_follower().is_some_and(|index| index > 10)
    })
    .await;
    assert!(
        purged,
        "the leader purged its log past what the follower has: {:?}",
        purged_past_follower()
    );

    cluster.restart(follower);
    let index = converge(&cluster, Duration::from_secs(30))
        .await
        .unwrap_or_else(|reason| panic!("{reason}"));
    assert!(index.0 > SNAPSHOT_ENTRIES * 4);
    let node = cluster.node(follower).unwrap();
    let metrics = node.raft().metrics();
    let snapshot = openraft::rt::WatchReceiver::borrow_watched(&metrics).snapshot;
    assert!(
        snapshot.is_some(),
        "follower {follower} caught up without a snapshot"
    );
    // Every acknowledged bucket is on the follower that caught up.
    let listed = node.applier().read(&OmRequest::ListBuckets {
        volume: "vol".into(),
        prefix: String::new(),
        start: String::new(),
        max: 1000,
    });
    let Ok(Ok(OmResponse::Buckets(buckets))) = listed else {
        panic!("follower {follower}: {listed:?}")
    };
    let found: Vec<String> = buckets.into_iter().map(|bucket| bucket.name).collect();
    let acknowledged: Vec<String> = (0..SNAPSHOT_ENTRIES * 4)
        .map(|n| format!("bucket-{n:04}"))
        .collect();
    assert_eq!(
        found, acknowledged,
        "follower {follower} holds every bucket"
    );
}

#[test]
fn follower_restarted_after_purge_catches_up_by_snapshot() {
    for_each_seed("snapshot_catch_up", &seeds(&[1, 2, 3]), scenario);
}
