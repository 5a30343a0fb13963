//! Runs one client's plan on its own simulated host: each step's request goes through the real
//! client library (failover included), and every call lands in the trace (with the answer's
//! contents) and, when it can be judged, in the history.
//!
//! What is judged: a write always (an answer lost after every attempt is *unknown*: it may have
//! been applied); a read when it was answered with a result — a refused read has no effect, so
//! leaving it out is sound. A DEFAULT read is judged only when no partition, pause or latency
//! spike was in force around it: Ozone documents that a deposed leader may answer it stale.

use super::{ClientPlan, ReadRoute, Step};
use crate::cluster::client_address;
use crate::config::ClientPolicy;
use crate::recorder::Recorder;
use crate::runner::world::World;
use crate::scenario::elapsed;
use om_server::client::{FailoverPolicy, OmClient, Unavailable};
use om_server::node::ReadOption;
use om_server::om::{OmRequest, OmResponse, OmResult};
use om_server::raft::NodeId;
use om_server::retry_cache::Caller;
use om_server::transport::TransportLimits;
use std::sync::Arc;
use std::time::Duration;

/// How long a client resends a write whose answer was lost before it leaves the write to the
/// harness's resend after the heal.
const RETRY_WINDOW: Duration = Duration::from_secs(120);

/// Everything a client needs from the run.
#[derive(Clone)]
pub struct ClientContext {
    pub world: Arc<World>,
    pub recorder: Recorder,
    pub policy: ClientPolicy,
    pub read_option: ReadOption,
    /// How long a write whose answer was lost is retried (`None`: up to `RETRY_WINDOW`, then
    /// resent after the heal; see `Knobs::retry_window_ms`).
    pub retry_window: Option<Duration>,
    /// Writes whose answer was lost after every attempt, resent after the heal.
    pub unresolved: Arc<std::sync::Mutex<Vec<Unresolved>>>,
}

/// A write whose answer was lost after every attempt. Once the cluster has healed, the harness
/// resends it with its call id (as a client retrying later would): the retry cache answers it
/// if it was applied, else it is applied then. Either way the history gets a definite outcome
/// over the whole interval instead of an open-ended one the checker has to guess at, and the
/// retry cache is tested across faults, elections, snapshots and restarts.
pub struct Unresolved {
    caller: Caller,
    invoked: Duration,
    request: OmRequest,
}

/// One client process (a new random id per instance, as Ozone's UUID).
struct Instance {
    client: OmClient,
    /// Reads pinned to one node (a follower read when it does not lead), same client id.
    pinned: Option<OmClient>,
    /// Writes whose lost answer this client may still give up on (left unknown for good).
    give_ups_left: u32,
    /// Blocked on a write left unknown for good: the plan continues in a new instance (a new
    /// process in the history, so each process keeps at most one open write).
    blocked: bool,
}

impl ClientContext {
    fn failover_policy(&self, attempts_max: u32) -> FailoverPolicy {
        FailoverPolicy {
            attempts_max,
            wait_between_retries: Duration::from_millis(self.policy.wait_between_retries_ms),
            call_timeout: Duration::from_millis(self.policy.call_timeout_ms),
        }
    }

    fn instance(&self, reads: ReadRoute, give_ups_left: u32) -> Instance {
        let nodes: Vec<_> = (self.world.cluster.ids().into_iter())
            .map(|id| (id, client_address(id)))
            .collect();
        let limits = TransportLimits::default();
        let client = OmClient::new(
            &nodes,
            self.failover_policy(self.policy.attempts_max),
            &limits,
        );
        let pinned = match reads {
            ReadRoute::Leader => None,
            ReadRoute::Node(id) => Some(OmClient::with_id(
                client.id(),
                &[(id, client_address(id))],
                self.failover_policy(1),
                &limits,
            )),
        };
        Instance {
            client,
            pinned,
            give_ups_left,
            blocked: false,
        }
    }

    fn trace_call(
        &self,
        instance: &Instance,
        request: &OmRequest,
        outcome: &Result<OmResult, Unavailable>,
    ) {
        let answer = match outcome {
            Ok(result) => format!("{result:?}"),
            Err(_) => "unknown".to_string(),
        };
        self.world.trace.record(
            elapsed(),
            &format!("client{}", self.recorder.process(instance.client.id())),
            format_args!("{request:?} -> {answer}"),
        );
    }

    /// Runs `plan` to its end.
    pub async fn run(&self, plan: ClientPlan) {
        let mut instance = self.instance(plan.reads, u32::from(!plan.retry_unknown));
        for timed in plan.steps {
            if instance.blocked {
                // The blocked process stays blocked; the plan goes on in a new one.
                instance = self.instance(plan.reads, instance.give_ups_left);
            }
            tokio::time::sleep(Duration::from_millis(timed.think_ms)).await;
            match timed.step {
                Step::Restart => {
                    instance = self.instance(plan.reads, instance.give_ups_left);
                }
                Step::Call(request) if request.is_read() => self.read(&mut instance, request).await,
                Step::Call(request) => {
                    let _answer = self.write(&mut instance, request).await;
                }
                Step::PutKey {
                    volume,
                    bucket,
                    key,
                    size,
                } => {
                    let open = OmRequest::OpenKey {
                        volume: volume.clone(),
                        bucket: bucket.clone(),
                        key: key.clone(),
                        size,
                        replication: om_server::om::Replication::RatisThree,
                        metadata: Default::default(),
                    };
                    let opened = self.write(&mut instance, open).await;
                    if let Ok(Ok(OmResponse::KeyOpened { open_id, .. })) = opened {
                        let commit = OmRequest::CommitKey {
                            volume,
                            bucket,
                            key,
                            open_id,
                            size,
                        };
                        let _answer = self.write(&mut instance, commit).await;
                    }
                }
            }
        }
    }

    async fn read(&self, instance: &mut Instance, request: OmRequest) {
        let epoch = self.world.disruption_epoch();
        let invoked = elapsed();
        let caller = instance.client.next_caller();
        let client = instance.pinned.as_mut().unwrap_or(&mut instance.client);
        let outcome = client.call_as(caller, request.clone()).await;
        let answered_by = client.leader_hint();
        self.trace_call(instance, &request, &outcome);
        // A deposed leader may answer a DEFAULT read stale, as Ozone documents: such a read is
        // judged only if no fault could have deposed one, or if the node that answered still
        // leads the highest term (no later leader exists; a new leader must not answer before
        // it is ready).
        let judged = match self.read_option {
            ReadOption::Linearizable => true,
            ReadOption::Default => {
                self.world.quiet_throughout(epoch, invoked)
                    || (outcome.is_ok() && self.world.leads_highest_term(answered_by))
            }
        };
        let answered =
            matches!(&outcome, Ok(result) if crate::recorder::model_outcome(result).is_some());
        if judged && answered {
            self.record(instance, invoked, &request, &outcome);
        }
    }

    /// Sends a write; an answer lost after every failover attempt is sent again with the same
    /// call id (the retry cache must answer it without applying it twice) until it is answered,
    /// for up to `RETRY_WINDOW`; all attempts are one operation in the history. A client keeps
    /// at most one write open, as a real one blocked in its retry policy does: writes given up
    /// one after another would pile up overlapping unknowns no checker can decide.
    async fn write(
        &self,
        instance: &mut Instance,
        request: OmRequest,
    ) -> Result<OmResult, Unavailable> {
        let invoked = elapsed();
        let caller = instance.client.next_caller();
        let mut outcome = instance.client.call_as(caller, request.clone()).await;
        self.trace_call(instance, &request, &outcome);
        if outcome.is_err() && instance.give_ups_left > 0 {
            instance.give_ups_left -= 1;
            self.record(instance, invoked, &request, &outcome);
            self.look_after_lost_answer(instance, &request).await;
            return outcome;
        }
        let lost_first = outcome.is_err();
        let window = self.retry_window.unwrap_or(RETRY_WINDOW);
        while outcome.is_err() && elapsed() < invoked + window {
            outcome = instance.client.call_as(caller, request.clone()).await;
            self.trace_call(instance, &request, &outcome);
        }
        if outcome.is_err() && self.retry_window.is_some() {
            // A later retry might reach an expired row: unknown for good, and this instance,
            // blocked on it, takes no further step.
            self.record(instance, invoked, &request, &outcome);
            instance.blocked = true;
            return outcome;
        } else if outcome.is_err() {
            (self
                .unresolved
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()))
            .push(Unresolved {
                caller,
                invoked,
                request: request.clone(),
            });
        } else {
            self.record(instance, invoked, &request, &outcome);
        }
        if lost_first {
            self.look_after_lost_answer(instance, &request).await;
        }
        outcome
    }

    /// A client whose answer was lost looks at what its write touched, as a real one does to
    /// learn what happened: the read usually reaches a node that just took over, which must not
    /// answer from state older than what it committed before.
    async fn look_after_lost_answer(&self, instance: &mut Instance, write: &OmRequest) {
        if let Some(read) = crate::workload::generate::read_of(write) {
            self.read(instance, read).await;
        }
    }

    /// Resends every unresolved write with its call id through `client`'s failover (one
    /// instance per original client id), recording each once with its first invocation time;
    /// a resend that is lost again stays unknown.
    pub async fn resolve_unknowns(
        &self,
        nodes: &[(NodeId, std::net::SocketAddr)],
        policy: FailoverPolicy,
    ) {
        let unresolved = std::mem::take(
            &mut *self
                .unresolved
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if !unresolved.is_empty() {
            self.world.note(format_args!(
                "resending {} unresolved writes",
                unresolved.len()
            ));
        }
        for write in unresolved {
            let limits = TransportLimits::default();
            let mut client = OmClient::with_id(write.caller.client, nodes, policy, &limits);
            let outcome = client.call_as(write.caller, write.request.clone()).await;
            let instance = Instance {
                client,
                pinned: None,
                give_ups_left: 0,
                blocked: false,
            };
            self.trace_call(&instance, &write.request, &outcome);
            self.record(&instance, write.invoked, &write.request, &outcome);
        }
    }

    fn record(
        &self,
        instance: &Instance,
        invoked: Duration,
        request: &OmRequest,
        outcome: &Result<OmResult, Unavailable>,
    ) {
        self.recorder.record(
            instance.client.id(),
            invoked.as_nanos() as u64,
            elapsed().as_nanos() as u64,
            request,
            outcome,
        );
    }
}
