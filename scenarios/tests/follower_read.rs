//! A follower refuses writes with `NOT_LEADER` naming the leader. LINEARIZABLE reads on a
//! follower: after a ReadIndex round trip to the leader and applying up
//! to that index, a follower answers with every write acknowledged before the read began; cut
//! off from the leader, it refuses rather than answer from stale state.
#![cfg(madsim)]

use om_server::node::{ClientRequest, ReadOption};
use om_server::om::{OmRequest, OmResponse, Quota};
use om_server::retry_cache::Caller;
use om_server::types::{CallId, ClientId};
use om_server::OmError;
use om_sim::scenario::{
    agreed_leader, client, client_host, for_each_seed, pinned_client, seeds, start_group,
    wait_until,
};
use std::time::Duration;

fn create(volume: &str) -> OmRequest {
    OmRequest::CreateVolume {
        volume: volume.into(),
        owner: "o".into(),
        quota: Quota::default(),
    }
}

fn info(volume: &str) -> OmRequest {
    OmRequest::VolumeInfo {
        volume: volume.into(),
    }
}

async fn scenario() {
    let cluster = start_group(3, |config| config.read_option = ReadOption::Linearizable).await;
    let leader = agreed_leader(&cluster).unwrap();
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let host = client_host(1);

    // A write sent to a follower is refused with the leader's id and client address.
    let caller = Caller {
        client: ClientId::random(),
        call: CallId(1),
    };
    let misrouted = ClientRequest {
        caller,
        request: create("misrouted"),
    };
    let refused = cluster
        .node(follower)
        .unwrap()
        .on_client_request(misrouted)
        .await;
    let expected = OmError::NotLeader {
        leader_id: Some(leader),
        leader_address: Some(om_sim::cluster::client_address(leader).to_string()),
    };
    assert_eq!(refused, Err(expected), "NOT_LEADER names the leader");

    let writer_cluster = cluster.clone();
    let (created, read) = host
        .spawn(async move {
            let created = client(&writer_cluster).call(create("first")).await;
            // Right after the acknowledgement, on the follower: it must see the write.
            let read = pinned_client(follower).call(info("first")).await;
            (created, read)
        })
        .await
        .unwrap();
    assert_eq!(created.unwrap(), Ok(OmResponse::Done));
    let read = read.expect("the follower answers");
    assert!(
        matches!(read, Ok(OmResponse::Volume(_))),
        "follower {follower} read: {read:?}"
    );

    // Cut off from the leader, the follower must not answer from what it has.
    cluster.isolate_from_peers(follower);
    let majority_cluster = cluster.clone();
    let (created, read) = host
        .spawn(async move {
            let created = client(&majority_cluster).call(create("second")).await;
            let read = pinned_client(follower).call(info("second")).await;
            (created, read)
        })
        .await
        .unwrap();
    assert_eq!(
        created.unwrap(),
        Ok(OmResponse::Done),
        "the majority keeps serving"
    );
    match read {
        Ok(Err(OmError::VolumeNotFound)) => {
            panic!("isolated follower {follower} answered a stale read")
        }
        Ok(Ok(OmResponse::Volume(_))) => {
            panic!("isolated follower {follower} cannot have the new write")
        }
        Ok(Err(OmError::NotLeader { .. } | OmError::InternalError(_))) | Err(_) => {}
        Ok(other) => panic!("unexpected answer {other:?}"),
    }

    // Healed, it serves again.
    cluster.heal_peers(follower);
    let caught_up = wait_until(Duration::from_secs(10), || {
        let node = cluster.node(follower);
        node.is_some_and(|node| {
            node.applier()
                .read(&info("second"))
                .is_ok_and(|answer| answer.is_ok())
        })
    })
    .await;
    assert!(
        caught_up,
        "follower {follower} catches up after the partition heals"
    );
    let read = host
        .spawn(async move { pinned_client(follower).call(info("second")).await })
        .await
        .unwrap();
    assert!(
        matches!(read, Ok(Ok(OmResponse::Volume(_)))),
        "healed follower read: {read:?}"
    );
}

#[test]
fn follower_serves_linearizable_reads_and_refuses_when_cut_off() {
    for_each_seed("follower_read", &seeds(&[1, 2, 3]), scenario);
}
