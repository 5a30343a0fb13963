//! Boots OM nodes on madsim: one simulated host per node, each with its own simulated disk,
//! kept here (outside the node) so it survives kills. Node handles are typed by `NodeId`. No
//! fault logic and no randomness: callers kill, restart, partition and arm disk crashes through
//! these methods, passing every byte and mode themselves.

use om_server::node::{NodeConfig, OmNode};
use om_server::raft::{NodeAddress, NodeId};
use om_server::store::sim_disk::{CrashMode, CrashTrigger, DiskTrip, SimDisk, SimDiskStore};
use om_server::store::Scope;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

pub const CLIENT_PORT: u16 = 9862;
pub const RAFT_PORT: u16 = 9872;

pub type SimNode = Arc<OmNode<SimDiskStore>>;

/// The running node of each id (absent while killed or starting).
type Running = Arc<Mutex<BTreeMap<NodeId, SimNode>>>;

/// Successful boots per node: a node's life is its boot number.
type Boots = Arc<Mutex<BTreeMap<NodeId, u64>>>;

/// Why a boot failed, per node, in order.
type BootFailures = Arc<Mutex<Vec<(NodeId, String)>>>;

struct Host {
    handle: madsim::runtime::NodeHandle,
    disk: SimDisk,
}

pub struct SimCluster {
    hosts: BTreeMap<NodeId, Host>,
    running: Running,
    boots: Boots,
    boot_failures: BootFailures,
    configs: BTreeMap<NodeId, NodeConfig>,
}

pub fn node_ip(id: NodeId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, id as u8))
}

pub fn client_address(id: NodeId) -> SocketAddr {
    SocketAddr::new(node_ip(id), CLIENT_PORT)
}

fn address(id: NodeId) -> NodeAddress {
    NodeAddress {
        client_address: SocketAddr::new(node_ip(id), CLIENT_PORT).to_string(),
        raft_address: SocketAddr::new(node_ip(id), RAFT_PORT).to_string(),
    }
}

impl SimCluster {
    /// Creates hosts for nodes `1..=count` and starts them (not yet a Raft group).
    pub fn start(count: u64, configure: impl Fn(&mut NodeConfig)) -> SimCluster {
        let runtime = madsim::runtime::Handle::current();
        let running: Running = Arc::default();
        let boot_failures: BootFailures = Arc::default();
        let boots: Boots = Arc::default();
        let mut hosts = BTreeMap::new();
        let mut configs = BTreeMap::new();
        for id in 1..=count {
            let mut config = NodeConfig::new(id, address(id));
            configure(&mut config);
            configs.insert(id, config.clone());
            let disk = SimDisk::new();
            let boot = Boot {
                id,
                config,
                disk: disk.clone(),
                running: running.clone(),
                boots: boots.clone(),
                failures: boot_failures.clone(),
            };
            let handle = runtime
                .create_node()
                .name(format!("om{id}"))
                .ip(node_ip(id))
                .init(move || boot.clone().run())
                .build();
            crate::logging::name_node(handle.id(), &format!("om{id}"));
            hosts.insert(id, Host { handle, disk });
        }
        SimCluster {
            hosts,
            running,
            boots,
            boot_failures,
            configs,
        }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.hosts.keys().copied().collect()
    }

    pub fn members(&self) -> BTreeMap<NodeId, NodeAddress> {
        self.configs
            .iter()
            .map(|(&id, config)| (id, config.address.clone()))
            .collect()
    }

    /// The node `id` while it runs.
    pub fn node(&self, id: NodeId) -> Option<SimNode> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&id)
            .cloned()
    }

    /// How many times node `id` has booted: identifies its current life.
    pub fn boots(&self, id: NodeId) -> u64 {
        let boots = self
            .boots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        boots.get(&id).copied().unwrap_or(0)
    }

    /// Boots that failed (a node that cannot open its disk or bind stays down).
    pub fn boot_failures(&self) -> Vec<(NodeId, String)> {
        self.boot_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn disk(&self, id: NodeId) -> &SimDisk {
        &self.hosts[&id].disk
    }

    /// Kills node `id`: its tasks die, and its disk crashes in `mode` (a process crash keeps
    /// the unsynced bytes, a power loss drops or tears them per scope). After the disk crashed
    /// itself (see [`SimCluster::tripped_disks`]), `CrashMode::ProcessCrash` changes nothing more
    /// on the disk.
    pub fn kill(&self, id: NodeId, mode: CrashMode) {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&id);
        madsim::runtime::Handle::current().kill(self.hosts[&id].handle.id());
        self.hosts[&id].disk.crash(mode);
    }

    /// Arms node `id`'s disk to crash itself in `mode` when `trigger` is reached (a power loss
    /// at that instant). The node then fails on its dead store handles; poll
    /// [`SimCluster::tripped_disks`] and kill and restart it.
    pub fn arm_disk_crash(&self, id: NodeId, trigger: CrashTrigger, mode: CrashMode) {
        self.hosts[&id].disk.arm_crash(trigger, mode);
    }

    /// Nodes whose disk crashed itself at an armed trigger and that were not killed since.
    pub fn tripped_disks(&self) -> Vec<(NodeId, DiskTrip)> {
        (self.hosts.iter())
            .filter_map(|(&id, host)| host.disk.tripped().map(|trip| (id, trip)))
            .collect()
    }

    /// Running nodes that stopped themselves, and why (`OmNode::fail_stopped`).
    pub fn fail_stopped(&self) -> Vec<(NodeId, String)> {
        (self.ids().into_iter())
            .filter_map(|id| Some((id, self.node(id)?.fail_stopped()?)))
            .collect()
    }

    /// Boots a killed node again from its disk.
    pub fn restart(&self, id: NodeId) {
        madsim::runtime::Handle::current().restart(self.hosts[&id].handle.id());
    }

    /// The simulated host of node `id` (for network faults).
    pub fn host(&self, id: NodeId) -> madsim::task::NodeId {
        self.hosts[&id].handle.id()
    }

    /// The wall clock node `id` stamps entries with (it survives restarts).
    pub fn clock(&self, id: NodeId) -> &om_server::clock::Clock {
        &self.configs[&id].clock
    }

    /// Stops running node `id`'s tasks until `resume` (SIGSTOP).
    pub fn pause(&self, id: NodeId) {
        madsim::runtime::Handle::current().pause(self.host(id));
    }

    pub fn resume(&self, id: NodeId) {
        madsim::runtime::Handle::current().resume(self.host(id));
    }

    /// Cuts `id` off from every other host (both directions).
    pub fn isolate(&self, id: NodeId) {
        madsim::net::NetSim::current().clog_node(self.hosts[&id].handle.id());
    }

    /// Cuts `id` off from the other OM nodes only: clients still reach it (a deposed leader
    /// that clients can ask).
    pub fn isolate_from_peers(&self, id: NodeId) {
        let network = madsim::net::NetSim::current();
        let host = self.hosts[&id].handle.id();
        for (_, other) in self.hosts.iter().filter(|(other, _)| **other != id) {
            network.clog_link(host, other.handle.id());
            network.clog_link(other.handle.id(), host);
        }
    }

    pub fn heal_peers(&self, id: NodeId) {
        let network = madsim::net::NetSim::current();
        let host = self.hosts[&id].handle.id();
        for (_, other) in self.hosts.iter().filter(|(other, _)| **other != id) {
            network.unclog_link(host, other.handle.id());
            network.unclog_link(other.handle.id(), host);
        }
    }

    pub fn heal(&self, id: NodeId) {
        madsim::net::NetSim::current().unclog_node(self.hosts[&id].handle.id());
    }
}

/// What a host runs at boot (and at every restart).
#[derive(Clone)]
struct Boot {
    id: NodeId,
    config: NodeConfig,
    disk: SimDisk,
    running: Running,
    boots: Boots,
    failures: BootFailures,
}

impl Boot {
    async fn run(self) {
        let opened =
            (self.disk.open(Scope::Log)).and_then(|log| Ok((log, self.disk.open(Scope::Tables)?)));
        let (log_store, table_store) = match opened {
            Ok(stores) => stores,
            Err(error) => return self.failed(format!("cannot open disk: {error}")),
        };
        match OmNode::start(self.config.clone(), log_store, table_store).await {
            Ok(node) => {
                *(self.boots.lock())
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .entry(self.id)
                    .or_insert(0) += 1;
                self.running
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(self.id, node);
                // madsim ends a host whose boot task returns (and drops its tasks): keep it
                // alive until the host is killed.
                std::future::pending::<()>().await;
            }
            Err(error) => self.failed(format!("cannot start: {error}")),
        }
    }

    fn failed(&self, reason: String) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((self.id, reason));
    }
}
