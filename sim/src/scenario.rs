//! Pieces every fault scenario uses: clients on their own simulated hosts, bounded waits for a
//! leader and for convergence, and the replicas' comparison at the end.

use crate::cluster::{client_address, SimCluster};
use crate::recorder::Recorder;
use crate::trace::Trace;
use om_server::client::{FailoverPolicy, OmClient};
use om_server::om::{OmRequest, OmResult};
use om_server::raft::NodeId;
use om_server::store::{Store, Table};
use om_server::transport::TransportLimits;
use om_server::types::LogIndex;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Polling period of bounded waits (simulated time: costs nothing).
const POLL: Duration = Duration::from_millis(50);

pub fn elapsed() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

/// Waits until `ready` holds, at most `limit` of simulated time.
pub async fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = elapsed() + limit;
    while elapsed() < deadline {
        if ready() {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    ready()
}

/// The leader every running node agrees on, if any.
pub fn agreed_leader(cluster: &SimCluster) -> Option<NodeId> {
    let mut leaders = cluster
        .ids()
        .into_iter()
        .filter_map(|id| cluster.node(id))
        .map(|node| {
            let metrics = node.raft().metrics();
            let leader = openraft::rt::WatchReceiver::borrow_watched(&metrics).current_leader;
            leader
        });
    let first = leaders.next()??;
    leaders.all(|leader| leader == Some(first)).then_some(first)
}

/// A client host: its own simulated machine with an address of its own.
pub fn client_host(number: u64) -> madsim::runtime::NodeHandle {
    let name = format!("client{number}");
    let host = madsim::runtime::Handle::current()
        .create_node()
        .name(&name)
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, number as u8)))
        .build();
    crate::logging::name_node(host.id(), &name);
    host
}

/// A new client instance (its own random id, drawn from the seed) of the whole cluster that
/// retries quickly (simulated time is cheap).
pub fn client(cluster: &SimCluster) -> OmClient {
    let nodes: Vec<(NodeId, SocketAddr)> = cluster
        .ids()
        .into_iter()
        .map(|node| (node, client_address(node)))
        .collect();
    let policy = FailoverPolicy {
        attempts_max: 400,
        wait_between_retries: Duration::from_millis(100),
        call_timeout: Duration::from_secs(1),
    };
    OmClient::new(&nodes, policy, &TransportLimits::default())
}

/// How a call ended, for the trace: an answer's code, or unknown.
pub fn outcome_label(outcome: &Result<OmResult, om_server::client::Unavailable>) -> String {
    match outcome {
        Ok(Ok(response)) => format!("ok {}", response_kind(response)),
        Ok(Err(error)) => error.code().to_string(),
        Err(_) => "unknown".to_string(),
    }
}

fn response_kind(response: &om_server::om::OmResponse) -> &'static str {
    use om_server::om::OmResponse as R;
    match response {
        R::Done => "done",
        R::Volume(_) | R::Bucket(_) | R::Key(_) => "info",
        R::Volumes(_) | R::Buckets(_) | R::Keys(_) | R::OpenKeys(_) => "list",
        R::KeyOpened { .. } => "opened",
    }
}

/// Sends `request`; records the call and its outcome in the trace and the history.
pub async fn traced_call(
    client: &mut OmClient,
    trace: &Trace,
    recorder: &Recorder,
    request: OmRequest,
) -> Result<OmResult, om_server::client::Unavailable> {
    let name = format!("client{}", recorder.process(client.id()));
    let invoked = elapsed();
    let outcome = client.call(request.clone()).await;
    let completed = elapsed();
    trace.record(
        completed,
        &name,
        format_args!("{request:?} -> {}", outcome_label(&outcome)),
    );
    recorder.record(
        client.id(),
        invoked.as_nanos() as u64,
        completed.as_nanos() as u64,
        &request,
        &outcome,
    );
    outcome
}

/// Where two stores first differ: the first row that is not the same on both sides.
fn first_difference(left: &StoredRows, right: &StoredRows) -> String {
    let describe = |row: Option<&(Table, Vec<u8>, Vec<u8>)>| match row {
        Some((table, key, value)) => {
            format!("{}:{key:?} ({} value bytes)", table.name(), value.len())
        }
        None => "nothing".to_string(),
    };
    let position = (0..left.len().max(right.len())).find(|&n| left.get(n) != right.get(n));
    match position {
        Some(n) => format!(
            "row {n}: {} vs {}",
            describe(left.get(n)),
            describe(right.get(n))
        ),
        None => "no difference".to_string(),
    }
}

/// `(table, key, value)` rows of a store.
pub type StoredRows = Vec<(Table, Vec<u8>, Vec<u8>)>;

/// The state-machine tables of node `id`, as its store holds them.
pub fn stored_state(cluster: &SimCluster, id: NodeId) -> Option<StoredRows> {
    let node = cluster.node(id)?;
    node.applier()
        .store()
        .export(&Table::STATE_MACHINE)
        .ok()
        .map(|image| image.rows)
}

/// The index every running node has applied *and* flushed, if they all agree: nothing is
/// waiting in a double buffer (whose written but unsynced batch the store would already show).
fn quiescent_index(cluster: &SimCluster) -> Option<LogIndex> {
    let mut indexes = cluster.ids().into_iter().map(|id| {
        let node = cluster.node(id)?;
        let applied = node.applier().last_applied().index;
        (node.applier().double_buffer().flushed_index() == applied).then_some(applied)
    });
    let first = indexes.next()??;
    indexes.all(|index| index == Some(first)).then_some(first)
}

/// Waits until every node runs, has applied and flushed the same index, and holds identical
/// tables. Returns that index, or why the replicas did not converge.
pub async fn converge(cluster: &SimCluster, limit: Duration) -> Result<LogIndex, String> {
    let identical = || {
        let Some(index) = quiescent_index(cluster) else {
            return false;
        };
        let reference = stored_state(cluster, 1);
        let same = cluster
            .ids()
            .into_iter()
            .all(|id| stored_state(cluster, id) == reference);
        // Nothing moved while the tables were read.
        same && quiescent_index(cluster) == Some(index)
    };
    if wait_until(limit, identical).await {
        return Ok(quiescent_index(cluster).expect("quiescent"));
    }
    let Some(_) = quiescent_index(cluster) else {
        let positions: Vec<_> = (cluster.ids().into_iter())
            .map(|id| {
                let node = cluster.node(id);
                let applied = node
                    .as_ref()
                    .map(|node| node.applier().last_applied().index);
                let flushed = node.map(|node| node.applier().double_buffer().flushed_index());
                (id, applied, flushed)
            })
            .collect();
        return Err(format!(
            "replicas did not settle on one applied and flushed index: {positions:?}"
        ));
    };
    let reference = stored_state(cluster, 1).ok_or("node 1 is down")?;
    for id in cluster.ids() {
        let state = stored_state(cluster, id).ok_or(format!("node {id} is down"))?;
        if state != reference {
            let difference = first_difference(&reference, &state);
            return Err(format!(
                "node {id} holds different tables than node 1: {difference}"
            ));
        }
    }
    Err("the replicas kept changing".to_string())
}

/// Starts `count` nodes, forms the group on node 1 and waits for a leader.
pub async fn start_group(
    count: u64,
    configure: impl Fn(&mut om_server::node::NodeConfig),
) -> std::sync::Arc<SimCluster> {
    let cluster = std::sync::Arc::new(SimCluster::start(count, configure));
    let booted = wait_until(Duration::from_secs(5), || {
        cluster.ids().iter().all(|id| cluster.node(*id).is_some())
    })
    .await;
    assert!(
        booted,
        "nodes failed to boot: {:?}",
        cluster.boot_failures()
    );
    let first = cluster.node(1).expect("node 1 runs");
    first
        .initialize(cluster.members())
        .await
        .expect("initialize the group");
    assert!(
        wait_until(Duration::from_secs(10), || agreed_leader(&cluster)
            .is_some())
        .await,
        "no leader elected"
    );
    cluster
}

/// A new client instance (its own random id) that talks to node `target` only, with one
/// attempt per call.
pub fn pinned_client(target: NodeId) -> OmClient {
    let policy = FailoverPolicy {
        attempts_max: 1,
        wait_between_retries: Duration::ZERO,
        call_timeout: Duration::from_secs(1),
    };
    OmClient::new(
        &[(target, client_address(target))],
        policy,
        &TransportLimits::default(),
    )
}

/// Runs `test` once per seed on a fresh simulation; a failure names its seed and how to replay.
pub fn for_each_seed<F: std::future::Future<Output = ()> + 'static>(
    name: &str,
    seeds: &[u64],
    test: fn() -> F,
) {
    for &seed in seeds {
        let runtime =
            madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(test())));
        if let Err(panic) = outcome {
            eprintln!(
                "{name} failed with seed {seed}; replay:\n  OM_SIM_SEED={seed} RUSTFLAGS=\"--cfg madsim\" \
                 CARGO_TARGET_DIR=target-madsim cargo test -p om-scenarios --profile sim --test {name}"
            );
            std::panic::resume_unwind(panic);
        }
    }
}

/// The seeds a scenario runs: `OM_SIM_SEED` (the replay line sets it); else madsim's
/// conventions, `MADSIM_TEST_SEED` (first seed) and `MADSIM_TEST_NUM` (how many, default 1;
/// alone it counts from the first default seed); else the given defaults.
pub fn seeds(defaults: &[u64]) -> Vec<u64> {
    #[allow(clippy::disallowed_methods)] // the test entry point reads its seeds, nothing else
    let number = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.trim().parse::<u64>().ok())
    };
    if let Some(seed) = number("OM_SIM_SEED") {
        return vec![seed];
    }
    match (number("MADSIM_TEST_SEED"), number("MADSIM_TEST_NUM")) {
        (None, None) => defaults.to_vec(),
        (first, count) => {
            let first = first.or(defaults.first().copied()).unwrap_or(1);
            (first..first.saturating_add(count.unwrap_or(1).max(1))).collect()
        }
    }
}
