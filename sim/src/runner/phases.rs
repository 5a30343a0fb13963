//! The simulated part of a run (inside madsim) and the checks after it.

use super::report::{RunReport, RunStats};
use super::world::World;
use super::RunOptions;
use crate::checker::history::History;
use crate::checker::linearizability::{check, CheckOptions, Verdict};
use crate::checker::model::om::{OmOp, OmOutcome, OmSpec};
use crate::cluster::{client_address, SimCluster};
use crate::config::Case;
use crate::invariants::derived_state::DerivedStateWatch;
use crate::invariants::fail_stop::FailStopWatch;
use crate::invariants::raft_safety::RaftMonitor;
use crate::invariants::{Property, Violation};
use crate::nemesis;
use crate::recorder::Recorder;
use crate::scenario::{client_host, converge, elapsed, stored_state, wait_until};
use crate::trace::Trace;
use crate::workload::client::ClientContext;
use crate::workload::generate::read_back;
use madsim::rand::Rng;
use om_server::client::{FailoverPolicy, OmClient};
use om_server::node::NodeConfig;
use om_server::om::{OmRequest, Quota};
use om_server::store::sim_disk::{CrashMode, DiskFault, TailLoss};
use om_server::store::Scope;
use om_server::transport::TransportLimits;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the simulation hands to the checks.
struct Simulated {
    history: History<OmOp, OmOutcome>,
    /// Operations before this position ran before the final power loss.
    read_back_from: usize,
    trace: Trace,
    violations: Vec<Violation>,
    leader_changes: u64,
    applied_index: u64,
}

pub fn run_case(case: &Case, options: &RunOptions) -> RunReport {
    #[allow(clippy::disallowed_methods)] // wall time of the run, for the report only
    let started = std::time::Instant::now();
    crate::logging::install();
    if let Err(reason) = om_server::bug_zoo::plant(case.defect) {
        panic!("{reason}");
    }
    let runtime =
        madsim::runtime::Runtime::with_seed_and_config(case.seed, madsim::Config::default());
    // Made out here so that a panic's report still holds what happened before it.
    let trace = if options.print_trace {
        Trace::printing()
    } else {
        Trace::new()
    };
    let recorder = Recorder::new();
    let simulated_case = case.clone();
    // The counters are this thread's: a run before this one in the same worker must not count.
    let _earlier_runs = om_server::coverage::take();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(simulate(simulated_case, trace.clone(), recorder.clone()))
    }));
    let coverage = super::report::coverage_by_name(&om_server::coverage::take());
    om_server::bug_zoo::plant(None).expect("planting nothing always works");
    let mut report = RunReport {
        seed: case.seed,
        preset: case.preset.clone(),
        defect: case.defect.map(|defect| defect.name().to_string()),
        violations: Vec::new(),
        fingerprint: 0,
        stats: RunStats {
            faults: case.schedule.len(),
            ..RunStats::default()
        },
        coverage,
        trace: Vec::new(),
        history_json: String::new(),
        timeline_html: None,
    };
    let simulated = match outcome {
        Ok(simulated) => simulated,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_else(|| "a panic without a message".to_string());
            report
                .violations
                .push(Violation::new(Property::Panic, message));
            report.trace = trace.lines();
            report.fingerprint = trace.fingerprint();
            report.stats.simulated_ms = trace.last_elapsed().as_millis() as u64;
            let history = recorder.history();
            report.history_json = crate::checker::json_lines::write(&history);
            report.stats.operations = history.len();
            report.stats.wall_ms = started.elapsed().as_millis() as u64;
            return report;
        }
    };
    report.trace = simulated.trace.lines();
    report.fingerprint = simulated.trace.fingerprint();
    report.violations = simulated.violations.clone();
    report.history_json = crate::checker::json_lines::write(&simulated.history);
    report.stats.operations = simulated.history.len();
    report.stats.unknown_operations = (simulated.history.operations.iter())
        .filter(|operation| operation.is_indeterminate())
        .count();
    report.stats.leader_changes = simulated.leader_changes;
    report.stats.applied_index = simulated.applied_index;
    report.stats.simulated_ms = simulated.trace.last_elapsed().as_millis() as u64;
    #[allow(clippy::disallowed_methods)]
    let checking = std::time::Instant::now();
    check_history(&simulated, options, &mut report);
    report.stats.check_ms = checking.elapsed().as_millis() as u64;
    report.stats.wall_ms = started.elapsed().as_millis() as u64;
    report
}

/// Linearizability of the whole history; when only the read-back after the power loss breaks
/// it, the broken property is durability.
fn check_history(simulated: &Simulated, options: &RunOptions, report: &mut RunReport) {
    let check_options = CheckOptions {
        timeout: Some(options.check_budget),
        workers: 1,
    };
    let whole = check(&OmSpec, &simulated.history, &check_options);
    match whole.verdict {
        Verdict::Linearizable => {}
        Verdict::Unknown => report.violations.push(Violation::new(
            Property::Undecided,
            format!(
                "the checker could not decide {} operations within {:?}",
                simulated.history.len(),
                options.check_budget
            ),
        )),
        Verdict::NotLinearizable => {
            let before =
                History::new(simulated.history.operations[..simulated.read_back_from].to_vec());
            let property = match check(&OmSpec, &before, &check_options).verdict {
                Verdict::Linearizable => Property::Durability,
                _ => Property::Linearizability,
            };
            let explanation =
                crate::checker::explain::render_text(&OmSpec, &simulated.history, &whole);
            report
                .violations
                .push(Violation::new(property, explanation));
            report.timeline_html = Some(crate::checker::timeline::render_html(
                &format!("{} seed {}", report.preset, report.seed),
                &OmSpec,
                &simulated.history,
                &whole,
            ));
        }
    }
}

fn configure(case: &Case) -> impl Fn(&mut NodeConfig) + '_ {
    move |config: &mut NodeConfig| {
        let knobs = &case.config.knobs;
        config.read_option = knobs.read_option;
        config.snapshot_entries_threshold = knobs.snapshot_entries_threshold;
        config.unflushed_transactions_max = knobs.unflushed_transactions_max;
        config.flush_interval_ms = knobs.flush_interval_ms;
        config.retry_cache_expiry_ms = knobs.retry_cache_expiry_ms;
    }
}

async fn simulate(case: Case, trace: Trace, recorder: Recorder) -> Simulated {
    om_server::buggify::enable_with(case.config.buggify, &case.config.buggify_active);
    let _capture = crate::logging::capture_into(&trace);
    let cluster = crate::scenario::start_group(case.config.nodes, configure(&case)).await;
    let unrecoverable = check_recoverable_at_purges(&cluster);
    let durable_prefix = check_durable_prefix_at_syncs(&cluster);
    let plans = case.workload.clients.clone();
    let hosts: Vec<_> = (0..plans.len() + 2)
        .map(|n| client_host(n as u64 + 1))
        .collect();
    let host_ids = hosts.iter().map(|host| host.id()).collect();
    // A deposed leader learns within about two election timeouts (it steps down when it cannot
    // reach a quorum, or hears of a higher term).
    let grace = Duration::from_millis(4 * 800);
    let world = Arc::new(World::new(cluster.clone(), host_ids, trace.clone(), grace));
    world.note(format_args!(
        "{} nodes up, leader om{:?}",
        case.config.nodes,
        world.leader()
    ));
    let monitor = RaftMonitor::recording_into(trace.clone());
    let watcher = tokio::spawn({
        let (monitor, cluster) = (monitor.clone(), cluster.clone());
        async move { monitor.watch(cluster).await }
    });
    let derived_state = DerivedStateWatch::default();
    let derived_state_watcher = tokio::spawn({
        let (derived_state, world) = (derived_state.clone(), world.clone());
        async move { derived_state.watch(world).await }
    });
    let fail_stops = FailStopWatch::default();
    let fail_stop_watcher = tokio::spawn({
        let (fail_stops, world) = (fail_stops.clone(), world.clone());
        async move { fail_stops.watch(world).await }
    });
    let context = ClientContext {
        world: world.clone(),
        recorder: recorder.clone(),
        policy: case.config.client.clone(),
        read_option: case.config.knobs.read_option,
        retry_window: (case.config.knobs.retry_window_ms()).map(Duration::from_millis),
        unresolved: Arc::default(),
    };
    let mut clients = Vec::new();
    for (plan, host) in plans.into_iter().zip(&hosts) {
        let context = context.clone();
        clients.push(host.spawn(async move { context.run(plan).await }));
    }

    // Safety phase: the schedule runs to its end (every action undoes itself).
    let safety_end = elapsed() + Duration::from_millis(case.config.safety_ms);
    nemesis::execute::run(world.clone(), &case.schedule).await;
    tokio::time::sleep(safety_end.saturating_sub(elapsed())).await;
    world.heal_network();
    // The liveness phase measures recovery, not buggified slowness (FoundationDB's quiet phase).
    om_server::buggify::enable(false);
    world.note("healed");

    let mut violations = Vec::new();
    if let Err(reason) = restore_membership(&world, &case).await {
        violations.push(Violation::new(Property::Liveness, reason));
    }
    let live_host = &hosts[hosts.len() - 2];
    if let Err(reason) = liveness(&world, &case, live_host, &recorder).await {
        violations.push(Violation::new(Property::Liveness, reason));
    }
    let finished = wait_for_clients(clients, Duration::from_secs(600)).await;
    if !finished {
        violations.push(Violation::new(
            Property::Liveness,
            "a client was still running 600 s after the safety phase",
        ));
    }
    let resolver = context.clone();
    let nodes = node_addresses(&cluster);
    live_host
        .spawn(async move { resolver.resolve_unknowns(&nodes, PATIENT).await })
        .await
        .expect("resolver task");
    // Before the power loss restarts every node (and so rebuilds what they derive).
    derived_state.sample(&world);
    derived_state.stop();
    derived_state_watcher
        .await
        .expect("derived-state watch task");

    // Every node loses power at once while a writer's calls are in flight on slow disks (so
    // written-but-unsynced bytes exist), then all restart.
    let burst = burst_then_power_loss(&world, live_host, &recorder).await;
    let read_back_from = recorder.history().len();
    let reader = &hosts[hosts.len() - 1];
    match recover(&world, &cluster).await {
        Ok(index) => {
            world.note(format_args!("converged at index {index}"));
            let world = world.clone();
            let recorder = recorder.clone();
            let context = ClientContext {
                world,
                recorder,
                ..context.clone()
            };
            reader
                .spawn(async move { read_everything(&context, burst).await })
                .await
                .expect("reader task");
        }
        Err(violation) => violations.push(violation),
    }
    monitor.sample(&cluster);
    monitor.stop();
    watcher.await.expect("monitor task");
    fail_stops.sample(&world);
    fail_stops.stop();
    fail_stop_watcher.await.expect("fail-stop watch task");
    violations.extend(monitor.violations());
    violations.extend(fail_stops.violations());
    violations.extend(derived_state.violations());
    violations.extend(crate::invariants::durable_vote::check(&trace.lines()));
    violations.extend(lock(&unrecoverable).drain(..));
    violations.extend(
        (lock(&durable_prefix).findings().into_iter())
            .map(|finding| Violation::new(Property::DurablePrefix, finding)),
    );
    let applied_index = record_final_stores(&world, &cluster);
    if let Some(failures) = Some(cluster.boot_failures()).filter(|f| !f.is_empty()) {
        violations.push(Violation::new(
            Property::FailStop,
            format!("boot failures: {failures:?}"),
        ));
    }
    // Dropping the runtime leaves tasks that wait on each other alive (about 5 MB a run, which
    // a worker running hundreds of seeds cannot afford): killing every host drops them.
    let handle = madsim::runtime::Handle::current();
    for id in cluster.ids() {
        cluster.kill(id, CrashMode::ProcessCrash);
    }
    for host in &hosts {
        handle.kill(host.id());
    }
    Simulated {
        history: recorder.history(),
        read_back_from,
        trace,
        violations,
        leader_changes: monitor.leader_changes(),
        applied_index,
    }
}

/// Checks a node's power-loss image whenever it purges its log (the first finding per node).
fn check_recoverable_at_purges(cluster: &Arc<SimCluster>) -> Arc<Mutex<Vec<Violation>>> {
    let found: Arc<Mutex<Vec<Violation>>> = Arc::default();
    let (cluster, sink) = (cluster.clone(), found.clone());
    crate::logging::on_server_event(move |node, message| {
        let Some(id) = (message == "log purged")
            .then(|| node.strip_prefix("om")?.parse::<u64>().ok())
            .flatten()
        else {
            return;
        };
        if let Err(loss) = crate::invariants::recoverable::check(cluster.disk(id)) {
            let mut found = lock(&sink);
            let prefix = format!("om{id}:");
            if !found
                .iter()
                .any(|violation| violation.detail.starts_with(&prefix))
            {
                found.push(Violation::new(
                    Property::Recoverable,
                    format!("{prefix} {loss}"),
                ));
            }
        }
    });
    found
}

/// Checks each node's durable tables at every sync of them (`invariants::durable_prefix`).
fn check_durable_prefix_at_syncs(
    cluster: &SimCluster,
) -> Arc<Mutex<crate::invariants::durable_prefix::DurablePrefix>> {
    let check: Arc<Mutex<crate::invariants::durable_prefix::DurablePrefix>> = Arc::default();
    for id in cluster.ids() {
        let check = check.clone();
        cluster.disk(id).observe_syncs(Arc::new(move |scope, rows| {
            if scope == Scope::Tables {
                lock(&check).observe(id, elapsed(), rows);
            }
        }));
    }
    check
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// After a schedule that changed the membership: every node a voter again, within the
/// liveness bound (the liveness phase and the convergence checks need the whole group).
async fn restore_membership(world: &World, case: &Case) -> Result<(), String> {
    let reconfigured = (case.schedule.actions.iter()).any(|action| {
        !action.disabled && matches!(action.fault, nemesis::Fault::Reconfigure { .. })
    });
    if !reconfigured {
        return Ok(());
    }
    let bound = Duration::from_millis(case.config.liveness_ms);
    match nemesis::membership::restore(world, bound).await {
        Ok(()) => {
            world.note("every node votes");
            Ok(())
        }
        Err(reason) => Err(format!(
            "membership not restored within {bound:?} of healing: {reason}"
        )),
    }
}

/// After healing, within the bound: a leader, and `liveness_writes` writes answered.
async fn liveness(
    world: &Arc<World>,
    case: &Case,
    host: &madsim::runtime::NodeHandle,
    recorder: &Recorder,
) -> Result<(), String> {
    let bound = Duration::from_millis(case.config.liveness_ms);
    let deadline = elapsed() + bound;
    let cluster = world.cluster.clone();
    if !wait_until(bound, || crate::scenario::agreed_leader(&cluster).is_some()).await {
        return Err(format!(
            "no leader agreed within {bound:?} of healing: {}",
            raft_states(&cluster)
        ));
    }
    let writes = case.config.liveness_writes;
    let (world, recorder) = (world.clone(), recorder.clone());
    let answered = host
        .spawn(async move {
            let mut client = patient_client(&world.cluster);
            let mut answered = 0;
            for n in 0..writes {
                let request = OmRequest::CreateVolume {
                    volume: format!("live-{n}"),
                    owner: "liveness".to_string(),
                    quota: Quota::default(),
                };
                let invoked = elapsed();
                let remaining = deadline.saturating_sub(elapsed());
                let Ok(outcome) =
                    tokio::time::timeout(remaining, client.call(request.clone())).await
                else {
                    break;
                };
                record_call(
                    &world, &recorder, "liveness", &client, invoked, &request, &outcome,
                );
                if matches!(outcome, Ok(Ok(_))) {
                    answered += 1;
                } else {
                    break;
                }
            }
            answered
        })
        .await
        .expect("liveness task");
    if answered < writes {
        return Err(format!(
            "{answered} of {writes} writes answered within {bound:?} of healing"
        ));
    }
    Ok(())
}

/// Each node's Raft view, for a liveness failure's message.
fn raft_states(cluster: &SimCluster) -> String {
    let states: Vec<String> = (cluster.ids().into_iter())
        .map(|id| match cluster.node(id) {
            None => format!("om{id} down"),
            Some(node) => {
                let metrics = node.raft().metrics();
                let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
                format!(
                    "om{id} {:?} term {} leader {:?} applied {:?} last log {:?} vote {}",
                    metrics.state,
                    metrics.current_term,
                    metrics.current_leader,
                    metrics.last_applied.map(|log_id| log_id.index),
                    metrics.last_log_index,
                    metrics.vote,
                )
            }
        })
        .collect();
    states.join("; ")
}

/// One call of a harness client (liveness, burst, read-back): into the trace and the history.
fn record_call(
    world: &World,
    recorder: &Recorder,
    source: &str,
    client: &OmClient,
    invoked: Duration,
    request: &OmRequest,
    outcome: &Result<om_server::om::OmResult, om_server::client::Unavailable>,
) {
    world.trace.record(
        elapsed(),
        source,
        format_args!("{request:?} -> {outcome:?}"),
    );
    recorder.record(
        client.id(),
        invoked.as_nanos() as u64,
        elapsed().as_nanos() as u64,
        request,
        outcome,
    );
}

/// The failover of a harness client after the heal: up to a minute of attempts per call.
const PATIENT: FailoverPolicy = FailoverPolicy {
    attempts_max: 1_000,
    wait_between_retries: Duration::from_millis(50),
    call_timeout: Duration::from_secs(1),
};

fn node_addresses(cluster: &SimCluster) -> Vec<(om_server::raft::NodeId, std::net::SocketAddr)> {
    (cluster.ids().into_iter())
        .map(|node| (node, client_address(node)))
        .collect()
}

/// A client that keeps trying (the liveness bound is enforced by a timeout around it).
fn patient_client(cluster: &SimCluster) -> OmClient {
    OmClient::new(
        &node_addresses(cluster),
        PATIENT,
        &TransportLimits::default(),
    )
}

async fn wait_for_clients(clients: Vec<madsim::task::JoinHandle<()>>, bound: Duration) -> bool {
    let all = async {
        for client in clients {
            client.await.expect("client task");
        }
    };
    tokio::time::timeout(bound, all).await.is_ok()
}

fn power_loss_of_every_node(world: &World) {
    let cluster = &world.cluster;
    world.observe_terms();
    for id in cluster.ids() {
        let stats = cluster.disk(id).stats();
        let pending = (stats.log.pending_bytes, stats.tables.pending_bytes);
        let loss = |pending: usize| {
            let mut rng = madsim::rand::thread_rng();
            if rng.gen_bool(0.5) {
                TailLoss::Drop
            } else {
                TailLoss::Tear {
                    keep_bytes: rng.gen_range(0..=pending),
                }
            }
        };
        let mode = CrashMode::PowerLoss {
            log: loss(pending.0),
            tables: loss(pending.1),
        };
        world.note(format_args!(
            "power loss om{id}: {mode:?} of {pending:?} unsynced bytes"
        ));
        cluster.kill(id, mode);
    }
    for id in cluster.ids() {
        cluster.restart(id);
    }
}

/// After the power loss: a leader, then identical replicas at one applied index.
async fn recover(world: &World, cluster: &SimCluster) -> Result<u64, Violation> {
    let bound = Duration::from_secs(60);
    if !wait_until(bound, || crate::scenario::agreed_leader(cluster).is_some()).await {
        let down: Vec<_> = (cluster.ids().into_iter())
            .filter(|id| cluster.node(*id).is_none())
            .collect();
        return Err(Violation::new(
            Property::Liveness,
            format!(
                "no leader within {bound:?} of restarting every node (down: {down:?}): {}",
                raft_states(cluster)
            ),
        ));
    }
    world.note(format_args!(
        "leader om{:?} after power loss",
        crate::scenario::agreed_leader(cluster)
    ));
    converge(cluster, bound)
        .await
        .map(|index| index.0)
        .map_err(|reason| Violation::new(Property::ReplicasIdentical, reason))
}

/// Sync latency on every disk during the burst: the window between a write and its sync.
const BURST_SYNC_LATENCY_MS_MAX: u64 = 150;

/// A writer creates `burst-N` volumes back to back; after a seeded while every node loses power
/// at once (unsynced bytes dropped or torn). Returns how many volumes the writer asked for.
async fn burst_then_power_loss(
    world: &Arc<World>,
    host: &madsim::runtime::NodeHandle,
    recorder: &Recorder,
) -> u64 {
    let (latency, run_for) = {
        let mut rng = madsim::rand::thread_rng();
        (
            Duration::from_millis(rng.gen_range(10..=BURST_SYNC_LATENCY_MS_MAX)),
            Duration::from_millis(rng.gen_range(50..1_500)),
        )
    };
    for id in world.cluster.ids() {
        for scope in Scope::ALL {
            world
                .cluster
                .disk(id)
                .inject(DiskFault::SyncLatency { scope, latency });
        }
    }
    world.note(format_args!(
        "burst: syncs take {latency:?}, power loss in {run_for:?}"
    ));
    let invoked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let power_lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = host.spawn({
        let (world, recorder, invoked) = (world.clone(), recorder.clone(), invoked.clone());
        let power_lost = power_lost.clone();
        async move {
            let nodes: Vec<_> = (world.cluster.ids().into_iter())
                .map(|node| (node, client_address(node)))
                .collect();
            let policy = FailoverPolicy {
                attempts_max: 3,
                wait_between_retries: Duration::from_millis(20),
                call_timeout: Duration::from_millis(500),
            };
            let mut client = OmClient::new(&nodes, policy, &TransportLimits::default());
            loop {
                let number = invoked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let request = OmRequest::CreateVolume {
                    volume: format!("burst-{number}"),
                    owner: "burst".to_string(),
                    quota: Quota::default(),
                };
                let started = elapsed();
                let outcome = client.call(request.clone()).await;
                record_call(
                    &world, &recorder, "burst", &client, started, &request, &outcome,
                );
                // After the power loss the call in flight ends (answered or unknown), no more.
                if outcome.is_err() || power_lost.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
        }
    });
    tokio::time::sleep(run_for).await;
    power_lost.store(true, std::sync::atomic::Ordering::Relaxed);
    power_loss_of_every_node(world);
    for id in world.cluster.ids() {
        world.cluster.disk(id).clear_faults();
    }
    writer.await.expect("burst writer");
    invoked.load(std::sync::atomic::Ordering::Relaxed)
}

/// Reads every name once (they go into the history: a lost acknowledged write contradicts it).
async fn read_everything(context: &ClientContext, burst: u64) {
    let mut client = patient_client(&context.world.cluster);
    let burst_reads = (0..burst).map(|number| OmRequest::VolumeInfo {
        volume: format!("burst-{number}"),
    });
    for request in read_back().into_iter().chain(burst_reads) {
        let invoked = elapsed();
        let outcome = client.call(request.clone()).await;
        record_call(
            &context.world,
            &context.recorder,
            "read-back",
            &client,
            invoked,
            &request,
            &outcome,
        );
    }
}

/// Each node's final tables, hashed into the trace (the fingerprint covers the stores).
fn record_final_stores(world: &World, cluster: &SimCluster) -> u64 {
    let mut applied = 0;
    for id in cluster.ids() {
        let rows = stored_state(cluster, id);
        let hash = rows.as_ref().map(|rows| {
            let text = format!("{rows:?}");
            crate::trace::fnv1a(text.as_bytes())
        });
        let index = cluster
            .node(id)
            .map(|node| node.applier().last_applied().index.0);
        applied = applied.max(index.unwrap_or(0));
        world.note(format_args!(
            "final om{id}: applied {index:?}, tables {hash:x?}"
        ));
    }
    applied
}
