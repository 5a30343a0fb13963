//! Where a node keeps its Raft log: a journal (`store::journal`) in
//! `<ozone.om.ratis.storage.dir>/om-raft-journal`. Nodes initialised before it kept the log in a
//! sled database (`om-raft-log`); their first start copies it into a journal, built whole under
//! another name and renamed into place, so a crash during the copy leaves the sled log in use.

use crate::failure::Failure;
use om_server::config::StorageDirs;
use om_server::store::journal::JournalStore;
use om_server::store::sled::SledStore;
use om_server::store::{Store, Table};
use std::path::{Path, PathBuf};

const JOURNAL_DIRECTORY: &str = "om-raft-journal";
const JOURNAL_COPYING: &str = "om-raft-journal.copying";
/// The sled log of nodes initialised before the journal.
const SLED_DIRECTORY: &str = "om-raft-log";
/// Where a copied sled log is left (the journal supersedes it; delete it at leisure).
const SLED_COPIED: &str = "om-raft-log.copied";

fn failure(what: &str, path: &Path, error: impl std::fmt::Display) -> Failure {
    Failure::other(
        "STORAGE_ERROR",
        format!("{what} {}: {error}", path.display()),
    )
}

fn journal_path(dirs: &StorageDirs) -> PathBuf {
    dirs.ratis_dir.join(JOURNAL_DIRECTORY)
}

/// `--init`: an empty log.
pub fn create(dirs: &StorageDirs) -> Result<(), Failure> {
    let path = journal_path(dirs);
    let journal =
        JournalStore::open(&path).map_err(|error| failure("cannot create", &path, error))?;
    journal
        .close_blocking()
        .map_err(|error| failure("cannot create", &path, error))
}

/// The node's log, copied from its sled log first if it has one and no journal yet.
pub fn open(dirs: &StorageDirs) -> Result<JournalStore, Failure> {
    let path = journal_path(dirs);
    let sled = dirs.ratis_dir.join(SLED_DIRECTORY);
    if !path.exists() && sled.exists() {
        copy_sled_log(dirs, &sled, &path)?;
    }
    JournalStore::open(&path).map_err(|error| failure("cannot open", &path, error))
}

fn copy_sled_log(dirs: &StorageDirs, sled: &Path, journal: &Path) -> Result<(), Failure> {
    let old = SledStore::open(sled).map_err(|error| failure("cannot open", sled, error))?;
    let image = old
        .export(&[Table::RaftLog, Table::RaftState])
        .map_err(|error| failure("cannot read", sled, error))?;
    old.close_blocking()
        .map_err(|error| failure("cannot close", sled, error))?;
    let copying = dirs.ratis_dir.join(JOURNAL_COPYING);
    if copying.exists() {
        std::fs::remove_dir_all(&copying)
            .map_err(|error| failure("cannot remove", &copying, error))?;
    }
    let copy =
        JournalStore::open(&copying).map_err(|error| failure("cannot create", &copying, error))?;
    copy.import(&image)
        .map_err(|error| failure("cannot write", &copying, error))?;
    copy.close_blocking()
        .map_err(|error| failure("cannot sync", &copying, error))?;
    std::fs::rename(&copying, journal)
        .map_err(|error| failure("cannot rename", &copying, error))?;
    let parent = std::fs::File::open(&dirs.ratis_dir).and_then(|directory| directory.sync_all());
    parent.map_err(|error| failure("cannot sync", &dirs.ratis_dir, error))?;
    let copied = dirs.ratis_dir.join(SLED_COPIED);
    std::fs::rename(sled, &copied).map_err(|error| failure("cannot rename", sled, error))?;
    tracing::info!(
        entries = image.rows.len(),
        "copied the sled Raft log into {}; the old one is in {}",
        journal.display(),
        copied.display()
    );
    Ok(())
}
