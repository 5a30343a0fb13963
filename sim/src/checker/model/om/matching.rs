//! Does an observed answer agree with the model's, up to what a client cannot predict?
//!
//! Ignored: object and update ids, open ids, block ids (only their number counts: it follows
//! from the open's size), creation and modification times. Everything else must be equal.

use super::{BucketInfo, KeyInfo, OmOutcome, OmResponse, OpenKeyInfo, VolumeInfo};

/// True when `observed` is an answer the model's `expected` answer allows.
pub fn matches(expected: &OmOutcome, observed: &OmOutcome) -> bool {
    match (expected, observed) {
        (Err(expected), Err(observed)) => expected == observed,
        (Ok(expected), Ok(observed)) => responses_match(expected, observed),
        _ => false,
    }
}

fn responses_match(expected: &OmResponse, observed: &OmResponse) -> bool {
    match (expected, observed) {
        (OmResponse::Done, OmResponse::Done) => true,
        (OmResponse::Volume(expected), OmResponse::Volume(observed)) => {
            redact_volume(expected) == redact_volume(observed)
        }
        (OmResponse::Volumes(expected), OmResponse::Volumes(observed)) => {
            all_match(expected, observed, |a, b| {
                redact_volume(a) == redact_volume(b)
            })
        }
        (OmResponse::Bucket(expected), OmResponse::Bucket(observed)) => {
            redact_bucket(expected) == redact_bucket(observed)
        }
        (OmResponse::Buckets(expected), OmResponse::Buckets(observed)) => {
            all_match(expected, observed, |a, b| {
                redact_bucket(a) == redact_bucket(b)
            })
        }
        (
            OmResponse::KeyOpened {
                block_ids: expected,
                ..
            },
            OmResponse::KeyOpened {
                block_ids: observed,
                ..
            },
        ) => expected.len() == observed.len(),
        (OmResponse::Key(expected), OmResponse::Key(observed)) => {
            redact_key(expected) == redact_key(observed)
        }
        (OmResponse::Keys(expected), OmResponse::Keys(observed)) => {
            all_match(expected, observed, |a, b| redact_key(a) == redact_key(b))
        }
        (OmResponse::OpenKeys(expected), OmResponse::OpenKeys(observed)) => {
            let full: Vec<&KeyInfo> = expected.iter().map(|open| &open.key).collect();
            open_keys_match(&full, expected.len(), observed)
        }
        _ => false,
    }
}

fn all_match<T>(expected: &[T], observed: &[T], equal: impl Fn(&T, &T) -> bool) -> bool {
    expected.len() == observed.len() && expected.iter().zip(observed).all(|(a, b)| equal(a, b))
}

fn redact_volume(info: &VolumeInfo) -> VolumeInfo {
    VolumeInfo {
        creation_time_ms: 0,
        modification_time_ms: 0,
        object_id: 0,
        update_id: 0,
        ..info.clone()
    }
}

fn redact_bucket(info: &BucketInfo) -> BucketInfo {
    BucketInfo {
        creation_time_ms: 0,
        modification_time_ms: 0,
        object_id: 0,
        update_id: 0,
        ..info.clone()
    }
}

fn redact_key(info: &KeyInfo) -> KeyInfo {
    KeyInfo {
        block_ids: vec![0; info.block_ids.len()],
        creation_time_ms: 0,
        modification_time_ms: 0,
        object_id: 0,
        update_id: 0,
        ..info.clone()
    }
}

/// The fields of a key a client can predict, for comparing without copying.
type PredictableKey<'a> = (
    &'a str,
    &'a str,
    &'a str,
    u64,
    super::Replication,
    usize,
    &'a std::collections::BTreeMap<String, String>,
);

fn predictable(info: &KeyInfo) -> PredictableKey<'_> {
    (
        &info.volume,
        &info.bucket,
        &info.name,
        info.size,
        info.replication,
        info.block_ids.len(),
        &info.metadata,
    )
}

/// `observed` lists the first `min(limit, full.len())` of `full` (sorted by key name; within a
/// name by open id, which the checker does not always know): names must agree position by
/// position, each name's entries as multisets, the last name's possibly cut short by the limit.
pub(super) fn open_keys_match(full: &[&KeyInfo], limit: usize, observed: &[OpenKeyInfo]) -> bool {
    if observed.len() != full.len().min(limit) {
        return false;
    }
    if observed.iter().zip(full).any(|(a, b)| a.key.name != b.name) {
        return false;
    }
    let mut position = 0;
    while position < observed.len() {
        let name = &observed[position].key.name;
        let observed_end = observed[position..]
            .iter()
            .position(|entry| entry.key.name != *name)
            .map_or(observed.len(), |n| position + n);
        let full_end = full[position..]
            .iter()
            .position(|entry| entry.name != *name)
            .map_or(full.len(), |n| position + n);
        let mut listed: Vec<PredictableKey<'_>> = observed[position..observed_end]
            .iter()
            .map(|open| predictable(&open.key))
            .collect();
        let mut candidates: Vec<PredictableKey<'_>> = full[position..full_end]
            .iter()
            .map(|key| predictable(key))
            .collect();
        listed.sort();
        candidates.sort();
        if !is_sub_multiset(&listed, &candidates) {
            return false;
        }
        position = observed_end;
    }
    true
}

/// Both sorted: every element of `part` is in `whole`, counted with multiplicity.
fn is_sub_multiset<T: Ord>(part: &[T], whole: &[T]) -> bool {
    let mut candidates = whole.iter();
    part.iter()
        .all(|wanted| candidates.by_ref().any(|candidate| candidate == wanted))
}
