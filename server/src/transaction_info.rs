//! The transaction-info record: the last applied entry (and membership) the store holds.
//! Written in the same atomic batch as the entries it describes; read on open.

use crate::error::StoreError;
use crate::store::tables::TRANSACTION_INFO_ROW;
use crate::store::{Store, Table, TableWrite};
use crate::types::AppliedMark;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionInfo {
    /// The last entry whose writes are in the store (index 0: nothing applied yet).
    pub applied: AppliedMark,
    /// The last membership applied, opaque to the core (the Raft layer encodes it).
    pub membership: Option<Vec<u8>>,
}

impl TransactionInfo {
    /// The record a store holds; the default (nothing applied) when it holds none.
    pub fn read<S: Store>(store: &S) -> Result<TransactionInfo, StoreError> {
        match store.get(Table::TransactionInfo, TRANSACTION_INFO_ROW)? {
            Some(bytes) => bincode::deserialize(&bytes).map_err(|error| {
                StoreError::Corrupt(format!("transaction info does not decode: {error}"))
            }),
            None => Ok(TransactionInfo::default()),
        }
    }

    /// The write that records `self`, to append to a flush batch.
    pub fn to_write(&self) -> TableWrite {
        TableWrite {
            table: Table::TransactionInfo,
            key: TRANSACTION_INFO_ROW.to_vec(),
            value: Some(bincode::serialize(self).expect("transaction info serializes")),
        }
    }
}
