//! The wire format: a frame is a u32 big-endian payload length, then the payload; the payload
//! is one protocol-version byte, then the bincode encoding of the message.
//!
//! Encoding and decoding are pure functions over byte slices (tested without sockets);
//! `read_frame` and `write_frame` move frames over any async stream.

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The version byte every payload starts with. A peer speaking another version is refused
/// rather than misread.
pub const PROTOCOL_VERSION: u8 = 1;

/// Bytes of the length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;

/// Bytes of the payload taken by the version.
const VERSION_BYTES: usize = 1;

/// Memory reserved up front for a payload; the rest grows as bytes actually arrive, so a
/// header that lies about its length cannot make us allocate what was never sent.
const PAYLOAD_RESERVE_BYTES_MAX: usize = 64 * 1024;

/// Why a frame could not be read, written or decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The payload is larger than the limit (announced by a header, or produced by encoding).
    TooLarge { bytes: usize, max: usize },
    /// The payload starts with a protocol version this build does not speak.
    UnsupportedVersion(u8),
    /// The payload is empty or does not decode as the expected message.
    Malformed(String),
    /// The stream failed, or ended inside a frame (`UnexpectedEof`).
    Io(io::ErrorKind),
}

impl fmt::Display for FrameError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { bytes, max } => {
                write!(
                    formatter,
                    "frame of {bytes} bytes exceeds the limit of {max}"
                )
            }
            FrameError::UnsupportedVersion(version) => write!(
                formatter,
                "unsupported protocol version {version} (this node speaks {PROTOCOL_VERSION})"
            ),
            FrameError::Malformed(reason) => write!(formatter, "malformed frame: {reason}"),
            FrameError::Io(kind) => write!(formatter, "stream error: {kind}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(error: io::Error) -> Self {
        FrameError::Io(error.kind())
    }
}

/// One bincode configuration for both directions; trailing bytes are rejected so a payload
/// decodes as exactly one message.
fn bincode_options() -> impl Options {
    bincode::DefaultOptions::new()
}

/// The whole frame (header included) for `message`, ready to be written in one flush.
pub fn encode_frame<Message: Serialize>(
    message: &Message,
    frame_bytes_max: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0; FRAME_HEADER_BYTES];
    frame.push(PROTOCOL_VERSION);
    bincode_options()
        .serialize_into(&mut frame, message)
        .map_err(|error| FrameError::Malformed(error.to_string()))?;
    let payload_bytes = frame.len() - FRAME_HEADER_BYTES;
    if payload_bytes > frame_bytes_max {
        return Err(FrameError::TooLarge {
            bytes: payload_bytes,
            max: frame_bytes_max,
        });
    }
    let header = u32::try_from(payload_bytes).expect("frame_bytes_max fits the u32 header");
    frame[..FRAME_HEADER_BYTES].copy_from_slice(&header.to_be_bytes());
    Ok(frame)
}

/// The payload bytes `message` takes in a frame (version byte included): what a sender
/// checks against `frame_bytes_max` to size a message that must fit one frame.
pub fn payload_bytes<Message: Serialize>(message: &Message) -> Result<usize, FrameError> {
    let body = bincode_options()
        .serialized_size(message)
        .map_err(|error| FrameError::Malformed(error.to_string()))?;
    Ok(VERSION_BYTES + body as usize)
}

/// The payload length a header announces, checked against the limit before anything is read.
pub fn decode_frame_header(
    header: [u8; FRAME_HEADER_BYTES],
    frame_bytes_max: usize,
) -> Result<usize, FrameError> {
    let payload_bytes = u32::from_be_bytes(header) as usize;
    if payload_bytes > frame_bytes_max {
        return Err(FrameError::TooLarge {
            bytes: payload_bytes,
            max: frame_bytes_max,
        });
    }
    if payload_bytes < VERSION_BYTES {
        return Err(FrameError::Malformed("empty payload".to_string()));
    }
    Ok(payload_bytes)
}

/// The message in a payload (version byte first).
pub fn decode_frame_payload<Message: DeserializeOwned>(
    payload: &[u8],
) -> Result<Message, FrameError> {
    let Some((&version, body)) = payload.split_first() else {
        return Err(FrameError::Malformed("empty payload".to_string()));
    };
    if version != PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    // The limit makes bincode refuse a length prefix inside the body that claims more bytes
    // than the body has, before it allocates for it.
    bincode_options()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|error| FrameError::Malformed(error.to_string()))
}

/// Reads one frame. `Ok(None)` means the peer closed the stream cleanly between frames; a
/// stream ending inside a frame is `Io(UnexpectedEof)`.
pub async fn read_frame<Message, Reader>(
    reader: &mut Reader,
    frame_bytes_max: usize,
) -> Result<Option<Message>, FrameError>
where
    Message: DeserializeOwned,
    Reader: AsyncRead + Unpin,
{
    let Some(header) = read_frame_header(reader).await? else {
        return Ok(None);
    };
    let payload_bytes = decode_frame_header(header, frame_bytes_max)?;
    let payload = read_frame_payload(reader, payload_bytes).await?;
    decode_frame_payload(&payload).map(Some)
}

/// The header, or `None` if the stream ended before its first byte.
async fn read_frame_header<Reader: AsyncRead + Unpin>(
    reader: &mut Reader,
) -> Result<Option<[u8; FRAME_HEADER_BYTES]>, FrameError> {
    let mut header = [0; FRAME_HEADER_BYTES];
    let first_read_bytes = reader.read(&mut header).await?;
    if first_read_bytes == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut header[first_read_bytes..]).await?;
    Ok(Some(header))
}

async fn read_frame_payload<Reader: AsyncRead + Unpin>(
    reader: &mut Reader,
    payload_bytes: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut payload = Vec::with_capacity(payload_bytes.min(PAYLOAD_RESERVE_BYTES_MAX));
    (&mut *reader)
        .take(payload_bytes as u64)
        .read_to_end(&mut payload)
        .await?;
    if payload.len() != payload_bytes {
        return Err(FrameError::Io(io::ErrorKind::UnexpectedEof));
    }
    Ok(payload)
}

/// Writes an encoded frame and flushes it: under madsim nothing is sent until the flush, and
/// one flush is one message.
pub async fn write_frame<Writer: AsyncWrite + Unpin>(
    writer: &mut Writer,
    frame: &[u8],
) -> Result<(), FrameError> {
    writer.write_all(frame).await?;
    writer.flush().await?;
    Ok(())
}
