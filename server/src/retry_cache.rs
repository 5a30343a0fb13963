//! The replicated retry cache: (client id, call id) -> the response of an applied request.
//!
//! A client that times out retries the same call, maybe on a new leader; apply finds the call's
//! recorded response and answers it again instead of applying twice. The record also holds a
//! digest of the applied request: a call found with a different request is a reused id, not a
//! retry, and is refused with `RETRY_REQUEST_MISMATCH` (nothing applied, on every replica).
//! Rows live in `Table::RetryCache`, written in the same batch as the request's own writes, so
//! the cache is flushed, snapshotted and restored with the metadata it describes. Entries
//! expire after `expiry_ms` of leader-stamped time; each apply evicts a bounded number of
//! expired rows, in time order, so every replica evicts the same rows at the same index.

use crate::error::{OmError, StoreError};
use crate::om::{MetadataView, OmRequest, OmResult};
use crate::store::{Table, TableWrite};
use crate::types::{CallId, ClientId, TimeMs};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `ozone.om.ha.raft.server.retrycache.expirytime` default.
pub const RETRY_CACHE_EXPIRY_MS_DEFAULT: u64 = 300_000;

/// Expired rows one apply evicts at most: eviction work per entry stays bounded.
pub const EXPIRED_PER_APPLY_MAX: usize = 16;

const CALL_PREFIX: &[u8] = b"c/";
const EXPIRY_PREFIX: &[u8] = b"t/";

/// Bytes of a caller in a row key: client id (16), then call id (8), most significant first.
const CALLER_BYTES: usize = 24;

/// Who made a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Caller {
    pub client: ClientId,
    pub call: CallId,
}

/// SHA-256 of a request's encoding: what a retry must match.
type RequestDigest = [u8; 32];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RetryRecord {
    time: TimeMs,
    request: RequestDigest,
    result: OmResult,
}

fn request_digest(request: &OmRequest) -> RequestDigest {
    let bytes = bincode::serialize(request).expect("requests serialize");
    Sha256::digest(bytes).into()
}

fn caller_bytes(caller: Caller) -> [u8; CALLER_BYTES] {
    let mut bytes = [0; CALLER_BYTES];
    bytes[..16].copy_from_slice(&caller.client.to_bytes());
    bytes[16..].copy_from_slice(&caller.call.0.to_be_bytes());
    bytes
}

fn caller_of(bytes: &[u8]) -> Option<Caller> {
    let bytes: &[u8; CALLER_BYTES] = bytes.try_into().ok()?;
    let (client, call) = bytes.split_at(16);
    Some(Caller {
        client: ClientId::from_bytes(client.try_into().ok()?),
        call: CallId(u64::from_be_bytes(call.try_into().ok()?)),
    })
}

fn call_row(caller: Caller) -> Vec<u8> {
    if crate::bug_zoo::planted(crate::bug_zoo::Defect::RetryCacheCallIdOnly) {
        return [CALL_PREFIX, &caller.call.0.to_be_bytes()[..]].concat();
    }
    [CALL_PREFIX, &caller_bytes(caller)].concat()
}

/// Sorted by time first: the oldest rows come first in a scan.
fn expiry_row(time: TimeMs, caller: Caller) -> Vec<u8> {
    [EXPIRY_PREFIX, &time.0.to_be_bytes(), &caller_bytes(caller)].concat()
}

/// The time and caller an expiry row names; `None` when the key is not one.
fn parse_expiry_row(key: &[u8]) -> Option<(TimeMs, Caller)> {
    let rest = key.strip_prefix(EXPIRY_PREFIX)?;
    let (time, caller) = rest.split_at_checked(8)?;
    Some((
        TimeMs(u64::from_be_bytes(time.try_into().ok()?)),
        caller_of(caller)?,
    ))
}

/// The answer for `caller`'s call of `request`, if the call was applied: its recorded answer
/// when the request is the one applied, `RETRY_REQUEST_MISMATCH` when it is another.
pub fn lookup<V: MetadataView>(
    view: &V,
    caller: Caller,
    request: &OmRequest,
) -> Result<Option<OmResult>, StoreError> {
    let Some(bytes) = view.get(Table::RetryCache, &call_row(caller))? else {
        return Ok(None);
    };
    let record: RetryRecord = bincode::deserialize(&bytes)
        .map_err(|error| StoreError::Corrupt(format!("retry cache row: {error}")))?;
    if record.request != request_digest(request) {
        return Ok(Some(Err(OmError::RetryRequestMismatch)));
    }
    Ok(Some(record.result))
}

/// The writes that record `result` as the answer of `caller`'s call of `request`, applied at
/// `time`.
pub fn record(
    caller: Caller,
    time: TimeMs,
    request: &OmRequest,
    result: &OmResult,
) -> [TableWrite; 2] {
    let record = RetryRecord {
        time,
        request: request_digest(request),
        result: result.clone(),
    };
    let value = bincode::serialize(&record).expect("retry records serialize");
    [
        TableWrite {
            table: Table::RetryCache,
            key: call_row(caller),
            value: Some(value),
        },
        TableWrite {
            table: Table::RetryCache,
            key: expiry_row(time, caller),
            value: Some(Vec::new()),
        },
    ]
}

/// Deletes of up to `EXPIRED_PER_APPLY_MAX` rows older than `now - expiry_ms`.
pub fn expire<V: MetadataView>(
    view: &V,
    now: TimeMs,
    expiry_ms: u64,
) -> Result<Vec<TableWrite>, StoreError> {
    let Some(cutoff) = now.0.checked_sub(expiry_ms) else {
        return Ok(Vec::new());
    };
    // Mostly nothing has expired: one row says so, cheaper than a page of them on every apply.
    let oldest = view.scan(Table::RetryCache, EXPIRY_PREFIX, None, 1)?;
    let expired = |key: &[u8]| -> Result<Option<Caller>, StoreError> {
        let (time, caller) = parse_expiry_row(key)
            .ok_or_else(|| StoreError::Corrupt(format!("retry cache expiry row {key:?}")))?;
        Ok((time.0 < cutoff).then_some(caller))
    };
    match oldest.first() {
        Some((key, _)) if expired(key)?.is_some() => {}
        _ => return Ok(Vec::new()),
    }
    let rows = view.scan(
        Table::RetryCache,
        EXPIRY_PREFIX,
        None,
        EXPIRED_PER_APPLY_MAX,
    )?;
    let mut writes = Vec::new();
    for (key, _) in rows {
        let Some(caller) = expired(&key)? else {
            break;
        };
        for row in [key, call_row(caller)] {
            writes.push(TableWrite {
                table: Table::RetryCache,
                key: row,
                value: None,
            });
        }
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::om::view::MemoryTables;
    use crate::om::{OmResponse, Quota};

    fn caller(client: u128, call: u64) -> Caller {
        Caller {
            client: ClientId(client),
            call: CallId(call),
        }
    }

    fn create(volume: &str) -> OmRequest {
        OmRequest::CreateVolume {
            volume: volume.into(),
            owner: "o".into(),
            quota: Quota::default(),
        }
    }

    #[test]
    fn records_answers_and_expires_them_in_time_order() {
        let mut tables = MemoryTables::default();
        let (first, second) = (create("a"), create("b"));
        let done = Ok(OmResponse::Done);
        tables.write(&record(caller(1, 1), TimeMs(1_000), &first, &done));
        let exists = Err(OmError::VolumeAlreadyExists);
        tables.write(&record(caller(2, 7), TimeMs(2_000), &second, &exists));
        assert_eq!(lookup(&tables, caller(1, 1), &first).unwrap(), Some(done));
        assert_eq!(
            lookup(&tables, caller(2, 7), &second).unwrap(),
            Some(exists)
        );
        assert_eq!(lookup(&tables, caller(1, 2), &first).unwrap(), None);

        assert!(
            expire(&tables, TimeMs(1_000 + 500), 500)
                .unwrap()
                .is_empty(),
            "not early"
        );
        let expired = expire(&tables, TimeMs(1_000 + 501), 500).unwrap();
        tables.write(&expired);
        assert_eq!(lookup(&tables, caller(1, 1), &first).unwrap(), None);
        assert!(lookup(&tables, caller(2, 7), &second).unwrap().is_some());
    }

    #[test]
    fn a_call_found_with_another_request_is_refused_and_the_record_stays() {
        let mut tables = MemoryTables::default();
        let applied = create("a");
        tables.write(&record(
            caller(1, 1),
            TimeMs(1),
            &applied,
            &Ok(OmResponse::Done),
        ));
        let before = tables.clone();
        assert_eq!(
            lookup(&tables, caller(1, 1), &create("b")).unwrap(),
            Some(Err(OmError::RetryRequestMismatch))
        );
        assert_eq!(tables, before, "a lookup changes nothing");
        assert_eq!(
            lookup(&tables, caller(1, 1), &applied).unwrap(),
            Some(Ok(OmResponse::Done)),
            "the true retry still gets the recorded answer"
        );
    }

    #[test]
    fn keys_hold_all_128_bits_of_the_client_id() {
        let high = caller(1 << 100, 3);
        let low = caller(1, 3);
        assert_ne!(call_row(high), call_row(low));
        let row = expiry_row(TimeMs(9), high);
        assert_eq!(row.len(), EXPIRY_PREFIX.len() + 8 + CALLER_BYTES);
        assert_eq!(parse_expiry_row(&row), Some((TimeMs(9), high)));
        assert_eq!(parse_expiry_row(&row[..row.len() - 1]), None);
    }
}
