//! Real sockets on loopback.

use super::{answer, echo, envelope, Request, Response};
use om_server::transport::{
    encode_frame, read_frame, write_frame, FrameError, RequestEnvelope, ResponseEnvelope,
    RpcClient, RpcHandler, RpcServer, ServerHandle, TransportError, TransportLimits,
    FRAME_BYTES_MAX, FRAME_HEADER_BYTES, PROTOCOL_VERSION,
};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{self, Instant};

const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on anything the server should do at once (close a connection, shut down).
const PROMPTLY: Duration = Duration::from_secs(5);

fn any_loopback_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn serve(address: SocketAddr, limits: TransportLimits) -> ServerHandle {
    let server = RpcServer::bind(address, limits).await.expect("bind");
    server.serve(Arc::new(answer))
}

fn client(handle: &ServerHandle) -> RpcClient<Request, Response> {
    RpcClient::new(handle.local_address(), &TransportLimits::default())
}

async fn assert_echo(client: &mut RpcClient<Request, Response>, text: &str) {
    assert_eq!(
        client.call(&echo(text), CALL_TIMEOUT).await,
        Ok(text.to_string())
    );
}

/// The server closed this raw connection: EOF, or a reset when it left bytes unread.
async fn assert_closed_by_server(stream: &mut TcpStream) {
    let mut buffer = [0; 64];
    let read = time::timeout(PROMPTLY, stream.read(&mut buffer))
        .await
        .expect("the server closes the connection promptly");
    match read {
        Ok(0) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
}

async fn send_raw(handle: &ServerHandle, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(handle.local_address()).await.unwrap();
    write_frame(&mut stream, bytes).await.unwrap();
    stream
}

#[tokio::test]
async fn round_trip_returns_the_handler_answer() {
    let server = serve(any_loopback_port(), TransportLimits::default()).await;
    let mut client = client(&server);
    assert_echo(&mut client, "hello").await;
}

/// A handler with state, implemented the way a node implements it.
struct CountingHandler {
    calls: AtomicU64,
}

impl RpcHandler<Request, Response> for CountingHandler {
    async fn handle(&self, request: Request) -> Response {
        let calls = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        format!("{} #{calls}", answer(request).await)
    }
}

#[tokio::test]
async fn struct_handler_is_shared_by_all_connections() {
    let server = RpcServer::bind(any_loopback_port(), TransportLimits::default())
        .await
        .unwrap();
    let handler = Arc::new(CountingHandler {
        calls: AtomicU64::new(0),
    });
    let server = server.serve(handler.clone());
    let mut first = client(&server);
    let mut second = client(&server);
    let timeout = CALL_TIMEOUT;
    assert_eq!(first.call(&echo("a"), timeout).await, Ok("a #1".into()));
    assert_eq!(second.call(&echo("b"), timeout).await, Ok("b #2".into()));
    assert_eq!(first.call(&echo("c"), timeout).await, Ok("c #3".into()));
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn sequential_calls_share_one_connection() {
    let server = serve(any_loopback_port(), TransportLimits::default()).await;
    let mut client = client(&server);
    for call in 0..100 {
        assert_echo(&mut client, &format!("call {call}")).await;
    }
    assert_eq!(client.connections_opened(), 1);
}

#[tokio::test]
async fn client_recovers_when_its_server_comes_back() {
    let server = serve(any_loopback_port(), TransportLimits::default()).await;
    let address = server.local_address();
    let mut client = client(&server);
    assert_echo(&mut client, "before").await;
    // Shutdown must close the client's open connection, or it would wait for idle_timeout.
    time::timeout(PROMPTLY, server.shutdown())
        .await
        .expect("shutdown closes open connections at once");

    let on_closed_connection = client.call(&echo("gone"), CALL_TIMEOUT).await;
    assert!(
        matches!(
            on_closed_connection,
            Err(TransportError::Closed | TransportError::Frame(FrameError::Io(_)))
        ),
        "{on_closed_connection:?}"
    );
    assert_eq!(
        client.call(&echo("gone"), CALL_TIMEOUT).await,
        Err(TransportError::Connect(ErrorKind::ConnectionRefused))
    );

    let _server = serve(address, TransportLimits::default()).await;
    assert_echo(&mut client, "after").await;
    assert_eq!(client.connections_opened(), 2);
}

#[tokio::test]
async fn malformed_frame_closes_only_its_connection() {
    let server = serve(any_loopback_port(), TransportLimits::default()).await;
    let mut bystander = client(&server);
    assert_echo(&mut bystander, "before").await;

    // Only a version byte: the envelope is missing.
    let mut truncated = send_raw(&server, &[0, 0, 0, 1, PROTOCOL_VERSION]).await;
    assert_closed_by_server(&mut truncated).await;
    let mut garbage = send_raw(&server, b"\x00\x00\x00\x05\x01garb").await;
    assert_closed_by_server(&mut garbage).await;

    assert_echo(&mut bystander, "after").await;
    assert_eq!(bystander.connections_opened(), 1, "its connection survived");
    assert_echo(&mut client(&server), "newcomer").await;
}

#[tokio::test]
async fn oversized_frame_header_closes_only_its_connection() {
    let limits = TransportLimits {
        frame_bytes_max: 1024,
        ..TransportLimits::default()
    };
    let server = serve(any_loopback_port(), limits).await;
    let mut bystander = client(&server);
    assert_echo(&mut bystander, "before").await;

    // No payload follows: the server closes on the header alone, not after waiting for it.
    for announced in [1025_u32, u32::MAX] {
        let mut oversized = send_raw(&server, &announced.to_be_bytes()).await;
        assert_closed_by_server(&mut oversized).await;
    }

    assert_echo(&mut bystander, "after").await;
    assert_eq!(bystander.connections_opened(), 1);
}

#[tokio::test]
async fn unknown_protocol_version_is_rejected_by_the_server() {
    let server = serve(any_loopback_port(), TransportLimits::default()).await;
    let mut frame = encode_frame(&envelope(1, "x"), FRAME_BYTES_MAX).unwrap();
    frame[FRAME_HEADER_BYTES] = PROTOCOL_VERSION + 1;
    let mut future_peer = send_raw(&server, &frame).await;
    assert_closed_by_server(&mut future_peer).await;
    assert_echo(&mut client(&server), "still serving").await;
}

/// A peer that reads one request and answers with `response_frame`; returns its address
/// and the task, which hands back the stream so it stays open until joined.
async fn fake_server(response_frame: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<TcpStream>) {
    let listener = TcpListener::bind(any_loopback_port()).await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let request: Option<RequestEnvelope<Request>> =
            read_frame(&mut stream, FRAME_BYTES_MAX).await.unwrap();
        assert!(request.is_some());
        write_frame(&mut stream, &response_frame).await.unwrap();
        stream
    });
    (address, task)
}

fn response_frame(call_id: u64) -> Vec<u8> {
    let response = ResponseEnvelope {
        call_id,
        response: "answer".to_string(),
    };
    encode_frame(&response, FRAME_BYTES_MAX).unwrap()
}

#[tokio::test]
async fn unknown_protocol_version_is_rejected_by_the_client() {
    let mut frame = response_frame(1);
    frame[FRAME_HEADER_BYTES] = PROTOCOL_VERSION + 1;
    let (address, peer) = fake_server(frame).await;
    let mut client = RpcClient::<Request, Response>::new(address, &TransportLimits::default());
    assert_eq!(
        client.call(&echo("x"), CALL_TIMEOUT).await,
        Err(TransportError::Frame(FrameError::UnsupportedVersion(
            PROTOCOL_VERSION + 1
        )))
    );
    drop(peer.await.unwrap());
}

#[tokio::test]
async fn response_to_another_call_is_refused() {
    let (address, peer) = fake_server(response_frame(99)).await;
    let mut client = RpcClient::<Request, Response>::new(address, &TransportLimits::default());
    assert_eq!(
        client.call(&echo("x"), CALL_TIMEOUT).await,
        Err(TransportError::UnexpectedCallId {
            expected: 1,
            received: 99
        })
    );
    drop(peer.await.unwrap());
}

#[tokio::test]
async fn request_above_the_frame_limit_is_refused_before_connecting() {
    let server = serve(any_loopback_port(), TransportLimits::default()).await;
    let limits = TransportLimits {
        frame_bytes_max: 1024,
        ..TransportLimits::default()
    };
    let mut client = RpcClient::<Request, Response>::new(server.local_address(), &limits);
    let refused = client.call(&echo(&"x".repeat(2000)), CALL_TIMEOUT).await;
    assert!(
        matches!(
            refused,
            Err(TransportError::Frame(FrameError::TooLarge { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(client.connections_opened(), 0);
    assert_echo(&mut client, "small").await;
}

#[tokio::test]
async fn response_above_the_server_frame_limit_closes_the_connection() {
    let limits = TransportLimits {
        frame_bytes_max: 1024,
        ..TransportLimits::default()
    };
    let server = serve(any_loopback_port(), limits).await;
    let mut client = client(&server);
    assert_eq!(
        client.call(&Request::Filler(2000), CALL_TIMEOUT).await,
        Err(TransportError::Closed)
    );
    assert_echo(&mut client, "small").await;
}

#[tokio::test]
async fn connection_limit_closes_excess_connections() {
    let limits = TransportLimits {
        connections_max: 2,
        ..TransportLimits::default()
    };
    let server = serve(any_loopback_port(), limits).await;
    let mut first = client(&server);
    let mut second = client(&server);
    assert_echo(&mut first, "first").await;
    assert_echo(&mut second, "second").await;

    let mut excess = TcpStream::connect(server.local_address()).await.unwrap();
    assert_closed_by_server(&mut excess).await;
    let mut third = client(&server);
    let refused = third.call(&echo("third"), CALL_TIMEOUT).await;
    assert!(
        matches!(
            refused,
            Err(TransportError::Closed | TransportError::Frame(FrameError::Io(_)))
        ),
        "{refused:?}"
    );

    // Closing a connection frees its slot once the server notices the end of stream.
    drop(first);
    assert!(
        call_succeeds_within(&mut third, Duration::from_secs(5)).await,
        "a freed slot is given to the next connection"
    );
    assert_echo(&mut second, "second again").await;
}

/// Calls until one succeeds, for at most `bound`: waits on a condition, not a guess.
async fn call_succeeds_within(client: &mut RpcClient<Request, Response>, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if client.call(&echo("retry"), CALL_TIMEOUT).await.is_ok() {
            return true;
        }
        time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn call_times_out_when_the_handler_never_answers_then_the_next_call_works() {
    let server = serve(any_loopback_port(), TransportLimits::default()).await;
    let mut client = client(&server);
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    assert_eq!(
        client.call(&Request::NeverAnswer, timeout).await,
        Err(TransportError::Timeout)
    );
    assert!(started.elapsed() >= timeout);
    assert_echo(&mut client, "next").await;
    assert_eq!(
        client.connections_opened(),
        2,
        "the timed-out connection was dropped"
    );
    // The stuck handler is abandoned on shutdown rather than waited for.
    time::timeout(PROMPTLY, server.shutdown())
        .await
        .expect("shutdown does not wait for a stuck handler");
}
