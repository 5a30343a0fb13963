//! Shrinking: a proptest `Strategy` over cases (fault schedule + workload under a seed) whose
//! value tree starts at the generated case and simplifies it towards fewer fault actions,
//! shorter faults and fewer client steps: chunks of actions dropped (halves, quarters,
//! eighths), single actions kept alone or dropped, then the single-action moves again under a
//! few other scheduler seeds (dropping a fault shifts every later timing). proptest keeps a simplification only while the run
//! still fails, so the last failing case it saw is the minimal one.
//!
//! `cargo test` drives it through `proptest!` (random seeds, `PROPTEST_CASES`, the regression
//! file); `om-sim shrink` drives it from one known failing seed.

use crate::config::Case;
use crate::preset::Preset;
use proptest::strategy::{NewTree, Strategy, ValueTree};
use proptest::test_runner::TestRunner;

/// A fault is not shortened below this.
const DURATION_MS_MIN: u64 = 50;

/// Other scheduler seeds single-action moves are tried under once they fail to reproduce under
/// the case's own seed (see `Simplification::DropActionReseeded`).
const RESEEDS: u64 = 3;

/// One way to make a case simpler.
#[derive(Clone, Copy, Debug)]
enum Simplification {
    /// Switch off the acting actions `[start, end)` (counted among those still acting).
    DropActions {
        start: usize,
        end: usize,
    },
    /// Switch off one acting action and run under another scheduler seed. Removing an action
    /// shifts every later timing, so a failure that needs only some of the faults can vanish
    /// for timing alone; the same schedule and workload under other interleavings keep the
    /// faults that matter (FoundationDB and VOPR shrink over seeds as well). The workload and
    /// the faults stay data: only madsim's scheduling draws change.
    DropActionReseeded {
        action: usize,
        reseed: u64,
    },
    /// Keep one acting action only (delta debugging's subset test: a failure that needs one
    /// fault finds it in `n` runs), under the case's seed (`reseed` 0) or another one.
    KeepOnly {
        action: usize,
        reseed: u64,
    },
    HalveDuration {
        action: usize,
    },
    /// Keep only the first `length` steps of a client.
    TruncateClient {
        client: usize,
        length: usize,
    },
}

fn simplifications(case: &Case) -> Vec<Simplification> {
    // Over the actions that still act: positions index `enabled`.
    let enabled = case.schedule.enabled_positions();
    let count = enabled.len();
    let mut list = Vec::new();
    // Halves, quarters, eighths, then single actions (delta debugging's granularities): a
    // failure that needs a few actions scattered through the schedule sheds the rest in chunks.
    for parts in [2, 4, 8] {
        if count < parts {
            break;
        }
        for part in (0..parts).rev() {
            list.push(Simplification::DropActions {
                start: count * part / parts,
                end: count * (part + 1) / parts,
            });
        }
    }
    let keep_only = |list: &mut Vec<Simplification>, reseed| {
        if count > 1 {
            list.extend((0..count).map(|action| Simplification::KeepOnly { action, reseed }));
        }
    };
    keep_only(&mut list, 0);
    for action in (0..count).rev() {
        list.push(Simplification::DropActions {
            start: action,
            end: action + 1,
        });
    }
    for reseed in 1..=RESEEDS {
        keep_only(&mut list, reseed);
        for action in (0..count).rev() {
            list.push(Simplification::DropActionReseeded { action, reseed });
        }
    }
    for (client, plan) in case.workload.clients.iter().enumerate() {
        let length = plan.steps.len();
        for kept in [0, length / 2, length * 3 / 4] {
            if kept < length {
                list.push(Simplification::TruncateClient {
                    client,
                    length: kept,
                });
            }
        }
    }
    for &action in &enabled {
        if case.schedule.actions[action].duration_ms / 2 >= DURATION_MS_MIN {
            list.push(Simplification::HalveDuration { action });
        }
    }
    list
}

fn simplified(case: &Case, simplification: Simplification) -> Case {
    let mut case = case.clone();
    match simplification {
        Simplification::DropActions { start, end } => {
            // `start..end` count the acting actions; switch those off in place.
            for position in case.schedule.enabled_positions()[start..end].to_vec() {
                case.schedule.actions[position].disabled = true;
            }
        }
        Simplification::DropActionReseeded { action, reseed } => {
            let position = case.schedule.enabled_positions()[action];
            case.schedule.actions[position].disabled = true;
            reseed_case(&mut case, reseed);
        }
        Simplification::KeepOnly { action, reseed } => {
            let enabled = case.schedule.enabled_positions();
            for (other, position) in enabled.into_iter().enumerate() {
                case.schedule.actions[position].disabled = other != action;
            }
            reseed_case(&mut case, reseed);
        }
        Simplification::HalveDuration { action } => {
            case.schedule.actions[action].duration_ms /= 2;
        }
        Simplification::TruncateClient { client, length } => {
            case.workload.clients[client].steps.truncate(length);
        }
    }
    case
}

/// Runs `case` under its `n`th other scheduler seed (none for 0), remembering the seed it was
/// generated from.
fn reseed_case(case: &mut Case, n: u64) {
    if n > 0 {
        case.generated_from.get_or_insert(case.seed);
        case.seed = reseeded(case.seed, n);
    }
}

/// The `n`th other scheduler seed tried after `seed` (splitmix64's mixer: far from `seed`, and
/// the same on every machine, so a shrink replays).
fn reseeded(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The value tree: `accepted` is the simplest case known to fail; `current` is on trial.
pub struct CaseTree {
    accepted: Case,
    current: Case,
    candidates: Vec<Simplification>,
    next: usize,
}

impl CaseTree {
    pub fn new(case: Case) -> CaseTree {
        CaseTree {
            candidates: Vec::new(),
            next: 0,
            accepted: case.clone(),
            current: case,
        }
    }

    fn try_next(&mut self) -> bool {
        match self.candidates.get(self.next) {
            Some(&simplification) => {
                self.next += 1;
                self.current = simplified(&self.accepted, simplification);
                true
            }
            None => {
                self.current = self.accepted.clone();
                false
            }
        }
    }
}

impl ValueTree for CaseTree {
    type Value = Case;

    fn current(&self) -> Case {
        self.current.clone()
    }

    /// The current case failed: it becomes the one to simplify further.
    fn simplify(&mut self) -> bool {
        self.accepted = self.current.clone();
        self.candidates = simplifications(&self.accepted);
        self.next = 0;
        self.try_next()
    }

    /// The current trial passed: try the next simplification of the accepted case.
    fn complicate(&mut self) -> bool {
        self.try_next()
    }
}

/// Cases of one preset for the seeds a seed strategy draws.
#[derive(Debug)]
pub struct CaseStrategy<S> {
    pub preset: &'static Preset,
    pub seeds: S,
}

impl<S: Strategy<Value = u64>> Strategy for CaseStrategy<S> {
    type Tree = CaseTree;
    type Value = Case;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let seed = self.seeds.new_tree(runner)?.current();
        Ok(CaseTree::new(Case::generate(self.preset, seed)))
    }
}

impl std::fmt::Debug for CaseTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CaseTree(seed {}, {} actions)",
            self.current.seed,
            self.current.schedule.len()
        )
    }
}

/// Shrinks `case` while `fails` holds; every failing candidate is passed to `on_failure` as it
/// is found (the last one is the minimal case), which is also returned.
pub fn shrink(
    case: Case,
    iterations_max: u32,
    fails: impl Fn(&Case) -> bool,
    mut on_failure: impl FnMut(&Case),
) -> Case {
    let mut tree = CaseTree::new(case);
    let mut minimal = tree.current();
    let mut iterations = 0;
    if !tree.simplify() {
        return minimal;
    }
    while iterations < iterations_max {
        iterations += 1;
        let candidate = tree.current();
        let step = if fails(&candidate) {
            on_failure(&candidate);
            minimal = candidate;
            tree.simplify()
        } else {
            tree.complicate()
        };
        if !step {
            break;
        }
    }
    minimal
}
