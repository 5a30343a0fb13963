//! `ozone admin om roles|transfer`: asks each OM of a service directly.

use crate::cli::ConfigArgs;
use crate::connection::{admin_call, socket_address};
use crate::failure::Failure;
use crate::output;
use clap::{Args, Subcommand};
use om_server::admin::{AdminRequest, AdminResponse, NodeRole};
use om_server::config::{ConfigError, OmConfig, OmNodeConfig, ServiceConfig};
use serde::Serialize;
use std::time::Duration;

/// How long one node may take to say its role.
const ROLE_TIMEOUT: Duration = Duration::from_secs(2);
/// A transfer waits for the new leader (the server bounds it at 10 s).
const TRANSFER_CALL_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Args, Debug)]
pub struct AdminArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    #[command(subcommand)]
    Om(OmCommand),
}

#[derive(Subcommand, Debug)]
enum OmCommand {
    /// Each OM of the service: node id, address, role (LEADER, FOLLOWER, ... or UNREACHABLE), term.
    Roles {
        /// The service (default: the configured one).
        #[arg(long = "service-id", alias = "id")]
        service_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Hand leadership to another OM of the service; answers once it leads.
    Transfer {
        #[arg(long = "service-id", alias = "id")]
        service_id: Option<String>,
        /// The node id (as in ozone.om.nodes.<serviceId>) to lead.
        #[arg(long = "node-id", short = 'n')]
        node_id: String,
    },
}

pub async fn run(arguments: AdminArgs) -> Result<(), Failure> {
    let config = arguments.config.load()?;
    let AdminCommand::Om(command) = arguments.command;
    match command {
        OmCommand::Roles { service_id, json } => {
            let service = service_of(&config, service_id.as_deref())?;
            roles(service, json).await
        }
        OmCommand::Transfer {
            service_id,
            node_id,
        } => {
            let service = service_of(&config, service_id.as_deref())?;
            transfer(service, &node_id).await
        }
    }
}

fn service_of<'a>(config: &'a OmConfig, id: Option<&str>) -> Result<&'a ServiceConfig, Failure> {
    Ok(match id {
        Some(id) => config.service(id)?,
        None => config.default_service()?,
    })
}

/// One row of `roles`.
#[derive(Serialize)]
struct RoleRow {
    node: String,
    address: String,
    role: String,
    term: Option<u64>,
    leader: Option<String>,
    applied_index: Option<u64>,
    flushed_index: Option<u64>,
}

async fn role_of(node: &OmNodeConfig) -> Result<NodeRole, String> {
    let address = socket_address(&node.host, node.client_port).map_err(|failure| failure.line())?;
    match admin_call(address, AdminRequest::Role, ROLE_TIMEOUT).await? {
        Ok(AdminResponse::Role(role)) => Ok(role),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(error) => Err(error.to_string()),
    }
}

async fn roles(service: &ServiceConfig, json: bool) -> Result<(), Failure> {
    let name_of = |id: u64| {
        service
            .nodes
            .iter()
            .find(|node| node.raft_id == id)
            .map_or_else(|| id.to_string(), |node| node.name.clone())
    };
    let mut rows = Vec::new();
    for node in &service.nodes {
        let answer = role_of(node).await;
        rows.push(match answer {
            Ok(role) => RoleRow {
                node: node.name.clone(),
                address: node.client_address(),
                role: role.role.name().to_string(),
                term: Some(role.term),
                leader: role.leader.map(name_of),
                applied_index: Some(role.applied_index),
                flushed_index: Some(role.flushed_index),
            },
            Err(_) => RoleRow {
                node: node.name.clone(),
                address: node.client_address(),
                role: "UNREACHABLE".to_string(),
                term: None,
                leader: None,
                applied_index: None,
                flushed_index: None,
            },
        });
    }
    let reachable = rows.iter().any(|row| row.term.is_some());
    print_roles(&rows, json);
    if reachable {
        Ok(())
    } else {
        Err(Failure::Unavailable(format!(
            "no OM of service `{}` answered",
            service.id
        )))
    }
}

fn print_roles(rows: &[RoleRow], json: bool) {
    if json {
        return output::json(&rows);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.node.clone(),
                row.address.clone(),
                row.role.clone(),
                output::optional(row.term),
                output::optional(row.leader.clone()),
                output::optional(row.applied_index),
                output::optional(row.flushed_index),
            ]
        })
        .collect();
    output::table(
        &[
            "NODE", "ADDRESS", "ROLE", "TERM", "LEADER", "APPLIED", "FLUSHED",
        ],
        &cells,
    );
}

async fn transfer(service: &ServiceConfig, target: &str) -> Result<(), Failure> {
    let Some(to) = service.node(target) else {
        return Err(ConfigError::UnknownNode {
            service: service.id.clone(),
            node: target.to_string(),
            known: service.nodes.iter().map(|node| node.name.clone()).collect(),
        }
        .into());
    };
    let mut leader = None;
    for node in &service.nodes {
        if let Ok(role) = role_of(node).await {
            if role.role == om_server::admin::Role::Leader {
                leader = Some(node);
                break;
            }
        }
    }
    let Some(leader) = leader else {
        return Err(Failure::Unavailable(format!(
            "service `{}` has no leader now",
            service.id
        )));
    };
    let address = socket_address(&leader.host, leader.client_port)?;
    let request = AdminRequest::TransferLeadership { to: to.raft_id };
    match admin_call(address, request, TRANSFER_CALL_TIMEOUT).await {
        Ok(Ok(_)) => {
            println!(
                "Transferred leadership of {} from {} to {}",
                service.id, leader.name, to.name
            );
            Ok(())
        }
        Ok(Err(error)) => Err(Failure::Om(error)),
        Err(transport) => Err(Failure::Unavailable(format!(
            "{}: {transport}",
            leader.name
        ))),
    }
}
