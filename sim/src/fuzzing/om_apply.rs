//! The `om_apply` target: a request sequence built from the bytes runs through one replica's
//! whole apply pipeline and through the reference model (`apply_comparison`).
//!
//! Properties: nothing panics, every answer and the final state equal the model's, also after
//! the replica reopens from its disk. Names come mostly from small pools (so requests meet
//! each other's volumes, buckets and keys), sometimes from the bytes themselves (so name
//! validation is compared too); sizes, quotas and limits reach their extremes.

use crate::apply_comparison::{compare, resolve_commits, setup_ops, Pacing, LAST_OPEN};
use crate::checker::model::om::{BucketLayout, OmOp, Quota, Replication};
use arbitrary::{Arbitrary, Result, Unstructured};
use std::collections::BTreeMap;
use std::time::Duration;

/// Requests after the setup, at most.
const OPS_MAX: usize = 64;

const VOLUMES: &[&str] = &["vol-a", "vol.c"];
const BAD_VOLUMES: &[&str] = &["Bad", "ab"];
const BUCKETS: &[&str] = &["buck", "bucket-2"];
const BAD_BUCKETS: &[&str] = &["b", "10.1.1.1"];
const KEYS: &[&str] = &["k", "k1", "k/2", "dir/k", "z"];
const BAD_KEYS: &[&str] = &[""];
const OWNERS: &[&str] = &["alice", "bob"];
const PREFIXES: &[&str] = &["", "k", "vol", "b", "dir/", "zz"];
const METADATA: &[&str] = &["a", "b", "x"];

pub fn om_apply(data: &[u8]) {
    let mut input = Unstructured::new(data);
    let Ok((ops, pacing)) = scenario(&mut input) else {
        return;
    };
    block_on(compare(&resolve_commits(&ops), &pacing));
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    #[cfg(madsim)]
    {
        madsim::runtime::Runtime::new().block_on(future)
    }
    #[cfg(not(madsim))]
    {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
            .block_on(future)
    }
}

/// A setup subsequence (one byte), the pauses (one byte), then requests until the bytes end.
fn scenario(input: &mut Unstructured) -> Result<(Vec<OmOp>, Pacing)> {
    let setup_mask = u8::arbitrary(input)?;
    let mut ops: Vec<OmOp> = (setup_ops().into_iter().enumerate())
        .filter(|(position, _)| setup_mask & (1 << position) != 0)
        .map(|(_, op)| op)
        .collect();
    let pause_mask = u8::arbitrary(input)?;
    let pacing = Pacing {
        sync_latency: Duration::ZERO,
        pauses: (0..8).map(|bit| pause_mask & (1 << bit) != 0).collect(),
        pause: Duration::ZERO,
    };
    let setup_length = ops.len();
    while !input.is_empty() && ops.len() < setup_length + OPS_MAX {
        ops.push(op(input)?);
    }
    Ok((ops, pacing))
}

fn op(input: &mut Unstructured) -> Result<OmOp> {
    let volume = pick(input, VOLUMES, BAD_VOLUMES)?;
    // Key requests weigh most: they reach the most rules (quotas, opens, commits, renames).
    match input.int_in_range(0u8..=19)? {
        0..=3 => volume_op(input, volume),
        4..=7 => bucket_op(input, volume),
        kind => key_op(input, kind, volume),
    }
}

fn bucket_op(input: &mut Unstructured, volume: String) -> Result<OmOp> {
    let bucket = pick(input, BUCKETS, BAD_BUCKETS)?;
    Ok(match input.int_in_range(0u8..=4)? {
        0 => OmOp::CreateBucket {
            volume,
            bucket,
            versioning: bool::arbitrary(input)?,
            layout: *input.choose(&[
                BucketLayout::ObjectStore,
                BucketLayout::FileSystemOptimized,
                BucketLayout::Legacy,
            ])?,
            quota: quota(input)?,
        },
        1 => OmOp::BucketInfo { volume, bucket },
        2 => OmOp::SetBucketProperty {
            volume,
            bucket,
            versioning: Option::<bool>::arbitrary(input)?,
            quota: if bool::arbitrary(input)? {
                Some(quota(input)?)
            } else {
                None
            },
        },
        3 => OmOp::DeleteBucket { volume, bucket },
        _ => {
            let (prefix, start, max) = list_arguments(input)?;
            OmOp::ListBuckets {
                volume,
                prefix,
                start,
                max,
            }
        }
    })
}

fn volume_op(input: &mut Unstructured, volume: String) -> Result<OmOp> {
    Ok(match input.int_in_range(0u8..=5)? {
        0 => OmOp::CreateVolume {
            volume,
            owner: pick(input, OWNERS, &["carol"])?,
            quota: quota(input)?,
        },
        1 => OmOp::VolumeInfo { volume },
        2 => OmOp::SetVolumeOwner {
            volume,
            owner: pick(input, OWNERS, &["carol"])?,
        },
        3 => OmOp::SetVolumeQuota {
            volume,
            quota: quota(input)?,
        },
        4 => OmOp::DeleteVolume { volume },
        _ => {
            let (prefix, start, max) = list_arguments(input)?;
            OmOp::ListVolumes { prefix, start, max }
        }
    })
}

fn key_op(input: &mut Unstructured, kind: u8, volume: String) -> Result<OmOp> {
    let bucket = pick(input, BUCKETS, BAD_BUCKETS)?;
    let key = pick(input, KEYS, BAD_KEYS)?;
    Ok(match kind {
        8..=10 => OmOp::OpenKey {
            volume,
            bucket,
            key,
            size: size(input)?,
            replication: *input.choose(&[Replication::RatisOne, Replication::RatisThree])?,
            metadata: metadata(input)?,
        },
        11..=13 => OmOp::CommitKey {
            volume,
            bucket,
            key,
            open_id: match input.int_in_range(0u8..=3)? {
                0 => input.int_in_range(1..=60)?,
                1 => u64::arbitrary(input)?,
                _ => LAST_OPEN,
            },
            size: size(input)?,
        },
        14 => OmOp::LookupKey {
            volume,
            bucket,
            key,
        },
        15 | 16 => {
            let (prefix, start, max) = list_arguments(input)?;
            if bool::arbitrary(input)? {
                OmOp::ListKeys {
                    volume,
                    bucket,
                    prefix,
                    start,
                    max,
                }
            } else {
                OmOp::ListOpenKeys {
                    volume,
                    bucket,
                    prefix,
                    start,
                    max,
                }
            }
        }
        17 => OmOp::RenameKey {
            volume,
            bucket,
            from_key: key,
            to_key: pick(input, KEYS, BAD_KEYS)?,
        },
        _ => OmOp::DeleteKey {
            volume,
            bucket,
            key,
        },
    })
}

/// Mostly a valid name, sometimes an invalid one, sometimes any string at all.
fn pick(input: &mut Unstructured, valid: &[&str], invalid: &[&str]) -> Result<String> {
    Ok(match input.int_in_range(0u8..=15)? {
        0 if !invalid.is_empty() => input.choose(invalid)?.to_string(),
        1 => String::arbitrary(input)?,
        _ => input.choose(valid)?.to_string(),
    })
}

fn size(input: &mut Unstructured) -> Result<u64> {
    Ok(match input.int_in_range(0u8..=15)? {
        0 => 300 << 20,
        1 => (1 << 40) + 1,
        2 => u64::arbitrary(input)?,
        _ => input.int_in_range(0..=200)?,
    })
}

fn quota(input: &mut Unstructured) -> Result<Quota> {
    let mut limit = |small: u64| -> Result<Option<u64>> {
        Ok(match input.int_in_range(0u8..=7)? {
            0 | 1 => Some(input.int_in_range(0..=small)?),
            2 => Some(u64::arbitrary(input)?),
            _ => None,
        })
    };
    Ok(Quota {
        bytes: limit(1200)?,
        namespace: limit(4)?,
    })
}

fn list_arguments(input: &mut Unstructured) -> Result<(String, String, u64)> {
    let prefix = pick(input, PREFIXES, &[])?;
    let start = match input.int_in_range(0u8..=3)? {
        0 => String::new(),
        1 => pick(input, KEYS, &[])?,
        2 => pick(input, VOLUMES, &[])?,
        _ => pick(input, BUCKETS, &[])?,
    };
    let max = match input.int_in_range(0u8..=7)? {
        0 => u64::arbitrary(input)?,
        _ => input.int_in_range(0..=5)?,
    };
    Ok((prefix, start, max))
}

fn metadata(input: &mut Unstructured) -> Result<BTreeMap<String, String>> {
    let mut metadata = BTreeMap::new();
    for _ in 0..input.int_in_range(0u8..=2)? {
        metadata.insert(pick(input, METADATA, &[])?, pick(input, METADATA, &[])?);
    }
    Ok(metadata)
}
