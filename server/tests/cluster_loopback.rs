//! A 3-node cluster on real loopback sockets with sled stores: elects a leader, serves writes
//! from concurrent clients through failover, survives the leader's shutdown and its restart,
//! and ends with every replica holding the same state at the same applied index.
#![cfg(not(madsim))]

use om_server::client::{FailoverPolicy, OmClient};
use om_server::node::{NodeConfig, OmNode};
use om_server::om::{OmRequest, OmResponse, Quota};
use om_server::raft::{NodeAddress, NodeId};
use om_server::store::sled::SledStore;
use om_server::store::{Store, Table};
use om_server::transport::TransportLimits;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Member {
    id: NodeId,
    address: NodeAddress,
    directory: PathBuf,
}

fn members(count: u64) -> Vec<Member> {
    (1..=count)
        .map(|id| Member {
            id,
            address: NodeAddress {
                client_address: format!("127.0.0.1:{}", free_port()),
                raft_address: format!("127.0.0.1:{}", free_port()),
            },
            directory: std::env::temp_dir().join(format!("om-cluster-{}-{id}", std::process::id())),
        })
        .collect()
}

/// A node on two sled databases in two directories: its Raft log and its tables.
async fn start(member: &Member) -> Arc<OmNode<SledStore>> {
    let log_store = SledStore::open(&member.directory.join("log")).unwrap();
    let table_store = SledStore::open(&member.directory.join("tables")).unwrap();
    let config = NodeConfig::new(member.id, member.address.clone());
    OmNode::start(config, log_store, table_store).await.unwrap()
}

fn client(members: &[Member]) -> OmClient {
    let nodes: Vec<(NodeId, SocketAddr)> = members
        .iter()
        .map(|member| (member.id, member.address.client_address.parse().unwrap()))
        .collect();
    // 30 s of refused connections: an election on a loaded 2-core machine took over 10 s.
    let policy = FailoverPolicy {
        attempts_max: 600,
        wait_between_retries: Duration::from_millis(50),
        call_timeout: Duration::from_secs(2),
    };
    OmClient::new(&nodes, policy, &TransportLimits::default())
}

/// Waits (bounded) until `ready` holds.
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..600 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

fn state_of(node: &OmNode<SledStore>) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
    node.applier()
        .store()
        .export(&[
            Table::Volumes,
            Table::Buckets,
            Table::Keys,
            Table::OpenKeys,
            Table::RetryCache,
        ])
        .unwrap()
        .rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_loopback_replicate_and_fail_over() {
    let members = members(3);
    let mut nodes: Vec<Option<Arc<OmNode<SledStore>>>> = Vec::new();
    for member in &members {
        nodes.push(Some(start(member).await));
    }
    let voters: BTreeMap<NodeId, NodeAddress> = members
        .iter()
        .map(|member| (member.id, member.address.clone()))
        .collect();
    nodes[0].as_ref().unwrap().initialize(voters).await.unwrap();

    let volume = OmRequest::CreateVolume {
        volume: "vol".into(),
        owner: "hadoop".into(),
        quota: Quota::default(),
    };
    assert_eq!(
        client(&members).call(volume).await.unwrap(),
        Ok(OmResponse::Done)
    );

    let mut writers = Vec::new();
    for writer in 0..3u64 {
        let mut client = client(&members);
        writers.push(tokio::spawn(async move {
            for n in 0..20 {
                let bucket = OmRequest::CreateBucket {
                    volume: "vol".into(),
                    bucket: format!("b-{writer}-{n}"),
                    versioning: false,
                    layout: om_server::om::BucketLayout::ObjectStore,
                    quota: Quota::default(),
                };
                assert_eq!(client.call(bucket).await.unwrap(), Ok(OmResponse::Done));
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    // A restarted client is a new instance: its call ids start at 1 again under a new client
    // id, so its writes are applied, not answered from an earlier instance's retry records.
    for restart in 0..2 {
        let bucket = OmRequest::CreateBucket {
            volume: "vol".into(),
            bucket: format!("restarted-{restart}"),
            versioning: false,
            layout: om_server::om::BucketLayout::ObjectStore,
            quota: Quota::default(),
        };
        assert_eq!(
            client(&members).call(bucket).await.unwrap(),
            Ok(OmResponse::Done)
        );
    }

    // Stop the leader; the others elect a new one and keep serving.
    let leader = nodes[0]
        .as_ref()
        .unwrap()
        .raft()
        .current_leader()
        .await
        .expect("a leader");
    let position = members
        .iter()
        .position(|member| member.id == leader)
        .unwrap();
    nodes[position].take().unwrap().shutdown().await;
    let mut client = client(&members);
    for n in 0..10 {
        let bucket = OmRequest::CreateBucket {
            volume: "vol".into(),
            bucket: format!("after-{n}"),
            versioning: false,
            layout: om_server::om::BucketLayout::ObjectStore,
            quota: Quota::default(),
        };
        assert_eq!(client.call(bucket).await.unwrap(), Ok(OmResponse::Done));
    }

    // The old leader restarts from its store and catches up.
    nodes[position] = Some(start(&members[position]).await);
    let nodes: Vec<_> = nodes.into_iter().map(Option::unwrap).collect();
    wait_until("every replica applied and flushed the same index", || {
        let applied: Vec<_> = nodes
            .iter()
            .map(|node| node.applier().double_buffer().flushed_index())
            .collect();
        applied.iter().all(|index| *index == applied[0]) && applied[0].0 >= 74
    })
    .await;
    let reference = state_of(&nodes[0]);
    assert_eq!(
        reference
            .iter()
            .filter(|(table, _, _)| *table == Table::Buckets)
            .count(),
        72,
        "every acknowledged bucket is there"
    );
    for node in &nodes[1..] {
        assert_eq!(state_of(node), reference, "node {} diverged", node.id());
    }
    for (node, member) in nodes.iter().zip(&members) {
        node.shutdown().await;
        let _ = std::fs::remove_dir_all(&member.directory);
    }
}
