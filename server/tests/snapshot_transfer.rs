//! A snapshot larger than one frame reaches a new node over loopback TCP: it travels in chunks,
//! each a call of its own within openraft's per-call time-to-live, and the learner installs it
//! and ends with the leader's state. The frame cap is lowered to 64 KiB so that a state of a
//! few hundred KiB crosses it.
#![cfg(not(madsim))]

mod common;

use common::{create_bucket, create_volume, open_key};
use om_server::node::{ClientRequest, NodeConfig, OmNode};
use om_server::om::{OmRequest, OmResponse, OmResult};
use om_server::raft::{NodeAddress, NodeId};
use om_server::retry_cache::Caller;
use om_server::store::sled::SledStore;
use om_server::store::{Store, Table};
use om_server::transport::TransportLimits;
use om_server::types::{CallId, ClientId};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const FRAME_BYTES_MAX: usize = 64 * 1024;
const KEYS: u64 = 40;
const METADATA_BYTES: usize = 8 * 1024;

type Node = Arc<OmNode<SledStore>>;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn address() -> NodeAddress {
    NodeAddress {
        client_address: format!("127.0.0.1:{}", free_port()),
        raft_address: format!("127.0.0.1:{}", free_port()),
    }
}

async fn start(id: NodeId, address: &NodeAddress, directory: &std::path::Path) -> Node {
    let mut config = NodeConfig::new(id, address.clone());
    config.transport = TransportLimits {
        frame_bytes_max: FRAME_BYTES_MAX,
        ..TransportLimits::default()
    };
    let log_store = SledStore::open(&directory.join(format!("{id}-log"))).unwrap();
    let table_store = SledStore::open(&directory.join(format!("{id}-tables"))).unwrap();
    OmNode::start(config, log_store, table_store).await.unwrap()
}

/// Retries (bounded) while the node is not yet a ready leader.
async fn write(node: &Node, call: u64, request: OmRequest) -> OmResult {
    for _ in 0..300 {
        let caller = Caller {
            client: ClientId(7),
            call: CallId(call),
        };
        let request = request.clone();
        let answer = node
            .on_client_request(ClientRequest { caller, request })
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

/// Waits (bounded) until `ready` holds.
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

fn metrics(node: &Node) -> openraft::RaftMetrics<om_server::raft::OmRaftConfig> {
    let metrics = node.raft().metrics();
    let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
    metrics.clone()
}

fn state_of(node: &Node) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
    let tables = [
        Table::Volumes,
        Table::Buckets,
        Table::OpenKeys,
        Table::RetryCache,
    ];
    node.applier().store().export(&tables).unwrap().rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_larger_than_a_frame_is_installed_in_chunks() {
    let directory: PathBuf =
        std::env::temp_dir().join(format!("om-snapshot-transfer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    let (leader_address, learner_address) = (address(), address());
    let leader = start(1, &leader_address, &directory).await;
    leader
        .initialize(BTreeMap::from([(1, leader_address.clone())]))
        .await
        .unwrap();
    assert_eq!(
        write(&leader, 1, create_volume("vol")).await,
        Ok(OmResponse::Done)
    );
    assert_eq!(
        write(&leader, 2, create_bucket("vol", "bucket")).await,
        Ok(OmResponse::Done)
    );
    for n in 0..KEYS {
        let mut request = open_key("vol", "bucket", &format!("key-{n:03}"), 1);
        if let OmRequest::OpenKey { metadata, .. } = &mut request {
            metadata.insert("padding".into(), "x".repeat(METADATA_BYTES));
        }
        let opened = write(&leader, 3 + n, request).await;
        assert!(
            matches!(opened, Ok(OmResponse::KeyOpened { .. })),
            "{opened:?}"
        );
    }

    // A snapshot of everything, and the log purged up to it: a new node can only catch up
    // through the snapshot.
    leader.raft().trigger().snapshot().await.unwrap();
    let applied = metrics(&leader).last_applied.unwrap().index;
    wait_until("the leader's snapshot covers every entry", || {
        metrics(&leader)
            .snapshot
            .is_some_and(|id| id.index >= applied)
    })
    .await;
    leader.raft().trigger().purge_log(applied).await.unwrap();
    wait_until("the leader purged its log", || {
        metrics(&leader)
            .purged
            .is_some_and(|id| id.index >= applied)
    })
    .await;
    let snapshot = leader
        .raft()
        .get_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    let snapshot_bytes = snapshot.snapshot.get_ref().len();
    assert!(
        snapshot_bytes > 4 * FRAME_BYTES_MAX,
        "the snapshot ({snapshot_bytes} bytes) must cross the frame cap several times"
    );

    let learner = start(2, &learner_address, &directory).await;
    let added = tokio::time::timeout(
        Duration::from_secs(30),
        leader.add_learner(2, learner_address.clone()),
    )
    .await;
    assert_eq!(added.expect("the learner caught up in time"), Ok(()));
    wait_until("the learner applied everything", || {
        metrics(&learner)
            .last_applied
            .is_some_and(|id| id.index >= applied)
    })
    .await;
    assert!(
        metrics(&learner)
            .snapshot
            .is_some_and(|id| id.index >= applied),
        "the learner caught up through the snapshot"
    );
    wait_until("the learner flushed what it installed", || {
        let learner = learner.applier();
        learner.double_buffer().flushed_index() == learner.last_applied().index
    })
    .await;
    assert_eq!(
        state_of(&learner),
        state_of(&leader),
        "the learner holds the leader's state"
    );
    println!("snapshot of {snapshot_bytes} bytes installed through frames of {FRAME_BYTES_MAX}");

    learner.shutdown().await;
    leader.shutdown().await;
    let _ = std::fs::remove_dir_all(&directory);
}
