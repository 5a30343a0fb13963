//! Model-based test of the server's state machine: random request sequences go through the
//! whole apply pipeline of one replica (om::apply over the table cache, double buffer, simulated
//! disk with slow syncs so reads cross cache and store) and through the reference model written
//! independently in `checker::model::om`. Every answer and the final state must be identical,
//! also after the replica reopens from its disk.

use om_sim::apply_comparison::{
    compare, model_outcomes, resolve_commits, setup_ops, Pacing, LAST_OPEN,
};
use om_sim::checker::model::om::{BucketLayout, OmErrorCode, OmOp, Quota, Replication};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn name(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(pool).prop_map(str::to_string)
}

/// Mostly valid names, sometimes an invalid one (every error path, without drowning the rest).
fn pick(
    valid: &'static [&'static str],
    invalid: &'static [&'static str],
) -> impl Strategy<Value = String> {
    prop_oneof![12 => name(valid), 1 => name(invalid)]
}

const VOLUMES: &[&str] = &["vol-a", "vol.c"];
const BAD_VOLUMES: &[&str] = &["Bad", "ab"];
const BUCKETS: &[&str] = &["buck", "bucket-2"];
const BAD_BUCKETS: &[&str] = &["b", "10.1.1.1"];
const KEYS: &[&str] = &["k", "k1", "k/2", "dir/k", "z"];
const BAD_KEYS: &[&str] = &[""];
const PREFIXES: &[&str] = &["", "k", "vol", "b", "dir/", "zz"];

fn quota() -> impl Strategy<Value = Quota> {
    let bytes = proptest::option::weighted(0.3, 0u64..1200);
    let namespace = proptest::option::weighted(0.3, 0u64..4);
    (bytes, namespace).prop_map(|(bytes, namespace)| Quota { bytes, namespace })
}

fn list_args() -> impl Strategy<Value = (String, String, u64)> {
    (
        name(PREFIXES),
        prop_oneof![
            Just(String::new()),
            name(KEYS),
            name(VOLUMES),
            name(BUCKETS)
        ],
        0u64..5,
    )
}

fn op() -> impl Strategy<Value = OmOp> {
    let volume = || pick(VOLUMES, BAD_VOLUMES);
    let bucket = || pick(BUCKETS, BAD_BUCKETS);
    let key = || pick(KEYS, BAD_KEYS);
    let replication =
        proptest::sample::select(vec![Replication::RatisOne, Replication::RatisThree]);
    let layout = proptest::sample::select(vec![
        BucketLayout::ObjectStore,
        BucketLayout::FileSystemOptimized,
        BucketLayout::Legacy,
    ]);
    let size = prop_oneof![16 => 0u64..200, 2 => Just(300 << 20), 1 => Just((1 << 40) + 1)];
    let metadata = proptest::collection::btree_map(name(&["a", "b"]), name(&["x", "y"]), 0..2);
    prop_oneof![
        3 => (volume(), name(&["alice", "bob"]), quota()).prop_map(|(volume, owner, quota)| OmOp::CreateVolume { volume, owner, quota }),
        1 => volume().prop_map(|volume| OmOp::VolumeInfo { volume }),
        1 => (volume(), name(&["carol"])).prop_map(|(volume, owner)| OmOp::SetVolumeOwner { volume, owner }),
        1 => (volume(), quota()).prop_map(|(volume, quota)| OmOp::SetVolumeQuota { volume, quota }),
        1 => volume().prop_map(|volume| OmOp::DeleteVolume { volume }),
        1 => list_args().prop_map(|(prefix, start, max)| OmOp::ListVolumes { prefix, start, max }),
        3 => (volume(), bucket(), any::<bool>(), layout, quota()).prop_map(|(volume, bucket, versioning, layout, quota)| {
            OmOp::CreateBucket { volume, bucket, versioning, layout, quota }
        }),
        1 => (volume(), bucket()).prop_map(|(volume, bucket)| OmOp::BucketInfo { volume, bucket }),
        1 => (volume(), bucket(), proptest::option::of(any::<bool>()), proptest::option::of(quota())).prop_map(
            |(volume, bucket, versioning, quota)| OmOp::SetBucketProperty { volume, bucket, versioning, quota }
        ),
        1 => (volume(), bucket()).prop_map(|(volume, bucket)| OmOp::DeleteBucket { volume, bucket }),
        1 => (volume(), list_args()).prop_map(|(volume, (prefix, start, max))| OmOp::ListBuckets { volume, prefix, start, max }),
        5 => (volume(), bucket(), key(), size.clone(), replication, metadata).prop_map(
            |(volume, bucket, key, size, replication, metadata)| OmOp::OpenKey { volume, bucket, key, size, replication, metadata }
        ),
        5 => (volume(), bucket(), key(), prop_oneof![3 => Just(LAST_OPEN), 1 => 1u64..60], size).prop_map(|(volume, bucket, key, open_id, size)| {
            OmOp::CommitKey { volume, bucket, key, open_id, size }
        }),
        2 => (volume(), bucket(), key()).prop_map(|(volume, bucket, key)| OmOp::LookupKey { volume, bucket, key }),
        2 => (volume(), bucket(), list_args()).prop_map(|(volume, bucket, (prefix, start, max))| {
            OmOp::ListKeys { volume, bucket, prefix, start, max }
        }),
        1 => (volume(), bucket(), list_args()).prop_map(|(volume, bucket, (prefix, start, max))| {
            OmOp::ListOpenKeys { volume, bucket, prefix, start, max }
        }),
        2 => (volume(), bucket(), key(), key()).prop_map(|(volume, bucket, from_key, to_key)| {
            OmOp::RenameKey { volume, bucket, from_key, to_key }
        }),
        2 => (volume(), bucket(), key()).prop_map(|(volume, bucket, key)| OmOp::DeleteKey { volume, bucket, key }),
    ]
}

/// Some volumes and buckets first (in order, without quotas), so that later requests mostly
/// meet existing parents.
fn setup() -> impl Strategy<Value = Vec<OmOp>> {
    proptest::sample::subsequence(setup_ops(), 0..=5)
}

fn sequence() -> impl Strategy<Value = Vec<OmOp>> {
    (setup(), proptest::collection::vec(op(), 1..80)).prop_map(|(mut ops, more)| {
        ops.extend(more);
        ops
    })
}

async fn run(ops: Vec<OmOp>, pauses: Vec<bool>) {
    let pacing = Pacing {
        sync_latency: Duration::from_millis(3),
        pauses,
        pause: Duration::from_millis(2),
    };
    compare(&resolve_commits(&ops), &pacing).await;
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    #[cfg(madsim)]
    {
        madsim::runtime::Runtime::new().block_on(future)
    }
    #[cfg(not(madsim))]
    {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(future)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn server_state_machine_matches_reference_model(
        ops in sequence(),
        pauses in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        block_on(run(ops, pauses));
    }
}

/// The generator reaches the interesting answers (a sanity check of the test itself).
#[test]
fn generated_sequences_reach_successes_and_errors() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..200 {
        let ops = sequence().new_tree(&mut runner).unwrap().current();
        for outcome in model_outcomes(&resolve_commits(&ops)) {
            let label = match outcome {
                Ok(response) => format!("{:?}", std::mem::discriminant(&response)),
                Err(code) => code.code().to_string(),
            };
            *outcomes.entry(label).or_default() += 1;
        }
    }
    for code in OmErrorCode::ALL {
        assert!(
            outcomes.contains_key(code.code()),
            "no {code} in {outcomes:?}"
        );
    }
    assert!(outcomes.len() >= OmErrorCode::ALL.len() + 5, "{outcomes:?}");
}
