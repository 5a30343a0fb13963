//! A read sees one applied state: under real threads, with readers running while entries are
//! applied, flushed and evicted from the table cache, no read ever mixes the cache of one
//! moment with the store of a later one. One key (`anchor`) exists throughout; another is
//! renamed at every entry, so exactly one of its names exists in every real state.
#![cfg(not(madsim))]

mod common;

use common::{commit_key, create_bucket, create_volume, entry, open_key};
use om_server::applier::Applier;
use om_server::om::{OmRequest, OmResponse};
use om_server::store::sim_disk::SimDisk;
use om_server::store::Scope;
use om_server::types::Term;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const RENAMES: u64 = 4_000;
const READERS: usize = 7;

fn moving(n: u64) -> String {
    format!("moving-{n:06}")
}

fn list_keys() -> OmRequest {
    OmRequest::ListKeys {
        volume: "vol".into(),
        bucket: "bucket".into(),
        prefix: String::new(),
        start: String::new(),
        max: 1000,
    }
}

async fn create_key(applier: &Applier<impl om_server::store::Store>, index: &mut u64, key: &str) {
    *index += 1;
    let opened = applier
        .apply(Term(1), &entry(*index, open_key("vol", "bucket", key, 10)))
        .await
        .unwrap();
    let Ok(OmResponse::KeyOpened { open_id, .. }) = opened else {
        panic!("open {key}: {opened:?}");
    };
    *index += 1;
    let committed = applier
        .apply(
            Term(1),
            &entry(*index, commit_key("vol", "bucket", key, open_id, 10)),
        )
        .await
        .unwrap();
    assert_eq!(committed, Ok(OmResponse::Done));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn reads_never_mix_the_cache_and_the_store_of_different_moments() {
    let disk = SimDisk::new();
    // A small unflushed bound: flushes (and evictions) follow applies closely.
    let applier = Arc::new(Applier::open(disk.open(Scope::Tables).unwrap(), 8).unwrap());
    let mut index = 0;
    for request in [create_volume("vol"), create_bucket("vol", "bucket")] {
        index += 1;
        let answer = applier
            .apply(Term(1), &entry(index, request))
            .await
            .unwrap();
        assert_eq!(answer, Ok(OmResponse::Done));
    }
    create_key(&applier, &mut index, "anchor").await;
    create_key(&applier, &mut index, &moving(0)).await;

    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let (applier, done, reads) = (applier.clone(), done.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let Ok(OmResponse::Keys(keys)) = applier.read(&list_keys()).unwrap() else {
                    panic!("list keys failed");
                };
                let names: Vec<&str> = keys.iter().map(|key| key.name.as_str()).collect();
                assert!(
                    names.len() == 2 && names[0] == "anchor" && names[1].starts_with("moving-"),
                    "a state that never existed: {names:?}"
                );
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }));
    }

    for n in 1..=RENAMES {
        index += 1;
        let rename = OmRequest::RenameKey {
            volume: "vol".into(),
            bucket: "bucket".into(),
            from_key: moving(n - 1),
            to_key: moving(n),
        };
        let answer = applier.apply(Term(1), &entry(index, rename)).await.unwrap();
        assert_eq!(answer, Ok(OmResponse::Done));
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    let flushes = applier.double_buffer().stats().flushes;
    let reads = reads.load(Ordering::Relaxed);
    println!("{reads} reads during {RENAMES} renames and {flushes} flushes");
    assert!(
        flushes > 100,
        "the flusher ran alongside: {flushes} flushes"
    );
    assert!(reads > 1000, "the readers ran alongside: {reads} reads");
}
