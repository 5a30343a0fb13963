//! `OmClient`: names a service by its nodes, sends each call to the leader it believes in,
//! and fails over (`failover.rs`) with the same call id, so a retry is never applied twice.

mod failover;

pub use failover::FailoverPolicy;

use crate::admin::{ClientAnswer, ClientMessage};
use crate::error::OmError;
use crate::node::ClientRequest;
use crate::om::{OmRequest, OmResult};
use crate::raft::NodeId;
use crate::retry_cache::Caller;
use crate::transport::{RpcClient, TransportError, TransportLimits};
use crate::types::{CallId, ClientId};
use failover::{Failover, Next};
use std::net::SocketAddr;

/// The call could not be completed within the attempt budget: it may or may not have been
/// applied (a history records it as unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    pub attempts: u32,
    pub last_error: String,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no answer after {} attempts (last: {})",
            self.attempts, self.last_error
        )
    }
}

pub struct OmClient {
    id: ClientId,
    next_call: u64,
    nodes: Vec<(NodeId, RpcClient<ClientMessage, ClientAnswer>)>,
    policy: FailoverPolicy,
    /// Index into `nodes` of the node believed to lead.
    leader: usize,
}

impl OmClient {
    /// A client of the service made of `nodes` (node id, client address), with a fresh random
    /// id ([`ClientId::random`]): no other client instance, before or after, shares it.
    pub fn new(
        nodes: &[(NodeId, SocketAddr)],
        policy: FailoverPolicy,
        limits: &TransportLimits,
    ) -> OmClient {
        OmClient::with_id(ClientId::random(), nodes, policy, limits)
    }

    /// Test use only: a client with the given id. Two live instances with one id, or a
    /// restarted client reusing its old id, would have new calls answered from the retry cache
    /// (as `RETRY_REQUEST_MISMATCH` when the request differs) instead of applied.
    pub fn with_id(
        id: ClientId,
        nodes: &[(NodeId, SocketAddr)],
        policy: FailoverPolicy,
        limits: &TransportLimits,
    ) -> OmClient {
        assert!(!nodes.is_empty(), "a service has at least one node");
        let nodes = nodes
            .iter()
            .map(|&(node, address)| (node, RpcClient::new(address, limits)))
            .collect();
        OmClient {
            id,
            next_call: 1,
            nodes,
            policy,
            leader: 0,
        }
    }

    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The node this client sends to first.
    pub fn leader_hint(&self) -> NodeId {
        self.nodes[self.leader].0
    }

    /// Sends `request` with a new call id until a node answers it or the budget runs out.
    pub async fn call(&mut self, request: OmRequest) -> Result<OmResult, Unavailable> {
        let caller = self.next_caller();
        self.call_as(caller, request).await
    }

    /// Takes this client's next call id, for a call sent (and maybe retried) with `call_as`.
    pub fn next_caller(&mut self) -> Caller {
        let caller = Caller {
            client: self.id,
            call: CallId(self.next_call),
        };
        self.next_call += 1;
        caller
    }

    /// Sends `request` as `caller` (a retry of an earlier call reuses its caller, and its
    /// request: the same caller with another request is refused with `RETRY_REQUEST_MISMATCH`).
    pub async fn call_as(
        &mut self,
        caller: Caller,
        request: OmRequest,
    ) -> Result<OmResult, Unavailable> {
        let message = ClientMessage::Om(ClientRequest { caller, request });
        let mut failover = Failover::new(self.policy, self.nodes.len(), self.leader);
        loop {
            let (target, client) = &mut self.nodes[failover.current()];
            let target = *target;
            let answer = om_answer(client.call(&message, self.policy.call_timeout).await);
            let next = match answer {
                Ok(Err(OmError::NotLeader { leader_id, .. })) => {
                    let hinted = leader_id
                        .and_then(|leader| self.nodes.iter().position(|(node, _)| *node == leader));
                    failover.on_not_leader(hinted, format!("node {target}: not leader"))
                }
                Ok(Err(OmError::LeaderNotReady)) => {
                    failover.on_not_ready(format!("node {target}: leader not ready"))
                }
                Ok(Err(OmError::InternalError(reason))) => {
                    failover.on_unreachable(format!("node {target}: {reason}"))
                }
                Ok(answer) => {
                    self.leader = failover.current();
                    return Ok(answer);
                }
                Err(error) => {
                    if is_timeout(&error) && self.nodes.len() > 1 {
                        crate::coverage::hit(crate::coverage::Mark::ClientFailoverAfterTimeout);
                    }
                    failover.on_unreachable(describe(target, &error))
                }
            };
            match next {
                Next::Retry { wait } => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                Next::GiveUp(unavailable) => return Err(unavailable),
            }
        }
    }
}

/// The OM answer in a client-port answer; an admin answer to an OM call is out of step.
fn om_answer(answer: Result<ClientAnswer, TransportError>) -> Result<OmResult, TransportError> {
    match answer? {
        ClientAnswer::Om(result) => Ok(result),
        ClientAnswer::Admin(_) => Err(TransportError::Frame(
            crate::transport::FrameError::Malformed("an admin answer to an OM call".to_string()),
        )),
    }
}

/// The attempt's deadline passed (before the connection opened, or before the answer came).
fn is_timeout(error: &TransportError) -> bool {
    matches!(
        error,
        TransportError::Timeout | TransportError::Connect(std::io::ErrorKind::TimedOut)
    )
}

fn describe(target: NodeId, error: &TransportError) -> String {
    format!("node {target}: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids of two client instances made one after the other (a client and its restart).
    fn two_client_ids() -> (ClientId, ClientId) {
        let nodes = [(1, SocketAddr::from(([127, 0, 0, 1], 9862)))];
        let make = || {
            OmClient::new(
                &nodes,
                FailoverPolicy::default(),
                &TransportLimits::default(),
            )
            .id()
        };
        (make(), make())
    }

    fn assert_distinct_and_wide((first, second): (ClientId, ClientId)) {
        assert_ne!(first, second, "a restarted client gets a new id");
        // Both under 2^64 by chance: probability 2^-128.
        assert!(
            first.0.max(second.0) > u128::from(u64::MAX),
            "{first} {second}"
        );
    }

    #[cfg(not(madsim))]
    #[test]
    fn every_client_instance_draws_its_own_id() {
        assert_distinct_and_wide(two_client_ids());
    }

    #[cfg(madsim)]
    #[test]
    fn every_client_instance_draws_its_own_id_and_a_replay_draws_the_same() {
        let draw = |seed| {
            madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
                .block_on(async { two_client_ids() })
        };
        let ids = draw(7);
        assert_distinct_and_wide(ids);
        assert_eq!(draw(7), ids, "the seed decides the ids");
        assert_ne!(draw(8), ids);
    }
}
