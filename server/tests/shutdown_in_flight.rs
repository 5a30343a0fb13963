//! Shutting a node down while the state machine is applying: shutdown waits for openraft's
//! state-machine worker before it stops the double buffer, so no entry is applied after the
//! buffer stopped and nothing panics. The tables' syncs are slow and the unflushed bound tiny,
//! so the worker is inside an apply (waiting for back-pressure) when shutdown begins.
#![cfg(not(madsim))]

mod common;

use common::create_bucket;
use om_server::double_buffer::FlushState;
use om_server::node::{ClientRequest, NodeConfig, OmNode};
use om_server::om::{OmRequest, OmResponse, Quota};
use om_server::raft::NodeAddress;
use om_server::retry_cache::Caller;
use om_server::store::sim_disk::{DiskFault, SimDisk};
use om_server::store::Scope;
use om_server::types::{CallId, ClientId};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WRITERS: u64 = 64;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn call(client: u128, request: OmRequest) -> ClientRequest {
    ClientRequest {
        caller: Caller {
            client: ClientId(client),
            call: CallId(1),
        },
        request,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_waits_for_the_state_machine_before_stopping_the_buffer() {
    // Any panic, on any task, fails the test (a spawned task's panic would go unnoticed).
    let panics = Arc::new(AtomicU64::new(0));
    let hook = std::panic::take_hook();
    let counted = panics.clone();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        hook(info);
    }));

    let address = NodeAddress {
        client_address: format!("127.0.0.1:{}", free_port()),
        raft_address: format!("127.0.0.1:{}", free_port()),
    };
    let disk = SimDisk::new();
    let mut config = NodeConfig::new(1, address.clone());
    config.unflushed_transactions_max = 1;
    let node = OmNode::start(
        config,
        disk.open(Scope::Log).unwrap(),
        disk.open(Scope::Tables).unwrap(),
    )
    .await
    .unwrap();
    node.initialize(BTreeMap::from([(1, address)]))
        .await
        .unwrap();
    let volume = OmRequest::CreateVolume {
        volume: "vol".into(),
        owner: "hadoop".into(),
        quota: Quota::default(),
    };
    for attempt in 0.. {
        match node.on_client_request(call(0, volume.clone())).await {
            Ok(OmResponse::Done) => break,
            // Elected, not ready yet: bounded retries.
            refused if attempt < 200 => {
                assert!(refused.is_err(), "{refused:?}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            refused => panic!("the volume was never created: {refused:?}"),
        }
    }

    disk.inject(DiskFault::SyncLatency {
        scope: Scope::Tables,
        latency: Duration::from_millis(20),
    });
    let mut writers = Vec::new();
    for writer in 1..=WRITERS {
        let node = node.clone();
        let bucket = create_bucket("vol", &format!("bucket-{writer:03}"));
        writers.push(tokio::spawn(async move {
            node.on_client_request(call(writer.into(), bucket)).await
        }));
    }
    // Shut down once the state machine is behind: entries are committed but not yet applied.
    let applier = node.applier().clone();
    for _ in 0..500 {
        let committed = {
            let metrics = node.raft().metrics();
            let metrics = openraft::rt::WatchReceiver::borrow_watched(&metrics);
            metrics.last_log_index.unwrap_or(0)
        };
        if committed >= applier.last_applied().index.0 + 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let before = applier.last_applied();
    node.shutdown().await;

    let state = applier.double_buffer().state();
    assert!(matches!(state, FlushState::Stopped { .. }), "{state:?}");
    let applied = applier.last_applied();
    assert!(applied >= before);
    assert_eq!(
        applied,
        state.flushed(),
        "everything applied before the stop was flushed; nothing after it"
    );
    for writer in writers {
        // Answered or refused: each writer returns.
        let _ = writer.await.unwrap();
    }
    // A late apply would show up now: give stray tasks time to run, then look again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        applier.last_applied(),
        applied,
        "an entry applied after shutdown"
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a task panicked");
}
