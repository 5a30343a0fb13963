//! What is durable must be recoverable, at every moment and not only at the crashes a schedule
//! happens to draw: whenever a node purges its log, the harness takes the image a power loss
//! would leave at that instant (unsynced bytes dropped) and checks that the log still holds
//! every entry after the tables' durable applied index. A purge that runs ahead of the durable
//! flush (DESIGN.md: the log is purged only up to the flushed index) leaves a gap no restart
//! can fill, whether or not a crash strikes inside the window.

use om_server::raft::log_store::LogStore;
use om_server::raft::state_machine::om_index;
use om_server::store::sim_disk::SimDisk;
use om_server::store::Scope;
use om_server::transaction_info::TransactionInfo;

/// Checks the power-loss image of `disk` now; the error says what would be lost.
pub fn check(disk: &SimDisk) -> Result<(), String> {
    let image = disk.power_loss_image();
    let tables = image
        .open(Scope::Tables)
        .map_err(|error| format!("the tables' power-loss image does not open: {error}"))?;
    let applied = TransactionInfo::read(&tables)
        .map_err(|error| format!("the tables' power-loss image is unreadable: {error}"))?
        .applied;
    let log = image
        .open(Scope::Log)
        .map_err(|error| format!("the log's power-loss image does not open: {error}"))?;
    let purged = LogStore::new(log)
        .purged()
        .map_err(|error| format!("the log's power-loss image is unreadable: {error}"))?;
    match purged {
        Some(purged) if om_index(purged.index) > applied.index => Err(format!(
            "a power loss now would leave the log purged through raft index {} while the \
             tables hold only up to om index {}: the entries between are gone",
            purged.index, applied.index.0
        )),
        _ => Ok(()),
    }
}
