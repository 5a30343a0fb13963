//! The composition root of one OM node: store, apply pipeline, Raft, and the two RPC servers
//! (clients and peers), plus the leader's side of a request: readiness, the time stamp, and
//! the answer when this node is not the leader.

use crate::admin::ClientMessage;
use crate::applier::Applier;
use crate::double_buffer::{FlushPolicy, FlushState};
use crate::error::{OmError, StoreError};
use crate::om::{OmRequest, OmResult};
use crate::raft::log_store::LogStore;
use crate::raft::network::{on_peer_request, PeerNetwork, PeerRequest, PeerResponse};
use crate::raft::snapshot_transfer::SnapshotAssembly;
use crate::raft::state_machine::{Released, StateMachine, StateMachineConfig};
use crate::raft::{NodeAddress, NodeId, Raft, RaftRequest};
use crate::retry_cache::Caller;
use crate::store::Store;
use crate::transport::{RpcClient, RpcServer, ServerHandle, TransportLimits};
use crate::types::TimeMs;
use openraft::{ReadPolicy, ServerState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `ozone.om.ha.raft.server.read.option`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOption {
    /// Leader-local reads: a deposed leader that does not know it yet may answer stale.
    Default,
    /// ReadIndex through Raft: never stale.
    Linearizable,
}

/// Everything one node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub node_id: NodeId,
    pub address: NodeAddress,
    pub read_option: ReadOption,
    /// `ozone.om.unflushed.transaction.max.count`.
    pub unflushed_transactions_max: usize,
    /// `ozone.om.double.buffer.flush.interval` (`double_buffer::FlushPolicy`).
    pub flush_interval_ms: u64,
    pub retry_cache_expiry_ms: u64,
    /// `ozone.om.ratis.snapshot.auto.trigger.threshold`: entries between snapshots.
    pub snapshot_entries_threshold: u64,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// How long a follower waits for the leader's read index and for applying up to it.
    pub read_index_timeout_ms: u64,
    pub transport: TransportLimits,
    /// The wall clock the leader stamps entries with.
    pub clock: crate::clock::Clock,
}

impl NodeConfig {
    pub fn new(node_id: NodeId, address: NodeAddress) -> NodeConfig {
        NodeConfig {
            node_id,
            address,
            read_option: ReadOption::Default,
            unflushed_transactions_max: crate::limits::UNFLUSHED_TRANSACTIONS_MAX_DEFAULT,
            flush_interval_ms: crate::limits::FLUSH_INTERVAL_MS_DEFAULT,
            retry_cache_expiry_ms: crate::retry_cache::RETRY_CACHE_EXPIRY_MS_DEFAULT,
            snapshot_entries_threshold: 400_000,
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 400,
            election_timeout_max_ms: 800,
            read_index_timeout_ms: 2000,
            transport: TransportLimits::default(),
            clock: crate::clock::Clock::default(),
        }
    }

    fn raft_config(&self) -> Result<openraft::Config, StartError> {
        let config = openraft::Config {
            cluster_name: "ozone-om".to_string(),
            heartbeat_interval: self.heartbeat_interval_ms,
            election_timeout_min: self.election_timeout_min_ms,
            election_timeout_max: self.election_timeout_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(
                self.snapshot_entries_threshold,
            ),
            max_in_snapshot_log_to_keep: 0,
            // A restarted leader starts as a follower, as a Ratis one does: restored at once,
            // it would count as ready (its applied term is its term) while its state is still
            // the last flush, and answer DEFAULT reads without writes it had acknowledged.
            enable_leader_restore: Some(crate::bug_zoo::planted(
                crate::bug_zoo::Defect::LeaderRestore,
            )),
            ..Default::default()
        };
        config
            .validate()
            .map_err(|error| StartError::Config(error.to_string()))
    }
}

/// A client's call as it travels to a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest {
    pub caller: Caller,
    pub request: OmRequest,
}

#[derive(Debug)]
pub enum StartError {
    Config(String),
    Store(StoreError),
    Raft(String),
    Bind(SocketAddr, std::io::ErrorKind),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(reason) => write!(f, "invalid configuration: {reason}"),
            StartError::Store(error) => write!(f, "cannot open the store: {error}"),
            StartError::Raft(reason) => write!(f, "cannot start raft: {reason}"),
            StartError::Bind(address, kind) => write!(f, "cannot listen on {address}: {kind:?}"),
        }
    }
}

/// `S` holds the tables, `L` the Raft log (a different backend may suit each).
pub struct OmNode<S: Store, L: Store = S> {
    config: NodeConfig,
    raft: Raft<S>,
    applier: Arc<Applier<S>>,
    /// Shares the sticky failure of the adapter Raft writes its log through.
    log_store: LogStore<L>,
    /// Says when openraft's state-machine worker has quit (shutdown waits for it).
    state_machine_released: Released,
    /// The chunks of a snapshot a leader is sending this node.
    snapshot_assembly: SnapshotAssembly,
    servers: Mutex<Vec<ServerHandle>>,
    /// A follower's connection to the leader for read indexes (FIFO lock: one call at a time).
    read_index_client: tokio::sync::Mutex<Option<RpcClient<PeerRequest, PeerResponse>>>,
}

fn parse_address(address: &str) -> Result<SocketAddr, StartError> {
    address
        .parse()
        .map_err(|_| StartError::Config(format!("not a socket address: {address}")))
}

impl<S: Store, L: Store> OmNode<S, L> {
    /// Starts on two stores, as Ozone keeps the Raft log (`ozone.om.ratis.storage.dir`) apart
    /// from the OM DB (`ozone.om.db.dirs`): `log_store` holds the Raft log and state,
    /// `table_store` the tables the double buffer flushes. Starts Raft (which replays the log
    /// after the flushed index) and listens for clients and peers.
    pub async fn start(
        config: NodeConfig,
        log_store: L,
        table_store: S,
    ) -> Result<Arc<OmNode<S, L>>, StartError> {
        let raft_config = Arc::new(config.raft_config()?);
        // A crashed process's unsynced writes are still readable (the page cache outlived it)
        // but not durable: synced first, or recovery would count them as flushed or appended,
        // and purge the log behind tables a power loss could still take back.
        if !crate::bug_zoo::planted(crate::bug_zoo::Defect::RecoveryTrustsPageCache) {
            log_store.sync().await.map_err(StartError::Store)?;
            table_store.sync().await.map_err(StartError::Store)?;
        }
        let applier = Arc::new(
            Applier::open(
                table_store,
                FlushPolicy {
                    unflushed_max: config.unflushed_transactions_max,
                    interval: Duration::from_millis(config.flush_interval_ms),
                },
            )
            .map_err(StartError::Store)?,
        );
        let log_store = LogStore::new(log_store);
        let state_machine_config = StateMachineConfig {
            retry_cache_expiry_ms: config.retry_cache_expiry_ms,
        };
        let state_machine = StateMachine::new(
            applier.clone(),
            state_machine_config,
            log_store.flush_handle(),
        );
        let state_machine_released = state_machine.released();
        let network = PeerNetwork::new(config.transport.clone());
        let raft = Raft::new(
            config.node_id,
            raft_config,
            network,
            log_store.clone(),
            state_machine,
        )
        .await
        .map_err(|error| StartError::Raft(error.to_string()))?;
        let node = Arc::new(OmNode {
            config,
            raft,
            applier,
            log_store,
            state_machine_released,
            snapshot_assembly: SnapshotAssembly::new(),
            servers: Mutex::new(Vec::new()),
            read_index_client: tokio::sync::Mutex::new(None),
        });
        node.listen().await?;
        Ok(node)
    }

    async fn listen(self: &Arc<Self>) -> Result<(), StartError> {
        let limits = self.config.transport.clone();
        let client_address = parse_address(&self.config.address.client_address)?;
        let raft_address = parse_address(&self.config.address.raft_address)?;
        let bind = |address| {
            let limits = limits.clone();
            async move {
                RpcServer::bind(address, limits)
                    .await
                    .map_err(|error| StartError::Bind(address, error.kind()))
            }
        };
        let client_server = bind(client_address).await?;
        let raft_server = bind(raft_address).await?;
        let node = self.clone();
        let clients = client_server.serve(Arc::new(move |message: ClientMessage| {
            let node = node.clone();
            async move { crate::admin::on_client_message(&node, message).await }
        }));
        let node = self.clone();
        let peers = raft_server.serve(Arc::new(move |request: PeerRequest| {
            let node = node.clone();
            async move { node.on_peer_request(request).await }
        }));
        self.servers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend([clients, peers]);
        Ok(())
    }

    async fn on_peer_request(&self, request: PeerRequest) -> PeerResponse {
        on_peer_request(&self.raft, &self.snapshot_assembly, request).await
    }

    /// Forms the group (once, on one node): `members` become the voters.
    pub async fn initialize(&self, members: BTreeMap<NodeId, NodeAddress>) -> Result<(), String> {
        self.raft
            .initialize(members)
            .await
            .map_err(|error| error.to_string())
    }

    /// Adds `id` as a learner and waits until it has caught up with the log.
    pub async fn add_learner(&self, id: NodeId, address: NodeAddress) -> Result<(), OmError> {
        self.check_member()?;
        let added = self.raft.add_learner(id, address, true).await;
        added
            .map(|_| ())
            .map_err(|error| self.membership_error(error))
    }

    /// Makes the learner `id` a voter.
    pub async fn promote(&self, id: NodeId) -> Result<(), OmError> {
        self.check_member()?;
        let change = openraft::ChangeMembers::AddVoterIds(std::collections::BTreeSet::from([id]));
        let changed = self.raft.change_membership(change, true).await;
        changed
            .map(|_| ())
            .map_err(|error| self.membership_error(error))
    }

    /// Removes `id` from the group (it stops being a voter and a learner).
    pub async fn remove(&self, id: NodeId) -> Result<(), OmError> {
        self.check_member()?;
        let change = openraft::ChangeMembers::RemoveVoters(std::collections::BTreeSet::from([id]));
        let changed = self.raft.change_membership(change, false).await;
        changed
            .map(|_| ())
            .map_err(|error| self.membership_error(error))
    }

    /// A leader that removed itself leads on while it steps down (openraft's
    /// `removed_leader_step_down`); a membership change proposed to it then trips openraft's
    /// assertion that only a member leader appends membership entries (0.10.0-alpha.37). A node
    /// outside its own membership refuses membership changes instead.
    fn check_member(&self) -> Result<(), OmError> {
        let metrics = self.raft.metrics();
        let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
        let membership = metrics.membership_config.membership();
        let member = membership.get_node(&self.config.node_id).is_some();
        drop(metrics);
        if member {
            Ok(())
        } else {
            Err(self.not_leader(None))
        }
    }

    fn membership_error(
        &self,
        error: openraft::error::RaftError<
            crate::raft::OmRaftConfig,
            openraft::error::ClientWriteError<crate::raft::OmRaftConfig>,
        >,
    ) -> OmError {
        match error.forward_to_leader() {
            Some(forward) => self.not_leader(forward.leader_id),
            None => OmError::InternalError(error.to_string()),
        }
    }

    pub fn id(&self) -> NodeId {
        self.config.node_id
    }

    pub fn raft(&self) -> &Raft<S> {
        &self.raft
    }

    pub fn applier(&self) -> &Arc<Applier<S>> {
        &self.applier
    }

    /// Why the node stopped itself, if it did: a storage failure made Raft fatal, the log store
    /// refused further writes, or the double buffer failed a flush. A stopped node acknowledges
    /// nothing more; it recovers by restart (replaying the log). A requested shutdown is not
    /// a fail-stop.
    pub fn fail_stopped(&self) -> Option<String> {
        let fatal = {
            let metrics = self.raft.metrics();
            let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
            match &metrics.running_state {
                Err(openraft::error::Fatal::Stopped) | Ok(()) => None,
                Err(fatal) => Some(fatal.to_string()),
            }
        };
        if let Some(fatal) = fatal {
            return Some(format!("raft stopped on a fatal error: {fatal}"));
        }
        if let Some(failure) = self.log_store.failure() {
            return Some(format!("raft log store failed: {failure}"));
        }
        match self.applier.double_buffer().state() {
            FlushState::Failed { error, .. } => Some(format!("double buffer failed: {error}")),
            FlushState::Running { .. } | FlushState::Stopped { .. } => None,
        }
    }

    /// Answers one client call: reads from local state, writes through Raft.
    pub async fn on_client_request(&self, call: ClientRequest) -> OmResult {
        if call.request.is_read() {
            self.on_read(&call.request).await
        } else {
            self.on_write(call).await
        }
    }

    /// `NOT_LEADER` with the leader's id and address when this node knows them.
    fn not_leader(&self, leader: Option<NodeId>) -> OmError {
        let metrics = self.raft.metrics();
        let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
        let address = leader.and_then(|id| {
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .cloned()
        });
        OmError::NotLeader {
            leader_id: leader,
            leader_address: address.map(|node| node.client_address),
        }
    }

    /// Leader and ready (it has applied its own term's first entry), or why not.
    fn check_leader_ready(&self) -> Result<(), OmError> {
        let metrics = self.raft.metrics();
        let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
        let (state, leader, term, applied_term) = (
            metrics.state,
            metrics.current_leader,
            metrics.current_term,
            metrics.last_applied.map(|log_id| log_id.leader_id.term),
        );
        drop(metrics);
        if state != ServerState::Leader || leader != Some(self.config.node_id) {
            return Err(self.not_leader(leader));
        }
        // Until its own term's first entry is applied, it may miss the previous term's writes.
        if applied_term != Some(term)
            && !crate::bug_zoo::planted(crate::bug_zoo::Defect::LeaderServesBeforeReady)
        {
            crate::coverage::hit(crate::coverage::Mark::LeaderNotReady);
            return Err(OmError::LeaderNotReady);
        }
        Ok(())
    }

    /// Pre-execute: stamp the time (never before an applied entry's), then replicate.
    async fn on_write(&self, call: ClientRequest) -> OmResult {
        self.check_leader_ready()?;
        let time = TimeMs(self.config.clock.now().0.max(self.applier.last_time().0));
        let entry = RaftRequest {
            caller: call.caller,
            time,
            request: call.request,
        };
        match self.raft.client_write(entry).await {
            Ok(written) => written.data,
            Err(error) => match error.forward_to_leader() {
                Some(forward) => Err(self.not_leader(forward.leader_id)),
                None => Err(OmError::InternalError(error.to_string())),
            },
        }
    }

    async fn on_read(&self, request: &OmRequest) -> OmResult {
        match self.config.read_option {
            ReadOption::Default => self.check_leader_ready()?,
            ReadOption::Linearizable
                if crate::bug_zoo::planted(crate::bug_zoo::Defect::LinearizableReadLocal) =>
            {
                self.check_leader_ready()?
            }
            ReadOption::Linearizable => self.linearize().await?,
        }
        let answer = self.applier.read(request);
        answer.map_err(|error| OmError::InternalError(error.to_string()))?
    }

    /// ReadIndex: the leader confirms it still leads; a follower asks the leader for the read
    /// index and waits until it has applied that far. Either way, what it reads next is current.
    async fn linearize(&self) -> Result<(), OmError> {
        let leader = {
            let metrics = self.raft.metrics();
            let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
            metrics.current_leader
        };
        if leader != Some(self.config.node_id) {
            return self.linearize_through(leader).await;
        }
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(()),
            Err(error) => Err(match error.forward_to_leader() {
                Some(forward) => self.not_leader(forward.leader_id),
                None => OmError::InternalError(error.to_string()),
            }),
        }
    }

    /// The follower's side of ReadIndex. Any failure refuses the read (the client goes to the
    /// leader): a follower never answers without the leader's confirmation.
    async fn linearize_through(&self, leader: Option<NodeId>) -> Result<(), OmError> {
        let refused = || self.not_leader(leader);
        let address = leader.and_then(|leader| {
            let metrics = self.raft.metrics();
            let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
            let node = metrics
                .membership_config
                .membership()
                .get_node(&leader)
                .cloned();
            node.and_then(|node| node.raft_address.parse::<SocketAddr>().ok())
        });
        let address = match address {
            None if crate::bug_zoo::planted(crate::bug_zoo::Defect::FollowerReadWithoutLeader) => {
                return Ok(())
            }
            None => return Err(refused()),
            Some(address) => address,
        };
        let timeout = std::time::Duration::from_millis(self.config.read_index_timeout_ms);
        let answer = {
            let mut client = self.read_index_client.lock().await;
            if client
                .as_ref()
                .is_none_or(|client| client.target() != address)
            {
                *client = Some(RpcClient::new(address, &self.config.transport));
            }
            let client = client.as_mut().expect("just set");
            client.call(&PeerRequest::ReadIndex, timeout).await
        };
        let Ok(PeerResponse::ReadIndex {
            leader,
            read_log_id,
            applied,
        }) = answer
        else {
            if crate::bug_zoo::planted(crate::bug_zoo::Defect::FollowerReadWithoutLeader) {
                return Ok(());
            }
            return Err(refused());
        };
        if self.applied_before(read_log_id) {
            crate::coverage::hit(crate::coverage::Mark::FollowerReadIndexWait);
        }
        let read_log_id = openraft::raft::linearizable_read::ReadLogId::from_log_id(read_log_id);
        let linearizer =
            openraft::raft::linearizable_read::Linearizer::new(leader, read_log_id, applied);
        match linearizer.try_await_ready(&self.raft, Some(timeout)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(OmError::InternalError(
                "not applied up to the read index in time".to_string(),
            )),
            Err(fatal) => Err(OmError::InternalError(fatal.to_string())),
        }
    }

    /// Whether this node has yet to apply `log_id` (a read at that index must wait).
    fn applied_before(&self, log_id: crate::raft::LogId) -> bool {
        let metrics = self.raft.metrics();
        let applied = openraft::rt::WatchReceiver::borrow_watched(&metrics).last_applied;
        applied.is_none_or(|applied| applied.index < log_id.index)
    }

    /// Stops serving, stops Raft and the flusher, and closes both stores (their files are
    /// released when it returns: the node may start again in this process at once).
    pub async fn shutdown(&self) {
        let servers = std::mem::take(
            &mut *self
                .servers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for server in servers {
            server.shutdown().await;
        }
        let _ = self.raft.shutdown().await;
        // openraft's shutdown does not wait for its state-machine worker, which quits after
        // the command in hand: an apply still running would add to a stopped buffer.
        self.state_machine_released.wait().await;
        self.applier.double_buffer().stop().await;
        // A close that fails leaves nothing to do here: the node is stopping either way.
        let _ = self.applier.store().close().await;
        let _ = self.log_store.close().await;
    }
}
