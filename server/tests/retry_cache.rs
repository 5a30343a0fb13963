//! The retry cache through the apply pipeline: a retry (same caller, same request) gets the
//! recorded answer and changes nothing; the same caller with another request is refused with
//! `RETRY_REQUEST_MISMATCH` and changes nothing either; every replica answers alike.

mod common;

use common::{block_on, create_volume, entry};
use om_server::applier::Applier;
use om_server::om::{OmRequest, OmResponse, OmResult};
use om_server::retry_cache::Caller;
use om_server::store::sim_disk::SimDisk;
use om_server::store::{Store, Table};
use om_server::types::{CallId, ClientId, Term};
use om_server::OmError;

type Rows = Vec<(Table, Vec<u8>, Vec<u8>)>;

fn caller(client: u128, call: u64) -> Caller {
    Caller {
        client: ClientId(client),
        call: CallId(call),
    }
}

/// One replica: applies entries in log order on its own disk.
struct Replica<S: Store> {
    applier: Applier<S>,
    next_index: u64,
}

impl<S: Store> Replica<S> {
    async fn submit(&mut self, caller: Caller, request: OmRequest) -> OmResult {
        let entry = entry(self.next_index, request);
        self.next_index += 1;
        let answer = self
            .applier
            .apply_request(Term(1), &entry, Some(caller), 300_000)
            .await;
        answer.expect("the simulated disk does not fail")
    }

    /// The metadata and retry-cache rows, once everything applied is flushed.
    async fn state(&self) -> Rows {
        let applied = self.applier.last_applied().index;
        self.applier
            .double_buffer()
            .wait_flushed(applied)
            .await
            .unwrap();
        let tables = [
            Table::Volumes,
            Table::Buckets,
            Table::Keys,
            Table::OpenKeys,
            Table::RetryCache,
        ];
        self.applier.store().export(&tables).unwrap().rows
    }
}

fn volume_names(rows: &Rows) -> Vec<String> {
    (rows.iter())
        .filter(|(table, _, _)| *table == Table::Volumes)
        .map(|(_, key, _)| String::from_utf8_lossy(key).into_owned())
        .collect()
}

/// Runs the same entries on one replica; returns its answers and its final state.
async fn run_replica() -> (Vec<OmResult>, Rows) {
    let disk = SimDisk::new();
    let mut replica = Replica {
        applier: Applier::open(disk.open(om_server::store::Scope::Tables).unwrap(), 100).unwrap(),
        next_index: 1,
    };
    let (first, second) = (caller(1 << 100, 1), caller(2, 1));
    let mut answers = vec![replica.submit(first, create_volume("vol-a")).await];
    let applied = replica.state().await;

    answers.push(replica.submit(first, create_volume("vol-a")).await);
    assert_eq!(replica.state().await, applied, "a retry changes nothing");
    answers.push(replica.submit(first, create_volume("vol-b")).await);
    let refused = replica.state().await;
    assert_eq!(refused, applied, "a refused call changes nothing");
    let info = OmRequest::VolumeInfo {
        volume: "vol-b".into(),
    };
    assert_eq!(
        replica.applier.read(&info).unwrap(),
        Err(OmError::VolumeNotFound),
        "the refused create of volume vol-b was not applied"
    );

    // Another client's call 1 is its own call: applied.
    answers.push(replica.submit(second, create_volume("vol-b")).await);
    (answers, replica.state().await)
}

#[test]
fn a_retry_gets_the_recorded_answer_and_another_request_is_refused_on_every_replica() {
    block_on(async {
        let (answers, state) = run_replica().await;
        assert_eq!(
            answers,
            vec![
                Ok(OmResponse::Done),
                Ok(OmResponse::Done),
                Err(OmError::RetryRequestMismatch),
                Ok(OmResponse::Done),
            ]
        );
        assert_eq!(volume_names(&state).len(), 2, "{:?}", volume_names(&state));
        let (other_answers, other_state) = run_replica().await;
        assert_eq!(other_answers, answers, "every replica answers alike");
        assert_eq!(other_state, state, "every replica holds the same rows");
        assert!(state
            .iter()
            .any(|(table, _, _)| *table == Table::RetryCache));
    });
}

#[test]
fn the_refusal_code_is_named_like_ozone_codes() {
    assert_eq!(
        OmError::RetryRequestMismatch.code(),
        "RETRY_REQUEST_MISMATCH"
    );
    assert_eq!(
        OmError::RetryRequestMismatch.to_string(),
        "RETRY_REQUEST_MISMATCH"
    );
}
