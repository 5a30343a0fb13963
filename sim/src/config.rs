//! The whole run derived from one seed: cluster size, server knobs, buggify, phase lengths,
//! the fault schedule and the workload. A `Case` is that derivation written down: saved as JSON
//! it replays without the generator (and a shrunk case is just a smaller one).

use crate::nemesis::generate::{schedule, ScheduleOptions};
use crate::nemesis::Schedule;
use crate::preset::{Preset, Reads};
use crate::workload::generate::{workload, WorkloadOptions};
use crate::workload::Workload;
use om_server::node::ReadOption;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Server settings a seed may shrink to reach rare paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Knobs {
    pub read_option: ReadOption,
    /// `ozone.om.ratis.snapshot.auto.trigger.threshold`.
    pub snapshot_entries_threshold: u64,
    /// `ozone.om.unflushed.transaction.max.count`.
    pub unflushed_transactions_max: usize,
    pub retry_cache_expiry_ms: u64,
    /// `ozone.om.double.buffer.flush.interval` (a case saved before it existed flushed
    /// eagerly: 0).
    #[serde(default)]
    pub flush_interval_ms: u64,
}

/// How the client library retries (simulated time is cheap, but an endless retry hides a dead
/// cluster: the budget is bounded and the liveness phase judges availability).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPolicy {
    pub attempts_max: u32,
    pub wait_between_retries_ms: u64,
    pub call_timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    pub nodes: u64,
    pub knobs: Knobs,
    /// Server buggify points (delays in flush, apply, RPC handling) are on.
    pub buggify: bool,
    /// Buggify points active for the whole run (the others are drawn at their first pass).
    #[serde(default)]
    pub buggify_active: Vec<String>,
    /// The fault window.
    pub safety_ms: u64,
    /// After healing: a leader and `liveness_writes` completed writes within this bound.
    pub liveness_ms: u64,
    pub liveness_writes: u64,
    pub client: ClientPolicy,
}

/// One run, replayable: the seed drives madsim's scheduler; the rest is explicit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub seed: u64,
    pub preset: String,
    pub config: RunConfig,
    pub schedule: Schedule,
    pub workload: Workload,
    /// A defect planted in the server for this run (the bug zoo; `om-sim selftest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defect: Option<om_server::bug_zoo::Defect>,
    /// The seed this case was generated from, when shrinking ran it under another scheduler
    /// seed (`om-sim run --seed` of this one replays the failure before shrinking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_from: Option<u64>,
}

/// Separates the generator's random stream from madsim's (both start from the seed).
const GENERATOR_SALT: u64 = 0x6f6d_2d73_696d_2d67;

/// A stream of its own for knobs added later, so that adding one leaves every seed's schedule
/// and workload as they were.
const KNOBS_SALT: u64 = 0x6b6e_6f62_732d_3031;

/// Knobs drawn from the knobs stream: `(flush_interval_ms, retry_cache_expiry_ms)`.
///
/// The flusher's interval: Ozone's eager flusher, the default, or anything up to 50 ms (a long
/// interval keeps many entries in the cache only, the window the double buffer's bugs need).
///
/// The retry-cache expiry: Ozone's 300 s (nothing expires within a run) or, for two seeds in
/// five, 5-8 times the longest a client's call can keep retrying, with that call cut to a few
/// short attempts, so that rows expire and are evicted within the run. A client then retries a
/// write for at most a quarter of the expiry, then leaves it unknown for good and goes on as a
/// new client instance ([`Knobs::retry_window_ms`]); clocks stay within a quarter each way: no
/// retry can reach an evicted row, which would rightly be applied again.
fn draw_later_knobs(seed: u64, client: &mut ClientPolicy) -> (u64, u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ KNOBS_SALT);
    let flush_interval_ms = match rng.gen_range(0..3) {
        0 => 0,
        1 => om_server::limits::FLUSH_INTERVAL_MS_DEFAULT,
        _ => rng.gen_range(1..=50),
    };
    let default_expiry_ms = om_server::retry_cache::RETRY_CACHE_EXPIRY_MS_DEFAULT;
    let retry_cache_expiry_ms = if rng.gen_bool(0.4) {
        client.attempts_max = client.attempts_max.min(rng.gen_range(2..=4));
        client.call_timeout_ms = client.call_timeout_ms.min(rng.gen_range(300..=800));
        let call_ms = u64::from(client.attempts_max)
            * (client.wait_between_retries_ms + client.call_timeout_ms);
        rng.gen_range(5 * call_ms..=8 * call_ms)
            .min(default_expiry_ms)
    } else {
        default_expiry_ms
    };
    (flush_interval_ms, retry_cache_expiry_ms)
}

impl Knobs {
    /// How long a client retries a write whose answer was lost, or `None` for as long as the
    /// run lasts, with a resend of what is still unanswered after the heal (Ozone's default
    /// expiry outlasts any run).
    pub fn retry_window_ms(&self) -> Option<u64> {
        let default_expiry_ms = om_server::retry_cache::RETRY_CACHE_EXPIRY_MS_DEFAULT;
        (self.retry_cache_expiry_ms < default_expiry_ms).then_some(self.retry_cache_expiry_ms / 4)
    }
}

impl RunConfig {
    pub fn draw(rng: &mut impl Rng, preset: &Preset, seed: u64) -> RunConfig {
        let read_option = match preset.reads {
            Reads::Default => ReadOption::Default,
            Reads::Linearizable => ReadOption::Linearizable,
            Reads::Either if rng.gen_bool(0.5) => ReadOption::Default,
            Reads::Either => ReadOption::Linearizable,
        };
        let snapshot_entries_threshold = if preset.small_snapshots && rng.gen_bool(0.7) {
            rng.gen_range(20..300)
        } else {
            400_000
        };
        let unflushed_transactions_max = if preset.small_unflushed && rng.gen_bool(0.7) {
            rng.gen_range(1..16)
        } else {
            10_000
        };
        // Drawn in this order (the seed's meaning depends on it).
        let nodes = if rng.gen_bool(0.7) { 3 } else { 5 };
        let buggify = preset.buggify && rng.gen_bool(0.5);
        let safety_ms = rng.gen_range(20_000..40_000);
        let mut client = ClientPolicy {
            attempts_max: rng.gen_range(3..30),
            wait_between_retries_ms: rng.gen_range(10..300),
            call_timeout_ms: rng.gen_range(300..2_000),
        };
        let (flush_interval_ms, retry_cache_expiry_ms) = draw_later_knobs(seed, &mut client);
        RunConfig {
            nodes,
            knobs: Knobs {
                read_option,
                snapshot_entries_threshold,
                unflushed_transactions_max,
                retry_cache_expiry_ms,
                flush_interval_ms,
            },
            buggify,
            buggify_active: (preset.buggify_active.iter())
                .map(|point| point.to_string())
                .collect(),
            safety_ms,
            liveness_ms: 30_000,
            liveness_writes: 3,
            client,
        }
    }
}

impl Case {
    /// The seed `om-sim run --seed` generates this case (before any shrinking) from.
    pub fn generated_seed(&self) -> u64 {
        self.generated_from.unwrap_or(self.seed)
    }

    /// Everything `seed` means under `preset`.
    pub fn generate(preset: &Preset, seed: u64) -> Case {
        let mut rng = StdRng::seed_from_u64(seed ^ GENERATOR_SALT);
        let config = RunConfig::draw(&mut rng, preset, seed);
        // Two nodes skewed in opposite directions plus the time until unresolved writes are resent
        // stay within the retry-cache expiry (a resend after expiry is applied again).
        let clock_offset_max_ms = config.knobs.retry_cache_expiry_ms / 4;
        let schedule_options = ScheduleOptions::draw(
            &mut rng,
            preset.kinds,
            config.safety_ms,
            config.nodes,
            clock_offset_max_ms,
        );
        let schedule = schedule(&mut rng, &schedule_options);
        let workload_options = WorkloadOptions::draw(&mut rng, config.nodes, config.safety_ms);
        let workload = workload(&mut rng, &workload_options);
        Case {
            seed,
            preset: preset.name.to_string(),
            config,
            schedule,
            workload,
            defect: None,
            generated_from: None,
        }
    }
}
