//! A 3-node cluster serves 500 metadata writes from 5 concurrent clients while it loses its
//! leader (power loss), loses and regains a follower, and has its leader cut off by a
//! partition; then everything heals. Every replica must end with identical tables at one
//! applied index; every acknowledged write must be there (read back through a client); no
//! retried create may answer `*_ALREADY_EXISTS`; and the same seed must replay the same trace.
#![cfg(madsim)]

use madsim::rand::Rng;
use om_server::client::Unavailable;
use om_server::node::ReadOption;
use om_server::om::{BucketLayout, OmRequest, OmResponse, OmResult, Quota, Replication};
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
    wait_until,
};
use om_sim::trace::Trace;
use std::time::Duration;

const CLIENTS: u64 = 5;
const SHARED_VOLUME: &str = "shared";
const WRITES_PER_CLIENT: u64 = 100;

/// Bound on the wait for an agreed leader before a fault aimed at it.
const LEADER_WAIT: Duration = Duration::from_secs(10);

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

/// A write the cluster acknowledged, by the read that must find it.
#[derive(Clone, Debug)]
struct Acknowledged(OmRequest);

impl Acknowledged {
    /// The acknowledgement of `request` (a create, or a commit), as the read that finds it.
    fn of(request: &OmRequest) -> Acknowledged {
        let read = match request.clone() {
            OmRequest::CreateVolume { volume, .. } => OmRequest::VolumeInfo { volume },
            OmRequest::CreateBucket { volume, bucket, .. } => {
                OmRequest::BucketInfo { volume, bucket }
            }
            OmRequest::CommitKey {
                volume,
                bucket,
                key,
                ..
            } => OmRequest::LookupKey {
                volume,
                bucket,
                key,
            },
            other => unreachable!("{other:?} is not a write the plan acknowledges"),
        };
        Acknowledged(read)
    }

    /// Whether `answer` to the read shows the write.
    fn is_found_in(&self, answer: &OmResult) -> bool {
        match (&self.0, answer) {
            (OmRequest::VolumeInfo { volume }, Ok(OmResponse::Volume(info))) => {
                info.name == *volume
            }
            (OmRequest::BucketInfo { volume, bucket }, Ok(OmResponse::Bucket(info))) => {
                info.volume == *volume && info.name == *bucket
            }
            (
                OmRequest::LookupKey {
                    volume,
                    bucket,
                    key,
                },
                Ok(OmResponse::Key(info)),
            ) => info.volume == *volume && info.bucket == *bucket && info.name == *key,
            _ => false,
        }
    }
}

/// What the shared volume may answer, whatever the order of events (the checker judges which).
fn shared_outcome_is_plausible(outcome: &Result<OmResult, Unavailable>) -> bool {
    matches!(
        outcome,
        Ok(Ok(OmResponse::Done | OmResponse::Bucket(_)))
            | Ok(Err(OmError::BucketAlreadyExists | OmError::BucketNotFound))
            | Err(_)
    )
}

/// Runs client `number` to the end of its plan; returns its own writes that were acknowledged.
async fn run_client(
    cluster: &SimCluster,
    trace: &Trace,
    recorder: &Recorder,
    number: u64,
) -> Vec<Acknowledged> {
    let mut client = client(cluster);
    let mut acknowledged = Vec::new();
    for step in 0..WRITES_PER_CLIENT {
        tokio::time::sleep(THINK_TIME).await;
        let request = plan(number, step);
        let outcome = traced_call(&mut client, trace, recorder, request.clone()).await;
        match outcome {
            Ok(Ok(OmResponse::KeyOpened { open_id, .. })) => {
                let commit = commit_of(request, open_id);
                let committed = traced_call(&mut client, trace, recorder, commit.clone()).await;
                match committed {
                    Ok(Ok(OmResponse::Done)) => acknowledged.push(Acknowledged::of(&commit)),
                    Err(_unknown) => {}
                    other => panic!("client {number} step {step}: commit answered {other:?}"),
                }
            }
            Ok(Ok(OmResponse::Done)) => acknowledged.push(Acknowledged::of(&request)),
            // Its names are its own: an existing one means a retry was applied twice.
            Ok(Err(OmError::VolumeAlreadyExists | OmError::BucketAlreadyExists)) => {
                panic!("client {number} step {step}: a retried create answered ALREADY_EXISTS")
            }
            Ok(answer) => panic!("client {number} step {step}: {answer:?}"),
            Err(_unknown) => {}
        }
        if let Some(shared) = shared_step(number, step) {
            let outcome = traced_call(&mut client, trace, recorder, shared).await;
            assert!(
                shared_outcome_is_plausible(&outcome),
                "client {number} step {step}: the shared volume answered {outcome:?}"
            );
        }
    }
    acknowledged
}

/// The leader every running node agrees on, waiting for one (bounded): a fault aimed at "the
/// leader" must hit the leader, not a guess.
async fn leader(cluster: &SimCluster) -> u64 {
    let agreed = wait_until(LEADER_WAIT, || agreed_leader(cluster).is_some()).await;
    assert!(agreed, "no leader agreed on within {LEADER_WAIT:?}");
    agreed_leader(cluster).expect("agreed")
}

/// Faults on a fixed timeline of simulated time; the leader is whoever leads at that moment.
async fn nemesis(cluster: &SimCluster, trace: &Trace) {
    // A seeded jitter moves each fault across the clients' request cycle (some land mid-write).
    let after = |seconds: u64| {
        let jitter = Duration::from_micros(madsim::rand::thread_rng().gen_range(0..200_000));
        tokio::time::sleep(Duration::from_secs(seconds) + jitter)
    };

    after(3).await;
    let victim = leader(cluster).await;
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
    let current = leader(cluster).await;
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
    let isolated = leader(cluster).await;
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
                &mut client(&setup_cluster),
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
    let mut acknowledged = Vec::new();
    for handle in clients {
        acknowledged.extend(handle.await.expect("client task"));
    }
    trace.record(
        elapsed(),
        "clients",
        format_args!("{} writes acknowledged", acknowledged.len()),
    );
    assert!(
        acknowledged.len() as u64 >= CLIENTS * WRITES_PER_CLIENT * 9 / 10,
        "too few writes got through: {}",
        acknowledged.len()
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
    check_acknowledged_writes(&cluster, &trace, acknowledged).await;
    (trace.fingerprint(), recorder.history())
}

/// Every acknowledged volume, bucket and committed key is found by a read through a client of
/// the converged cluster: acknowledged writes survived every fault.
async fn check_acknowledged_writes(
    cluster: &std::sync::Arc<SimCluster>,
    trace: &Trace,
    acknowledged: Vec<Acknowledged>,
) {
    let reader_cluster = cluster.clone();
    let count = acknowledged.len();
    let missing = client_host(CLIENTS + 2)
        .spawn(async move {
            let mut reader = client(&reader_cluster);
            let mut missing = Vec::new();
            for write in acknowledged {
                let answer = reader.call(write.0.clone()).await;
                let found = answer
                    .as_ref()
                    .is_ok_and(|answer| write.is_found_in(answer));
                if !found {
                    missing.push(format!("{:?} -> {answer:?}", write.0));
                }
            }
            missing
        })
        .await
        .expect("reader task");
    trace.record(
        elapsed(),
        "reader",
        format_args!(
            "{} of {count} acknowledged writes found",
            count - missing.len()
        ),
    );
    assert!(
        missing.is_empty(),
        "{} of {count} acknowledged writes are missing:\n{}",
        missing.len(),
        missing.join("\n")
    );
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
