//! The replicated retry cache: (client id, call id) -> the response of an applied request.
//!
//! A client that times out retries the same call, maybe on a new leader; apply finds the call's
//! recorded response and answers it again instead of applying twice. Rows live in
//! `Table::RetryCache`, written in the same batch as the request's own writes, so the cache is
//! flushed, snapshotted and restored with the metadata it describes. Entries expire after
//! `expiry_ms` of leader-stamped time; each apply evicts a bounded number of expired rows, in
//! time order, so every replica evicts the same rows at the same index.

use crate::error::StoreError;
use crate::om::{MetadataView, OmResult};
use crate::store::{Table, TableWrite};
use crate::types::{CallId, ClientId, TimeMs};
use serde::{Deserialize, Serialize};

/// `ozone.om.ha.raft.server.retrycache.expirytime` default.
pub const RETRY_CACHE_EXPIRY_MS_DEFAULT: u64 = 300_000;

/// Expired rows one apply evicts at most: eviction work per entry stays bounded.
pub const EXPIRED_PER_APPLY_MAX: usize = 16;

const CALL_PREFIX: &[u8] = b"c/";
const EXPIRY_PREFIX: &[u8] = b"t/";

/// Who made a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Caller {
    pub client: ClientId,
    pub call: CallId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RetryRecord {
    time: TimeMs,
    result: OmResult,
}

fn caller_bytes(caller: Caller) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&caller.client.0.to_be_bytes());
    bytes[8..].copy_from_slice(&caller.call.0.to_be_bytes());
    bytes
}

fn call_row(caller: Caller) -> Vec<u8> {
    [CALL_PREFIX, &caller_bytes(caller)].concat()
}

/// Sorted by time first: the oldest rows come first in a scan.
fn expiry_row(time: TimeMs, caller: Caller) -> Vec<u8> {
    [EXPIRY_PREFIX, &time.0.to_be_bytes(), &caller_bytes(caller)].concat()
}

/// The recorded answer of `caller`'s call, if it was applied.
pub fn lookup<V: MetadataView>(view: &V, caller: Caller) -> Result<Option<OmResult>, StoreError> {
    let Some(bytes) = view.get(Table::RetryCache, &call_row(caller))? else {
        return Ok(None);
    };
    let record: RetryRecord = bincode::deserialize(&bytes)
        .map_err(|error| StoreError::Corrupt(format!("retry cache row: {error}")))?;
    Ok(Some(record.result))
}

/// The writes that record `result` as the answer of `caller`'s call applied at `time`.
pub fn record(caller: Caller, time: TimeMs, result: &OmResult) -> [TableWrite; 2] {
    let record = RetryRecord {
        time,
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
    let rows = view.scan(
        Table::RetryCache,
        EXPIRY_PREFIX,
        None,
        EXPIRED_PER_APPLY_MAX,
    )?;
    let mut writes = Vec::new();
    for (key, _) in rows {
        let time = u64::from_be_bytes(key[2..10].try_into().expect("expiry rows hold a time"));
        if time >= cutoff {
            break;
        }
        let client = ClientId(u64::from_be_bytes(
            key[10..18].try_into().expect("client id"),
        ));
        let call = CallId(u64::from_be_bytes(key[18..26].try_into().expect("call id")));
        for row in [key.clone(), call_row(Caller { client, call })] {
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
    use crate::om::OmResponse;
    use crate::OmError;

    fn caller(client: u64, call: u64) -> Caller {
        Caller {
            client: ClientId(client),
            call: CallId(call),
        }
    }

    #[test]
    fn records_answers_and_expires_them_in_time_order() {
        let mut tables = MemoryTables::default();
        tables.write(&record(caller(1, 1), TimeMs(1_000), &Ok(OmResponse::Done)));
        tables.write(&record(
            caller(2, 7),
            TimeMs(2_000),
            &Err(OmError::VolumeAlreadyExists),
        ));
        assert_eq!(
            lookup(&tables, caller(1, 1)).unwrap(),
            Some(Ok(OmResponse::Done))
        );
        assert_eq!(
            lookup(&tables, caller(2, 7)).unwrap(),
            Some(Err(OmError::VolumeAlreadyExists))
        );
        assert_eq!(lookup(&tables, caller(1, 2)).unwrap(), None);

        assert!(
            expire(&tables, TimeMs(1_000 + 500), 500)
                .unwrap()
                .is_empty(),
            "not early"
        );
        let expired = expire(&tables, TimeMs(1_000 + 501), 500).unwrap();
        tables.write(&expired);
        assert_eq!(lookup(&tables, caller(1, 1)).unwrap(), None);
        assert!(lookup(&tables, caller(2, 7)).unwrap().is_some());
    }
}
