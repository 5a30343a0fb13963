//! etcd as the load generator's target: each client puts new keys, one put one write, through
//! the leader. Clients share a few gRPC connections (HTTP/2 multiplexes their calls), as etcd's
//! own benchmark tool does.

use crate::load::Writer;
use etcd_client::{Client, KvClient};

/// Bytes of each value: about what one of our key-create writes carries.
const VALUE_BYTES: usize = 128;

/// The client URL of the member that leads, found through any endpoint.
pub async fn leader_endpoint(endpoints: &[String]) -> Result<String, String> {
    let mut client = Client::connect(endpoints, None)
        .await
        .map_err(|error| format!("etcd: cannot connect: {error}"))?;
    let status = client
        .status()
        .await
        .map_err(|error| format!("etcd: status: {error}"))?;
    let leader = status.leader();
    let members = client
        .member_list()
        .await
        .map_err(|error| format!("etcd: member list: {error}"))?;
    let member = members
        .members()
        .iter()
        .find(|member| member.id() == leader)
        .ok_or_else(|| format!("etcd: the leader {leader:x} is not a member"))?;
    member
        .client_urls()
        .first()
        .cloned()
        .ok_or_else(|| format!("etcd: the leader {leader:x} has no client URL"))
}

/// `count` connections to `endpoint`.
pub async fn connections(endpoint: &str, count: usize) -> Result<Vec<Client>, String> {
    let mut clients = Vec::new();
    for _ in 0..count {
        let client = Client::connect([endpoint], None)
            .await
            .map_err(|error| format!("etcd: cannot connect to {endpoint}: {error}"))?;
        clients.push(client);
    }
    Ok(clients)
}

pub struct EtcdWriter {
    kv: KvClient,
    key_prefix: String,
    keys_put: u64,
    value: Vec<u8>,
}

impl EtcdWriter {
    /// Writer `number` of a run named `run`, on `connection` (shared with other writers).
    pub fn new(connection: &Client, run: &str, number: usize) -> EtcdWriter {
        EtcdWriter {
            kv: connection.kv_client(),
            key_prefix: format!("bench/{run}-{number}-"),
            keys_put: 0,
            value: vec![b'v'; VALUE_BYTES],
        }
    }
}

impl Writer for EtcdWriter {
    async fn write(&mut self) -> Result<(), String> {
        self.keys_put += 1;
        let key = format!("{}{}", self.key_prefix, self.keys_put);
        let put = self.kv.put(key, self.value.clone(), None).await;
        put.map(|_| ()).map_err(|error| error.to_string())
    }
}
