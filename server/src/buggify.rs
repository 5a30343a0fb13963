//! Buggify (FoundationDB's name): named points in the server where a run of the simulation may
//! inject a delay, to shake out races that ordinary timing never produces. Off unless the
//! simulation switches it on for a run; then each point is *active* for the whole run with
//! probability 1/4 and, when active, fires on each pass with probability 1/4 (FoundationDB's
//! two levels; a point the run names active fires on every other pass), drawing from the
//! seeded random source so a run replays exactly.
//!
//! This is our own switch, not madsim's `buggify`: madsim's also delays every simulated connect
//! and send, which turns the whole network hostile instead of probing our code.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Point -> how often it fires on a pass in this run: 0 when inactive (decided at its first
/// pass, unless named active from the start).
static ACTIVE: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());

/// How often an active point fires on a pass; a point named active from the start fires more.
const FIRE_PROBABILITY: f64 = 0.25;
const NAMED_FIRE_PROBABILITY: f64 = 0.5;

/// The longest delay a point injects.
const DELAY_MS_MAX: u64 = 200;

/// Switches buggify on or off for the next run (and forgets which points were active).
pub fn enable(on: bool) {
    enable_with(on, &[]);
}

/// As [`enable`], with `points` active for the whole run (a simulation aiming at one race
/// keeps the point that widens it active instead of leaving it to the 1/4 draw).
pub fn enable_with(on: bool, points: &[String]) {
    ENABLED.store(on, Ordering::Relaxed);
    let mut active = ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    active.clear();
    active.extend((points.iter()).map(|point| (point.clone(), NAMED_FIRE_PROBABILITY)));
}

pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether `point` fires now.
// madsim's thread_rng is the run's seeded rng under `--cfg madsim`; real builds never enable
// buggify, so they never reach it.
#[allow(clippy::disallowed_methods)]
pub fn fires(point: &'static str) -> bool {
    use madsim::rand::Rng;
    if !is_enabled() {
        return false;
    }
    let mut rng = madsim::rand::thread_rng();
    let mut active = ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let probability = match active.get(point) {
        Some(probability) => *probability,
        None => *active.entry(point.to_string()).or_insert_with(|| {
            if rng.gen_bool(0.25) {
                FIRE_PROBABILITY
            } else {
                0.0
            }
        }),
    };
    probability > 0.0 && rng.gen_bool(probability)
}

/// Sleeps a random while at `point` when it fires.
#[allow(clippy::disallowed_methods)] // as in `fires`
pub async fn delay(point: &'static str) {
    if fires(point) {
        use madsim::rand::Rng;
        let millis = madsim::rand::thread_rng().gen_range(1..=DELAY_MS_MAX);
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
}
