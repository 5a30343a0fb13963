//! The leader's time floor (no entry is stamped earlier than one already applied) survives a
//! restart and a snapshot install: it is flushed with the transaction info.

mod common;

use common::{block_on, create_bucket, create_volume, entry};
use om_server::applier::Applier;
use om_server::om::OmEntry;
use om_server::store::sim_disk::{CrashMode, SimDisk};
use om_server::store::Scope;
use om_server::transaction_info::TransactionInfo;
use om_server::types::{AppliedMark, LogIndex, Term, TimeMs};

fn stamped(index: u64, time: u64, request: om_server::om::OmRequest) -> OmEntry {
    OmEntry {
        time: TimeMs(time),
        ..entry(index, request)
    }
}

#[test]
fn the_floor_is_restored_on_open_and_by_a_snapshot() {
    block_on(async {
        let disk = SimDisk::new();
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), 10).unwrap();
        applier
            .apply(Term(1), &stamped(1, 5_000, create_volume("vol")))
            .await
            .unwrap()
            .unwrap();
        // A later entry stamped earlier (it cannot happen, but the floor is a maximum).
        let bucket = stamped(2, 4_000, create_bucket("vol", "bucket"));
        applier.apply(Term(1), &bucket).await.unwrap().unwrap();
        applier.double_buffer().stop().await;
        assert_eq!(applier.last_time(), TimeMs(5_000));

        disk.crash(CrashMode::ProcessCrash);
        let reopened = Applier::open(disk.open(Scope::Tables).unwrap(), 10).unwrap();
        assert_eq!(reopened.last_applied().index, LogIndex(2));
        assert_eq!(reopened.last_time(), TimeMs(5_000), "restored on open");

        let (image, info) = reopened.snapshot_image().await.unwrap();
        assert_eq!(info.time_floor, TimeMs(5_000));
        let follower = Applier::open(SimDisk::new().open(Scope::Tables).unwrap(), 10).unwrap();
        assert_eq!(follower.last_time(), TimeMs(0));
        follower.install_image(&image).await.unwrap();
        assert_eq!(
            follower.last_time(),
            TimeMs(5_000),
            "restored by the snapshot"
        );
    });
}

#[test]
fn a_version_1_record_reads_with_no_floor() {
    #[derive(serde::Serialize)]
    struct Version1 {
        applied: AppliedMark,
        membership: Option<Vec<u8>>,
    }
    let applied = AppliedMark {
        term: Term(3),
        index: LogIndex(7),
    };
    let old = bincode::serialize(&Version1 {
        applied,
        membership: Some(vec![1, 2]),
    })
    .unwrap();
    let expected = TransactionInfo {
        applied,
        membership: Some(vec![1, 2]),
        time_floor: TimeMs(0),
    };
    assert_eq!(TransactionInfo::decode(&old).unwrap(), expected);
    let current = TransactionInfo {
        time_floor: TimeMs(9),
        ..expected
    };
    let bytes = current.to_write().value.unwrap();
    assert_eq!(TransactionInfo::decode(&bytes).unwrap(), current);
    assert!(
        TransactionInfo::decode(&bytes[..3]).is_err(),
        "garbage is refused"
    );
}

/// A node restarted with its clock an hour slow stamps no entry earlier than one before the
/// restart (everything was flushed, so no log replay restores the floor).
#[cfg(not(madsim))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_leader_with_a_slow_clock_never_stamps_backwards() {
    use om_server::node::{ClientRequest, NodeConfig, OmNode};
    use om_server::om::{OmRequest, OmResponse, OmResult};
    use om_server::raft::NodeAddress;
    use om_server::retry_cache::Caller;
    use om_server::store::sim_disk::SimDiskStore;
    use om_server::types::{CallId, ClientId};
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }
    async fn start(
        disk: &SimDisk,
        address: &NodeAddress,
        offset_ms: i64,
    ) -> Arc<OmNode<SimDiskStore>> {
        let config = NodeConfig::new(1, address.clone());
        config.clock.set_offset_ms(offset_ms);
        let (log, tables) = (
            disk.open(Scope::Log).unwrap(),
            disk.open(Scope::Tables).unwrap(),
        );
        OmNode::start(config, log, tables).await.unwrap()
    }
    /// Retries (bounded) while the node is not yet an elected, ready leader.
    async fn call(node: &OmNode<SimDiskStore>, call: u64, request: OmRequest) -> OmResult {
        for _ in 0..300 {
            let caller = Caller {
                client: ClientId(1),
                call: CallId(call),
            };
            let answer = node
                .on_client_request(ClientRequest {
                    caller,
                    request: request.clone(),
                })
                .await;
            match &answer {
                Err(om_server::error::OmError::NotLeader { .. })
                | Err(om_server::error::OmError::LeaderNotReady) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                _ => return answer,
            }
        }
        panic!("the node never became a ready leader");
    }
    async fn created(node: &OmNode<SimDiskStore>, bucket: &str) -> u64 {
        let info = OmRequest::BucketInfo {
            volume: "vol".into(),
            bucket: bucket.into(),
        };
        match call(node, 0, info).await {
            Ok(OmResponse::Bucket(bucket)) => bucket.creation_time_ms,
            other => panic!("{other:?}"),
        }
    }

    let address = NodeAddress {
        client_address: format!("127.0.0.1:{}", free_port()),
        raft_address: format!("127.0.0.1:{}", free_port()),
    };
    let disk = SimDisk::new();
    let node = start(&disk, &address, 0).await;
    node.initialize(BTreeMap::from([(1, address.clone())]))
        .await
        .unwrap();
    assert_eq!(
        call(&node, 1, create_volume("vol")).await,
        Ok(OmResponse::Done)
    );
    assert_eq!(
        call(&node, 2, create_bucket("vol", "before")).await,
        Ok(OmResponse::Done)
    );
    let before = created(&node, "before").await;
    node.shutdown().await;
    let applier = node.applier().clone();
    assert_eq!(
        applier.double_buffer().flushed_index(),
        applier.last_applied().index
    );
    drop(node);

    disk.crash(CrashMode::ProcessCrash);
    let node = start(&disk, &address, -3_600_000).await;
    assert_eq!(
        call(&node, 3, create_bucket("vol", "after")).await,
        Ok(OmResponse::Done)
    );
    let after = created(&node, "after").await;
    assert!(after >= before, "stamped backwards: {after} after {before}");
    node.shutdown().await;
}
