//! A 3-node cluster serves 500 metadata writes from 5 concurrent clients while it loses its
//! leader (power loss), loses and regains a follower, and has its leader cut off by a
//! partition; then everything heals. Every replica must end with identical tables at one
//! applied index; every acknowledged write must be there; no retried create may answer
//! `*_ALREADY_EXISTS`; and the same seed must replay the same trace.
#![cfg(madsim)]

use madsim::rand::Rng;
use om_server::node::ReadOption;
use om_server::om::{BucketLayout, OmRequest, OmResponse, Quota, Replication};
use om_server::store::sim_disk::{CrashMode, DiskFault, TailLoss};
use om_server::store::Scope;
use om_server::OmError;
use om_sim::checker::history::History;
use om_sim::checker::linearizability::{check, CheckOptions, Verdict};
use om_sim::checker::model::om::{OmOp, OmOutcome, OmSpec};
use om_sim::cluster::SimCluster;
use om_sim::recorder::Recorder;
use om_sim::scenario::{
    agreed_leader, client, client_host, converge, elapsed, seeds, start_group, traced_call,
};
use om_sim::trace::Trace;
use std::time::Duration;

const CLIENTS: u64 = 5;
const SHARED_VOLUME: &str = "shared";
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

/// Every fourth step a client also touches the shared volume, where clients contend: the
/// answers are whatever the order of events makes them, and the checker judges them.
fn shared_step(number: u64, step: u64) -> Option<OmRequest> {
    let bucket = format!("common-{}", (step + number) % 6);
    match step % 8 {
        3 => Some(OmRequest::CreateBucket {
            volume: s(SHARED_VOLUME),
            bucket,
            versioning: false,
            layout: BucketLayout::ObjectStore,
            quota: Quota::default(),
        }),
        7 => Some(OmRequest::BucketInfo {
            volume: s(SHARED_VOLUME),
            bucket,
        }),
        _ => None,
    }
}

/// The commit of an open that answered `open_id`.
fn commit_of(open: OmRequest, open_id: u64) -> OmRequest {
    let OmRequest::OpenKey {
        volume,
        bucket,
        key,
        size,
        ..
    } = open
    else {
        unreachable!("only opens are committed")
    };
    OmRequest::CommitKey {
        volume,
        bucket,
        key,
        open_id,
        size,
    }
}

/// Runs client `number` to the end of its plan; returns how many of its own writes were
/// acknowledged.
async fn run_client(cluster: &SimCluster, trace: &Trace, recorder: &Recorder, number: u64) -> u64 {
    let mut client = client(cluster, number);
    let mut acknowledged = 0;
    for step in 0..WRITES_PER_CLIENT {
        tokio::time::sleep(THINK_TIME).await;
        let request = plan(number, step);
        let outcome = traced_call(&mut client, trace, recorder, request.clone()).await;
        match outcome {
            Ok(Ok(OmResponse::KeyOpened { open_id, .. })) => {
                let committed =
                    traced_call(&mut client, trace, recorder, commit_of(request, open_id)).await;
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
        if let Some(shared) = shared_step(number, step) {
            let _ = traced_call(&mut client, trace, recorder, shared).await;
        }
    }
    acknowledged
}

/// Faults on a fixed timeline of simulated time; the leader is whoever leads at that moment.
async fn nemesis(cluster: &SimCluster, trace: &Trace) {
    // A seeded jitter moves each fault across the clients' request cycle (some land mid-write).
    let after = |seconds: u64| {
        let jitter = Duration::from_micros(madsim::rand::thread_rng().gen_range(0..200_000));
        tokio::time::sleep(Duration::from_secs(seconds) + jitter)
    };
    let leader = |cluster: &SimCluster| agreed_leader(cluster).unwrap_or(1);

    after(3).await;
    let victim = leader(cluster);
    // Power loss mid-write: each scope's unsynced tail is torn at a seeded byte.
    let stats = cluster.disk(victim).stats();
    let pending = (stats.log.pending_bytes, stats.tables.pending_bytes);
    let torn = |pending: usize| TailLoss::Tear {
        keep_bytes: madsim::rand::thread_rng().gen_range(0..=pending),
    };
    let crash = CrashMode::PowerLoss {
        log: torn(pending.0),
        tables: torn(pending.1),
    };
    trace.record(
        elapsed(),
        "nemesis",
        format_args!("kill leader {victim} ({crash:?} of {pending:?})"),
    );
    cluster.kill(victim, crash);
    after(3).await;
    trace.record(elapsed(), "nemesis", format_args!("restart {victim}"));
    cluster.restart(victim);

    after(3).await;
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
    cluster.kill(follower, CrashMode::DROP_PENDING);
    after(2).await;
    trace.record(elapsed(), "nemesis", format_args!("restart {follower}"));
    cluster.restart(follower);

    after(3).await;
    let isolated = leader(cluster);
    trace.record(
        elapsed(),
        "nemesis",
        format_args!("isolate leader {isolated}"),
    );
    cluster.isolate(isolated);
    after(4).await;
    trace.record(elapsed(), "nemesis", format_args!("heal {isolated}"));
    cluster.heal(isolated);
}

/// The whole story; returns the trace's fingerprint and the clients' history.
async fn scenario() -> (u64, History<OmOp, OmOutcome>) {
    let trace = Trace::new();
    let recorder = Recorder::new();
    let cluster = start_group(3, |config| {
        config.snapshot_entries_threshold = 150;
        config.read_option = ReadOption::Linearizable;
    })
    .await;
    trace.record(
        elapsed(),
        "cluster",
        format_args!("leader {:?}", agreed_leader(&cluster)),
    );
    // Syncs take time, so a crash usually finds unsynced bytes to lose or tear.
    for id in cluster.ids() {
        for scope in Scope::ALL {
            let latency = Duration::from_millis(2);
            cluster
                .disk(id)
                .inject(DiskFault::SyncLatency { scope, latency });
        }
    }

    let setup_cluster = cluster.clone();
    let (setup_trace, setup_recorder) = (trace.clone(), recorder.clone());
    let shared = OmRequest::CreateVolume {
        volume: s(SHARED_VOLUME),
        owner: s("hadoop"),
        quota: Quota::default(),
    };
    let created = client_host(CLIENTS + 1)
        .spawn(async move {
            traced_call(
                &mut client(&setup_cluster, 0),
                &setup_trace,
                &setup_recorder,
                shared,
            )
            .await
        })
        .await
        .unwrap();
    assert_eq!(created.unwrap(), Ok(OmResponse::Done));

    let mut clients = Vec::new();
    for number in 1..=CLIENTS {
        let (cluster, trace, recorder) = (cluster.clone(), trace.clone(), recorder.clone());
        clients.push(
            client_host(number)
                .spawn(async move { run_client(&cluster, &trace, &recorder, number).await }),
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

    #[allow(clippy::disallowed_methods)] // a debugging switch: print the whole trace
    if std::env::var_os("OM_SIM_TRACE").is_some() {
        trace.lines().iter().for_each(|line| println!("{line}"));
    }
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
    (trace.fingerprint(), recorder.history())
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

/// The clients' history must be linearizable; a refuted one is drawn as an HTML timeline.
fn check_history(seed: u64, history: &History<OmOp, OmOutcome>) {
    let options = CheckOptions {
        timeout: Some(Duration::from_secs(120)),
        workers: 2,
    };
    let report = check(&OmSpec, history, &options);
    if report.verdict == Verdict::Linearizable {
        return;
    }
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/../artifacts/leader_failover");
    let page = std::path::PathBuf::from(format!("{page}-seed-{seed}.html"));
    let written =
        om_sim::checker::timeline::write_html(&page, "leader_failover", &OmSpec, history, &report);
    let explanation = om_sim::checker::explain::render_text(&OmSpec, history, &report);
    panic!(
        "seed {seed}: the clients' history is {} ({} operations)\n{explanation}timeline: {} ({written:?})",
        report.verdict,
        history.len(),
        page.display()
    );
}

fn run(seed: u64) -> (u64, History<OmOp, OmOutcome>) {
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(scenario())
    }));
    outcome.unwrap_or_else(|panic| {
        eprintln!("{}", replay_line(seed));
        std::panic::resume_unwind(panic)
    })
}

fn replay_line(seed: u64) -> String {
    format!(
        "leader_failover failed with seed {seed}; replay:\n  OM_SIM_SEED={seed} RUSTFLAGS=\"--cfg madsim\" \
         CARGO_TARGET_DIR=target-madsim cargo test -p om-scenarios --profile sim --test leader_failover"
    )
}

#[test]
fn leader_failover_converges_linearizably_and_replays() {
    for seed in seeds(&[1, 2, 3]) {
        let (first, history) = run(seed);
        let (second, _) = run(seed);
        assert_eq!(
            first, second,
            "seed {seed}: the same seed gave two different traces"
        );
        // The checker needs threads and a wall clock: it runs after the simulation returns.
        let checked = std::panic::catch_unwind(|| check_history(seed, &history));
        if let Err(panic) = checked {
            eprintln!("{}", replay_line(seed));
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn leader_failover_passes_madsim_determinism_check() {
    let seed = seeds(&[1])[0];
    madsim::runtime::Runtime::check_determinism(seed, madsim::Config::default(), scenario);
}
