//! Writes per second of a 3-node cluster on loopback: sled stores, every Raft append synced,
//! concurrent clients creating buckets through leader failover.
//!
//! Run: `cargo bench -p om-server --bench cluster_writes [-- WRITES [CLIENTS]]`.

#[cfg(madsim)]
fn main() {}

#[cfg(not(madsim))]
fn main() {
    bench::main();
}

#[cfg(not(madsim))]
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time and reads its arguments
mod bench {
    use om_server::client::{FailoverPolicy, OmClient};
    use om_server::node::{NodeConfig, OmNode};
    use om_server::om::{BucketLayout, OmRequest, OmResponse, Quota};
    use om_server::raft::{NodeAddress, NodeId};
    use om_server::store::sled::SledStore;
    use om_server::transport::TransportLimits;
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn client(nodes: &[(NodeId, SocketAddr)]) -> OmClient {
        let policy = FailoverPolicy {
            attempts_max: 100,
            wait_between_retries: Duration::from_millis(20),
            call_timeout: Duration::from_secs(5),
        };
        OmClient::new(nodes, policy, &TransportLimits::default())
    }

    async fn run(writes: u64, clients: u64) {
        let base = std::env::temp_dir().join(format!("om-bench-cluster-{}", std::process::id()));
        let mut members = BTreeMap::new();
        for id in 1..=3u64 {
            let address = NodeAddress {
                client_address: format!("127.0.0.1:{}", free_port()),
                raft_address: format!("127.0.0.1:{}", free_port()),
            };
            members.insert(id, address);
        }
        let mut nodes = Vec::new();
        for (&id, address) in &members {
            // Two databases per node, as Ozone keeps its Raft log and its OM DB apart.
            let directory = base.join(id.to_string());
            let log_store = SledStore::open(&directory.join("log")).unwrap();
            let table_store = SledStore::open(&directory.join("tables")).unwrap();
            let config = NodeConfig::new(id, address.clone());
            nodes.push(OmNode::start(config, log_store, table_store).await.unwrap());
        }
        nodes[0].initialize(members.clone()).await.unwrap();
        let addresses: Vec<(NodeId, SocketAddr)> = members
            .iter()
            .map(|(&id, address)| (id, address.client_address.parse().unwrap()))
            .collect();
        let volume = OmRequest::CreateVolume {
            volume: "vol".into(),
            owner: "bench".into(),
            quota: Quota::default(),
        };
        assert_eq!(
            client(&addresses).call(volume).await.unwrap(),
            Ok(OmResponse::Done)
        );

        let started = Instant::now();
        let mut tasks = Vec::new();
        for number in 1..=clients {
            let mut client = client(&addresses);
            let per_client = writes / clients;
            tasks.push(tokio::spawn(async move {
                for n in 0..per_client {
                    let bucket = OmRequest::CreateBucket {
                        volume: "vol".into(),
                        bucket: format!("b-{number}-{n}"),
                        versioning: false,
                        layout: BucketLayout::ObjectStore,
                        quota: Quota::default(),
                    };
                    assert_eq!(client.call(bucket).await.unwrap(), Ok(OmResponse::Done));
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed();
        let done = writes / clients * clients;
        println!(
            "3-node loopback cluster, sled, synced appends: {done} writes from {clients} clients in {:.3} s = {:.0} writes/s",
            elapsed.as_secs_f64(),
            done as f64 / elapsed.as_secs_f64()
        );
        for node in nodes {
            node.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    pub fn main() {
        let numbers: Vec<u64> = std::env::args()
            .skip(1)
            .filter_map(|arg| arg.parse().ok())
            .collect();
        let writes = numbers.first().copied().unwrap_or(3000);
        let clients = numbers.get(1).copied().unwrap_or(16);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(writes, clients));
    }
}
