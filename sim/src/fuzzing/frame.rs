//! The `frame_decoder` target: a byte stream read frame by frame as a connection reads it, for
//! each message type a node or a client decodes.
//!
//! Properties: reading never panics and always ends; each frame read consumes exactly its
//! header and the payload the header announces; every error is the one the bytes call for (an
//! oversized header, a short stream, another version); the limit is exact to the byte; and an
//! accepted message re-encodes, under the same limit, into a frame that decodes to the same
//! message.

use super::ready;
use om_server::admin::{ClientAnswer, ClientMessage};
use om_server::raft::network::{PeerRequest, PeerResponse};
use om_server::transport::{
    decode_frame_header, decode_frame_payload, encode_frame, read_frame, FrameError,
    RequestEnvelope, ResponseEnvelope, FRAME_BYTES_MAX, FRAME_HEADER_BYTES, PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Frame limits the first byte chooses from: tiny ones reach `TooLarge` often.
const FRAME_LIMITS: [usize; 4] = [1, 16, 4096, FRAME_BYTES_MAX];

/// First byte: the limit (low two bits) and the message type (next two bits); then the stream.
pub fn frame_decoder(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let frame_bytes_max = FRAME_LIMITS[usize::from(selector & 3)];
    match (selector >> 2) & 3 {
        0 => read_stream::<RequestEnvelope<ClientMessage>>(stream, frame_bytes_max),
        1 => read_stream::<RequestEnvelope<PeerRequest>>(stream, frame_bytes_max),
        2 => read_stream::<ResponseEnvelope<ClientAnswer>>(stream, frame_bytes_max),
        _ => read_stream::<ResponseEnvelope<PeerResponse>>(stream, frame_bytes_max),
    }
}

fn read_stream<Message: Serialize + DeserializeOwned>(stream: &[u8], frame_bytes_max: usize) {
    assert_limit_exact::<Message>(stream);
    let mut reader = stream;
    loop {
        let offset = stream.len() - reader.len();
        let read = ready(read_frame::<Message, _>(&mut reader, frame_bytes_max));
        let consumed = &stream[offset..stream.len() - reader.len()];
        let rest_empty = reader.is_empty();
        match read {
            Ok(None) => {
                assert!(
                    consumed.is_empty() && rest_empty,
                    "clean end before the end"
                );
                return;
            }
            Ok(Some(message)) => {
                assert_eq!(consumed.len(), FRAME_HEADER_BYTES + announced(consumed));
                assert!(announced(consumed) <= frame_bytes_max);
                assert_round_trip(&message, frame_bytes_max);
            }
            Err(error) => {
                assert_error_fits(&error, consumed, rest_empty, frame_bytes_max);
                return;
            }
        }
    }
}

/// The limit is exact whatever the bytes: the first header passes a limit of what it announces,
/// and is refused by one byte less.
fn assert_limit_exact<Message: DeserializeOwned>(stream: &[u8]) {
    if stream.len() < FRAME_HEADER_BYTES || announced(stream) == 0 {
        return;
    }
    let payload_bytes = announced(stream);
    let at_limit = ready(read_frame::<Message, _>(&mut &stream[..], payload_bytes));
    assert!(!matches!(at_limit, Err(FrameError::TooLarge { .. })));
    let over_limit = ready(read_frame::<Message, _>(
        &mut &stream[..],
        payload_bytes - 1,
    ));
    let refused = FrameError::TooLarge {
        bytes: payload_bytes,
        max: payload_bytes - 1,
    };
    assert!(matches!(over_limit, Err(error) if error == refused));
}

/// The payload length a frame's header announces.
fn announced(frame: &[u8]) -> usize {
    let header: [u8; FRAME_HEADER_BYTES] = frame[..FRAME_HEADER_BYTES].try_into().unwrap();
    u32::from_be_bytes(header) as usize
}

fn assert_error_fits(error: &FrameError, consumed: &[u8], rest_empty: bool, limit: usize) {
    let header_read = consumed.len() >= FRAME_HEADER_BYTES;
    if header_read && !matches!(error, FrameError::TooLarge { .. }) {
        assert!(
            announced(consumed) <= limit,
            "a header over the limit passed: {error}"
        );
    }
    match error {
        FrameError::TooLarge { bytes, max } => {
            assert_eq!(
                consumed.len(),
                FRAME_HEADER_BYTES,
                "rejected before the payload"
            );
            assert_eq!((*bytes, *max), (announced(consumed), limit));
            assert!(bytes > max);
        }
        FrameError::Io(std::io::ErrorKind::UnexpectedEof) => {
            assert!(rest_empty, "{error} with bytes left");
            assert!(
                consumed.len() < FRAME_HEADER_BYTES
                    || consumed.len() < FRAME_HEADER_BYTES + announced(consumed),
                "{error} on a whole frame"
            );
        }
        FrameError::UnsupportedVersion(version) => {
            assert_eq!(consumed.len(), FRAME_HEADER_BYTES + announced(consumed));
            assert_eq!(*version, consumed[FRAME_HEADER_BYTES]);
            assert_ne!(*version, PROTOCOL_VERSION);
        }
        FrameError::Malformed(_) => {
            assert_eq!(consumed.len(), FRAME_HEADER_BYTES + announced(consumed));
        }
        FrameError::Io(kind) => panic!("a byte slice failed with {kind:?}"),
    }
}

/// An accepted message re-encodes (canonically, so never longer) within the same limit, into a
/// frame that decodes to a message with the same encoding.
pub(super) fn assert_round_trip<Message: Serialize + DeserializeOwned>(
    message: &Message,
    limit: usize,
) {
    let frame = encode_frame(message, limit).expect("an accepted message re-encodes");
    let header: [u8; FRAME_HEADER_BYTES] = frame[..FRAME_HEADER_BYTES].try_into().unwrap();
    let payload_bytes = decode_frame_header(header, limit).expect("its header is accepted");
    assert_eq!(payload_bytes, frame.len() - FRAME_HEADER_BYTES);
    let again: Message =
        decode_frame_payload(&frame[FRAME_HEADER_BYTES..]).expect("its payload decodes");
    assert_eq!(
        encode_frame(&again, limit).unwrap(),
        frame,
        "decodes to another message"
    );
}
