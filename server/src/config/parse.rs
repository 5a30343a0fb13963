//! From raw properties to [`OmConfig`]: each key parsed with its default, then the checks
//! across keys (addresses that collide, a node id the service does not list).

use super::keys;
use super::{ConfigError, OmConfig, OmNodeConfig, ServiceConfig, SiteConfig};
use crate::client::FailoverPolicy;
use crate::node::ReadOption;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub(super) fn om_config(site: &SiteConfig) -> Result<OmConfig, ConfigError> {
    let service_ids = list(site, keys::SERVICE_IDS)?;
    let services = service_ids
        .iter()
        .map(|id| service(site, id))
        .collect::<Result<Vec<_>, _>>()?;
    let ratis_enabled = boolean(site, keys::RATIS_ENABLE, true)?;
    check_services(&services, ratis_enabled)?;
    let internal_service_id = text(site, keys::INTERNAL_SERVICE_ID)?;
    if let Some(internal) = &internal_service_id {
        if !service_ids.contains(internal) {
            return Err(ConfigError::Contradiction {
                key: keys::INTERNAL_SERVICE_ID.to_string(),
                reason: format!("`{internal}` is not in {}", keys::SERVICE_IDS),
            });
        }
    }
    let defaults = FailoverPolicy::default();
    let failover = FailoverPolicy {
        attempts_max: number(site, keys::FAILOVER_ATTEMPTS_MAX, defaults.attempts_max, 1)?,
        wait_between_retries: Duration::from_millis(number(
            site,
            keys::WAIT_BETWEEN_RETRIES_MILLIS,
            defaults.wait_between_retries.as_millis() as u64,
            0,
        )?),
        call_timeout: defaults.call_timeout,
    };
    let list_entries_max = number(
        site,
        keys::LIST_MAX_SIZE,
        crate::limits::LIST_ENTRIES_MAX,
        1,
    )?;
    if list_entries_max > crate::limits::LIST_ENTRIES_MAX {
        return Err(invalid(
            site,
            keys::LIST_MAX_SIZE,
            format!(
                "this server returns at most {} entries per list",
                crate::limits::LIST_ENTRIES_MAX
            ),
        ));
    }
    Ok(OmConfig {
        warnings: warnings(site, &service_ids),
        services,
        internal_service_id,
        node_id: text(site, keys::NODE_ID)?,
        ratis_enabled,
        metadata_dir: first_dir(site, keys::METADATA_DIRS)?,
        db_dir: first_dir(site, keys::DB_DIRS)?,
        ratis_storage_dir: first_dir(site, keys::RATIS_STORAGE_DIR)?,
        read_option: read_option(site)?,
        unflushed_transactions_max: number(
            site,
            keys::UNFLUSHED_TRANSACTIONS_MAX,
            crate::limits::UNFLUSHED_TRANSACTIONS_MAX_DEFAULT,
            1,
        )?,
        flush_interval_ms: duration_ms(
            site,
            keys::FLUSH_INTERVAL,
            crate::limits::FLUSH_INTERVAL_MS_DEFAULT,
        )?,
        snapshot_entries_threshold: number(
            site,
            keys::SNAPSHOT_THRESHOLD,
            keys::SNAPSHOT_THRESHOLD_DEFAULT,
            1,
        )?,
        list_entries_max,
        retry_cache_expiry_ms: duration_ms(
            site,
            keys::RETRY_CACHE_EXPIRY,
            crate::retry_cache::RETRY_CACHE_EXPIRY_MS_DEFAULT,
        )?,
        failover,
    })
}

fn invalid(site: &SiteConfig, key: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: site.get(key).unwrap_or("").to_string(),
        reason,
    }
}

/// A present key's trimmed value; present but empty is an error (a forgotten value).
fn text(site: &SiteConfig, key: &str) -> Result<Option<String>, ConfigError> {
    match site.get(key).map(str::trim) {
        None => Ok(None),
        Some("") => Err(invalid(site, key, "empty value".to_string())),
        Some(value) => Ok(Some(value.to_string())),
    }
}

/// A comma list without empty items or duplicates; absent is empty.
fn list(site: &SiteConfig, key: &str) -> Result<Vec<String>, ConfigError> {
    let Some(value) = text(site, key)? else {
        return Ok(Vec::new());
    };
    let items: Vec<String> = value
        .split(',')
        .map(|item| item.trim().to_string())
        .collect();
    if items.iter().any(String::is_empty) {
        return Err(invalid(site, key, "an empty item in the list".to_string()));
    }
    let distinct: BTreeSet<&String> = items.iter().collect();
    if distinct.len() != items.len() {
        return Err(invalid(site, key, "an item appears twice".to_string()));
    }
    Ok(items)
}

fn number<T: FromStr + PartialOrd + Copy + std::fmt::Display>(
    site: &SiteConfig,
    key: &str,
    default: T,
    minimum: T,
) -> Result<T, ConfigError> {
    let Some(value) = text(site, key)? else {
        return Ok(default);
    };
    let parsed: T = value
        .parse()
        .map_err(|_| invalid(site, key, "not a whole number".to_string()))?;
    if parsed < minimum {
        return Err(invalid(site, key, format!("must be at least {minimum}")));
    }
    Ok(parsed)
}

fn boolean(site: &SiteConfig, key: &str, default: bool) -> Result<bool, ConfigError> {
    match text(site, key)?
        .map(|value| value.to_ascii_lowercase())
        .as_deref()
    {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(invalid(site, key, "expected true or false".to_string())),
    }
}

/// Hadoop's time durations: a number with an optional unit (`ms`, `s`, `m`, `h`, `d`); a bare
/// number is milliseconds, as Ozone reads this key.
fn duration_ms(site: &SiteConfig, key: &str, default_ms: u64) -> Result<u64, ConfigError> {
    let Some(value) = text(site, key)? else {
        return Ok(default_ms);
    };
    let lower = value.to_ascii_lowercase();
    let digits_end = lower
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let scale: u64 = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(invalid(
                site,
                key,
                "unit must be ms, s, m, h or d".to_string(),
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|amount| amount.checked_mul(scale))
        .ok_or_else(|| invalid(site, key, "not a duration".to_string()))
}

fn read_option(site: &SiteConfig) -> Result<ReadOption, ConfigError> {
    match text(site, keys::READ_OPTION)?
        .map(|value| value.to_ascii_uppercase())
        .as_deref()
    {
        None | Some("DEFAULT") => Ok(ReadOption::Default),
        Some("LINEARIZABLE") => Ok(ReadOption::Linearizable),
        Some(_) => Err(invalid(
            site,
            keys::READ_OPTION,
            "expected DEFAULT or LINEARIZABLE".to_string(),
        )),
    }
}

/// The first of a comma list of directories (Ozone keeps one OM DB; more are ignored).
fn first_dir(site: &SiteConfig, key: &str) -> Result<Option<PathBuf>, ConfigError> {
    Ok(list(site, key)?.first().map(PathBuf::from))
}

fn service(site: &SiteConfig, id: &str) -> Result<ServiceConfig, ConfigError> {
    let nodes_key = keys::nodes(id);
    let names = list(site, &nodes_key)?;
    if names.is_empty() {
        return Err(ConfigError::Missing {
            key: nodes_key,
            reason: format!(
                "service `{id}` is listed in {} without nodes",
                keys::SERVICE_IDS
            ),
        });
    }
    let nodes = names
        .iter()
        .zip(1..)
        .map(|(name, raft_id)| node(site, id, name, raft_id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServiceConfig {
        id: id.to_string(),
        nodes,
    })
}

fn node(
    site: &SiteConfig,
    service: &str,
    name: &str,
    raft_id: u64,
) -> Result<OmNodeConfig, ConfigError> {
    let address_key = keys::address(service, name);
    let address = text(site, &address_key)?.ok_or_else(|| ConfigError::Missing {
        key: address_key.clone(),
        reason: format!("node `{name}` of service `{service}` has no address"),
    })?;
    let (host, client_port) =
        host_and_port(&address).map_err(|reason| invalid(site, &address_key, reason))?;
    let raft_port_key = keys::ratis_port(service, name);
    let raft_port = match text(site, &raft_port_key)? {
        Some(_) => number::<u16>(site, &raft_port_key, 0, 1)?,
        None => number::<u16>(site, keys::RATIS_PORT, keys::RATIS_PORT_DEFAULT, 1)?,
    };
    Ok(OmNodeConfig {
        name: name.to_string(),
        raft_id,
        host,
        client_port: client_port.unwrap_or(keys::CLIENT_PORT_DEFAULT),
        raft_port,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
pub(super) fn host_and_port(address: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("an unclosed `[`")?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or("junk after `]`")?)),
        }
    } else {
        match address.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        }
    };
    if host.is_empty() {
        return Err("no host".to_string());
    }
    let port = match port {
        None => None,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => return Err(format!("`{port}` is not a port (1-65535)")),
        },
    };
    Ok((host.to_string(), port))
}

/// Checks across services: every (host, port) used once, one-node services when Raft is off.
fn check_services(services: &[ServiceConfig], ratis_enabled: bool) -> Result<(), ConfigError> {
    let mut used: BTreeSet<(String, u16)> = BTreeSet::new();
    for service in services {
        if !ratis_enabled && service.nodes.len() > 1 {
            return Err(ConfigError::Contradiction {
                key: keys::RATIS_ENABLE.to_string(),
                reason: format!(
                    "false, but {} lists {} nodes (without Raft a service has one node)",
                    keys::nodes(&service.id),
                    service.nodes.len()
                ),
            });
        }
        for node in &service.nodes {
            for port in [node.client_port, node.raft_port] {
                if !used.insert((node.host.clone(), port)) {
                    return Err(ConfigError::Contradiction {
                        key: keys::address(&service.id, &node.name),
                        reason: format!(
                            "{}:{port} is used twice (client and Raft ports of all nodes must differ)",
                            node.host
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Unknown `ozone.om.*` keys, and per-service keys of services not listed.
fn warnings(site: &SiteConfig, service_ids: &[String]) -> Vec<String> {
    let mut warnings = site.warnings().to_vec();
    for (key, _) in site.properties() {
        let Some(suffix) = key.strip_prefix(keys::OM_PREFIX) else {
            continue;
        };
        if keys::OM_KEYS_KNOWN.contains(&key) {
            continue;
        }
        let service_of = [
            keys::NODES_PREFIX,
            keys::ADDRESS_PREFIX,
            keys::RATIS_PORT_PREFIX,
        ]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix));
        match service_of {
            Some(rest)
                if service_ids
                    .iter()
                    .any(|id| rest == id || rest.starts_with(&format!("{id}."))) => {}
            Some(_) => warnings.push(format!(
                "{key} names a service not in {}: ignored",
                keys::SERVICE_IDS
            )),
            None => warnings.push(format!("unknown key ozone.om.{suffix}: ignored")),
        }
    }
    warnings
}
