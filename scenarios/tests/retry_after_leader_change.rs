//! A create is applied, its leader dies, and the client retries the same call on the new
//! leader: the replicated retry cache answers the original success, not
//! `VOLUME_ALREADY_EXISTS`; a new call with the same name does get `VOLUME_ALREADY_EXISTS`.
#![cfg(madsim)]

use om_server::om::{OmRequest, OmResponse, Quota};
use om_server::retry_cache::Caller;
use om_server::store::sim_disk::CrashMode;
use om_server::types::{CallId, ClientId};
use om_server::OmError;
use om_sim::scenario::{
    agreed_leader, client, client_host, for_each_seed, seeds, start_group, wait_until,
};
use std::time::Duration;

async fn scenario() {
    let cluster = start_group(3, |_| {}).await;
    let old_leader = agreed_leader(&cluster).unwrap();
    let create = OmRequest::CreateVolume {
        volume: "vol".into(),
        owner: "hadoop".into(),
        quota: Quota::default(),
    };
    let caller = Caller {
        client: ClientId(7),
        call: CallId(1),
    };

    let host = client_host(1);
    let first_cluster = cluster.clone();
    let (request, again) = (create.clone(), create.clone());
    let first = host
        .spawn(async move { client(&first_cluster, 7).call_as(caller, request).await })
        .await
        .unwrap();
    assert_eq!(first.unwrap(), Ok(OmResponse::Done));

    cluster.kill(old_leader, CrashMode::DROP_PENDING);
    let elected = wait_until(Duration::from_secs(10), || {
        agreed_leader(&cluster).is_some_and(|leader| leader != old_leader)
    })
    .await;
    assert!(elected, "no new leader after killing {old_leader}");

    let retry_cluster = cluster.clone();
    let (retried, fresh) = host
        .spawn(async move {
            let mut retrying = client(&retry_cluster, 7);
            let retried = retrying.call_as(caller, again.clone()).await;
            let fresh = retrying
                .call_as(
                    Caller {
                        client: ClientId(7),
                        call: CallId(2),
                    },
                    again,
                )
                .await;
            (retried, fresh)
        })
        .await
        .unwrap();
    assert_eq!(
        retried.unwrap(),
        Ok(OmResponse::Done),
        "the retry answers the original success"
    );
    assert_eq!(
        fresh.unwrap(),
        Err(OmError::VolumeAlreadyExists),
        "a new call is a new create"
    );
}

#[test]
fn retried_create_after_leader_change_returns_original_success() {
    for_each_seed("retry_after_leader_change", &seeds(&[1, 2, 3, 4]), scenario);
}
