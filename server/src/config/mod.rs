//! `ozone-site.xml`, read into a typed [`OmConfig`], and the one conversion from it into what
//! a node ([`NodeConfig`]) and a client ([`FailoverPolicy`], node addresses) are built from.
//! The daemon and the simulation both go through it; the conversion does no I/O (host names
//! are resolved, if at all, by the caller with [`OmConfig::resolve_hosts`]).
//!
//! Raft node ids are numbers; Ozone's node ids are names (`om1`). A node's number is its
//! 1-based position in `ozone.om.nodes.<serviceId>`: reordering that list renumbers the nodes,
//! which is why the daemon records its number when its directory is initialised and refuses a
//! configuration that disagrees.

pub mod keys;
mod parse;
pub mod site_xml;
#[cfg(test)]
mod tests;

pub use site_xml::SiteConfig;

use crate::client::FailoverPolicy;
use crate::node::{NodeConfig, ReadOption};
use crate::raft::{NodeAddress, NodeId};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One OM of a service, as the configuration describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OmNodeConfig {
    /// Ozone's node id (`om1`).
    pub name: String,
    /// The Raft node id: 1-based position in `ozone.om.nodes.<serviceId>`.
    pub raft_id: NodeId,
    pub host: String,
    pub client_port: u16,
    pub raft_port: u16,
}

impl OmNodeConfig {
    pub fn client_address(&self) -> String {
        join_host_port(&self.host, self.client_port)
    }

    pub fn raft_address(&self) -> String {
        join_host_port(&self.host, self.raft_port)
    }

    pub fn address(&self) -> NodeAddress {
        NodeAddress {
            client_address: self.client_address(),
            raft_address: self.raft_address(),
        }
    }
}

/// An IPv6 host needs brackets in `host:port`.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One HA service (`serviceId`) and its nodes in configured order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub id: String,
    pub nodes: Vec<OmNodeConfig>,
}

impl ServiceConfig {
    pub fn node(&self, name: &str) -> Option<&OmNodeConfig> {
        self.nodes.iter().find(|node| node.name == name)
    }
}

/// Where a node keeps its data, derived from `ozone.om.db.dirs`, `ozone.om.ratis.storage.dir`
/// and their common fallback `ozone.metadata.dirs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageDirs {
    /// The OM DB (`ozone.om.db.dirs`): tables and the `om/current/VERSION` marker.
    pub db_dir: PathBuf,
    /// The Raft log (`ozone.om.ratis.storage.dir`).
    pub ratis_dir: PathBuf,
}

/// The typed configuration of an OM deployment (servers and clients read the same file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OmConfig {
    /// `ozone.om.service.ids`, in configured order, each with its nodes.
    pub services: Vec<ServiceConfig>,
    /// `ozone.om.internal.service.id`.
    pub internal_service_id: Option<String>,
    /// `ozone.om.node.id`.
    pub node_id: Option<String>,
    /// `ozone.om.ratis.enable`; `false` allows only one-node services.
    pub ratis_enabled: bool,
    pub metadata_dir: Option<PathBuf>,
    pub db_dir: Option<PathBuf>,
    pub ratis_storage_dir: Option<PathBuf>,
    pub read_option: ReadOption,
    pub unflushed_transactions_max: usize,
    /// `ozone.om.double.buffer.flush.interval`.
    pub flush_interval_ms: u64,
    pub snapshot_entries_threshold: u64,
    /// `ozone.om.server.list.max.size`: at most the server's `LIST_ENTRIES_MAX`.
    pub list_entries_max: usize,
    pub retry_cache_expiry_ms: u64,
    pub failover: FailoverPolicy,
    /// Unknown `ozone.om.*` keys and other oddities (each also logged with `tracing::warn`).
    pub warnings: Vec<String>,
}

/// A configuration that cannot be used; each names the key (or file position) at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The file is not well-formed configuration XML (truncated, malformed, wrong root).
    Xml {
        origin: String,
        line: u32,
        column: u32,
        reason: String,
    },
    /// The file cannot be read.
    Io { path: String, reason: String },
    /// A required key is absent.
    Missing { key: String, reason: String },
    /// A key's value does not parse or is out of range.
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    /// Keys that are each valid but disagree.
    Contradiction { key: String, reason: String },
    /// A node id (`--node-id`, `ozone.om.node.id`) that the service does not list.
    UnknownNode {
        service: String,
        node: String,
        known: Vec<String>,
    },
    /// A `--conf` override that is not `KEY=VALUE`.
    Override { text: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Xml {
                origin,
                line,
                column,
                reason,
            } => write!(
                f,
                "{origin}:{line}:{column}: bad configuration XML: {reason}"
            ),
            ConfigError::Io { path, reason } => write!(f, "cannot read {path}: {reason}"),
            ConfigError::Missing { key, reason } => write!(f, "missing {key}: {reason}"),
            ConfigError::Invalid { key, value, reason } => {
                write!(f, "invalid {key} = `{value}`: {reason}")
            }
            ConfigError::Contradiction { key, reason } => write!(f, "{key}: {reason}"),
            ConfigError::UnknownNode {
                service,
                node,
                known,
            } => write!(
                f,
                "unknown node id `{node}`: {} lists {}",
                keys::nodes(service),
                known.join(",")
            ),
            ConfigError::Override { text } => {
                write!(f, "`--conf {text}` is not KEY=VALUE")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl OmConfig {
    /// Reads the typed configuration; unknown `ozone.om.*` keys become warnings.
    pub fn from_site(site: &SiteConfig) -> Result<OmConfig, ConfigError> {
        let config = parse::om_config(site)?;
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
        Ok(config)
    }

    /// The service named `id`, or an error naming `ozone.om.service.ids`.
    pub fn service(&self, id: &str) -> Result<&ServiceConfig, ConfigError> {
        self.services
            .iter()
            .find(|service| service.id == id)
            .ok_or_else(|| ConfigError::Missing {
                key: keys::SERVICE_IDS.to_string(),
                reason: format!("service `{id}` is not listed"),
            })
    }

    /// The service a client means when a path names none, or a server when started: the
    /// internal service id, else the only service listed.
    pub fn default_service(&self) -> Result<&ServiceConfig, ConfigError> {
        if let Some(internal) = &self.internal_service_id {
            return self.service(internal);
        }
        match self.services.as_slice() {
            [only] => Ok(only),
            [] => Err(ConfigError::Missing {
                key: keys::SERVICE_IDS.to_string(),
                reason: "no OM service is configured".to_string(),
            }),
            _ => Err(ConfigError::Missing {
                key: keys::INTERNAL_SERVICE_ID.to_string(),
                reason: format!(
                    "{} lists several services; say which one",
                    keys::SERVICE_IDS
                ),
            }),
        }
    }

    /// Which node of `service` this process is: `flag` (`--node-id`), else `ozone.om.node.id`,
    /// else the one node whose host `is_local` says is this machine's (as Ozone matches it).
    pub fn local_node<'a>(
        &self,
        service: &'a ServiceConfig,
        flag: Option<&str>,
        is_local: impl Fn(&str) -> bool,
    ) -> Result<&'a OmNodeConfig, ConfigError> {
        if let Some(name) = flag.or(self.node_id.as_deref()) {
            return service.node(name).ok_or_else(|| ConfigError::UnknownNode {
                service: service.id.clone(),
                node: name.to_string(),
                known: service.nodes.iter().map(|node| node.name.clone()).collect(),
            });
        }
        let local: Vec<&OmNodeConfig> = service
            .nodes
            .iter()
            .filter(|node| is_local(&node.host))
            .collect();
        match local.as_slice() {
            [only] => Ok(only),
            [] => Err(ConfigError::Missing {
                key: keys::NODE_ID.to_string(),
                reason: format!(
                    "no address of service `{}` is local to this host; set it or pass --node-id",
                    service.id
                ),
            }),
            several => Err(ConfigError::Missing {
                key: keys::NODE_ID.to_string(),
                reason: format!(
                    "several nodes of service `{}` are local to this host ({}); set it or pass --node-id",
                    service.id,
                    several.iter().map(|node| node.name.as_str()).collect::<Vec<_>>().join(",")
                ),
            }),
        }
    }

    /// Where a node keeps its OM DB and its Raft log.
    pub fn storage_dirs(&self) -> Result<StorageDirs, ConfigError> {
        let missing = |key: &str| ConfigError::Missing {
            key: key.to_string(),
            reason: format!(
                "needed (or {}) to know where to keep data",
                keys::METADATA_DIRS
            ),
        };
        let db_dir = self
            .db_dir
            .clone()
            .or_else(|| self.metadata_dir.clone())
            .ok_or_else(|| missing(keys::DB_DIRS))?;
        let ratis_dir = self
            .ratis_storage_dir
            .clone()
            .or_else(|| self.metadata_dir.as_ref().map(|dir| dir.join("ratis")))
            .ok_or_else(|| missing(keys::RATIS_STORAGE_DIR))?;
        Ok(StorageDirs { db_dir, ratis_dir })
    }

    /// The node configuration of `node` (one code path for the daemon and the simulation).
    pub fn node_config(&self, node: &OmNodeConfig) -> NodeConfig {
        let mut config = NodeConfig::new(node.raft_id, node.address());
        config.read_option = self.read_option;
        config.unflushed_transactions_max = self.unflushed_transactions_max;
        config.flush_interval_ms = self.flush_interval_ms;
        config.retry_cache_expiry_ms = self.retry_cache_expiry_ms;
        config.snapshot_entries_threshold = self.snapshot_entries_threshold;
        config
    }

    /// The voters of `service`: what the group is initialised with.
    pub fn members(&self, service: &ServiceConfig) -> BTreeMap<NodeId, NodeAddress> {
        service
            .nodes
            .iter()
            .map(|node| (node.raft_id, node.address()))
            .collect()
    }

    /// The client addresses of `service`'s nodes, for an `OmClient`. Hosts must be IP
    /// addresses by now ([`OmConfig::resolve_hosts`] turns names into them).
    pub fn client_nodes(
        &self,
        service: &ServiceConfig,
    ) -> Result<Vec<(NodeId, SocketAddr)>, ConfigError> {
        service
            .nodes
            .iter()
            .map(|node| {
                let address = node.client_address();
                let parsed = address.parse().map_err(|_| ConfigError::Invalid {
                    key: keys::address(&service.id, &node.name),
                    value: node.host.clone(),
                    reason: "not an IP address (host names are resolved before use)".to_string(),
                })?;
                Ok((node.raft_id, parsed))
            })
            .collect()
    }

    /// Replaces every host name by the address `resolve` gives for it (the daemon and the CLI
    /// pass DNS; the simulation never calls this).
    pub fn resolve_hosts(
        &mut self,
        resolve: impl Fn(&str) -> Result<String, String>,
    ) -> Result<(), ConfigError> {
        for service in &mut self.services {
            for node in &mut service.nodes {
                if node.host.parse::<std::net::IpAddr>().is_ok() {
                    continue;
                }
                node.host = resolve(&node.host).map_err(|reason| ConfigError::Invalid {
                    key: keys::address(&service.id, &node.name),
                    value: node.host.clone(),
                    reason,
                })?;
            }
        }
        Ok(())
    }
}
