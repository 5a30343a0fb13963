//! Ozone's failover proxy provider rules: `NOT_LEADER` with a hint goes to the hinted node,
//! without one to the next node; `LEADER_NOT_READY` waits and retries the same node; a
//! connection error or timeout goes to the next node, waiting only after a full round. Every
//! attempt counts against `ozone.client.failover.max.attempts`.

use super::Unavailable;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailoverPolicy {
    /// `ozone.client.failover.max.attempts`.
    pub attempts_max: u32,
    /// `ozone.client.wait.between.retries.millis`.
    pub wait_between_retries: Duration,
    /// Bound on one attempt (connect, send, answer).
    pub call_timeout: Duration,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            attempts_max: 500,
            wait_between_retries: Duration::from_millis(2000),
            call_timeout: Duration::from_secs(5),
        }
    }
}

pub(super) enum Next {
    Retry { wait: Duration },
    GiveUp(Unavailable),
}

/// The state of one call's failover.
pub(super) struct Failover {
    policy: FailoverPolicy,
    nodes: usize,
    current: usize,
    attempts: u32,
    /// Nodes tried since the last wait: a full round of failures waits before going on.
    tried_in_round: usize,
}

impl Failover {
    pub fn new(policy: FailoverPolicy, nodes: usize, start: usize) -> Failover {
        Failover {
            policy,
            nodes,
            current: start,
            attempts: 0,
            tried_in_round: 0,
        }
    }

    pub fn current(&self) -> usize {
        self.current
    }

    fn count(&mut self, error: String) -> Option<Unavailable> {
        self.attempts += 1;
        (self.attempts >= self.policy.attempts_max).then_some(Unavailable {
            attempts: self.attempts,
            last_error: error,
        })
    }

    fn next_node(&mut self) -> Duration {
        self.current = (self.current + 1) % self.nodes;
        self.tried_in_round += 1;
        if self.tried_in_round >= self.nodes {
            self.tried_in_round = 0;
            self.policy.wait_between_retries
        } else {
            Duration::ZERO
        }
    }

    pub fn on_not_leader(&mut self, hinted: Option<usize>, error: String) -> Next {
        if let Some(unavailable) = self.count(error) {
            return Next::GiveUp(unavailable);
        }
        match hinted {
            Some(node) if node != self.current => {
                self.current = node;
                Next::Retry {
                    wait: Duration::ZERO,
                }
            }
            _ => Next::Retry {
                wait: self.next_node(),
            },
        }
    }

    pub fn on_not_ready(&mut self, error: String) -> Next {
        match self.count(error) {
            Some(unavailable) => Next::GiveUp(unavailable),
            None => Next::Retry {
                wait: self.policy.wait_between_retries,
            },
        }
    }

    pub fn on_unreachable(&mut self, error: String) -> Next {
        match self.count(error) {
            Some(unavailable) => Next::GiveUp(unavailable),
            None => Next::Retry {
                wait: self.next_node(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FailoverPolicy {
        FailoverPolicy {
            attempts_max: 10,
            wait_between_retries: Duration::from_millis(50),
            call_timeout: Duration::from_secs(1),
        }
    }

    fn wait_of(next: Next) -> Duration {
        match next {
            Next::Retry { wait } => wait,
            Next::GiveUp(unavailable) => panic!("gave up: {unavailable}"),
        }
    }

    #[test]
    fn unreachable_nodes_rotate_and_wait_after_a_full_round() {
        let mut failover = Failover::new(policy(), 3, 0);
        assert_eq!(wait_of(failover.on_unreachable("a".into())), Duration::ZERO);
        assert_eq!(failover.current(), 1);
        assert_eq!(wait_of(failover.on_unreachable("b".into())), Duration::ZERO);
        assert_eq!(
            wait_of(failover.on_unreachable("c".into())),
            Duration::from_millis(50)
        );
        assert_eq!(failover.current(), 0);
    }

    #[test]
    fn a_hint_is_followed_at_once_and_not_ready_waits_on_the_same_node() {
        let mut failover = Failover::new(policy(), 3, 0);
        assert_eq!(
            wait_of(failover.on_not_leader(Some(2), "x".into())),
            Duration::ZERO
        );
        assert_eq!(failover.current(), 2);
        assert_eq!(
            wait_of(failover.on_not_ready("y".into())),
            Duration::from_millis(50)
        );
        assert_eq!(failover.current(), 2);
        assert_eq!(
            wait_of(failover.on_not_leader(None, "z".into())),
            Duration::ZERO
        );
        assert_eq!(failover.current(), 0);
    }

    #[test]
    fn the_attempt_budget_is_bounded() {
        let mut failover = Failover::new(policy(), 2, 0);
        for _ in 0..9 {
            wait_of(failover.on_unreachable("down".into()));
        }
        match failover.on_unreachable("down".into()) {
            Next::GiveUp(unavailable) => assert_eq!(unavailable.attempts, 10),
            Next::Retry { .. } => panic!("must give up after 10 attempts"),
        }
    }
}
