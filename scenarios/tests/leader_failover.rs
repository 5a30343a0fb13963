//! A 3-node cluster serves 500 metadata writes from 5 concurrent clients while it loses its
//! leader (power loss), loses and regains a follower, and has its leader cut off by a
//! partition; then everything heals. Every replica must end with identical tables at one
//! applied index; every acknowledged write must be there; no retried create may answer
//! `*_ALREADY_EXISTS`; and the same seed must replay the same trace.
#![cfg(madsim)]

use madsim::runtime::Runtime;
use madsim::Config;
use om_server::om::{BucketLayout, OmRequest, OmResponse, Quota, Replication};
use om_server::store::sim_disk::CrashMode;
use om_server::OmError;
use om_sim::cluster::SimCluster;
use om_sim::scenario::{
    agreed_leader, client, client_host, converge, elapsed, traced_call, wait_until,
};
use om_sim::trace::Trace;
use std::time::Duration;

const CLIENTS: u64 = 5;
const WRITES_PER_CLIENT: u64 = 100;

/// Pause between a client's writes: spreads the load over the whole fault timeline.
const THINK_TIME: Duration = Duration::from_millis(150);

fn s(text: &str) -> String {
    text.to_string()
}

/// Client `number`'s writes: its own volume, buckets, and two-phase key writes.
fn plan(number: u64, step: u64) -> OmRequest {
    let volume = format!("vol-{number}");
    // Step 20n+1 creates bucket n; the keys after it go there.
    let bucket = format!("bucket-{}", step.saturating_sub(1) / 20);
    match step {
        0 => OmRequest::CreateVolume {
            volume,
            owner: s("hadoop"),
            quota: Quota::default(),
        },
        step if step % 20 == 1 => OmRequest::CreateBucket {
            volume,
            bucket,
            versioning: false,
            layout: BucketLayout::ObjectStore,
            quota: Quota::default(),
        },
        step => OmRequest::OpenKey {
            volume,
            bucket,
            key: format!("key-{step}"),
            size: step * 1000,
            replication: Replication::RatisThree,
            metadata: Default::default(),
        },
    }
}

/// Runs client `number` to the end of its plan; returns how many writes were acknowledged.
async fn run_client(cluster: &SimCluster, trace: &Trace, number: u64) -> u64 {
    let mut client = client(cluster, number);
    let mut acknowledged = 0;
    for step in 0..WRITES_PER_CLIENT {
        tokio::time::sleep(THINK_TIME).await;
        let request = plan(number, step);
        let outcome = traced_call(&mut client, trace, request.clone()).await;
        match outcome {
            Ok(Ok(OmResponse::KeyOpened { open_id, .. })) => {
                let OmRequest::OpenKey {
                    volume,
                    bucket,
                    key,
                    size,
                    ..
                } = request
                else {
                    unreachable!()
                };
                let commit = OmRequest::CommitKey {
                    volume,
                    bucket,
                    key,
                    open_id,
                    size,
                };
                let committed = traced_call(&mut client, trace, commit).await;
                assert!(
                    matches!(committed, Ok(Ok(OmResponse::Done)) | Err(_)),
                    "commit: {committed:?}"
                );
                acknowledged += u64::from(committed.is_ok());
            }
            Ok(Ok(_)) => acknowledged += 1,
            // Its names are its own: an existing one means a retry was applied twice.
            Ok(Err(OmError::VolumeAlreadyExists | OmError::BucketAlreadyExists)) => {
                panic!("client {number} step {step}: a retried create answered ALREADY_EXISTS")
            }
            Ok(Err(error)) => panic!("client {number} step {step}: {error}"),
            Err(_unknown) => {}
        }
    }
    acknowledged
}

/// Faults on a fixed timeline of simulated time; the leader is whoever leads at that moment.
async fn nemesis(cluster: &SimCluster, trace: &Trace) {
    let at = |seconds: u64| {
        tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_secs(seconds))
    };
    let leader = |cluster: &SimCluster| agreed_leader(cluster).unwrap_or(1);

    at(3).await;
    let victim = leader(cluster);
    trace.record(
        elapsed(),
        "nemesis",
        format_args!("kill leader {victim} (unsynced writes lost)"),
    );
    cluster.kill(victim, CrashMode::DropPending);
    at(3).await;
    trace.record(elapsed(), "nemesis", format_args!("restart {victim}"));
    cluster.restart(victim);

    at(3).await;
    let current = leader(cluster);
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != current)
        .expect("a follower");
    trace.record(
        elapsed(),
        "nemesis",
        format_args!("kill follower {follower}"),
    );
    cluster.kill(follower, CrashMode::DropPending);
    at(2).await;
    trace.record(elapsed(), "nemesis", format_args!("restart {follower}"));
    cluster.restart(follower);

    at(3).await;
    let isolated = leader(cluster);
    trace.record(
        elapsed(),
        "nemesis",
        format_args!("isolate leader {isolated}"),
    );
    cluster.isolate(isolated);
    at(4).await;
    trace.record(elapsed(), "nemesis", format_args!("heal {isolated}"));
    cluster.heal(isolated);
}

/// The whole story; returns the trace's fingerprint.
async fn scenario() -> u64 {
    let trace = Trace::new();
    let cluster = std::sync::Arc::new(SimCluster::start(3, |config| {
        config.snapshot_entries_threshold = 150
    }));
    let running = wait_until(Duration::from_secs(5), || {
        cluster.ids().iter().all(|id| cluster.node(*id).is_some())
    })
    .await;
    assert!(
        running,
        "nodes failed to boot: {:?}",
        cluster.boot_failures()
    );
    cluster
        .node(1)
        .unwrap()
        .initialize(cluster.members())
        .await
        .expect("initialize");
    assert!(
        wait_until(Duration::from_secs(10), || agreed_leader(&cluster)
            .is_some())
        .await,
        "no leader elected"
    );
    trace.record(
        elapsed(),
        "cluster",
        format_args!("leader {:?}", agreed_leader(&cluster)),
    );

    let mut clients = Vec::new();
    for number in 1..=CLIENTS {
        let (cluster, trace) = (cluster.clone(), trace.clone());
        clients.push(
            client_host(number).spawn(async move { run_client(&cluster, &trace, number).await }),
        );
    }
    nemesis(&cluster, &trace).await;
    let mut acknowledged = 0;
    for handle in clients {
        acknowledged += handle.await.expect("client task");
    }
    trace.record(
        elapsed(),
        "clients",
        format_args!("{acknowledged} writes acknowledged"),
    );
    assert!(
        acknowledged >= CLIENTS * WRITES_PER_CLIENT * 9 / 10,
        "too few writes got through: {acknowledged}"
    );

    // Liveness: healed and restarted, the replicas converge.
    let index = converge(&cluster, Duration::from_secs(60))
        .await
        .unwrap_or_else(|reason| panic!("{reason}"));
    trace.record(
        elapsed(),
        "cluster",
        format_args!("converged at index {index}"),
    );
    check_acknowledged_writes(&cluster);
    let lines = trace.lines();
    let unknown = lines
        .iter()
        .filter(|line| line.ends_with("-> unknown"))
        .count();
    println!(
        "{} trace lines, {unknown} calls unknown, fingerprint {:016x}",
        lines.len(),
        trace.fingerprint()
    );
    for line in lines
        .iter()
        .filter(|line| !line.contains(" client") || line.ends_with("unknown"))
    {
        println!("{line}");
    }
    trace.fingerprint()
}

/// Every client's volume exists with its buckets: acknowledged creates survived every fault.
fn check_acknowledged_writes(cluster: &SimCluster) {
    let node = cluster.node(1).expect("node 1 runs");
    for number in 1..=CLIENTS {
        let listed = node.applier().read(&OmRequest::ListBuckets {
            volume: format!("vol-{number}"),
            prefix: String::new(),
            start: String::new(),
            max: 100,
        });
        let Ok(Ok(OmResponse::Buckets(buckets))) = listed else {
            panic!("client {number}'s volume: {listed:?}")
        };
        assert!(!buckets.is_empty(), "client {number}'s buckets are missing");
    }
}

fn seeds() -> Vec<u64> {
    #[allow(clippy::disallowed_methods)] // the replay line sets it; nothing below reads it
    let replay = std::env::var("OM_SIM_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok());
    replay.map_or_else(|| vec![1, 2, 3], |seed| vec![seed])
}

fn run(seed: u64) -> u64 {
    let runtime = Runtime::with_seed_and_config(seed, Config::default());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(scenario())
    }));
    outcome.unwrap_or_else(|panic| {
        eprintln!(
            "leader_failover failed with seed {seed}; replay:\n  OM_SIM_SEED={seed} RUSTFLAGS=\"--cfg madsim\" \
             CARGO_TARGET_DIR=target-madsim cargo test -p om-scenarios --profile sim --test leader_failover"
        );
        std::panic::resume_unwind(panic)
    })
}

#[test]
fn leader_failover_converges_and_replays() {
    for seed in seeds() {
        let first = run(seed);
        let second = run(seed);
        assert_eq!(
            first, second,
            "seed {seed}: the same seed gave two different traces"
        );
    }
}

#[test]
fn leader_failover_passes_madsim_determinism_check() {
    let seed = seeds()[0];
    Runtime::check_determinism(seed, Config::default(), scenario);
}
