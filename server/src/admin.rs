//! Administrative calls on the client port, as `ozone admin om roles` and
//! `ozone admin om transfer` make them: a node's role (asked of each node directly) and a
//! leadership transfer (asked of the leader). The client port carries a [`ClientMessage`]:
//! an OM request or one of these, never replicated.

use crate::error::OmError;
use crate::node::{ClientRequest, OmNode};
use crate::om::OmResult;
use crate::raft::NodeId;
use crate::store::Store;
use openraft::ServerState;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the client port receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    Om(ClientRequest),
    Admin(AdminRequest),
}

/// What the client port answers: the same kind as the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientAnswer {
    Om(OmResult),
    Admin(AdminResult),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// This node's role, term and leader as it sees them.
    Role,
    /// Leader only: hand leadership to the voter `to`, and answer once it leads.
    TransferLeadership { to: NodeId },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminResponse {
    Role(NodeRole),
    /// `to` leads now.
    Transferred {
        leader: NodeId,
    },
}

pub type AdminResult = Result<AdminResponse, OmError>;

/// Ozone's role names (`LEADER`, `FOLLOWER`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Leader => "LEADER",
            Role::Follower => "FOLLOWER",
            Role::Candidate => "CANDIDATE",
            Role::Learner => "LEARNER",
            Role::Shutdown => "SHUTDOWN",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRole {
    pub node_id: NodeId,
    pub role: Role,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// OM index (Raft index + 1, as `raft::state_machine::om_index`) of the last applied
    /// entry; 0 before any.
    pub applied_index: u64,
    /// OM index the double buffer has made durable in the tables (≤ `applied_index`).
    pub flushed_index: u64,
}

/// How long a transfer may take before the leader reports it as not done.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one message of the client port.
pub async fn on_client_message<S: Store, L: Store>(
    node: &OmNode<S, L>,
    message: ClientMessage,
) -> ClientAnswer {
    match message {
        ClientMessage::Om(request) => ClientAnswer::Om(node.on_client_request(request).await),
        ClientMessage::Admin(request) => ClientAnswer::Admin(on_admin_request(node, request).await),
    }
}

async fn on_admin_request<S: Store, L: Store>(
    node: &OmNode<S, L>,
    request: AdminRequest,
) -> AdminResult {
    match request {
        AdminRequest::Role => Ok(AdminResponse::Role(role_of(node))),
        AdminRequest::TransferLeadership { to } => on_transfer(node, to).await,
    }
}

/// This node's view of the group.
pub fn role_of<S: Store, L: Store>(node: &OmNode<S, L>) -> NodeRole {
    let metrics = node.raft().metrics();
    let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
    let role = match metrics.state {
        ServerState::Leader => Role::Leader,
        ServerState::Follower => Role::Follower,
        ServerState::Candidate => Role::Candidate,
        ServerState::Learner => Role::Learner,
        ServerState::Shutdown => Role::Shutdown,
    };
    NodeRole {
        node_id: node.id(),
        role,
        term: metrics.current_term,
        leader: metrics.current_leader,
        applied_index: metrics.last_applied.map_or(0, |log_id| {
            crate::raft::state_machine::om_index(log_id.index).0
        }),
        flushed_index: node.applier().double_buffer().flushed_index().0,
    }
}

async fn on_transfer<S: Store, L: Store>(node: &OmNode<S, L>, to: NodeId) -> AdminResult {
    let (is_leader, leader, is_voter) = {
        let metrics = node.raft().metrics();
        let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
        let is_voter = metrics
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == to);
        (
            metrics.state == ServerState::Leader,
            metrics.current_leader,
            is_voter,
        )
    };
    if !is_voter {
        return Err(OmError::InvalidRequest);
    }
    if !is_leader {
        return Err(OmError::NotLeader {
            leader_id: leader,
            leader_address: None,
        });
    }
    if to == node.id() {
        return Ok(AdminResponse::Transferred { leader: to });
    }
    let fatal = |error: openraft::error::Fatal<crate::raft::OmRaftConfig>| {
        OmError::InternalError(error.to_string())
    };
    node.raft()
        .trigger()
        .transfer_leader(to)
        .await
        .map_err(fatal)?;
    let led = node
        .raft()
        .wait(Some(TRANSFER_TIMEOUT))
        .metrics(
            |metrics| metrics.current_leader == Some(to),
            "leadership transferred",
        )
        .await;
    match led {
        Ok(_) => Ok(AdminResponse::Transferred { leader: to }),
        Err(error) => Err(OmError::InternalError(format!(
            "node {to} did not take over leadership: {error}"
        ))),
    }
}
