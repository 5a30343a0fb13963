//! The transport's contract: frames are bounded, versioned and typed on error; a bad frame closes
//! only its own connection; every call is bounded by its timeout and a failed call leaves the
//! client able to reconnect. Loopback tests use real sockets; simulation tests run the same code
//! on madsim's TCP with clogs, kills and restarts.

use om_server::transport::RequestEnvelope;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Request {
    Echo(String),
    /// The handler answers with this many bytes.
    Filler(usize),
    /// The handler never answers it.
    NeverAnswer,
}

type Response = String;

async fn answer(request: Request) -> Response {
    match request {
        Request::Echo(text) => text,
        Request::Filler(bytes) => "x".repeat(bytes),
        Request::NeverAnswer => std::future::pending().await,
    }
}

fn echo(text: &str) -> Request {
    Request::Echo(text.to_string())
}

fn envelope(call_id: u64, text: &str) -> RequestEnvelope<Request> {
    RequestEnvelope {
        call_id,
        request: echo(text),
    }
}

#[path = "transport/frame.rs"]
mod frame;

#[cfg(not(madsim))]
#[path = "transport/loopback.rs"]
mod loopback;

#[cfg(madsim)]
#[path = "transport/simulation.rs"]
mod simulation;
