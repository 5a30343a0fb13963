//! A create is applied, its leader dies, and the client retries the same call on the new
//! leader: the replicated retry cache answers the original success, not
//! `VOLUME_ALREADY_EXISTS`; a new call with the same name does get `VOLUME_ALREADY_EXISTS`.
//! The same call id with another request is not a retry: it is refused with
//! `RETRY_REQUEST_MISMATCH` and applied nowhere. A restarted client (a new instance) has its
//! calls applied although its call ids start at 1 again.
#![cfg(madsim)]

use om_server::client::OmClient;
use om_server::om::{OmRequest, OmResponse, OmResult, Quota};
use om_server::store::sim_disk::CrashMode;
use om_server::OmError;
use om_sim::scenario::{
    agreed_leader, client, client_host, converge, for_each_seed, seeds, start_group, wait_until,
};
use std::time::Duration;

fn create(volume: &str) -> OmRequest {
    OmRequest::CreateVolume {
        volume: volume.into(),
        owner: "hadoop".into(),
        quota: Quota::default(),
    }
}

fn info(volume: &str) -> OmRequest {
    OmRequest::VolumeInfo {
        volume: volume.into(),
    }
}

/// The answer of a call that must get one.
async fn answer(client: &mut OmClient, request: OmRequest) -> OmResult {
    let outcome = client.call(request.clone()).await;
    outcome.unwrap_or_else(|unavailable| panic!("{request:?}: {unavailable}"))
}

async fn scenario() {
    let cluster = start_group(3, |_| {}).await;
    let old_leader = agreed_leader(&cluster).unwrap();
    let host = client_host(1);

    // The client keeps one identity for the whole story: it moves between the host's tasks.
    let mut retrying = client(&cluster);
    let caller = retrying.next_caller();
    let (mut retrying, first) = host
        .spawn(async move {
            let first = retrying.call_as(caller, create("vol")).await;
            (retrying, first)
        })
        .await
        .unwrap();
    assert_eq!(first.unwrap(), Ok(OmResponse::Done));

    cluster.kill(old_leader, CrashMode::DROP_PENDING);
    let elected = wait_until(Duration::from_secs(10), || {
        agreed_leader(&cluster).is_some_and(|leader| leader != old_leader)
    })
    .await;
    assert!(elected, "no new leader after killing {old_leader}");

    let restarted_cluster = cluster.clone();
    let (retried, mismatched, fresh, restarted, reads) = host
        .spawn(async move {
            let retried = retrying.call_as(caller, create("vol")).await;
            let mismatched = retrying.call_as(caller, create("other")).await;
            let fresh = answer(&mut retrying, create("vol")).await;
            // A restart: a new instance whose first call is call 1 again.
            let mut restarted = client(&restarted_cluster);
            let created = answer(&mut restarted, create("after-restart")).await;
            let reads = (
                answer(&mut restarted, info("other")).await,
                answer(&mut restarted, info("after-restart")).await,
            );
            (retried, mismatched, fresh, created, reads)
        })
        .await
        .unwrap();
    assert_eq!(
        retried.unwrap(),
        Ok(OmResponse::Done),
        "the retry answers the original success"
    );
    assert_eq!(
        mismatched.unwrap(),
        Err(OmError::RetryRequestMismatch),
        "the same call id with another request is refused"
    );
    assert_eq!(
        fresh,
        Err(OmError::VolumeAlreadyExists),
        "a new call is a new create"
    );
    assert_eq!(
        restarted,
        Ok(OmResponse::Done),
        "a restarted client's call 1 is applied"
    );
    assert_eq!(
        reads.0,
        Err(OmError::VolumeNotFound),
        "the refused create was applied nowhere"
    );
    assert!(
        matches!(reads.1, Ok(OmResponse::Volume(_))),
        "the restarted client's volume: {:?}",
        reads.1
    );

    // The refusal is a replicated result: every replica, the old leader too, holds the same.
    cluster.restart(old_leader);
    converge(&cluster, Duration::from_secs(30))
        .await
        .unwrap_or_else(|reason| panic!("{reason}"));
}

#[test]
fn retried_create_after_leader_change_returns_original_success() {
    for_each_seed("retry_after_leader_change", &seeds(&[1, 2, 3, 4]), scenario);
}
