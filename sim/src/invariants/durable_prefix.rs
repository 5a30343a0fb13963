//! What a node's tables hold durably must be the state after a prefix of the log: the prefix
//! their transaction info names (DESIGN.md: a flush is one atomic, synced batch together with
//! the transaction info). Checked at every sync of a node's tables, not only at the crashes a
//! schedule happens to draw: the state machine is deterministic, so every durable image that
//! names OM index `i` — on any node, in any life, flushed or installed from a snapshot — must
//! hold the same rows. Tables made durable apart from their transaction info, a transaction
//! info naming the wrong entry, or a snapshot that names an index its data is not at, all leave
//! an image that disagrees with another one naming the same index.

use om_server::store::sim_disk::DurableRows;
use om_server::store::tables::TRANSACTION_INFO_ROW;
use om_server::store::Table;
use om_server::transaction_info::TransactionInfo;
use std::collections::BTreeMap;

/// The first image seen for each OM index.
#[derive(Default)]
pub struct DurablePrefix {
    images: BTreeMap<u64, Image>,
    /// The first disagreement per node (later ones add nothing).
    findings: BTreeMap<u64, String>,
}

struct Image {
    digest: u64,
    rows: usize,
    node: u64,
    at: std::time::Duration,
}

/// A digest of the state-machine rows but the transaction info (which also carries the node's
/// time floor and membership, not part of the replicated tables' content). SipHash with fixed
/// keys (`DefaultHasher::new`): the same in every process, and it hashes a slice at once (this
/// runs at every sync of every node).
fn digest(rows: &DurableRows) -> (u64, usize) {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    let mut count = 0;
    for ((table, key), value) in rows {
        if *table == Table::TransactionInfo || !Table::STATE_MACHINE.contains(table) {
            continue;
        }
        count += 1;
        (table.id(), key, value).hash(&mut hasher);
    }
    (hasher.finish(), count)
}

impl DurablePrefix {
    /// `rows`: node `node`'s tables right after a sync, at simulated time `at`.
    pub fn observe(&mut self, node: u64, at: std::time::Duration, rows: &DurableRows) {
        if self.findings.contains_key(&node) {
            return;
        }
        let info = rows
            .get(&(Table::TransactionInfo, TRANSACTION_INFO_ROW.to_vec()))
            .map(|value| TransactionInfo::decode(value));
        let index = match info {
            None => 0,
            Some(Ok(info)) => info.applied.index.0,
            Some(Err(error)) => {
                let finding = format!("om{node}: durable transaction info unreadable: {error}");
                self.findings.insert(node, finding);
                return;
            }
        };
        let (digest, count) = digest(rows);
        match self.images.get(&index) {
            None => {
                let image = Image {
                    digest,
                    rows: count,
                    node,
                    at,
                };
                self.images.insert(index, image);
            }
            Some(first) if first.digest == digest => {}
            Some(first) => {
                let finding = format!(
                    "om{node}: at {:.3}s its durable tables ({count} rows) name om index {index} \
                     but differ from what om{} durably held at that index at {:.3}s ({} rows): a \
                     power loss then would restart it from a state the log never produced",
                    at.as_secs_f64(),
                    first.node,
                    first.at.as_secs_f64(),
                    first.rows,
                );
                self.findings.insert(node, finding);
            }
        }
    }

    /// One line per node that held a wrong image.
    pub fn findings(&self) -> Vec<String> {
        self.findings.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use om_server::types::{AppliedMark, LogIndex, Term};

    fn rows(applied: u64, volumes: &[&str]) -> DurableRows {
        let mut rows = DurableRows::new();
        let info = TransactionInfo {
            applied: AppliedMark {
                term: Term(1),
                index: LogIndex(applied),
            },
            ..TransactionInfo::default()
        };
        let write = info.to_write();
        rows.insert((write.table, write.key), write.value.expect("a row"));
        for volume in volumes {
            rows.insert((Table::Volumes, volume.as_bytes().to_vec()), b"v".to_vec());
        }
        rows
    }

    #[test]
    fn images_naming_one_index_must_agree() {
        let mut check = DurablePrefix::default();
        let second = std::time::Duration::from_secs(1);
        check.observe(1, second, &rows(1, &["a"]));
        check.observe(2, second, &rows(1, &["a"]));
        check.observe(2, second, &rows(2, &["a", "b"]));
        assert!(check.findings().is_empty());
        // Tables of index 2 made durable while the transaction info still names 1.
        check.observe(3, second, &rows(1, &["a", "b"]));
        let findings = check.findings();
        assert_eq!(findings.len(), 1);
        assert!(findings[0].starts_with("om3:"), "{findings:?}");
        assert!(findings[0].contains("om index 1"), "{findings:?}");
    }
}
