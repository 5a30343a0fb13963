//! A failing disk under the leader: one sync fails. The node must stop (fail-stop: its Raft
//! turns fatal or its double buffer failed) instead of going on without durability; the others
//! elect a leader and keep serving; restarted on a repaired disk, the node recovers by replaying
//! the log, and no acknowledged write is lost.
#![cfg(madsim)]

use om_server::double_buffer::FlushState;
use om_server::om::{BucketLayout, OmRequest, OmResponse, Quota};
use om_server::store::sim_disk::{CrashMode, DiskFaults};
use om_sim::scenario::{
    agreed_leader, client, client_host, converge, for_each_seed, seeds, start_group, wait_until,
};
use std::time::Duration;

const BUCKETS: u64 = 40;

async fn scenario() {
    let cluster = start_group(3, |_| {}).await;
    let faulty = agreed_leader(&cluster).unwrap();
    cluster.disk(faulty).set_faults(DiskFaults {
        syncs_to_fail: 1,
        ..DiskFaults::default()
    });

    let writer_cluster = cluster.clone();
    let acknowledged = client_host(1)
        .spawn(async move {
            let mut client = client(&writer_cluster);
            let volume = OmRequest::CreateVolume {
                volume: "vol".into(),
                owner: "o".into(),
                quota: Quota::default(),
            };
            let mut acknowledged = Vec::new();
            if client.call(volume).await == Ok(Ok(OmResponse::Done)) {
                acknowledged.push("vol".to_string());
            }
            for n in 0..BUCKETS {
                let bucket = format!("bucket-{n:03}");
                let create = OmRequest::CreateBucket {
                    volume: "vol".into(),
                    bucket: bucket.clone(),
                    versioning: false,
                    layout: BucketLayout::ObjectStore,
                    quota: Quota::default(),
                };
                if client.call(create).await == Ok(Ok(OmResponse::Done)) {
                    acknowledged.push(bucket);
                }
            }
            acknowledged
        })
        .await
        .unwrap();
    assert_eq!(
        acknowledged.len() as u64,
        BUCKETS + 1,
        "the others keep serving every write"
    );

    let node = cluster
        .node(faulty)
        .expect("the faulty node's host still runs");
    let stopped = || {
        let metrics = node.raft().metrics();
        let fatal = openraft::rt::WatchReceiver::borrow_watched(&metrics)
            .running_state
            .is_err();
        let failed = matches!(
            node.applier().double_buffer().state(),
            FlushState::Failed { .. }
        );
        fatal || failed
    };
    assert!(
        wait_until(Duration::from_secs(5), stopped).await,
        "node {faulty} went on after a failed sync"
    );
    assert_ne!(agreed_leader(&cluster), Some(faulty));

    // Repaired disk, restart: the node replays the log and catches up.
    cluster.kill(faulty, CrashMode::DropPending);
    cluster.disk(faulty).set_faults(DiskFaults::default());
    cluster.restart(faulty);
    converge(&cluster, Duration::from_secs(30))
        .await
        .unwrap_or_else(|reason| panic!("{reason}"));
    // Every acknowledged write is on the recovered node, and nothing else.
    let recovered = cluster.node(faulty).unwrap();
    let volume = recovered.applier().read(&OmRequest::VolumeInfo {
        volume: "vol".into(),
    });
    assert!(
        matches!(volume, Ok(Ok(OmResponse::Volume(_)))),
        "the acknowledged volume on the recovered node: {volume:?}"
    );
    let listed = recovered.applier().read(&OmRequest::ListBuckets {
        volume: "vol".into(),
        prefix: String::new(),
        start: String::new(),
        max: 1000,
    });
    let Ok(Ok(OmResponse::Buckets(buckets))) = listed else {
        panic!("{listed:?}")
    };
    let found: Vec<String> = buckets.into_iter().map(|bucket| bucket.name).collect();
    assert_eq!(
        found,
        acknowledged[1..],
        "every acknowledged bucket is on the recovered node"
    );
}

#[test]
fn failed_sync_stops_the_node_and_it_recovers_by_replay() {
    for_each_seed("disk_fault", &seeds(&[1, 2, 3]), scenario);
}
