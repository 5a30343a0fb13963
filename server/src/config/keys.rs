//! The configuration keys this OM reads, with Ozone's names and defaults (DESIGN.md's table).

/// Comma list of logical cluster names.
pub const SERVICE_IDS: &str = "ozone.om.service.ids";
/// The service this OM belongs to (when the file names several).
pub const INTERNAL_SERVICE_ID: &str = "ozone.om.internal.service.id";
/// `ozone.om.nodes.<serviceId>`: the node ids of a service.
pub const NODES_PREFIX: &str = "ozone.om.nodes.";
/// `ozone.om.address.<serviceId>.<nodeId>`: client RPC address, `host[:port]`.
pub const ADDRESS_PREFIX: &str = "ozone.om.address.";
/// Raft port of every node, unless `ozone.om.ratis.port.<serviceId>.<nodeId>` says otherwise.
pub const RATIS_PORT: &str = "ozone.om.ratis.port";
pub const RATIS_PORT_PREFIX: &str = "ozone.om.ratis.port.";
/// Which node this process is; else matched from the local addresses.
pub const NODE_ID: &str = "ozone.om.node.id";
pub const RATIS_ENABLE: &str = "ozone.om.ratis.enable";
pub const METADATA_DIRS: &str = "ozone.metadata.dirs";
pub const DB_DIRS: &str = "ozone.om.db.dirs";
pub const RATIS_STORAGE_DIR: &str = "ozone.om.ratis.storage.dir";
pub const FAILOVER_ATTEMPTS_MAX: &str = "ozone.client.failover.max.attempts";
pub const WAIT_BETWEEN_RETRIES_MILLIS: &str = "ozone.client.wait.between.retries.millis";
pub const READ_OPTION: &str = "ozone.om.ha.raft.server.read.option";
pub const UNFLUSHED_TRANSACTIONS_MAX: &str = "ozone.om.unflushed.transaction.max.count";
/// Ours, not Ozone's (its flusher has no interval): see `double_buffer::FlushPolicy`.
pub const FLUSH_INTERVAL: &str = "ozone.om.double.buffer.flush.interval";
pub const SNAPSHOT_THRESHOLD: &str = "ozone.om.ratis.snapshot.auto.trigger.threshold";
pub const LIST_MAX_SIZE: &str = "ozone.om.server.list.max.size";
pub const RETRY_CACHE_EXPIRY: &str = "ozone.om.ha.raft.server.retrycache.expirytime";

pub const CLIENT_PORT_DEFAULT: u16 = 9862;
pub const RATIS_PORT_DEFAULT: u16 = 9872;
pub const SNAPSHOT_THRESHOLD_DEFAULT: u64 = 400_000;

/// The `ozone.om.*` keys read as they are; anything else under `ozone.om.` that is not one
/// of these or a per-service form (`NODES_PREFIX`, `ADDRESS_PREFIX`, `RATIS_PORT_PREFIX`)
/// is reported as unknown: a typo there would otherwise silently keep a default.
pub const OM_KEYS_KNOWN: &[&str] = &[
    SERVICE_IDS,
    INTERNAL_SERVICE_ID,
    RATIS_PORT,
    NODE_ID,
    RATIS_ENABLE,
    DB_DIRS,
    RATIS_STORAGE_DIR,
    READ_OPTION,
    UNFLUSHED_TRANSACTIONS_MAX,
    FLUSH_INTERVAL,
    SNAPSHOT_THRESHOLD,
    LIST_MAX_SIZE,
    RETRY_CACHE_EXPIRY,
];

/// The prefix whose unknown keys are warned about.
pub const OM_PREFIX: &str = "ozone.om.";

/// `ozone.om.address.<sid>.<nid>` for a service and node.
pub fn address(service: &str, node: &str) -> String {
    format!("{ADDRESS_PREFIX}{service}.{node}")
}

/// `ozone.om.nodes.<sid>`.
pub fn nodes(service: &str) -> String {
    format!("{NODES_PREFIX}{service}")
}

/// `ozone.om.ratis.port.<sid>.<nid>`.
pub fn ratis_port(service: &str, node: &str) -> String {
    format!("{RATIS_PORT_PREFIX}{service}.{node}")
}
