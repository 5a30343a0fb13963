//! A failing disk under one node.
//!
//! `failed_log_sync_stops_the_node_and_it_recovers_by_replay`: the next sync of the leader's
//! Raft log fails (its pending bytes dropped or kept, by seed). The node must stop (fail-stop:
//! `OmNode::fail_stopped` says why) instead of going on without durability; it acknowledges
//! nothing more; only its log store is hit; the others elect a leader and keep serving;
//! restarted after a process crash on a repaired disk, it recovers by replaying the log, and no
//! acknowledged write is lost.
//!
//! `armed_crash_tears_a_log_write_and_the_node_recovers`: a follower's disk loses power at its
//! k-th log write (seeded), tearing the unsynced tail at a seeded byte; the harness sees the trip,
//! kills and restarts the node, which catches up with the others.
#![cfg(madsim)]

use madsim::rand::Rng;
use om_server::om::{BucketLayout, OmRequest, OmResponse, Quota};
use om_server::store::sim_disk::{CrashMode, CrashTrigger, DiskFault, TailLoss};
use om_server::store::Scope;
use om_sim::cluster::SimCluster;
use om_sim::scenario::{
    agreed_leader, client, client_host, converge, for_each_seed, pinned_client, seeds, start_group,
    wait_until,
};
use std::sync::Arc;
use std::time::Duration;

const BUCKETS: u64 = 40;

fn create_bucket(name: &str) -> OmRequest {
    OmRequest::CreateBucket {
        volume: "vol".into(),
        bucket: name.to_string(),
        versioning: false,
        layout: BucketLayout::ObjectStore,
        quota: Quota::default(),
    }
}

/// A volume and `BUCKETS` buckets through a failover client; the names it got acknowledged.
async fn write_buckets(cluster: &Arc<SimCluster>, host: u64) -> Vec<String> {
    let writer_cluster = cluster.clone();
    client_host(host)
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
                if client.call(create_bucket(&bucket)).await == Ok(Ok(OmResponse::Done)) {
                    acknowledged.push(bucket);
                }
            }
            acknowledged
        })
        .await
        .unwrap()
}

/// Every bucket is on node `id`, as its applier reads them.
fn assert_all_buckets_on(cluster: &SimCluster, id: u64) {
    let listed = cluster
        .node(id)
        .unwrap()
        .applier()
        .read(&OmRequest::ListBuckets {
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
        (0..BUCKETS)
            .map(|n| format!("bucket-{n:03}"))
            .collect::<Vec<_>>(),
        "every acknowledged bucket is on the recovered node {id}"
    );
}

async fn failed_log_sync() {
    let cluster = start_group(3, |_| {}).await;
    let faulty = agreed_leader(&cluster).unwrap();
    let keep_pending = madsim::rand::thread_rng().gen_bool(0.5);
    cluster.disk(faulty).inject(DiskFault::FailNextSync {
        scope: Scope::Log,
        keep_pending,
    });

    let acknowledged = write_buckets(&cluster, 1).await;
    assert_eq!(
        acknowledged.len() as u64,
        BUCKETS + 1,
        "the others keep serving every write"
    );

    let node = cluster
        .node(faulty)
        .expect("the faulty node's host still runs");
    assert!(
        wait_until(Duration::from_secs(5), || node.fail_stopped().is_some()).await,
        "node {faulty} went on after a failed log sync"
    );
    let stopped = cluster.fail_stopped();
    assert_eq!(
        stopped.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![faulty],
        "only the injected node stopped itself: {stopped:?}"
    );
    let stats = cluster.disk(faulty).stats();
    assert_eq!(
        (stats.log.failed_syncs, stats.log.poisoned),
        (1, true),
        "{stats:?}"
    );
    assert_eq!(
        (stats.tables.failed_syncs, stats.tables.poisoned),
        (0, false),
        "the fault hit the log only: {stats:?}"
    );
    assert_ne!(agreed_leader(&cluster), Some(faulty));

    // Fail-stop: the node acknowledges nothing more, read or write.
    let refused = client_host(2)
        .spawn(async move {
            let mut pinned = pinned_client(faulty);
            let write = pinned.call(create_bucket("after-stop")).await;
            let read = pinned
                .call(OmRequest::VolumeInfo {
                    volume: "vol".into(),
                })
                .await;
            (write, read)
        })
        .await
        .unwrap();
    assert!(
        !matches!(refused.0, Ok(Ok(_))),
        "a stopped node acknowledged a write: {refused:?}"
    );
    assert!(
        !matches!(refused.1, Ok(Ok(_))),
        "a stopped node answered a read: {refused:?}"
    );

    // Repaired disk, process restart: the node replays the log and catches up.
    cluster.kill(faulty, CrashMode::ProcessCrash);
    cluster.disk(faulty).clear_faults();
    cluster.restart(faulty);
    converge(&cluster, Duration::from_secs(30))
        .await
        .unwrap_or_else(|reason| panic!("{reason}"));
    assert_all_buckets_on(&cluster, faulty);
    assert!(cluster.fail_stopped().is_empty());
}

async fn armed_crash() {
    let cluster = start_group(3, |_| {}).await;
    let leader = agreed_leader(&cluster).unwrap();
    let victim = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let mut random = madsim::rand::thread_rng();
    let nth = random.gen_range(2..=BUCKETS / 2);
    let keep_bytes = random.gen_range(0..200);
    let mode = CrashMode::PowerLoss {
        log: TailLoss::Tear { keep_bytes },
        tables: TailLoss::Drop,
    };
    let trigger = CrashTrigger::Write {
        scope: Scope::Log,
        nth,
    };
    cluster.arm_disk_crash(victim, trigger, mode);

    let acknowledged = write_buckets(&cluster, 1).await;
    assert_eq!(acknowledged.len() as u64, BUCKETS + 1);
    let tripped = wait_until(Duration::from_secs(5), || {
        !cluster.tripped_disks().is_empty()
    })
    .await;
    assert!(tripped, "the armed crash of node {victim} never fired");
    let trips = cluster.tripped_disks();
    let [(id, trip)] = trips[..] else {
        panic!("one disk tripped: {trips:?}")
    };
    assert_eq!((id, trip.trigger, trip.mode), (victim, trigger, mode));
    // The triggering write is in the unsynced tail the crash tore (`keep_bytes` of it kept;
    // seeds 1..12 measured 71 or 208 bytes pending, so about half the seeds cut a record).
    assert!(trip.pending_bytes[Scope::Log.index()] > 0, "{trip:?}");
    let stats = cluster.disk(victim).stats();
    assert_eq!((stats.trips, stats.log.pending_bytes), (1, 0), "{stats:?}");

    // The harness's part: kill (the disk already crashed) and restart.
    cluster.kill(victim, CrashMode::ProcessCrash);
    assert!(cluster.tripped_disks().is_empty());
    cluster.restart(victim);
    converge(&cluster, Duration::from_secs(30))
        .await
        .unwrap_or_else(|reason| panic!("{reason}"));
    assert_all_buckets_on(&cluster, victim);
}

#[test]
fn failed_log_sync_stops_the_node_and_it_recovers_by_replay() {
    for_each_seed("disk_fault", &seeds(&[1, 2, 3, 4]), failed_log_sync);
}

#[test]
fn armed_crash_tears_a_log_write_and_the_node_recovers() {
    for_each_seed("disk_fault", &seeds(&[1, 2, 3]), armed_crash);
}
