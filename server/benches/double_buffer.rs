//! Key commits through the double buffer on sled: batched flushes (the double buffer) versus a
//! forced flush per entry (what the double buffer exists to avoid).
//!
//! Run: `cargo bench -p om-server --bench double_buffer` (optional argument: number of keys).

#[cfg(madsim)]
fn main() {}

#[cfg(not(madsim))]
fn main() {
    bench::main();
}

#[cfg(not(madsim))]
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time and reads its arguments
mod bench {
    use om_server::applier::Applier;
    use om_server::om::{BucketLayout, OmEntry, OmRequest, Quota, Replication};
    use om_server::store::sled::SledStore;
    use om_server::types::{LogIndex, Term, TimeMs};
    use std::time::{Duration, Instant};

    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Batched,
        FlushPerEntry,
    }

    fn entry(index: u64, request: OmRequest) -> OmEntry {
        OmEntry {
            index: LogIndex(index),
            time: TimeMs(index),
            request,
        }
    }

    /// Applies `keys` open+commit pairs; returns the time from the first commit until all are durable.
    async fn run(keys: u64, mode: Mode) -> Duration {
        let directory =
            std::env::temp_dir().join(format!("om-bench-{}-{}", std::process::id(), mode as u8));
        let _ = std::fs::remove_dir_all(&directory);
        let applier = Applier::open(SledStore::open(&directory).unwrap(), 10_000).unwrap();
        let setup = [
            OmRequest::CreateVolume {
                volume: "vol".into(),
                owner: "bench".into(),
                quota: Quota::default(),
            },
            OmRequest::CreateBucket {
                volume: "vol".into(),
                bucket: "buck".into(),
                versioning: false,
                layout: BucketLayout::ObjectStore,
                quota: Quota::default(),
            },
        ];
        let mut index = 0;
        for request in setup {
            index += 1;
            applier
                .apply(Term(1), &entry(index, request))
                .await
                .unwrap()
                .unwrap();
        }
        applier
            .double_buffer()
            .wait_flushed(LogIndex(index))
            .await
            .unwrap();
        let started = Instant::now();
        for n in 0..keys {
            let key = format!("dir/key-{n:08}");
            let open = OmRequest::OpenKey {
                volume: "vol".into(),
                bucket: "buck".into(),
                key: key.clone(),
                size: 4096,
                replication: Replication::RatisThree,
                metadata: Default::default(),
            };
            index += 1;
            let open_id = index;
            applier
                .apply(Term(1), &entry(index, open))
                .await
                .unwrap()
                .unwrap();
            if mode == Mode::FlushPerEntry {
                applier
                    .double_buffer()
                    .wait_flushed(LogIndex(index))
                    .await
                    .unwrap();
            }
            let commit = OmRequest::CommitKey {
                volume: "vol".into(),
                bucket: "buck".into(),
                key,
                open_id,
                size: 4096,
            };
            index += 1;
            applier
                .apply(Term(1), &entry(index, commit))
                .await
                .unwrap()
                .unwrap();
            if mode == Mode::FlushPerEntry {
                applier
                    .double_buffer()
                    .wait_flushed(LogIndex(index))
                    .await
                    .unwrap();
            }
        }
        applier
            .double_buffer()
            .wait_flushed(LogIndex(index))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let stats = applier.double_buffer().stats();
        println!(
            "  {:<16} {keys} commits, {} flushes, largest batch {} entries",
            if mode == Mode::Batched {
                "batched"
            } else {
                "flush per entry"
            },
            stats.flushes,
            stats.largest_batch_entries
        );
        applier.double_buffer().stop().await;
        drop(applier);
        let _ = std::fs::remove_dir_all(&directory);
        elapsed
    }

    pub fn main() {
        let keys: u64 = std::env::args()
            .skip(1)
            .find_map(|arg| arg.parse().ok())
            .unwrap_or(5000);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        println!("double buffer on sled, {keys} key commits (open + commit = 2 entries each):");
        let batched = runtime.block_on(run(keys, Mode::Batched));
        let per_entry = runtime.block_on(run(keys, Mode::FlushPerEntry));
        let rate = |elapsed: Duration| keys as f64 / elapsed.as_secs_f64();
        println!(
            "  batched:          {:>10.0} commits/s ({:.3} s)",
            rate(batched),
            batched.as_secs_f64()
        );
        println!(
            "  flush per entry:  {:>10.0} commits/s ({:.3} s)",
            rate(per_entry),
            per_entry.as_secs_f64()
        );
        println!(
            "  ratio:            {:>10.1}x",
            rate(batched) / rate(per_entry)
        );
    }
}
