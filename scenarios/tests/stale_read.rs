//! Bug class 1 (stale read from a deposed leader): the leader is cut off from its peers (clients
//! still reach it), the majority elects another and commits a create; the deposed leader, asked
//! directly, must never answer from its stale state with `LINEARIZABLE` reads. With `DEFAULT`
//! reads it does (Ozone documents this): the control shows the scenario detects the bug.
#![cfg(madsim)]

use om_server::node::ReadOption;
use om_server::om::{OmRequest, OmResponse, Quota};
use om_server::OmError;
use om_sim::scenario::{
    agreed_leader, client, client_host, for_each_seed, pinned_client, seeds, start_group,
    wait_until,
};
use std::time::Duration;

/// Whether the deposed leader answered the read from stale state.
async fn deposed_leader_answers_stale(read_option: ReadOption) -> bool {
    let cluster = start_group(3, |config| config.read_option = read_option).await;
    let deposed = agreed_leader(&cluster).unwrap();
    cluster.isolate_from_peers(deposed);
    let others: Vec<_> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != deposed)
        .collect();
    let majority_leader = || {
        let node = cluster.node(others[0])?;
        let metrics = node.raft().metrics();
        let leader = openraft::rt::WatchReceiver::borrow_watched(&metrics).current_leader;
        leader.filter(|leader| *leader != deposed)
    };
    assert!(
        wait_until(Duration::from_secs(10), || majority_leader().is_some()).await,
        "the majority elects a leader"
    );

    let host = client_host(1);
    let writer_cluster = cluster.clone();
    let created = host
        .spawn(async move {
            let create = OmRequest::CreateVolume {
                volume: "fresh".into(),
                owner: "o".into(),
                quota: Quota::default(),
            };
            client(&writer_cluster).call(create).await
        })
        .await
        .unwrap();
    assert_eq!(
        created.unwrap(),
        Ok(OmResponse::Done),
        "the majority side commits"
    );

    // Ask the deposed leader; it still believes it leads until it learns otherwise.
    let read = host
        .spawn(async move {
            pinned_client(deposed)
                .call(OmRequest::VolumeInfo {
                    volume: "fresh".into(),
                })
                .await
        })
        .await
        .unwrap();
    cluster.heal_peers(deposed);
    match read {
        Ok(Ok(OmResponse::Volume(_))) => false, // it learned the write: not stale
        Ok(Err(OmError::VolumeNotFound)) => true,
        Ok(Err(OmError::NotLeader { .. } | OmError::InternalError(_))) | Err(_) => false, // refused or no answer
        Ok(other) => panic!("unexpected answer {other:?}"),
    }
}

async fn linearizable() {
    assert!(
        !deposed_leader_answers_stale(ReadOption::Linearizable).await,
        "a LINEARIZABLE read was stale"
    );
}

async fn default_reads() {
    assert!(
        deposed_leader_answers_stale(ReadOption::Default).await,
        "the control did not observe a stale read"
    );
}

#[test]
fn deposed_leader_never_serves_a_stale_linearizable_read() {
    for_each_seed("stale_read", &seeds(&[1, 2, 3, 4]), linearizable);
}

#[test]
fn control_default_reads_from_a_deposed_leader_can_be_stale() {
    for_each_seed("stale_read", &seeds(&[1, 2]), default_reads);
}
