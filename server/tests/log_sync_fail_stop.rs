//! A failed sync of the Raft log stops the node (fail-stop): `fail_stopped` says why, and it
//! acknowledges no write after that; restarted on a repaired disk it serves again and holds
//! every write it acknowledged. One node on loopback sockets with simulated-disk stores (the
//! fault is injected into the log's scope only; the tables' store keeps working).
#![cfg(not(madsim))]

use om_server::client::{FailoverPolicy, OmClient};
use om_server::node::{NodeConfig, OmNode};
use om_server::om::{BucketLayout, OmRequest, OmResponse, Quota};
use om_server::raft::NodeAddress;
use om_server::store::sim_disk::{CrashMode, DiskFault, SimDisk, SimDiskStore};
use om_server::store::Scope;
use om_server::transport::TransportLimits;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

type Node = Arc<OmNode<SimDiskStore>>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(disk: &SimDisk, address: &NodeAddress) -> Node {
    let log_store = disk.open(Scope::Log).unwrap();
    let table_store = disk.open(Scope::Tables).unwrap();
    let config = NodeConfig::new(1, address.clone());
    OmNode::start(config, log_store, table_store).await.unwrap()
}

fn client(address: &NodeAddress, attempts_max: u32) -> OmClient {
    let policy = FailoverPolicy {
        attempts_max,
        wait_between_retries: Duration::from_millis(50),
        call_timeout: Duration::from_secs(2),
    };
    let nodes = [(1, address.client_address.parse().unwrap())];
    OmClient::new(&nodes, policy, &TransportLimits::default())
}

fn create_bucket(name: &str) -> OmRequest {
    OmRequest::CreateBucket {
        volume: "vol".into(),
        bucket: name.into(),
        versioning: false,
        layout: BucketLayout::ObjectStore,
        quota: Quota::default(),
    }
}

/// Waits (bounded) until `ready` holds.
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..200 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn bucket_names(client: &mut OmClient) -> Vec<String> {
    let listed = client
        .call(OmRequest::ListBuckets {
            volume: "vol".into(),
            prefix: String::new(),
            start: String::new(),
            max: 100,
        })
        .await;
    let Ok(Ok(OmResponse::Buckets(buckets))) = listed else {
        panic!("{listed:?}")
    };
    buckets.into_iter().map(|bucket| bucket.name).collect()
}

async fn fail_stop_and_recover(keep_pending: bool) {
    let address = NodeAddress {
        client_address: format!("127.0.0.1:{}", free_port()),
        raft_address: format!("127.0.0.1:{}", free_port()),
    };
    let disk = SimDisk::new();
    let node = start(&disk, &address).await;
    node.initialize(BTreeMap::from([(1, address.clone())]))
        .await
        .unwrap();
    let mut writer = client(&address, 100);
    let volume = OmRequest::CreateVolume {
        volume: "vol".into(),
        owner: "hadoop".into(),
        quota: Quota::default(),
    };
    assert_eq!(writer.call(volume).await.unwrap(), Ok(OmResponse::Done));
    assert_eq!(
        writer.call(create_bucket("before")).await.unwrap(),
        Ok(OmResponse::Done)
    );
    assert_eq!(node.fail_stopped(), None);

    disk.inject(DiskFault::FailNextSync {
        scope: Scope::Log,
        keep_pending,
    });
    let mut refused = client(&address, 3);
    let failed = refused.call(create_bucket("failed")).await;
    assert!(
        !matches!(failed, Ok(Ok(_))),
        "a write whose log sync failed was acknowledged: {failed:?}"
    );
    wait_until("the node stops itself", || node.fail_stopped().is_some()).await;
    let reason = node.fail_stopped().unwrap();
    assert!(reason.contains("injected sync failure"), "{reason}");
    for name in ["after-1", "after-2"] {
        let later = refused.call(create_bucket(name)).await;
        assert!(
            !matches!(later, Ok(Ok(_))),
            "a stopped node acknowledged {name}: {later:?}"
        );
    }
    let stats = disk.stats();
    assert_eq!((stats.log.failed_syncs, stats.log.poisoned), (1, true));
    assert!(!stats.tables.poisoned, "the fault hit the log only");

    // Restart on the repaired disk: the process died, the machine did not.
    node.shutdown().await;
    drop(node);
    disk.crash(CrashMode::ProcessCrash);
    disk.clear_faults();
    let node = start(&disk, &address).await;
    let mut reader = client(&address, 100);
    assert_eq!(
        reader.call(create_bucket("restarted")).await.unwrap(),
        Ok(OmResponse::Done)
    );
    let names = bucket_names(&mut reader).await;
    assert!(
        names.contains(&"before".to_string()) && names.contains(&"restarted".to_string()),
        "acknowledged writes survive: {names:?}"
    );
    assert!(
        !names.iter().any(|name| name.starts_with("after")),
        "{names:?}"
    );
    // The failed entry was never acknowledged: dropped with its pages, or kept in the page cache
    // across the process crash and committed by the restarted leader.
    assert_eq!(
        names.contains(&"failed".to_string()),
        keep_pending,
        "{names:?}"
    );
    assert_eq!(node.fail_stopped(), None);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_log_sync_stops_the_node_until_restart_dropping_pending() {
    fail_stop_and_recover(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_log_sync_stops_the_node_until_restart_keeping_pending() {
    fail_stop_and_recover(true).await;
}
