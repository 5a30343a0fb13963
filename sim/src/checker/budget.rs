//! How long a check may run before it answers `unknown`.
//!
//! The checker runs outside the simulation (after `block_on` returns), on real time: the budget
//! is wall-clock time by design, and it never influences a verdict other than turning a search
//! that would not finish into `unknown`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A wall-clock deadline, and a cancellation: the lowest index of a part already refuted (a
/// part with a higher index need not finish; lower ones do, so the part that explains the
/// verdict does not depend on thread timing).
#[derive(Debug)]
pub struct Budget<'a> {
    deadline: Option<Instant>,
    lowest_refuted_part: &'a AtomicUsize,
    part: usize,
}

/// The result of asking a budget whether to go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetState {
    /// Keep searching.
    Continue,
    /// Out of time: answer `unknown`.
    Exhausted,
    /// Another part already decided the verdict: stop without an answer.
    Cancelled,
}

impl<'a> Budget<'a> {
    /// A budget for part `part` ending at `deadline` (`None`: never).
    pub fn new(
        deadline: Option<Instant>,
        lowest_refuted_part: &'a AtomicUsize,
        part: usize,
    ) -> Self {
        Budget {
            deadline,
            lowest_refuted_part,
            part,
        }
    }

    /// Whether the search may go on.
    pub fn state(&self) -> BudgetState {
        if self.lowest_refuted_part.load(Ordering::Relaxed) < self.part {
            return BudgetState::Cancelled;
        }
        match self.deadline {
            Some(deadline) if wall_clock_now() >= deadline => BudgetState::Exhausted,
            _ => BudgetState::Continue,
        }
    }
}

/// The deadline `limit` from now.
pub fn deadline_after(limit: Option<Duration>) -> Option<Instant> {
    limit.map(|limit| wall_clock_now() + limit)
}

/// Wall-clock time, for the budget and the benchmark only (never inside a simulation).
#[allow(clippy::disallowed_methods)] // The checker runs outside the simulation; see module doc.
pub fn wall_clock_now() -> Instant {
    Instant::now()
}
