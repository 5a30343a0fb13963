//! The `request_decoder` target: a frame payload decoded as the request a node's client port
//! or Raft port receives.
//!
//! Properties: decoding never panics; an accepted request re-encodes canonically (see
//! `frame::assert_round_trip`); and an OM request accepted off the wire, whatever its names,
//! sizes and limits, applies to a small namespace without a store error, writes nothing when it
//! is a read or fails, and answers and leaves the state exactly as the reference model does.

use super::frame::assert_round_trip;
use crate::apply_comparison::{full_listing, time_of, to_model, to_model_op, to_server};
use crate::checker::model::om::{BucketLayout, OmModel, OmOp, Quota, Replication};
use om_server::admin::ClientMessage;
use om_server::om::apply::{apply, read};
use om_server::om::view::MemoryTables;
use om_server::om::{OmEntry, OmRequest};
use om_server::raft::network::PeerRequest;
use om_server::transport::{decode_frame_payload, RequestEnvelope};
use om_server::types::{LogIndex, TimeMs};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// First byte: the port (even: client, odd: Raft); then the payload (version byte first).
pub fn request_decoder(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    if selector & 1 == 1 {
        decoded::<RequestEnvelope<PeerRequest>>(payload);
        return;
    }
    let Some(envelope) = decoded::<RequestEnvelope<ClientMessage>>(payload) else {
        return;
    };
    if let ClientMessage::Om(call) = envelope.request {
        assert_applies_like_model(&call.request);
    }
}

fn decoded<Message: Serialize + DeserializeOwned>(payload: &[u8]) -> Option<Message> {
    let message = decode_frame_payload::<Message>(payload).ok()?;
    assert_round_trip(&message, payload.len());
    Some(message)
}

/// A volume with a bucket holding a committed key and an open key, so that requests naming
/// them reach past the existence checks.
fn namespace() -> Vec<OmOp> {
    let volume = || "vol-a".to_string();
    let bucket = || "buck".to_string();
    let open = |key: &str| OmOp::OpenKey {
        volume: volume(),
        bucket: bucket(),
        key: key.to_string(),
        size: 10,
        replication: Replication::RatisThree,
        metadata: BTreeMap::new(),
    };
    vec![
        OmOp::CreateVolume {
            volume: volume(),
            owner: "alice".to_string(),
            quota: Quota::default(),
        },
        OmOp::CreateBucket {
            volume: volume(),
            bucket: bucket(),
            versioning: false,
            layout: BucketLayout::ObjectStore,
            quota: Quota::default(),
        },
        open("k"),
        OmOp::CommitKey {
            volume: volume(),
            bucket: bucket(),
            key: "k".to_string(),
            open_id: 3,
            size: 10,
        },
        open("dir/k"),
    ]
}

/// The namespace in both implementations, and the log index of its last entry.
fn seeded() -> (MemoryTables, OmModel, u64) {
    let mut tables = MemoryTables::default();
    let mut model = OmModel::new();
    let mut index = 0;
    for op in namespace() {
        index += 1;
        let expected = model.apply(index, time_of(index), &op);
        let (observed, writes) = apply(&tables, &entry(index, to_server(&op))).unwrap();
        assert_eq!(to_model(observed), expected, "namespace op {op:?}");
        assert!(expected.is_ok(), "namespace op {op:?}: {expected:?}");
        tables.write(&writes);
    }
    (tables, model, index)
}

fn entry(index: u64, request: OmRequest) -> OmEntry {
    OmEntry {
        index: LogIndex(index),
        time: TimeMs(time_of(index)),
        request,
    }
}

fn assert_applies_like_model(request: &OmRequest) {
    let (mut tables, mut model, last_index) = seeded();
    let op = to_model_op(request);
    if request.is_read() {
        let expected = model.apply(last_index, 0, &op);
        let observed = read(&tables, request).expect("a read needs no store error");
        assert_eq!(to_model(observed), expected, "{op:?}");
        return;
    }
    let index = last_index + 1;
    let expected = model.apply(index, time_of(index), &op);
    let (observed, writes) =
        apply(&tables, &entry(index, request.clone())).expect("apply needs no store error");
    assert!(
        observed.is_ok() || writes.is_empty(),
        "a failed request wrote {writes:?}"
    );
    assert_eq!(to_model(observed), expected, "{op:?}");
    tables.write(&writes);
    let model_state = full_listing(&mut |op| model.clone().apply(0, 0, op));
    let server_state = full_listing(&mut |op| to_model(read(&tables, &to_server(op)).unwrap()));
    assert_eq!(server_state, model_state, "state after {op:?}");
}
