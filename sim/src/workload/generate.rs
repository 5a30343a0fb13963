//! Swarm generation of workloads: each seed draws its own client count, pace and request mix
//! (some kinds switched off), over a namespace small enough that requests keep colliding.

use super::{ClientPlan, ReadRoute, Step, TimedStep, Workload};
use om_server::om::{BucketLayout, OmRequest, Quota, Replication};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const VOLUMES: [&str; 3] = ["vol-a", "vol-b", "vol-c"];
const BUCKETS: [&str; 2] = ["bkt-1", "bkt-2"];
const KEYS: [&str; 3] = ["k1", "k2", "k3"];
const OWNERS: [&str; 2] = ["alice", "bob"];
const PREFIXES: [&str; 4] = ["", "k", "k2", "vol-"];
const STARTS: [&str; 4] = ["", "k1", "bkt-1", "vol-a"];

/// The request kinds a workload mixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RequestKind {
    CreateVolume,
    VolumeInfo,
    SetVolumeOwner,
    SetVolumeQuota,
    DeleteVolume,
    ListVolumes,
    CreateBucket,
    BucketInfo,
    SetBucketProperty,
    DeleteBucket,
    ListBuckets,
    PutKey,
    OpenKey,
    LookupKey,
    ListKeys,
    ListOpenKeys,
    RenameKey,
    DeleteKey,
}

impl RequestKind {
    const ALL: [RequestKind; 18] = [
        RequestKind::CreateVolume,
        RequestKind::VolumeInfo,
        RequestKind::SetVolumeOwner,
        RequestKind::SetVolumeQuota,
        RequestKind::DeleteVolume,
        RequestKind::ListVolumes,
        RequestKind::CreateBucket,
        RequestKind::BucketInfo,
        RequestKind::SetBucketProperty,
        RequestKind::DeleteBucket,
        RequestKind::ListBuckets,
        RequestKind::PutKey,
        RequestKind::OpenKey,
        RequestKind::LookupKey,
        RequestKind::ListKeys,
        RequestKind::ListOpenKeys,
        RequestKind::RenameKey,
        RequestKind::DeleteKey,
    ];

    /// Weight before the swarm draw: creates and key writes dominate so state builds up.
    fn base_weight(self) -> u32 {
        match self {
            RequestKind::CreateVolume | RequestKind::CreateBucket => 6,
            RequestKind::PutKey => 10,
            RequestKind::LookupKey | RequestKind::BucketInfo | RequestKind::VolumeInfo => 5,
            RequestKind::DeleteVolume | RequestKind::DeleteBucket => 1,
            _ => 3,
        }
    }
}

/// What a seed drew for its workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadOptions {
    pub clients: usize,
    pub steps_per_client: usize,
    pub think_ms_max: u64,
    /// Volumes of the namespace in use (1..=3).
    pub volumes: usize,
    /// Kind -> weight; absent kinds are never generated.
    pub weights: BTreeMap<RequestKind, u32>,
    /// Per mille of steps that restart the client.
    pub restart_permille: u32,
    pub nodes: u64,
}

impl WorkloadOptions {
    pub fn draw(rng: &mut impl Rng, nodes: u64, safety_ms: u64) -> WorkloadOptions {
        let clients = rng.gen_range(2..=6);
        let think_ms_max = rng.gen_range(50..600);
        // Enough steps to keep the clients busy through the fault window.
        let steps_per_client = (safety_ms / (think_ms_max / 2 + 40)).clamp(10, 120) as usize;
        let mut weights = BTreeMap::new();
        for kind in RequestKind::ALL {
            // Swarm: a kind is off in a quarter of the seeds (never the creates: without them
            // nothing else has anything to touch).
            let essential = matches!(
                kind,
                RequestKind::CreateVolume | RequestKind::CreateBucket | RequestKind::PutKey
            );
            if essential || rng.gen_bool(0.75) {
                weights.insert(kind, kind.base_weight() * rng.gen_range(1..=3));
            }
        }
        WorkloadOptions {
            clients,
            steps_per_client,
            think_ms_max,
            volumes: rng.gen_range(1..=VOLUMES.len()),
            weights,
            restart_permille: rng.gen_range(0..40),
            nodes,
        }
    }
}

fn pick(rng: &mut impl Rng, names: &[&str]) -> String {
    names.choose(rng).expect("non-empty names").to_string()
}

struct Names<'o> {
    options: &'o WorkloadOptions,
}

impl Names<'_> {
    fn volume(&self, rng: &mut impl Rng) -> String {
        pick(rng, &VOLUMES[..self.options.volumes])
    }

    fn quota(rng: &mut impl Rng) -> Quota {
        Quota {
            bytes: rng.gen_bool(0.3).then(|| rng.gen_range(0..20_000)),
            namespace: rng.gen_bool(0.3).then(|| rng.gen_range(0..4)),
        }
    }

    fn step(&self, rng: &mut impl Rng, kind: RequestKind) -> Step {
        let volume = self.volume(rng);
        let bucket = pick(rng, &BUCKETS);
        let key = pick(rng, &KEYS);
        let prefix = pick(rng, &PREFIXES);
        let start = pick(rng, &STARTS);
        let max = *[0usize, 1, 2, 1000].choose(rng).expect("non-empty");
        let request = match kind {
            RequestKind::CreateVolume => OmRequest::CreateVolume {
                volume,
                owner: pick(rng, &OWNERS),
                quota: if rng.gen_bool(0.2) {
                    Self::quota(rng)
                } else {
                    Quota::default()
                },
            },
            RequestKind::VolumeInfo => OmRequest::VolumeInfo { volume },
            RequestKind::SetVolumeOwner => OmRequest::SetVolumeOwner {
                volume,
                owner: pick(rng, &OWNERS),
            },
            RequestKind::SetVolumeQuota => OmRequest::SetVolumeQuota {
                volume,
                quota: Self::quota(rng),
            },
            RequestKind::DeleteVolume => OmRequest::DeleteVolume { volume },
            RequestKind::ListVolumes => OmRequest::ListVolumes { prefix, start, max },
            RequestKind::CreateBucket => OmRequest::CreateBucket {
                volume,
                bucket,
                versioning: rng.gen_bool(0.5),
                layout: BucketLayout::ObjectStore,
                quota: if rng.gen_bool(0.2) {
                    Self::quota(rng)
                } else {
                    Quota::default()
                },
            },
            RequestKind::BucketInfo => OmRequest::BucketInfo { volume, bucket },
            RequestKind::SetBucketProperty => OmRequest::SetBucketProperty {
                volume,
                bucket,
                versioning: rng.gen_bool(0.5).then(|| rng.gen_bool(0.5)),
                quota: rng.gen_bool(0.5).then(|| Self::quota(rng)),
            },
            RequestKind::DeleteBucket => OmRequest::DeleteBucket { volume, bucket },
            RequestKind::ListBuckets => OmRequest::ListBuckets {
                volume,
                prefix,
                start,
                max,
            },
            RequestKind::PutKey => {
                return Step::PutKey {
                    volume,
                    bucket,
                    key,
                    size: rng.gen_range(0..3_000),
                }
            }
            RequestKind::OpenKey => OmRequest::OpenKey {
                volume,
                bucket,
                key,
                size: rng.gen_range(0..3_000),
                replication: Replication::RatisThree,
                metadata: BTreeMap::new(),
            },
            RequestKind::LookupKey => OmRequest::LookupKey {
                volume,
                bucket,
                key,
            },
            RequestKind::ListKeys => OmRequest::ListKeys {
                volume,
                bucket,
                prefix,
                start,
                max,
            },
            RequestKind::ListOpenKeys => OmRequest::ListOpenKeys {
                volume,
                bucket,
                prefix,
                start,
                max,
            },
            RequestKind::RenameKey => OmRequest::RenameKey {
                volume,
                bucket,
                from_key: key,
                to_key: pick(rng, &KEYS),
            },
            RequestKind::DeleteKey => OmRequest::DeleteKey {
                volume,
                bucket,
                key,
            },
        };
        Step::Call(request)
    }
}

/// A workload drawn from `options`.
pub fn workload(rng: &mut impl Rng, options: &WorkloadOptions) -> Workload {
    let names = Names { options };
    let kinds: Vec<(RequestKind, u32)> = options.weights.iter().map(|(k, w)| (*k, *w)).collect();
    let clients = (0..options.clients)
        .map(|_| {
            let reads = if rng.gen_bool(0.3) {
                ReadRoute::Node(rng.gen_range(1..=options.nodes))
            } else {
                ReadRoute::Leader
            };
            let steps = (0..options.steps_per_client)
                .map(|_| {
                    let step = if rng.gen_range(0..1000) < options.restart_permille {
                        Step::Restart
                    } else {
                        let (kind, _) = *kinds
                            .choose_weighted(rng, |(_, weight)| *weight)
                            .expect("weights are positive");
                        names.step(rng, kind)
                    };
                    TimedStep {
                        think_ms: rng.gen_range(0..=options.think_ms_max),
                        step,
                    }
                })
                .collect();
            ClientPlan {
                reads,
                retry_unknown: rng.gen_bool(0.8),
                steps,
            }
        })
        .collect();
    let mut workload = Workload { clients };
    if rng.gen_bool(0.5) {
        workload.clients.push(reader(rng, options, &names));
    }
    workload
}

/// A client that only reads, often (a dashboard, a GET-heavy S3 gateway): whatever node
/// serves a read at the wrong moment, it is likely to be asking.
fn reader(rng: &mut impl Rng, options: &WorkloadOptions, names: &Names) -> ClientPlan {
    const READS: [RequestKind; 7] = [
        RequestKind::VolumeInfo,
        RequestKind::BucketInfo,
        RequestKind::LookupKey,
        RequestKind::ListVolumes,
        RequestKind::ListBuckets,
        RequestKind::ListKeys,
        RequestKind::ListOpenKeys,
    ];
    let think_ms_max = options.think_ms_max / 4;
    let steps = (0..options.steps_per_client * 4)
        .map(|_| {
            let kind = *READS.choose(rng).expect("read kinds");
            TimedStep {
                think_ms: rng.gen_range(0..=think_ms_max),
                step: names.step(rng, kind),
            }
        })
        .collect();
    ClientPlan {
        reads: ReadRoute::Leader,
        retry_unknown: true,
        steps,
    }
}

/// The read that shows what `write` changed.
pub fn read_of(write: &OmRequest) -> Option<OmRequest> {
    use OmRequest as R;
    Some(match write {
        R::CreateVolume { volume, .. }
        | R::SetVolumeOwner { volume, .. }
        | R::SetVolumeQuota { volume, .. }
        | R::DeleteVolume { volume } => R::VolumeInfo {
            volume: volume.clone(),
        },
        R::CreateBucket { volume, bucket, .. }
        | R::SetBucketProperty { volume, bucket, .. }
        | R::DeleteBucket { volume, bucket } => R::BucketInfo {
            volume: volume.clone(),
            bucket: bucket.clone(),
        },
        R::OpenKey {
            volume,
            bucket,
            key,
            ..
        } => R::ListOpenKeys {
            volume: volume.clone(),
            bucket: bucket.clone(),
            prefix: key.clone(),
            start: String::new(),
            max: 1000,
        },
        R::CommitKey {
            volume,
            bucket,
            key,
            ..
        }
        | R::DeleteKey {
            volume,
            bucket,
            key,
        }
        | R::RenameKey {
            volume,
            bucket,
            to_key: key,
            ..
        } => R::LookupKey {
            volume: volume.clone(),
            bucket: bucket.clone(),
            key: key.clone(),
        },
        _ => return None,
    })
}

/// Reads of every name the generator can touch: after the run they show the whole state, so
/// an acknowledged write that is missing contradicts the history.
pub fn read_back() -> Vec<OmRequest> {
    let mut reads = Vec::new();
    for volume in VOLUMES {
        reads.push(OmRequest::VolumeInfo {
            volume: volume.to_string(),
        });
        for bucket in BUCKETS {
            let (volume, bucket) = (volume.to_string(), bucket.to_string());
            reads.push(OmRequest::BucketInfo {
                volume: volume.clone(),
                bucket: bucket.clone(),
            });
            for key in KEYS {
                reads.push(OmRequest::LookupKey {
                    volume: volume.clone(),
                    bucket: bucket.clone(),
                    key: key.to_string(),
                });
            }
            reads.push(OmRequest::ListOpenKeys {
                volume,
                bucket,
                prefix: String::new(),
                start: String::new(),
                max: 1000,
            });
        }
    }
    reads
}
