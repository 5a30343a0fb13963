//! A command's line to the OM: a service through `OmClient` (failover with the configured
//! budget) or one OM named by host:port (one attempt, no failover: its `NOT_LEADER` is the
//! answer, as with Ozone's single-OM address).

use crate::failure::Failure;
use crate::uri::Target;
use om_server::admin::{AdminRequest, AdminResult, ClientAnswer, ClientMessage};
use om_server::client::OmClient;
use om_server::config::OmConfig;
use om_server::node::ClientRequest;
use om_server::om::{OmRequest, OmResponse};
use om_server::retry_cache::Caller;
use om_server::transport::{RpcClient, TransportLimits};
use om_server::types::{CallId, ClientId};
use std::net::SocketAddr;
use std::time::Duration;

pub enum Connection {
    Service(OmClient),
    Node {
        client: RpcClient<ClientMessage, ClientAnswer>,
        caller: ClientId,
        next_call: u64,
        timeout: Duration,
    },
}

/// `host:port` as a socket address (host names resolved).
pub fn socket_address(host: &str, port: u16) -> Result<SocketAddr, Failure> {
    use std::net::ToSocketAddrs;
    let mut addresses = (host, port)
        .to_socket_addrs()
        .map_err(|error| Failure::Usage(format!("cannot resolve `{host}`: {error}")))?;
    addresses
        .next()
        .ok_or_else(|| Failure::Usage(format!("`{host}` resolves to no address")))
}

impl Connection {
    pub fn open(config: &OmConfig, target: &Target) -> Result<Connection, Failure> {
        let limits = TransportLimits::default();
        let service = match target {
            Target::Node { host, port } => {
                let address = socket_address(host, *port)?;
                return Ok(Connection::Node {
                    client: RpcClient::new(address, &limits),
                    caller: ClientId::random(),
                    next_call: 1,
                    timeout: config.failover.call_timeout,
                });
            }
            Target::DefaultService => config.default_service()?,
            Target::Service(id) => config.service(id)?,
        };
        let nodes = config.client_nodes(service)?;
        Ok(Connection::Service(OmClient::new(
            &nodes,
            config.failover,
            &limits,
        )))
    }

    /// One OM call; an OM error is a failure.
    pub async fn call(&mut self, request: OmRequest) -> Result<OmResponse, Failure> {
        match self {
            Connection::Service(client) => match client.call(request).await {
                Ok(answer) => Ok(answer?),
                Err(unavailable) => Err(Failure::Unavailable(unavailable.to_string())),
            },
            Connection::Node {
                client,
                caller,
                next_call,
                timeout,
            } => {
                let call = CallId(*next_call);
                *next_call += 1;
                let message = ClientMessage::Om(ClientRequest {
                    caller: Caller {
                        client: *caller,
                        call,
                    },
                    request,
                });
                match client.call(&message, *timeout).await {
                    Ok(ClientAnswer::Om(answer)) => Ok(answer?),
                    Ok(ClientAnswer::Admin(_)) => Err(Failure::other(
                        "INTERNAL_ERROR",
                        "an admin answer to an OM call",
                    )),
                    Err(error) => Err(Failure::Unavailable(format!(
                        "{}: {error}",
                        client.target()
                    ))),
                }
            }
        }
    }
}

/// One admin call to the OM at `address`.
pub async fn admin_call(
    address: SocketAddr,
    request: AdminRequest,
    timeout: Duration,
) -> Result<AdminResult, String> {
    let mut client: RpcClient<ClientMessage, ClientAnswer> =
        RpcClient::new(address, &TransportLimits::default());
    match client.call(&ClientMessage::Admin(request), timeout).await {
        Ok(ClientAnswer::Admin(result)) => Ok(result),
        Ok(ClientAnswer::Om(_)) => Err("an OM answer to an admin call".to_string()),
        Err(error) => Err(error.to_string()),
    }
}
