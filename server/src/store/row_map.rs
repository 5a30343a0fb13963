//! Every table's rows in one ordered map, as the stores that replay a journal into memory (the
//! simulated disk, `journal`) keep them: their reads and exports, written once.

use super::{Rows, StoreImage, Table};
use std::collections::BTreeMap;
use std::ops::Bound;

/// `(table, key) -> value`.
pub type RowMap = BTreeMap<(Table, Vec<u8>), Vec<u8>>;

/// `Store::scan` over `rows`: `table`'s rows in `[start, end)` as the bounds say, at most
/// `limit`; an inverted range is empty.
pub fn scan(
    rows: &RowMap,
    table: Table,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    limit: usize,
) -> Rows {
    let start = match start {
        Bound::Unbounded => Bound::Included((table, Vec::new())),
        bound => bound.map(|key| (table, key.to_vec())),
    };
    // Open-ended, then cut at `end`: `BTreeMap::range` would panic on an inverted range.
    (rows.range((start, Bound::Unbounded)))
        .take_while(|((row_table, key), _)| {
            *row_table == table
                && match end {
                    Bound::Included(end) => key.as_slice() <= end,
                    Bound::Excluded(end) => key.as_slice() < end,
                    Bound::Unbounded => true,
                }
        })
        .take(limit)
        .map(|((_, key), value)| (key.clone(), value.clone()))
        .collect()
}

/// `Store::export` over `rows`.
pub fn export(rows: &RowMap, tables: &[Table]) -> StoreImage {
    let mut sorted = tables.to_vec();
    sorted.sort();
    StoreImage {
        tables: tables.to_vec(),
        rows: (rows.iter())
            .filter(|((table, _), _)| sorted.binary_search(table).is_ok())
            .map(|((table, key), value)| (*table, key.clone(), value.clone()))
            .collect(),
    }
}
