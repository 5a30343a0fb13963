//! The storage seam: named ordered tables with atomic batches and an explicit sync barrier.
//!
//! Two backends implement [`Store`]: [`sled`] for real runs and [`sim_disk`] for simulation.
//! Both pass the conformance suite in `suite.rs`, so they cannot drift apart.

#[cfg(not(madsim))]
pub mod journal;
pub mod row_map;
pub mod sim_disk;
#[cfg(not(madsim))]
pub mod sled;
#[cfg(test)]
pub(crate) mod suite;
pub mod tables;

pub use tables::Table;

use crate::error::StoreError;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::ops::Bound;

/// The on-disk format this build writes. Bump on any incompatible change.
/// 2: the transaction-info record carries the leader's time floor.
/// 3: one retry-cache row per call (format 2 rows are converted when the applier opens).
pub const FORMAT_VERSION: u32 = 3;

/// The oldest format this build still reads (a store opened at it is upgraded on open).
pub const FORMAT_VERSION_OLDEST_READ: u32 = 1;

/// Whether this build reads stores written in `version`.
pub fn format_version_readable(version: u32) -> bool {
    (FORMAT_VERSION_OLDEST_READ..=FORMAT_VERSION).contains(&version)
}

/// Which of a node's two stores. Ozone keeps the Raft log (`ozone.om.ratis.storage.dir`) and
/// the OM DB (`ozone.om.db.dirs`) apart: each has its own files and its own sync, so a sync of
/// one never makes the other's writes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The Raft log and Raft state (vote, committed, purged).
    Log,
    /// The state-machine tables and the transaction info (the double buffer writes them).
    Tables,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Log, Scope::Tables];

    /// Position in per-scope arrays.
    pub fn index(self) -> usize {
        match self {
            Scope::Log => 0,
            Scope::Tables => 1,
        }
    }
}

/// One mutation of one table row; `value: None` deletes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableWrite {
    pub table: Table,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Rows of a table: `(key, value)` in ascending key order.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// A consistent copy of some tables (a Raft snapshot's payload).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreImage {
    /// The tables this image replaces on import (rows of other tables are left alone).
    pub tables: Vec<Table>,
    /// `(table, key, value)`, ascending by table then key.
    pub rows: Vec<(Table, Vec<u8>, Vec<u8>)>,
}

impl StoreImage {
    /// Refuses an image holding rows of a table it does not name (an import would keep them
    /// beside the tables it replaces).
    pub fn check_tables(&self) -> Result<(), StoreError> {
        match (self.rows.iter()).find(|(table, _, _)| !self.tables.contains(table)) {
            Some((table, _, _)) => Err(StoreError::Corrupt(format!(
                "image row of table {} outside the image's tables",
                table.name()
            ))),
            None => Ok(()),
        }
    }
}

/// An ordered key-value store of named tables.
///
/// To ensure correctness a backend:
/// - applies each `write` batch atomically: after a crash, all of a batch or none of it;
/// - makes every write that returned before a successful `sync` survive a crash;
/// - may lose (never reorder, never half-apply) writes made after the last successful `sync`;
/// - serves reads from everything written, synced or not;
/// - returns `scan` rows in ascending key order within the bounds, at most `limit`;
/// - replaces the image's tables atomically on `import` (a failed import changes nothing);
/// - refuses to open data of an unknown format version (`StoreError::UnsupportedFormat`).
pub trait Store: Clone + Send + Sync + 'static {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    fn scan(
        &self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError>;

    /// Writes one atomic batch (durable only after `sync`).
    fn write(&self, batch: &[TableWrite]) -> Result<(), StoreError>;

    /// A barrier: every write that returned before this call is durable when it returns `Ok`.
    fn sync(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Flushes and releases the store's files: once it returns, the same process may open
    /// them again. Later calls on any clone fail with `StoreError::Closed`; closing twice does
    /// nothing. (A backend without files has nothing to release.)
    fn close(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// A consistent copy of `tables`.
    fn export(&self, tables: &[Table]) -> Result<StoreImage, StoreError>;

    /// Replaces `image.tables` with the image's rows, as one atomic batch (then `sync`).
    fn import(&self, image: &StoreImage) -> Result<(), StoreError>;

    /// Rows starting with `prefix`, greater than `after` when given.
    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let end = tables::prefix_end(prefix);
        let end = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.scan(table, start, end, limit)
    }
}
