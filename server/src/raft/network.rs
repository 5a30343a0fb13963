//! Raft traffic between OM nodes over our framed RPC transport (`transport/`): one client per
//! target node, every call bounded by openraft's time-to-live. Snapshots travel in chunks
//! (`snapshot_transfer`), each chunk a call of its own.

use super::snapshot_transfer::{chunk_bytes_max, ChunkReceived, SnapshotAssembly, SnapshotChunk};
use super::{NodeAddress, NodeId, OmRaftConfig, Raft, Snapshot, SnapshotMeta, Vote};
use crate::store::Store;
use crate::transport::{RpcClient, TransportError, TransportLimits};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A message from one OM node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    AppendEntries(AppendEntriesRequest<OmRaftConfig>),
    Vote(VoteRequest<OmRaftConfig>),
    PreVote(VoteRequest<OmRaftConfig>),
    /// A whole snapshot in one frame (what earlier builds send; still served).
    InstallSnapshot {
        vote: Vote,
        meta: SnapshotMeta,
        data: Vec<u8>,
    },
    /// A follower serving a LINEARIZABLE read asks the leader for a read index (ReadIndex).
    ReadIndex,
    /// One piece of a snapshot; the last one installs it (answered with `InstallSnapshot`).
    SnapshotChunk(SnapshotChunk),
    /// The leader hands leadership to the receiver (`ozone admin om transfer`).
    TransferLeader(TransferLeaderRequest<OmRaftConfig>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(AppendEntriesResponse<OmRaftConfig>),
    Vote(VoteResponse<OmRaftConfig>),
    InstallSnapshot(SnapshotResponse<OmRaftConfig>),
    /// The leader confirmed its leadership with a quorum: reads must see `read_log_id`.
    ReadIndex {
        leader: NodeId,
        read_log_id: super::LogId,
        applied: Option<super::LogId>,
    },
    TransferLeader(TransferLeaderResponse<OmRaftConfig>),
    /// The receiving node could not handle it (shutting down, fatal error).
    Refused(String),
    /// A snapshot chunk that is not the last was stored: this many bytes are in hand.
    SnapshotChunkStored {
        received_bytes: u64,
    },
}

/// Serves peer requests with the local Raft instance; `snapshots` reassembles chunked ones.
pub async fn on_peer_request<S: Store>(
    raft: &Raft<S>,
    snapshots: &SnapshotAssembly,
    request: PeerRequest,
) -> PeerResponse {
    let refused = |error: &dyn std::fmt::Display| PeerResponse::Refused(error.to_string());
    match request {
        PeerRequest::AppendEntries(rpc) => raft
            .append_entries(rpc)
            .await
            .map_or_else(|e| refused(&e), PeerResponse::AppendEntries),
        PeerRequest::Vote(rpc) => raft
            .vote(rpc)
            .await
            .map_or_else(|e| refused(&e), PeerResponse::Vote),
        PeerRequest::PreVote(rpc) => raft
            .pre_vote(rpc)
            .await
            .map_or_else(|e| refused(&e), PeerResponse::Vote),
        PeerRequest::ReadIndex => match raft
            .get_read_linearizer(openraft::ReadPolicy::ReadIndex)
            .await
        {
            Ok(linearizer) => PeerResponse::ReadIndex {
                leader: *linearizer.node_id(),
                read_log_id: *linearizer.read_log_id().log_id(),
                applied: linearizer.applied().copied(),
            },
            Err(error) => refused(&error),
        },
        PeerRequest::TransferLeader(rpc) => raft
            .handle_transfer_leader(rpc)
            .await
            .map_or_else(|e| refused(&e), PeerResponse::TransferLeader),
        PeerRequest::InstallSnapshot { vote, meta, data } => {
            if let Some(response) = snapshot_already_held(raft, &vote, &meta).await {
                return response;
            }
            let snapshot = Snapshot {
                meta,
                snapshot: std::io::Cursor::new(data),
            };
            let installed = raft.install_full_snapshot(vote, snapshot).await;
            installed.map_or_else(|e| refused(&e), PeerResponse::InstallSnapshot)
        }
        PeerRequest::SnapshotChunk(chunk) => match snapshots.receive(chunk) {
            Ok(ChunkReceived::Stored { received_bytes }) => {
                PeerResponse::SnapshotChunkStored { received_bytes }
            }
            Ok(ChunkReceived::Complete { vote, snapshot }) => {
                if let Some(response) = snapshot_already_held(raft, &vote, &snapshot.meta).await {
                    return response;
                }
                let installed = raft.install_full_snapshot(vote, snapshot).await;
                installed.map_or_else(|e| refused(&e), PeerResponse::InstallSnapshot)
            }
            Err(reason) => PeerResponse::Refused(reason),
        },
    }
}

/// A snapshot from this node's current leader that ends at an entry this node's log already
/// holds (its appends were acknowledged but the answers lost, so the leader purged past what it
/// knew): the log matching property makes the snapshot redundant, and the answer is the vote.
/// openraft 0.10.0-alpha.37 would install it and move its log I/O cursor backwards, which its
/// debug assertion (`expect submitted:.. < new_submitted:..`) turns into a panic.
async fn snapshot_already_held<S: Store>(
    raft: &Raft<S>,
    vote: &Vote,
    meta: &SnapshotMeta,
) -> Option<PeerResponse> {
    let last = meta.last_log_id?;
    let vote = *vote;
    let held = raft
        .with_raft_state(move |state| {
            let same_leader = *state.vote_ref() == vote;
            let holds = state.log_ids.get(last.index) == Some(last);
            (same_leader && holds).then(|| *state.vote_ref())
        })
        .await
        .ok()
        .flatten()?;
    tracing::info!(last = %last, "snapshot not installed: the log already holds its last entry");
    Some(PeerResponse::InstallSnapshot(SnapshotResponse::new(held)))
}

#[derive(Clone)]
pub struct PeerNetwork {
    limits: Arc<TransportLimits>,
}

impl PeerNetwork {
    pub fn new(limits: TransportLimits) -> PeerNetwork {
        PeerNetwork {
            limits: Arc::new(limits),
        }
    }
}

pub struct PeerConnection {
    target: NodeId,
    frame_bytes_max: usize,
    /// `None` when the peer's address does not parse (it stays unreachable).
    client: Option<RpcClient<PeerRequest, PeerResponse>>,
}

impl RaftNetworkFactory<OmRaftConfig> for PeerNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddress) -> PeerConnection {
        let address: Option<SocketAddr> = node.raft_address.parse().ok();
        PeerConnection {
            target,
            frame_bytes_max: self.limits.frame_bytes_max,
            client: address.map(|address| RpcClient::new(address, &self.limits)),
        }
    }
}

fn unreachable(error: impl std::fmt::Display) -> RPCError<OmRaftConfig> {
    RPCError::Unreachable(Unreachable::new(&io::Error::other(error.to_string())))
}

impl PeerConnection {
    async fn call(
        &mut self,
        request: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, RPCError<OmRaftConfig>> {
        let target = self.target;
        let Some(client) = self.client.as_mut() else {
            return Err(unreachable(format!(
                "node {target} has no valid raft address"
            )));
        };
        match client.call(&request, option.hard_ttl()).await {
            Ok(PeerResponse::Refused(reason)) => Err(RPCError::Network(NetworkError::new(
                &io::Error::other(reason),
            ))),
            Ok(response) => Ok(response),
            Err(TransportError::Connect(kind)) => {
                Err(unreachable(format!("node {target}: connect: {kind:?}")))
            }
            Err(error) => Err(RPCError::Network(NetworkError::new(&io::Error::other(
                format!("node {target}: {error}"),
            )))),
        }
    }
}

fn unexpected(response: PeerResponse) -> RPCError<OmRaftConfig> {
    RPCError::Network(NetworkError::new(&io::Error::other(format!(
        "unexpected answer {response:?}"
    ))))
}

impl RaftNetworkV2<OmRaftConfig> for PeerConnection {
    type SnapshotData = super::SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<OmRaftConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<OmRaftConfig>, RPCError<OmRaftConfig>> {
        match self.call(PeerRequest::AppendEntries(rpc), &option).await? {
            PeerResponse::AppendEntries(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<OmRaftConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<OmRaftConfig>, RPCError<OmRaftConfig>> {
        match self.call(PeerRequest::Vote(rpc), &option).await? {
            PeerResponse::Vote(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<OmRaftConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<OmRaftConfig>, RPCError<OmRaftConfig>> {
        match self.call(PeerRequest::PreVote(rpc), &option).await? {
            PeerResponse::Vote(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    /// Without it the target never hears of a transfer: a random node wins the election
    /// after the old leader's lease ends.
    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<OmRaftConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<OmRaftConfig>, RPCError<OmRaftConfig>> {
        match self.call(PeerRequest::TransferLeader(rpc), &option).await? {
            PeerResponse::TransferLeader(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<OmRaftConfig>, StreamingError<OmRaftConfig>> {
        let send = self.send_snapshot(vote, snapshot, &option);
        tokio::select! {
            biased;
            closed = cancel => Err(StreamingError::Closed(closed)),
            sent = send => sent,
        }
    }
}

fn streaming(error: RPCError<OmRaftConfig>) -> StreamingError<OmRaftConfig> {
    match error {
        RPCError::Unreachable(unreachable) => StreamingError::Unreachable(unreachable),
        RPCError::Network(network) => StreamingError::Network(network),
        RPCError::Timeout(timeout) => StreamingError::Timeout(timeout),
        RPCError::RemoteError(remote) => StreamingError::Unreachable(Unreachable::new(&remote)),
    }
}

fn streaming_network(reason: String) -> StreamingError<OmRaftConfig> {
    StreamingError::Network(NetworkError::new(&io::Error::other(reason)))
}

impl PeerConnection {
    /// Sends `snapshot` chunk by chunk, each call within the option's time-to-live.
    async fn send_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        option: &RPCOption,
    ) -> Result<SnapshotResponse<OmRaftConfig>, StreamingError<OmRaftConfig>> {
        let Snapshot { meta, snapshot } = snapshot;
        let data = snapshot.into_inner();
        let preferred = option.snapshot_chunk_size();
        let chunk_bytes = chunk_bytes_max(&vote, &meta, self.frame_bytes_max, preferred)
            .ok_or_else(|| {
                streaming_network(format!(
                    "a snapshot chunk does not fit a frame of {} bytes",
                    self.frame_bytes_max
                ))
            })?;
        let total_bytes = data.len() as u64;
        let mut offset = 0;
        loop {
            let end = (offset + chunk_bytes).min(data.len());
            let chunk = SnapshotChunk {
                vote,
                meta: meta.clone(),
                offset: offset as u64,
                total_bytes,
                data: data[offset..end].to_vec(),
            };
            let last = end == data.len();
            let answer = self.call(PeerRequest::SnapshotChunk(chunk), option).await;
            match answer.map_err(streaming)? {
                PeerResponse::InstallSnapshot(response) if last => {
                    crate::coverage::hit(crate::coverage::Mark::SnapshotSent);
                    return Ok(response);
                }
                PeerResponse::SnapshotChunkStored { received_bytes }
                    if !last && received_bytes == end as u64 =>
                {
                    offset = end;
                }
                other => {
                    return Err(streaming_network(format!(
                        "unexpected answer to snapshot bytes {offset}..{end}: {other:?}"
                    )))
                }
            }
        }
    }
}
