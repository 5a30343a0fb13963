//! Random sequential executions of the OM model over small name pools (so that requests
//! collide: same volume created twice, commits racing deletes, lists seeing changes).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::checker::history::History;
use crate::checker::model::om::{
    BucketLayout, KeyInfo, OmModel, OmOp, OmOutcome, OmResponse, Quota, Replication,
};
use crate::checker::workload::{append_last, SequentialStep};

/// An owner no generated request sets.
pub const NEVER_WRITTEN_OWNER: &str = "never-written-owner";
/// A size no generated commit sets.
pub const NEVER_WRITTEN_SIZE: u64 = 777_777_777;

const BUCKETS: [&str; 2] = ["b-0", "b-1"];
const KEYS: [&str; 3] = ["k0", "k1", "k2"];
const OWNERS: [&str; 3] = ["alice", "bob", "carol"];
const SIZES: [u64; 5] = [0, 1, 100, 268_435_457, 1000];
const PREFIXES: [&str; 4] = ["", "k", "k1", "b-"];
const STARTS: [&str; 3] = ["", "k0", "b-0"];
const MAXES: [u64; 4] = [0, 1, 2, 1000];

/// What a generated execution looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OmWorkloadOptions {
    /// Volumes in the name pool (`vol-0`, `vol-1`, ...).
    pub volumes: usize,
    /// Whether `ListVolumes` is generated (it makes the history one part).
    pub list_volumes: bool,
    /// Percentage of requests whose answer is lost.
    pub indeterminate_percent: u32,
}

/// The generator's memory: the model and the opens whose id a client learned.
struct Generator {
    volumes: Vec<String>,
    options: OmWorkloadOptions,
    known_opens: Vec<(String, String, String, u64)>,
}

/// A random execution of `operations` requests.
pub fn om_steps(
    rng: &mut impl Rng,
    operations: usize,
    options: &OmWorkloadOptions,
) -> Vec<SequentialStep<OmOp, OmOutcome>> {
    let volumes = (0..options.volumes.max(1))
        .map(|n| format!("vol-{n}"))
        .collect();
    let mut generator = Generator {
        volumes,
        options: *options,
        known_opens: Vec::new(),
    };
    let mut model = OmModel::new();
    let mut steps = Vec::with_capacity(operations);
    for position in 0..operations {
        let op = generator.request(rng);
        let index = position as u64 + 1;
        let indeterminate = rng.gen_range(0..100) < options.indeterminate_percent;
        let output = if indeterminate {
            if rng.gen_bool(0.5) {
                // The answer is lost either way; only the effect on later answers matters.
                let _lost = model.apply(index, position as u64, &op);
            }
            None
        } else {
            let outcome = model.apply(index, position as u64, &op);
            if let (
                OmOp::OpenKey {
                    volume,
                    bucket,
                    key,
                    ..
                },
                Ok(OmResponse::KeyOpened { open_id, .. }),
            ) = (&op, &outcome)
            {
                generator
                    .known_opens
                    .push((volume.clone(), bucket.clone(), key.clone(), *open_id));
            }
            Some(outcome)
        };
        steps.push(SequentialStep { input: op, output });
    }
    steps
}

fn pick<T: Clone>(rng: &mut impl Rng, choices: &[T]) -> T {
    choices.choose(rng).expect("non-empty choices").clone()
}

impl Generator {
    fn volume(&self, rng: &mut impl Rng) -> String {
        if rng.gen_range(0..50) == 0 {
            return "Bad_Volume".to_string();
        }
        pick(rng, &self.volumes)
    }

    fn bucket(rng: &mut impl Rng) -> String {
        if rng.gen_range(0..50) == 0 {
            return "1.2.3.4".to_string();
        }
        pick(rng, &BUCKETS).to_string()
    }

    fn key(rng: &mut impl Rng) -> String {
        if rng.gen_range(0..50) == 0 {
            return String::new();
        }
        pick(rng, &KEYS).to_string()
    }

    fn size(rng: &mut impl Rng) -> u64 {
        if rng.gen_range(0..50) == 0 {
            return (1 << 40) + 1;
        }
        pick(rng, &SIZES)
    }

    fn quota(rng: &mut impl Rng) -> Quota {
        let limit = |rng: &mut dyn rand::RngCore, values: &[u64]| {
            if rng.gen_range(0..3) == 0 {
                values.choose(rng).copied()
            } else {
                None
            }
        };
        Quota {
            bytes: limit(rng, &[0, 300, 5000]),
            namespace: limit(rng, &[0, 1, 2]),
        }
    }

    fn request(&mut self, rng: &mut impl Rng) -> OmOp {
        let kinds = if self.options.list_volumes { 19 } else { 18 };
        match rng.gen_range(0..kinds) {
            0..=5 => self.namespace_request(rng),
            6..=17 => self.key_request(rng),
            _ => OmOp::ListVolumes {
                prefix: pick(rng, &["", "vol-", "vol-1"]).to_string(),
                start: pick(rng, &["", "vol-0"]).to_string(),
                max: pick(rng, &MAXES),
            },
        }
    }

    fn namespace_request(&self, rng: &mut impl Rng) -> OmOp {
        let volume = self.volume(rng);
        match rng.gen_range(0..11) {
            0 | 1 => OmOp::CreateVolume {
                volume,
                owner: pick(rng, &OWNERS).to_string(),
                quota: Generator::quota(rng),
            },
            2 => OmOp::VolumeInfo { volume },
            3 => OmOp::SetVolumeOwner {
                volume,
                owner: pick(rng, &OWNERS).to_string(),
            },
            4 => OmOp::SetVolumeQuota {
                volume,
                quota: Generator::quota(rng),
            },
            5 => OmOp::DeleteVolume { volume },
            6 | 7 => OmOp::CreateBucket {
                volume,
                bucket: Generator::bucket(rng),
                versioning: rng.gen_bool(0.5),
                layout: pick(
                    rng,
                    &[
                        BucketLayout::ObjectStore,
                        BucketLayout::FileSystemOptimized,
                        BucketLayout::Legacy,
                    ],
                ),
                quota: Generator::quota(rng),
            },
            8 => OmOp::BucketInfo {
                volume,
                bucket: Generator::bucket(rng),
            },
            9 => OmOp::SetBucketProperty {
                volume,
                bucket: Generator::bucket(rng),
                versioning: if rng.gen_bool(0.5) {
                    Some(rng.gen_bool(0.5))
                } else {
                    None
                },
                quota: if rng.gen_bool(0.5) {
                    Some(Generator::quota(rng))
                } else {
                    None
                },
            },
            _ => {
                if rng.gen_bool(0.5) {
                    OmOp::DeleteBucket {
                        volume,
                        bucket: Generator::bucket(rng),
                    }
                } else {
                    let (prefix, start) = (
                        pick(rng, &PREFIXES).to_string(),
                        pick(rng, &STARTS).to_string(),
                    );
                    OmOp::ListBuckets {
                        volume,
                        prefix,
                        start,
                        max: pick(rng, &MAXES),
                    }
                }
            }
        }
    }

    fn key_request(&self, rng: &mut impl Rng) -> OmOp {
        let (volume, bucket, key) = (
            self.volume(rng),
            Generator::bucket(rng),
            Generator::key(rng),
        );
        let (prefix, start, max) = (
            pick(rng, &PREFIXES).to_string(),
            pick(rng, &STARTS).to_string(),
            pick(rng, &MAXES),
        );
        match rng.gen_range(0..12) {
            0..=2 => {
                let replication = pick(rng, &[Replication::RatisOne, Replication::RatisThree]);
                let metadata = if rng.gen_bool(0.3) {
                    BTreeMap::from([("tag".to_string(), pick(rng, &OWNERS).to_string())])
                } else {
                    BTreeMap::new()
                };
                OmOp::OpenKey {
                    volume,
                    bucket,
                    key,
                    size: Generator::size(rng),
                    replication,
                    metadata,
                }
            }
            3..=5 => self.commit_request(rng),
            6 | 7 => OmOp::LookupKey {
                volume,
                bucket,
                key,
            },
            8 => OmOp::ListKeys {
                volume,
                bucket,
                prefix,
                start,
                max,
            },
            9 => OmOp::ListOpenKeys {
                volume,
                bucket,
                prefix,
                start,
                max,
            },
            10 => OmOp::RenameKey {
                volume,
                bucket,
                from_key: key,
                to_key: Generator::key(rng),
            },
            _ => OmOp::DeleteKey {
                volume,
                bucket,
                key,
            },
        }
    }

    fn commit_request(&self, rng: &mut impl Rng) -> OmOp {
        let size = Generator::size(rng);
        match self.known_opens.choose(rng) {
            Some((volume, bucket, key, open_id)) if rng.gen_range(0..10) > 0 => OmOp::CommitKey {
                volume: volume.clone(),
                bucket: bucket.clone(),
                key: key.clone(),
                open_id: *open_id,
                size,
            },
            _ => OmOp::CommitKey {
                volume: self.volume(rng),
                bucket: Generator::bucket(rng),
                key: Generator::key(rng),
                open_id: 999_999_999,
                size,
            },
        }
    }
}

/// Changes one successful read (`VolumeInfo`, `LookupKey`, non-empty `ListKeys`) to show a value
/// no request ever wrote (appending such a read when there is none).
pub fn corrupt_one_read(history: &mut History<OmOp, OmOutcome>, rng: &mut impl Rng) {
    let candidates: Vec<usize> = history
        .operations
        .iter()
        .enumerate()
        .filter(|(_, operation)| is_corruptible(operation.output.as_ref()))
        .map(|(index, _)| index)
        .collect();
    let Some(&chosen) = candidates.choose(rng) else {
        let lookup = OmOp::LookupKey {
            volume: "vol-0".into(),
            bucket: "b-0".into(),
            key: "never-written-key".into(),
        };
        let key = never_written_key();
        append_last(history, lookup, Ok(OmResponse::Key(key)));
        return;
    };
    match history.operations[chosen].output.as_mut() {
        Some(Ok(OmResponse::Volume(info))) => info.owner = NEVER_WRITTEN_OWNER.to_string(),
        Some(Ok(OmResponse::Key(info))) => info.size = NEVER_WRITTEN_SIZE,
        Some(Ok(OmResponse::Keys(keys))) => keys[0].size = NEVER_WRITTEN_SIZE,
        _ => unreachable!("chosen among corruptible reads"),
    }
}

fn is_corruptible(output: Option<&OmOutcome>) -> bool {
    match output {
        Some(Ok(OmResponse::Volume(_) | OmResponse::Key(_))) => true,
        Some(Ok(OmResponse::Keys(keys))) => !keys.is_empty(),
        _ => false,
    }
}

fn never_written_key() -> KeyInfo {
    KeyInfo {
        volume: "vol-0".into(),
        bucket: "b-0".into(),
        name: "never-written-key".into(),
        size: NEVER_WRITTEN_SIZE,
        replication: Replication::RatisOne,
        block_ids: Vec::new(),
        metadata: BTreeMap::new(),
        creation_time_ms: 0,
        modification_time_ms: 0,
        object_id: 0,
        update_id: 0,
    }
}
