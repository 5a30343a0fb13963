//! The protocol over `tokio::net` TCP: `RpcServer` serves a handler, `RpcClient` calls one
//! target. Under `--cfg madsim` the same code runs on simulated TCP.

use super::{
    encode_frame, read_frame, write_frame, FrameError, RequestEnvelope, ResponseEnvelope,
    TransportError, TransportLimits,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{self, Instant};
use tracing::{debug, warn};

/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Answers requests. Implement it on the node (`Arc<Node>` is what the server holds); any
/// `Fn(Request) -> impl Future<Output = Response>` closure is a handler too.
pub trait RpcHandler<Request, Response>: Send + Sync + 'static {
    fn handle(&self, request: Request) -> impl Future<Output = Response> + Send;
}

impl<Request, Response, Function, Answer> RpcHandler<Request, Response> for Function
where
    Function: Fn(Request) -> Answer + Send + Sync + 'static,
    Answer: Future<Output = Response> + Send,
{
    fn handle(&self, request: Request) -> impl Future<Output = Response> + Send {
        self(request)
    }
}

/// A bound listener, not yet serving. Binding and serving are separate so a caller knows the
/// address is bound (and can connect to it) before any task runs.
pub struct RpcServer {
    listener: TcpListener,
    local_address: SocketAddr,
    limits: TransportLimits,
}

impl RpcServer {
    pub async fn bind(address: SocketAddr, limits: TransportLimits) -> io::Result<RpcServer> {
        limits.assert_valid();
        let listener = TcpListener::bind(address).await?;
        let local_address = listener.local_addr()?;
        Ok(RpcServer {
            listener,
            local_address,
            limits,
        })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// Spawns the accept loop on the current node. Serving stops when the handle is shut down
    /// or dropped.
    pub fn serve<Request, Response, Handler>(self, handler: Arc<Handler>) -> ServerHandle
    where
        Request: DeserializeOwned + Send + 'static,
        Response: Serialize + Send + 'static,
        Handler: RpcHandler<Request, Response>,
    {
        // No message is ever sent: dropping the sender closes the channel, and every receiver,
        // even one subscribed after that, sees it closed.
        let (shutdown_sender, shutdown) = broadcast::channel(1);
        let local_address = self.local_address;
        let acceptor = Acceptor {
            handler,
            slots: Arc::new(Semaphore::new(self.limits.connections_max)),
            limits: self.limits,
            shutdown,
        };
        let accept_task = tokio::spawn(acceptor.run(self.listener));
        ServerHandle {
            shutdown: shutdown_sender,
            accept_task,
            local_address,
        }
    }
}

/// Owns a serving server. Dropping it stops the server in the background; `shutdown` also
/// waits until the port is free and no connection of the server remains.
pub struct ServerHandle {
    shutdown: broadcast::Sender<()>,
    accept_task: JoinHandle<()>,
    local_address: SocketAddr,
}

impl ServerHandle {
    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// Stops accepting, closes every connection (abandoning handlers in progress) and returns
    /// once the listener is closed, so the address can be bound again.
    pub async fn shutdown(self) {
        drop(self.shutdown);
        if let Err(error) = self.accept_task.await {
            warn!(address = %self.local_address, ?error, "accept loop ended abnormally");
        }
    }
}

/// What the accept loop shares with the connections it spawns.
struct Acceptor<Handler> {
    handler: Arc<Handler>,
    limits: TransportLimits,
    /// One permit per connection being served.
    slots: Arc<Semaphore>,
    shutdown: broadcast::Receiver<()>,
}

impl<Handler> Acceptor<Handler> {
    async fn run<Request, Response>(mut self, listener: TcpListener)
    where
        Request: DeserializeOwned + Send + 'static,
        Response: Serialize + Send + 'static,
        Handler: RpcHandler<Request, Response>,
    {
        loop {
            let accepted = tokio::select! {
                biased;
                _ = self.shutdown.recv() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => self.on_accept(stream, peer),
                Err(error) => {
                    warn!(%error, "accept failed");
                    time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            }
        }
        drop(listener);
        // Every connection holds a slot until its stream is dropped, and stops on the same
        // shutdown signal: holding all slots means no connection of this server remains.
        let slots_all = u32::try_from(self.limits.connections_max).expect("asserted on bind");
        let _ = self.slots.acquire_many(slots_all).await;
    }

    fn on_accept<Request, Response>(&self, stream: TcpStream, peer: SocketAddr)
    where
        Request: DeserializeOwned + Send + 'static,
        Response: Serialize + Send + 'static,
        Handler: RpcHandler<Request, Response>,
    {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            warn!(
                %peer,
                connections_max = self.limits.connections_max,
                "closing connection: connection limit reached"
            );
            return;
        };
        let connection = ServerConnection {
            stream,
            peer,
            handler: self.handler.clone(),
            limits: self.limits.clone(),
        };
        tokio::spawn(connection.run(slot, self.shutdown.resubscribe()));
    }
}

/// One accepted connection: requests on it are read, handled and answered in order.
struct ServerConnection<Handler> {
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<Handler>,
    limits: TransportLimits,
}

impl<Handler> ServerConnection<Handler> {
    async fn run<Request, Response>(
        mut self,
        slot: OwnedSemaphorePermit,
        mut shutdown: broadcast::Receiver<()>,
    ) where
        Request: DeserializeOwned + Send + 'static,
        Response: Serialize + Send + 'static,
        Handler: RpcHandler<Request, Response>,
    {
        let end = tokio::select! {
            biased;
            _ = shutdown.recv() => ConnectionEnd::Shutdown,
            end = self.serve_requests() => end,
        };
        end.log(self.peer);
        // The stream closes before the slot returns, so a finished shutdown left none open.
        drop(self);
        drop(slot);
    }

    async fn serve_requests<Request, Response>(&mut self) -> ConnectionEnd
    where
        Request: DeserializeOwned + Send + 'static,
        Response: Serialize + Send + 'static,
        Handler: RpcHandler<Request, Response>,
    {
        loop {
            if let Err(end) = self.serve_request().await {
                return end;
            }
        }
    }

    async fn serve_request<Request, Response>(&mut self) -> Result<(), ConnectionEnd>
    where
        Request: DeserializeOwned + Send + 'static,
        Response: Serialize + Send + 'static,
        Handler: RpcHandler<Request, Response>,
    {
        let envelope: RequestEnvelope<Request> = self.serve_request_read().await?;
        crate::buggify::delay("transport: before handling a request").await;
        let response = time::timeout(
            self.limits.handler_timeout,
            self.handler.handle(envelope.request),
        )
        .await
        .map_err(|_| ConnectionEnd::HandlerTimeout)?;
        let answer = ResponseEnvelope {
            call_id: envelope.call_id,
            response,
        };
        let frame = encode_frame(&answer, self.limits.frame_bytes_max)
            .map_err(ConnectionEnd::BadResponse)?;
        time::timeout(
            self.limits.idle_timeout,
            write_frame(&mut self.stream, &frame),
        )
        .await
        .map_err(|_| ConnectionEnd::WriteStalled)?
        .map_err(ConnectionEnd::WriteFailed)
    }

    async fn serve_request_read<Request: DeserializeOwned>(
        &mut self,
    ) -> Result<RequestEnvelope<Request>, ConnectionEnd> {
        let read = read_frame(&mut self.stream, self.limits.frame_bytes_max);
        match time::timeout(self.limits.idle_timeout, read).await {
            Err(_) => Err(ConnectionEnd::Idle),
            Ok(Err(error)) => Err(ConnectionEnd::BadRequest(error)),
            Ok(Ok(None)) => Err(ConnectionEnd::PeerClosed),
            Ok(Ok(Some(envelope))) => Ok(envelope),
        }
    }
}

/// Why the server closed a connection.
#[derive(Debug)]
enum ConnectionEnd {
    Shutdown,
    PeerClosed,
    Idle,
    /// Covers oversized, unknown-version and undecodable frames and streams ending mid-frame.
    BadRequest(FrameError),
    HandlerTimeout,
    BadResponse(FrameError),
    WriteStalled,
    /// Usually a client that gave up (timed out) and left.
    WriteFailed(FrameError),
}

impl ConnectionEnd {
    /// Ends that point at a misbehaving peer or handler, as opposed to normal life.
    fn is_fault(&self) -> bool {
        match self {
            ConnectionEnd::Shutdown
            | ConnectionEnd::PeerClosed
            | ConnectionEnd::Idle
            | ConnectionEnd::WriteFailed(_) => false,
            // A peer that went away mid-frame (killed, timed out) is normal life too.
            ConnectionEnd::BadRequest(FrameError::Io(_)) => false,
            ConnectionEnd::BadRequest(_)
            | ConnectionEnd::HandlerTimeout
            | ConnectionEnd::BadResponse(_)
            | ConnectionEnd::WriteStalled => true,
        }
    }

    fn log(&self, peer: SocketAddr) {
        if self.is_fault() {
            warn!(%peer, reason = %self, "closing connection");
        } else {
            debug!(%peer, reason = %self, "closing connection");
        }
    }
}

impl fmt::Display for ConnectionEnd {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionEnd::Shutdown => write!(formatter, "server shutting down"),
            ConnectionEnd::PeerClosed => write!(formatter, "peer closed the connection"),
            ConnectionEnd::Idle => write!(formatter, "idle timeout"),
            ConnectionEnd::BadRequest(error) => write!(formatter, "bad request frame: {error}"),
            ConnectionEnd::HandlerTimeout => write!(formatter, "handler did not answer in time"),
            ConnectionEnd::BadResponse(error) => {
                write!(formatter, "cannot encode response: {error}")
            }
            ConnectionEnd::WriteStalled => write!(formatter, "response write stalled"),
            ConnectionEnd::WriteFailed(error) => {
                write!(formatter, "response write failed: {error}")
            }
        }
    }
}

/// Calls one target. Connects lazily and re-uses the connection; a connection is put back for
/// re-use only after a completed exchange, so an error, a timeout or a cancelled call drops it
/// and the next call reconnects.
pub struct RpcClient<Request, Response> {
    target: SocketAddr,
    frame_bytes_max: usize,
    /// Re-use a connection only while younger than this (half the server's idle timeout), so
    /// a call never goes out on a connection the server is closing.
    reuse_window: Duration,
    /// In a Mutex only so the client is `Sync` (openraft's network needs that, and madsim's
    /// `TcpStream` is not `Sync`); `&mut self` reaches it through `get_mut`, never a lock.
    connection: Mutex<Option<ClientConnection>>,
    call_id_next: u64,
    connections_opened: u64,
    messages: PhantomData<fn(Request) -> Response>,
}

struct ClientConnection {
    stream: TcpStream,
    last_used: Instant,
}

impl<Request, Response> RpcClient<Request, Response>
where
    Request: Serialize,
    Response: DeserializeOwned,
{
    pub fn new(target: SocketAddr, limits: &TransportLimits) -> Self {
        limits.assert_valid();
        RpcClient {
            target,
            frame_bytes_max: limits.frame_bytes_max,
            reuse_window: limits.idle_timeout / 2,
            connection: Mutex::new(None),
            call_id_next: 1,
            connections_opened: 0,
            messages: PhantomData,
        }
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Connections this client has opened; more than one means it reconnected.
    pub fn connections_opened(&self) -> u64 {
        self.connections_opened
    }

    /// Sends `request` and waits for its response; `timeout` bounds the whole call, connect
    /// included.
    pub async fn call(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, TransportError> {
        let deadline = crate::clock::monotonic_now() + timeout;
        let call_id = self.call_id_next;
        self.call_id_next += 1;
        let frame = encode_frame(&RequestEnvelope { call_id, request }, self.frame_bytes_max)?;
        let mut connection = self.call_connection(deadline).await?;
        let exchange = call_exchange(&mut connection.stream, &frame, self.frame_bytes_max);
        let answer: ResponseEnvelope<Response> = time::timeout(remaining(deadline), exchange)
            .await
            .map_err(|_| TransportError::Timeout)??;
        if answer.call_id != call_id {
            return Err(TransportError::UnexpectedCallId {
                expected: call_id,
                received: answer.call_id,
            });
        }
        connection.last_used = crate::clock::monotonic_now();
        *self.connection.get_mut() = Some(connection);
        Ok(answer.response)
    }

    /// The idle connection, taken out of the client for the duration of the call, or a new one.
    async fn call_connection(
        &mut self,
        deadline: Instant,
    ) -> Result<ClientConnection, TransportError> {
        if let Some(connection) = self.connection.get_mut().take() {
            if connection.last_used.elapsed() < self.reuse_window {
                return Ok(connection);
            }
        }
        let stream = time::timeout(remaining(deadline), TcpStream::connect(self.target))
            .await
            .map_err(|_| TransportError::Connect(io::ErrorKind::TimedOut))?
            .map_err(|error| TransportError::Connect(error.kind()))?;
        self.connections_opened += 1;
        Ok(ClientConnection {
            stream,
            last_used: crate::clock::monotonic_now(),
        })
    }
}

async fn call_exchange<Response: DeserializeOwned>(
    stream: &mut TcpStream,
    frame: &[u8],
    frame_bytes_max: usize,
) -> Result<ResponseEnvelope<Response>, TransportError> {
    write_frame(stream, frame).await?;
    read_frame(stream, frame_bytes_max)
        .await?
        .ok_or(TransportError::Closed)
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(crate::clock::monotonic_now())
}
