//! A failed flush of the tables stops the apply pipeline for good (until restart): installing
//! a snapshot afterwards must not restart it on a fresh double buffer, which would accept
//! entries again and hide the failure from `OmNode::fail_stopped`.

mod common;

use common::{block_on, create_volume, entry};
use om_server::applier::Applier;
use om_server::double_buffer::FlushState;
use om_server::store::sim_disk::{DiskFault, SimDisk};
use om_server::store::Scope;
use om_server::types::{LogIndex, Term};
use om_server::StoreError;

#[test]
fn a_snapshot_install_after_a_failed_flush_stays_stopped() {
    block_on(async {
        // The snapshot: another replica's flushed state at index 5.
        let source = Applier::open(SimDisk::new().open(Scope::Tables).unwrap(), 10).unwrap();
        for index in 1..=5 {
            let request = create_volume(&format!("source-{index}"));
            source
                .apply(Term(1), &entry(index, request))
                .await
                .unwrap()
                .unwrap();
        }
        let (image, _) = source.snapshot_image().await.unwrap();

        let disk = SimDisk::new();
        let applier = Applier::open(disk.open(Scope::Tables).unwrap(), 10).unwrap();
        applier
            .apply(Term(1), &entry(1, create_volume("one")))
            .await
            .unwrap()
            .unwrap();
        applier
            .double_buffer()
            .wait_flushed(LogIndex(1))
            .await
            .unwrap();
        disk.inject(DiskFault::FailNextSync {
            scope: Scope::Tables,
            keep_pending: false,
        });
        applier
            .apply(Term(1), &entry(2, create_volume("two")))
            .await
            .unwrap()
            .unwrap();
        let failure = StoreError::Io("injected sync failure".into());
        let waited = applier.double_buffer().wait_flushed(LogIndex(2)).await;
        assert_eq!(waited, Err(failure.clone()));

        let installed = applier.install_image(&image).await;
        assert_eq!(
            installed,
            Err(failure.clone()),
            "the first failure is reported"
        );
        let state = applier.double_buffer().state();
        let FlushState::Failed { flushed, error } = &state else {
            panic!("the pipeline stays stopped: {state:?}");
        };
        assert_eq!((flushed.index, error), (LogIndex(1), &failure));
        // Nothing is accepted any more, not even the entry after the snapshot.
        let refused = applier
            .apply(Term(1), &entry(6, create_volume("six")))
            .await;
        assert_eq!(refused, Err(failure));
    });
}
