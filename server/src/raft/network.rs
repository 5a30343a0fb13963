//! Raft traffic between OM nodes over our framed RPC transport (`transport/`): one client per
//! target node, every call bounded by openraft's time-to-live.

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
    InstallSnapshot {
        vote: Vote,
        meta: SnapshotMeta,
        data: Vec<u8>,
    },
    /// A follower serving a LINEARIZABLE read asks the leader for a read index (ReadIndex).
    ReadIndex,
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
}

/// Serves peer requests with the local Raft instance.
pub async fn on_peer_request<S: Store>(raft: &Raft<S>, request: PeerRequest) -> PeerResponse {
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
            let snapshot = Snapshot {
                meta,
                snapshot: std::io::Cursor::new(data),
            };
            let installed = raft.install_full_snapshot(vote, snapshot).await;
            installed.map_or_else(|e| refused(&e), PeerResponse::InstallSnapshot)
        }
    }
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
    /// `None` when the peer's address does not parse (it stays unreachable).
    client: Option<RpcClient<PeerRequest, PeerResponse>>,
}

impl RaftNetworkFactory<OmRaftConfig> for PeerNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddress) -> PeerConnection {
        let address: Option<SocketAddr> = node.raft_address.parse().ok();
        PeerConnection {
            target,
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
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<OmRaftConfig>, StreamingError<OmRaftConfig>> {
        let request = PeerRequest::InstallSnapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_inner(),
        };
        let response = self
            .call(request, &option)
            .await
            .map_err(|error| match error {
                RPCError::Unreachable(unreachable) => StreamingError::Unreachable(unreachable),
                RPCError::Network(network) => StreamingError::Network(network),
                RPCError::Timeout(timeout) => StreamingError::Timeout(timeout),
                RPCError::RemoteError(remote) => {
                    StreamingError::Unreachable(Unreachable::new(&remote))
                }
            })?;
        match response {
            PeerResponse::InstallSnapshot(response) => Ok(response),
            other => Err(StreamingError::Network(NetworkError::new(
                &io::Error::other(format!("unexpected answer {other:?}")),
            ))),
        }
    }
}
