//! madsim's simulated TCP between nodes: clogs, kills and restarts.

use super::{answer, echo, Request, Response};
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use om_server::transport::{RpcClient, RpcServer, TransportError, TransportLimits};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time;

const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const SERVER_ADDRESS: SocketAddr = SocketAddr::new(SERVER_IP, 9862);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A node whose init task binds and serves; it reports on the channel each time it is
/// bound (at start and after every restart), so callers wait on that, not on a delay.
fn start_server_node(limits: TransportLimits) -> (NodeHandle, mpsc::UnboundedReceiver<()>) {
    let (bound_sender, bound) = mpsc::unbounded_channel();
    let node = Handle::current()
        .create_node()
        .name("server")
        .ip(SERVER_IP)
        .init(move || {
            let bound_sender = bound_sender.clone();
            let limits = limits.clone();
            async move {
                let server = RpcServer::bind(SERVER_ADDRESS, limits).await.expect("bind");
                let _serving = server.serve(Arc::new(answer));
                bound_sender.send(()).expect("the test is listening");
                std::future::pending::<()>().await;
            }
        })
        .build();
    (node, bound)
}

fn client_node() -> NodeHandle {
    Handle::current()
        .create_node()
        .name("client")
        .ip(CLIENT_IP)
        .build()
}

async fn wait_bound(bound: &mut mpsc::UnboundedReceiver<()>) {
    time::timeout(Duration::from_secs(10), bound.recv())
        .await
        .expect("the server binds in time")
        .expect("the server node keeps its sender");
}

fn new_client(limits: &TransportLimits) -> RpcClient<Request, Response> {
    RpcClient::new(SERVER_ADDRESS, limits)
}

async fn assert_echo(client: &mut RpcClient<Request, Response>, text: &str) {
    assert_eq!(
        client.call(&echo(text), CALL_TIMEOUT).await,
        Ok(text.to_string())
    );
}

#[madsim::test]
async fn round_trip_between_simulated_nodes() {
    let (_server, mut bound) = start_server_node(TransportLimits::default());
    wait_bound(&mut bound).await;
    client_node()
        .spawn(async {
            let mut client = new_client(&TransportLimits::default());
            for call in 0..10 {
                assert_echo(&mut client, &format!("call {call}")).await;
            }
            assert_eq!(client.connections_opened(), 1);
        })
        .await
        .unwrap();
}

#[madsim::test]
async fn clogged_server_times_out_then_answers_after_unclog() {
    let (server, mut bound) = start_server_node(TransportLimits::default());
    wait_bound(&mut bound).await;
    let server_id = server.id();
    client_node()
        .spawn(async move {
            let mut client = new_client(&TransportLimits::default());
            assert_echo(&mut client, "before").await;

            NetSim::current().clog_node(server_id);
            let timeout = Duration::from_secs(1);
            let started = om_server::clock::monotonic_now();
            assert_eq!(
                client.call(&echo("clogged"), timeout).await,
                Err(TransportError::Timeout)
            );
            assert!(started.elapsed() >= timeout);
            let reconnect = client.call(&echo("clogged"), timeout).await;
            assert!(
                matches!(reconnect, Err(TransportError::Connect(_))),
                "{reconnect:?}"
            );

            NetSim::current().unclog_node(server_id);
            assert_echo(&mut client, "after").await;
            assert_eq!(client.connections_opened(), 2);
        })
        .await
        .unwrap();
}

#[madsim::test]
async fn killed_server_fails_fast_and_the_client_reconnects_after_restart() {
    let (server, mut bound) = start_server_node(TransportLimits::default());
    wait_bound(&mut bound).await;
    let server_id = server.id();
    client_node()
        .spawn(async move {
            let mut client = new_client(&TransportLimits::default());
            assert_echo(&mut client, "before").await;

            Handle::current().kill(server_id);
            let started = om_server::clock::monotonic_now();
            let error = client
                .call(&echo("killed"), CALL_TIMEOUT)
                .await
                .expect_err("a killed server cannot answer");
            assert_ne!(error, TransportError::Timeout);
            assert!(
                started.elapsed() < CALL_TIMEOUT / 10,
                "the error comes at once, not at the timeout: {:?}",
                started.elapsed()
            );

            Handle::current().restart(server_id);
            wait_bound(&mut bound).await;
            assert_echo(&mut client, "after").await;
            assert_eq!(client.connections_opened(), 2);
        })
        .await
        .unwrap();
}

#[madsim::test]
async fn idle_connections_are_closed_by_the_server_and_not_reused_by_the_client() {
    let limits = TransportLimits {
        idle_timeout: Duration::from_secs(10),
        ..TransportLimits::default()
    };
    let (_server, mut bound) = start_server_node(limits.clone());
    wait_bound(&mut bound).await;
    client_node()
        .spawn(async move {
            let started = om_server::clock::monotonic_now();
            let mut silent = TcpStream::connect(SERVER_ADDRESS).await.unwrap();
            let mut buffer = [0; 8];
            assert_eq!(silent.read(&mut buffer).await.unwrap(), 0);
            let closed_after = started.elapsed();
            assert!(closed_after >= limits.idle_timeout, "{closed_after:?}");
            assert!(closed_after < limits.idle_timeout * 2, "{closed_after:?}");

            let mut client = new_client(&limits);
            assert_echo(&mut client, "first").await;
            time::sleep(limits.idle_timeout / 4).await;
            assert_echo(&mut client, "within the reuse window").await;
            assert_eq!(client.connections_opened(), 1);
            time::sleep(limits.idle_timeout * 3).await;
            assert_echo(&mut client, "after the server closed it").await;
            assert_eq!(client.connections_opened(), 2);
        })
        .await
        .unwrap();
}

#[madsim::test]
async fn stuck_handler_is_abandoned_and_its_connection_closed() {
    let limits = TransportLimits {
        handler_timeout: Duration::from_secs(2),
        ..TransportLimits::default()
    };
    let (_server, mut bound) = start_server_node(limits.clone());
    wait_bound(&mut bound).await;
    client_node()
        .spawn(async move {
            let mut client = new_client(&limits);
            let started = om_server::clock::monotonic_now();
            assert_eq!(
                client
                    .call(&Request::NeverAnswer, Duration::from_secs(30))
                    .await,
                Err(TransportError::Closed)
            );
            let closed_after = started.elapsed();
            assert!(closed_after >= limits.handler_timeout, "{closed_after:?}");
            assert!(
                closed_after < limits.handler_timeout * 2,
                "{closed_after:?}"
            );
            assert_echo(&mut client, "next").await;
        })
        .await
        .unwrap();
}
