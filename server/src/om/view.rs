//! What apply reads (tables through the cache) and what it writes back (table writes).

use crate::error::StoreError;
pub use crate::store::TableWrite;
use crate::store::{Rows, Table};
use std::collections::BTreeMap;

/// Read access to the metadata tables as of the last applied entry.
///
/// To ensure correctness an implementation:
/// - answers from applied state, including entries not yet flushed to the store;
/// - returns `scan` rows in ascending key order, each key starting with `prefix` and greater
///   than `after` when given, at most `limit` rows.
pub trait MetadataView {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError>;
}

/// Tables held in memory: the simplest view, for tests and for one apply's own writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryTables {
    rows: BTreeMap<(Table, Vec<u8>), Vec<u8>>,
}

impl MemoryTables {
    pub fn write(&mut self, writes: &[TableWrite]) {
        for write in writes {
            let row = (write.table, write.key.clone());
            match &write.value {
                Some(value) => self.rows.insert(row, value.clone()),
                None => self.rows.remove(&row),
            };
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = (&(Table, Vec<u8>), &Vec<u8>)> {
        self.rows.iter()
    }
}

impl MetadataView for MemoryTables {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.rows.get(&(table, key.to_vec())).cloned())
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        let rows = self
            .rows
            .range((table, prefix.to_vec())..)
            .take_while(|((row_table, key), _)| *row_table == table && key.starts_with(prefix))
            .filter(|((_, key), _)| after.is_none_or(|after| key.as_slice() > after))
            .take(limit)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect();
        Ok(rows)
    }
}
