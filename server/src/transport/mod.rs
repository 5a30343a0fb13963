//! One framed RPC protocol over `tokio::net` TCP, for client → OM and OM → OM (Raft) traffic.
//!
//! The same code runs on real sockets and, under `--cfg madsim`, on madsim's simulated TCP:
//! the simulator is the seam, so the transport has no test-only branches. It is generic over
//! the request and response types and knows nothing of Raft or OM.
//!
//! To ensure correctness:
//! - every call carries a deadline that covers connect, send and receive: a clogged or paused
//!   peer makes reads block forever with no error, so nothing may wait without one;
//! - after any error or timeout the client drops its connection, so a late response can never
//!   be read as the answer to the next call (the echoed `call_id` is checked as well);
//! - a bad frame (oversized, unknown version, undecodable) closes only the connection it came
//!   on; the listener and other connections keep serving;
//! - a frame header announcing more than `frame_bytes_max` is rejected before allocating.

mod frame;
mod tcp;

pub use frame::{
    decode_frame_header, decode_frame_payload, encode_frame, payload_bytes, read_frame,
    write_frame, FrameError, FRAME_HEADER_BYTES, PROTOCOL_VERSION,
};
pub use tcp::{RpcClient, RpcHandler, RpcServer, ServerHandle};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::time::Duration;

/// Largest frame payload (version byte + message). It bounds what a peer can make us buffer
/// per connection; a Raft snapshot larger than this travels in chunks.
pub const FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Connections one server serves at once; more are closed on accept.
pub const CONNECTIONS_MAX_DEFAULT: usize = 1024;

/// A connection that brings no complete request (or takes no response) for this long is closed.
pub const IDLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

/// A handler that has not answered after this long is abandoned and its connection closed, so
/// a stuck handler cannot hold a connection slot forever.
pub const HANDLER_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

// The frame header is a u32: the limit must be expressible in it.
const _: () = assert!(FRAME_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(CONNECTIONS_MAX_DEFAULT <= u32::MAX as usize);

/// The transport's limits; every server and client is built from one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportLimits {
    /// Largest frame payload accepted or sent (`FRAME_BYTES_MAX` by default).
    pub frame_bytes_max: usize,
    /// Connections a server serves at once.
    pub connections_max: usize,
    /// The server closes a connection that brings no complete request (or takes no response)
    /// for this long, so a large frame must arrive within it too. The client stops re-using a
    /// connection after half of it, so it never sends into one the server is about to close.
    pub idle_timeout: Duration,
    /// How long the server waits for its handler before abandoning the request.
    pub handler_timeout: Duration,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            frame_bytes_max: FRAME_BYTES_MAX,
            connections_max: CONNECTIONS_MAX_DEFAULT,
            idle_timeout: IDLE_TIMEOUT_DEFAULT,
            handler_timeout: HANDLER_TIMEOUT_DEFAULT,
        }
    }
}

impl TransportLimits {
    /// Panics on limits no transport can work with: these are programmer errors in a config.
    pub fn assert_valid(&self) {
        assert!(self.frame_bytes_max > 0, "frame_bytes_max must be positive");
        assert!(
            self.frame_bytes_max <= u32::MAX as usize,
            "frame_bytes_max must fit the u32 frame header"
        );
        assert!(self.connections_max > 0, "connections_max must be positive");
        assert!(
            self.connections_max <= u32::MAX as usize,
            "connections_max must fit a semaphore's u32 permits"
        );
        assert!(
            !self.idle_timeout.is_zero(),
            "idle_timeout must be positive"
        );
        assert!(
            !self.handler_timeout.is_zero(),
            "handler_timeout must be positive"
        );
    }
}

/// What the client sends. `call_id` is the transport's own counter, not the OM retry cache's
/// `CallId`: it only pairs a response with its request on one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope<Request> {
    pub call_id: u64,
    pub request: Request,
}

/// What the server answers: the request's `call_id`, echoed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEnvelope<Response> {
    pub call_id: u64,
    pub response: Response,
}

/// Why a call failed. Whenever anything was sent the connection has been dropped, and the next
/// call reconnects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No connection could be opened (refused, unreachable, or not before the deadline).
    Connect(io::ErrorKind),
    /// The deadline passed after the request may have been sent.
    Timeout,
    /// The peer closed the connection before answering.
    Closed,
    /// A frame could not be encoded, written, read or decoded.
    Frame(FrameError),
    /// The response answers another call: the connection is out of step.
    UnexpectedCallId { expected: u64, received: u64 },
}

impl TransportError {
    /// False only when the request certainly never left this process; when true the server
    /// may have received and executed it, so the outcome is unknown, not failed.
    pub fn may_have_been_delivered(&self) -> bool {
        !matches!(self, TransportError::Connect(_))
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Connect(kind) => write!(formatter, "cannot connect: {kind}"),
            TransportError::Timeout => write!(formatter, "call timed out"),
            TransportError::Closed => write!(formatter, "connection closed by the peer"),
            TransportError::Frame(error) => write!(formatter, "frame error: {error}"),
            TransportError::UnexpectedCallId { expected, received } => write!(
                formatter,
                "response to call {received} received while waiting for call {expected}"
            ),
        }
    }
}

impl std::error::Error for TransportError {}

impl From<FrameError> for TransportError {
    fn from(error: FrameError) -> Self {
        TransportError::Frame(error)
    }
}
