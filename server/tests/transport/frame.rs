//! Frames without sockets: encoding, the limit, the version and typed decoding errors.

use super::{echo, envelope, Request, Response};
use om_server::transport::{
    decode_frame_header, decode_frame_payload, encode_frame, read_frame, FrameError,
    RequestEnvelope, RpcClient, TransportError, TransportLimits, FRAME_BYTES_MAX,
    FRAME_HEADER_BYTES, PROTOCOL_VERSION,
};
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn frame_round_trips_with_its_length_and_version() {
    let frame = encode_frame(&envelope(7, "hello"), FRAME_BYTES_MAX).unwrap();
    let header: [u8; FRAME_HEADER_BYTES] = frame[..FRAME_HEADER_BYTES].try_into().unwrap();
    let payload = &frame[FRAME_HEADER_BYTES..];
    assert_eq!(
        decode_frame_header(header, FRAME_BYTES_MAX),
        Ok(payload.len())
    );
    assert_eq!(payload[0], PROTOCOL_VERSION);
    let decoded: RequestEnvelope<Request> = decode_frame_payload(payload).unwrap();
    assert_eq!(decoded, envelope(7, "hello"));
}

#[test]
fn header_above_the_limit_is_too_large() {
    let header = 1025_u32.to_be_bytes();
    assert_eq!(
        decode_frame_header(header, 1024),
        Err(FrameError::TooLarge {
            bytes: 1025,
            max: 1024
        })
    );
    assert_eq!(decode_frame_header(1024_u32.to_be_bytes(), 1024), Ok(1024));
}

#[test]
fn empty_payload_is_malformed() {
    assert!(matches!(
        decode_frame_header(0_u32.to_be_bytes(), 1024),
        Err(FrameError::Malformed(_))
    ));
    assert!(matches!(
        decode_frame_payload::<Request>(&[]),
        Err(FrameError::Malformed(_))
    ));
}

#[test]
fn unknown_version_is_unsupported() {
    let mut frame = encode_frame(&envelope(1, "x"), FRAME_BYTES_MAX).unwrap();
    frame[FRAME_HEADER_BYTES] = PROTOCOL_VERSION + 1;
    assert_eq!(
        decode_frame_payload::<RequestEnvelope<Request>>(&frame[FRAME_HEADER_BYTES..]),
        Err(FrameError::UnsupportedVersion(PROTOCOL_VERSION + 1))
    );
}

#[test]
fn truncated_or_trailing_bytes_are_malformed() {
    let frame = encode_frame(&envelope(1, "hello"), FRAME_BYTES_MAX).unwrap();
    let payload = &frame[FRAME_HEADER_BYTES..];
    let truncated = &payload[..payload.len() - 1];
    assert!(matches!(
        decode_frame_payload::<RequestEnvelope<Request>>(truncated),
        Err(FrameError::Malformed(_))
    ));
    let mut trailing = payload.to_vec();
    trailing.push(0);
    assert!(matches!(
        decode_frame_payload::<RequestEnvelope<Request>>(&trailing),
        Err(FrameError::Malformed(_))
    ));
}

#[test]
fn length_prefix_beyond_the_payload_is_malformed_not_allocated() {
    // A string announcing 2^40 bytes (bincode varint: 253 then a u64) in a 10-byte payload.
    let mut payload = vec![PROTOCOL_VERSION, 253];
    payload.extend_from_slice(&(1_u64 << 40).to_le_bytes());
    assert!(matches!(
        decode_frame_payload::<String>(&payload),
        Err(FrameError::Malformed(_))
    ));
}

#[test]
fn encoding_above_the_limit_is_too_large() {
    let large = envelope(1, &"x".repeat(2000));
    assert!(matches!(
        encode_frame(&large, 1024),
        Err(FrameError::TooLarge { max: 1024, .. })
    ));
}

#[tokio::test]
async fn frames_are_read_in_order_then_a_clean_end() {
    let mut bytes = encode_frame(&envelope(1, "one"), FRAME_BYTES_MAX).unwrap();
    bytes.extend(encode_frame(&envelope(2, "two"), FRAME_BYTES_MAX).unwrap());
    let mut reader = &bytes[..];
    let first: Option<RequestEnvelope<Request>> =
        read_frame(&mut reader, FRAME_BYTES_MAX).await.unwrap();
    let second: Option<RequestEnvelope<Request>> =
        read_frame(&mut reader, FRAME_BYTES_MAX).await.unwrap();
    let end: Option<RequestEnvelope<Request>> =
        read_frame(&mut reader, FRAME_BYTES_MAX).await.unwrap();
    assert_eq!(first, Some(envelope(1, "one")));
    assert_eq!(second, Some(envelope(2, "two")));
    assert_eq!(end, None);
}

#[tokio::test]
async fn stream_ending_inside_a_frame_is_unexpected_eof() {
    let frame = encode_frame(&envelope(1, "hello"), FRAME_BYTES_MAX).unwrap();
    for cut in [2, FRAME_HEADER_BYTES, frame.len() - 1] {
        let mut reader = &frame[..cut];
        let read = read_frame::<RequestEnvelope<Request>, _>(&mut reader, FRAME_BYTES_MAX).await;
        assert_eq!(
            read,
            Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof)),
            "cut at {cut}"
        );
    }
}

#[test]
fn client_and_its_calls_can_cross_tasks() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: T) {}
    let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut client = RpcClient::<Request, Response>::new(target, &TransportLimits::default());
    assert_send_sync(&client);
    // Built, never polled: only its type is checked.
    assert_send(client.call(&echo("x"), Duration::from_secs(1)));
}

#[test]
fn errors_say_what_happened() {
    let too_large = FrameError::TooLarge { bytes: 9, max: 8 };
    assert_eq!(
        too_large.to_string(),
        "frame of 9 bytes exceeds the limit of 8"
    );
    let error = TransportError::UnexpectedCallId {
        expected: 2,
        received: 1,
    };
    assert_eq!(
        error.to_string(),
        "response to call 1 received while waiting for call 2"
    );
    assert!(
        !TransportError::Connect(std::io::ErrorKind::ConnectionRefused).may_have_been_delivered()
    );
    assert!(TransportError::Timeout.may_have_been_delivered());
}
