//! The replicated retry cache: (client id, call id) -> the response of an applied request.
//!
//! A client that times out retries the same call, maybe on a new leader; apply finds the call's
//! recorded response and answers it again instead of applying twice. The record also holds a
//! digest of the applied request: a call found with a different request is a reused id, not a
//! retry, and is refused with `RETRY_REQUEST_MISMATCH` (nothing applied, on every replica).
//!
//! Rows live in `Table::RetryCache`, one per call, keyed by (time, caller) and written in the
//! same batch as the request's own writes, so the cache is flushed, snapshotted and restored
//! with the metadata it describes. Entries expire after `expiry_ms` of leader-stamped time;
//! each apply evicts a bounded number of expired rows, oldest first (the key order), so every
//! replica evicts the same rows at the same index.
//!
//! [`RetryIndex`] mirrors the rows in memory (caller -> time, and a lower bound of the times):
//! almost every call is new, and the store is not asked about a caller it does not hold, nor
//! scanned for expired rows while none can be. It is rebuilt from the rows on open and after a
//! snapshot install, so it is a function of the replicated state, never a second source of it.

use crate::error::{OmError, StoreError};
use crate::om::{MetadataView, OmRequest, OmResult};
use crate::store::{Rows, Store, Table, TableWrite};
use crate::types::{CallId, ClientId, TimeMs};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// `ozone.om.ha.raft.server.retrycache.expirytime` default.
pub const RETRY_CACHE_EXPIRY_MS_DEFAULT: u64 = 300_000;

/// Expired rows one apply evicts at most: eviction work per entry stays bounded.
pub const EXPIRED_PER_APPLY_MAX: usize = 16;

/// Rows of the current layout: `t/`, time (8 bytes), caller.
const ROW_PREFIX: &[u8] = b"t/";
/// Format 2 and older also kept a `c/<caller>` row holding the record (the `t/` row was empty).
const FORMAT_2_CALL_PREFIX: &[u8] = b"c/";

/// Bytes of a caller in a row key: client id (16), then call id (8), most significant first.
const CALLER_BYTES: usize = 24;

/// Rows read per page while the index is rebuilt.
const LOAD_PAGE_ROWS: usize = 4096;

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

/// The caller as the cache files it.
fn filed(caller: Caller) -> Caller {
    if crate::bug_zoo::planted(crate::bug_zoo::Defect::RetryCacheCallIdOnly) {
        return Caller {
            client: ClientId(0),
            call: caller.call,
        };
    }
    caller
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

/// Sorted by time first: the oldest rows come first in a scan. `caller` is already filed.
fn row_key(time: TimeMs, caller: Caller) -> Vec<u8> {
    [ROW_PREFIX, &time.0.to_be_bytes(), &caller_bytes(caller)].concat()
}

/// The time and caller a row key names.
fn parse_row_key(key: &[u8]) -> Result<(TimeMs, Caller), StoreError> {
    let parsed = || {
        let rest = key.strip_prefix(ROW_PREFIX)?;
        let (time, caller) = rest.split_at_checked(8)?;
        Some((
            TimeMs(u64::from_be_bytes(time.try_into().ok()?)),
            caller_of(caller)?,
        ))
    };
    parsed().ok_or_else(|| StoreError::Corrupt(format!("retry cache row key {key:?}")))
}

fn decode_record(bytes: &[u8]) -> Result<RetryRecord, StoreError> {
    bincode::deserialize(bytes)
        .map_err(|error| StoreError::Corrupt(format!("retry cache row: {error}")))
}

/// The write that records `result` as the answer of `caller`'s call of `request`, applied at
/// `time`.
pub fn record(caller: Caller, time: TimeMs, request: &OmRequest, result: &OmResult) -> TableWrite {
    let record = RetryRecord {
        time,
        request: request_digest(request),
        result: result.clone(),
    };
    TableWrite {
        table: Table::RetryCache,
        key: row_key(time, filed(caller)),
        value: Some(bincode::serialize(&record).expect("retry records serialize")),
    }
}

/// The rows of `Table::RetryCache` as an index: which callers it holds (and at what time),
/// and a time no row is older than.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetryIndex {
    callers: BTreeMap<Caller, TimeMs>,
    /// Every row's time is at least this; `None` when there are no rows. Exact after a load,
    /// maybe lower after evictions: it only lets `expire` skip a scan that would find nothing.
    oldest: Option<TimeMs>,
}

impl RetryIndex {
    /// The index of the rows `store` holds. A store of format 2 or older (a `c/` row holding
    /// each record) is first rewritten to one row per call, in one atomic batch: either layout
    /// on disk means the same state, so a crash before the next sync just converts it again.
    pub fn load<S: Store>(store: &S) -> Result<RetryIndex, StoreError> {
        convert_format_2(store)?;
        RetryIndex::from_pages(|after| {
            store.scan_prefix(Table::RetryCache, ROW_PREFIX, after, LOAD_PAGE_ROWS)
        })
    }

    /// The index of the rows `view` shows (what the kept index must equal between applies).
    pub fn of_view<V: MetadataView>(view: &V) -> Result<RetryIndex, StoreError> {
        RetryIndex::from_pages(|after| {
            view.scan(Table::RetryCache, ROW_PREFIX, after, LOAD_PAGE_ROWS)
        })
    }

    /// Builds the index from pages of rows: `page(after)` returns the next rows after `after`.
    fn from_pages(
        mut page: impl FnMut(Option<&[u8]>) -> Result<Rows, StoreError>,
    ) -> Result<RetryIndex, StoreError> {
        let mut index = RetryIndex::default();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let rows = page(after.as_deref())?;
            for (key, _) in &rows {
                let (time, caller) = parse_row_key(key)?;
                index.insert(caller, time);
            }
            match rows.len() < LOAD_PAGE_ROWS {
                true => return Ok(index),
                false => after = rows.last().map(|(key, _)| key.clone()),
            }
        }
    }

    /// How this index differs from `rebuilt`, the index of the rows it should mirror: other
    /// callers, or a time bound above the oldest row.
    pub fn mismatch(&self, rebuilt: &RetryIndex) -> Option<String> {
        if self.callers != rebuilt.callers {
            let extra = (self.callers.iter())
                .find(|(caller, time)| rebuilt.callers.get(caller) != Some(time));
            let missing = (rebuilt.callers.iter())
                .find(|(caller, time)| self.callers.get(caller) != Some(time));
            return Some(format!(
                "retry index holds {} calls, the rows {} (first only in the index: {extra:?}, \
                 first only in the rows: {missing:?})",
                self.callers.len(),
                rebuilt.callers.len()
            ));
        }
        match (self.oldest, rebuilt.oldest) {
            (Some(bound), Some(oldest)) if bound <= oldest => None,
            (_, None) => None,
            (bound, oldest) => Some(format!(
                "retry index bound {bound:?} is above the oldest row's time {oldest:?}"
            )),
        }
    }

    fn insert(&mut self, caller: Caller, time: TimeMs) {
        self.callers.insert(caller, time);
        self.oldest = Some(self.oldest.map_or(time, |oldest| oldest.min(time)));
    }

    /// Follows the retry-cache rows among `writes` (the writes of one applied entry).
    pub fn note(&mut self, writes: &[TableWrite]) -> Result<(), StoreError> {
        for write in writes.iter().filter(|w| w.table == Table::RetryCache) {
            let (time, caller) = parse_row_key(&write.key)?;
            match write.value {
                Some(_) => self.insert(caller, time),
                None => {
                    self.callers.remove(&caller);
                    if self.callers.is_empty() {
                        self.oldest = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// The answer for `caller`'s call of `request`, if the call was applied: its recorded
    /// answer when the request is the one applied, `RETRY_REQUEST_MISMATCH` when it is another.
    pub fn lookup<V: MetadataView>(
        &self,
        view: &V,
        caller: Caller,
        request: &OmRequest,
    ) -> Result<Option<OmResult>, StoreError> {
        let caller = filed(caller);
        let Some(&time) = self.callers.get(&caller) else {
            return Ok(None);
        };
        let key = row_key(time, caller);
        let bytes = view.get(Table::RetryCache, &key)?.ok_or_else(|| {
            StoreError::Corrupt(format!("retry cache row {key:?} indexed but absent"))
        })?;
        let record = decode_record(&bytes)?;
        if record.request != request_digest(request) {
            return Ok(Some(Err(OmError::RetryRequestMismatch)));
        }
        Ok(Some(record.result))
    }

    /// Deletes of up to `EXPIRED_PER_APPLY_MAX` rows older than `now - expiry_ms`, oldest
    /// first. Reads `view` only when a row may have expired.
    pub fn expire<V: MetadataView>(
        &mut self,
        view: &V,
        now: TimeMs,
        expiry_ms: u64,
    ) -> Result<Vec<TableWrite>, StoreError> {
        let Some(cutoff) = now.0.checked_sub(expiry_ms) else {
            return Ok(Vec::new());
        };
        match self.oldest {
            Some(oldest) if oldest.0 < cutoff => {}
            _ => return Ok(Vec::new()),
        }
        let rows = view.scan(Table::RetryCache, ROW_PREFIX, None, EXPIRED_PER_APPLY_MAX)?;
        let mut writes = Vec::new();
        let mut kept = None;
        for (key, _) in &rows {
            let (time, _) = parse_row_key(key)?;
            if time.0 >= cutoff {
                kept = Some(time);
                break;
            }
            writes.push(TableWrite {
                table: Table::RetryCache,
                key: key.clone(),
                value: None,
            });
        }
        // The rows after the scanned ones are no older than the last of them.
        self.oldest = match (kept, rows.last()) {
            (Some(time), _) => Some(time),
            (None, Some((last, _))) if rows.len() == EXPIRED_PER_APPLY_MAX => {
                Some(parse_row_key(last)?.0)
            }
            (None, _) => None,
        };
        if !writes.is_empty() {
            crate::coverage::hit(crate::coverage::Mark::RetryCacheExpired);
        }
        Ok(writes)
    }
}

/// Rewrites format-2 rows (`c/<caller>` -> record, `t/<time><caller>` -> empty) to this
/// format's one row per call (`t/<time><caller>` -> record).
fn convert_format_2<S: Store>(store: &S) -> Result<(), StoreError> {
    let old = store.scan_prefix(Table::RetryCache, FORMAT_2_CALL_PREFIX, None, usize::MAX)?;
    if old.is_empty() {
        return Ok(());
    }
    let mut batch = Vec::with_capacity(2 * old.len());
    for (key, value) in old {
        let caller = (key.strip_prefix(FORMAT_2_CALL_PREFIX))
            .and_then(caller_of)
            .ok_or_else(|| StoreError::Corrupt(format!("format 2 retry cache row {key:?}")))?;
        let time = decode_record(&value)?.time;
        batch.push(TableWrite {
            table: Table::RetryCache,
            key: row_key(time, caller),
            value: Some(value),
        });
        batch.push(TableWrite {
            table: Table::RetryCache,
            key,
            value: None,
        });
    }
    store.write(&batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::om::view::MemoryTables;
    use crate::om::{OmResponse, Quota};
    use crate::store::sim_disk::SimDisk;
    use crate::store::Scope;

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

    /// Applies `writes` to the tables and the index, as the applier does.
    fn apply(tables: &mut MemoryTables, index: &mut RetryIndex, writes: &[TableWrite]) {
        tables.write(writes);
        index.note(writes).unwrap();
    }

    fn retry_rows(tables: &MemoryTables) -> Vec<TableWrite> {
        (tables.rows())
            .filter(|((table, _), _)| *table == Table::RetryCache)
            .map(|((table, key), value)| TableWrite {
                table: *table,
                key: key.clone(),
                value: Some(value.clone()),
            })
            .collect()
    }

    /// The index `load` builds from what `tables` holds.
    fn loaded(tables: &MemoryTables) -> RetryIndex {
        let store = SimDisk::new().open(Scope::Tables).unwrap();
        store.write(&retry_rows(tables)).unwrap();
        RetryIndex::load(&store).unwrap()
    }

    #[test]
    fn records_answers_and_expires_them_in_time_order() {
        let (mut tables, mut index) = (MemoryTables::default(), RetryIndex::default());
        let (first, second) = (create("a"), create("b"));
        let done = Ok(OmResponse::Done);
        let exists = Err(OmError::VolumeAlreadyExists);
        apply(
            &mut tables,
            &mut index,
            &[record(caller(1, 1), TimeMs(1_000), &first, &done)],
        );
        apply(
            &mut tables,
            &mut index,
            &[record(caller(2, 7), TimeMs(2_000), &second, &exists)],
        );
        assert_eq!(
            index.lookup(&tables, caller(1, 1), &first).unwrap(),
            Some(done)
        );
        assert_eq!(
            index.lookup(&tables, caller(2, 7), &second).unwrap(),
            Some(exists)
        );
        assert_eq!(index.lookup(&tables, caller(1, 2), &first).unwrap(), None);

        let not_yet = index.expire(&tables, TimeMs(1_000 + 500), 500).unwrap();
        assert!(not_yet.is_empty(), "not early");
        let expired = index.expire(&tables, TimeMs(1_000 + 501), 500).unwrap();
        assert_eq!(expired.len(), 1);
        apply(&mut tables, &mut index, &expired);
        assert_eq!(index.lookup(&tables, caller(1, 1), &first).unwrap(), None);
        assert!(index
            .lookup(&tables, caller(2, 7), &second)
            .unwrap()
            .is_some());
        assert_eq!(index.callers.len(), 1);
        assert_eq!(retry_rows(&tables).len(), 1, "one row per call");
    }

    #[test]
    fn a_call_found_with_another_request_is_refused_and_the_record_stays() {
        let (mut tables, mut index) = (MemoryTables::default(), RetryIndex::default());
        let applied = create("a");
        let done = Ok(OmResponse::Done);
        apply(
            &mut tables,
            &mut index,
            &[record(caller(1, 1), TimeMs(1), &applied, &done)],
        );
        let before = (tables.clone(), index.clone());
        assert_eq!(
            index.lookup(&tables, caller(1, 1), &create("b")).unwrap(),
            Some(Err(OmError::RetryRequestMismatch))
        );
        assert_eq!(
            (tables.clone(), index.clone()),
            before,
            "a lookup changes nothing"
        );
        assert_eq!(
            index.lookup(&tables, caller(1, 1), &applied).unwrap(),
            Some(Ok(OmResponse::Done)),
            "the true retry still gets the recorded answer"
        );
    }

    #[test]
    fn an_indexed_row_that_is_absent_is_corruption_not_a_new_call() {
        let (tables, mut index) = (MemoryTables::default(), RetryIndex::default());
        let write = record(caller(1, 1), TimeMs(1), &create("a"), &Ok(OmResponse::Done));
        index.note(std::slice::from_ref(&write)).unwrap();
        assert!(matches!(
            index.lookup(&tables, caller(1, 1), &create("a")),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_mismatch_names_extra_and_missing_calls_and_a_bound_above_the_oldest_row() {
        let (mut tables, mut index) = (MemoryTables::default(), RetryIndex::default());
        let done = Ok(OmResponse::Done);
        apply(
            &mut tables,
            &mut index,
            &[record(caller(1, 1), TimeMs(10), &create("a"), &done)],
        );
        assert_eq!(index.mismatch(&RetryIndex::of_view(&tables).unwrap()), None);

        let mut stale = index.clone();
        stale
            .note(&[record(caller(2, 2), TimeMs(20), &create("b"), &done)])
            .unwrap();
        let difference = stale
            .mismatch(&RetryIndex::of_view(&tables).unwrap())
            .unwrap();
        assert!(
            difference.contains("holds 2 calls, the rows 1"),
            "{difference}"
        );

        let mut high = index.clone();
        high.oldest = Some(TimeMs(11));
        assert!(high
            .mismatch(&RetryIndex::of_view(&tables).unwrap())
            .is_some());
        let mut low = index.clone();
        low.oldest = Some(TimeMs(9));
        assert_eq!(
            low.mismatch(&RetryIndex::of_view(&tables).unwrap()),
            None,
            "a lower bound is fine"
        );
    }

    #[test]
    fn keys_hold_all_128_bits_of_the_client_id() {
        let high = caller(1 << 100, 3);
        let low = caller(1, 3);
        assert_ne!(row_key(TimeMs(9), high), row_key(TimeMs(9), low));
        let row = row_key(TimeMs(9), high);
        assert_eq!(row.len(), ROW_PREFIX.len() + 8 + CALLER_BYTES);
        assert_eq!(parse_row_key(&row).unwrap(), (TimeMs(9), high));
        assert!(parse_row_key(&row[..row.len() - 1]).is_err());
    }

    /// The index's shortcuts (no scan while nothing can have expired) must not change which
    /// rows expire: compared, entry by entry, with a scan at every apply, over times that go
    /// backwards now and then (a new leader's clock may be behind the old one's).
    #[test]
    fn expiry_with_the_index_evicts_what_a_scan_at_every_apply_evicts() {
        let request = create("a");
        let done = Ok(OmResponse::Done);
        let (mut tables, mut index) = (MemoryTables::default(), RetryIndex::default());
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut time = 1_000u64;
        let expiry_ms = 200;
        let mut evicted = 0;
        for call in 0..3_000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            time = match rng % 50 {
                0 => time.saturating_sub(rng % 300),
                1 => time + 400,
                _ => time + rng % 3,
            };
            let now = TimeMs(time);
            // A scan at every apply: the rows older than the cutoff, oldest first, at most 16.
            let cutoff = time.saturating_sub(expiry_ms);
            let naive: Vec<Vec<u8>> = (retry_rows(&tables).into_iter())
                .map(|write| write.key)
                .take_while(|key| time >= expiry_ms && parse_row_key(key).unwrap().0 .0 < cutoff)
                .take(EXPIRED_PER_APPLY_MAX)
                .collect();
            let expired = index.expire(&tables, now, expiry_ms).unwrap();
            let keys: Vec<Vec<u8>> = expired.iter().map(|w| w.key.clone()).collect();
            assert_eq!(keys, naive, "call {call} at {time}");
            evicted += expired.len();
            apply(&mut tables, &mut index, &expired);
            let client = u128::from(rng % 7);
            apply(
                &mut tables,
                &mut index,
                &[record(caller(client, call), now, &request, &done)],
            );
            if call % 500 == 0 {
                let reloaded = loaded(&tables);
                assert_eq!(
                    reloaded.callers, index.callers,
                    "a load finds what was noted"
                );
            }
        }
        assert!(evicted > 1_000, "the run expires rows ({evicted})");
        assert_eq!(index.callers.len(), retry_rows(&tables).len());
    }

    #[test]
    fn a_format_2_store_is_converted_to_one_row_per_call_on_load() {
        let store = SimDisk::new().open(Scope::Tables).unwrap();
        let (request, done) = (create("a"), Ok(OmResponse::Done));
        let mut format_2 = Vec::new();
        for (who, time) in [(caller(1, 1), TimeMs(5)), (caller(2, 9), TimeMs(3))] {
            let current = record(who, time, &request, &done);
            let call_row = [FORMAT_2_CALL_PREFIX, &caller_bytes(who)].concat();
            format_2.push(TableWrite {
                table: Table::RetryCache,
                key: call_row,
                value: current.value.clone(),
            });
            format_2.push(TableWrite {
                value: Some(Vec::new()),
                ..current
            });
        }
        store.write(&format_2).unwrap();

        let index = RetryIndex::load(&store).unwrap();
        assert_eq!(index.callers.len(), 2);
        assert_eq!(index.oldest, Some(TimeMs(3)));
        let rows = store.scan_prefix(Table::RetryCache, b"", None, 10).unwrap();
        assert_eq!(rows.len(), 2, "the c/ rows are gone: {rows:?}");
        for who in [caller(1, 1), caller(2, 9)] {
            let mut tables = MemoryTables::default();
            tables.write(
                &rows
                    .iter()
                    .map(|(key, value)| TableWrite {
                        table: Table::RetryCache,
                        key: key.clone(),
                        value: Some(value.clone()),
                    })
                    .collect::<Vec<_>>(),
            );
            assert_eq!(
                index.lookup(&tables, who, &request).unwrap(),
                Some(done.clone())
            );
        }
        assert_eq!(
            RetryIndex::load(&store).unwrap(),
            index,
            "loading again changes nothing"
        );
    }
}
