//! The transaction-info record: the last applied entry (and membership) the store holds.
//! Written in the same atomic batch as the entries it describes; read on open.

use crate::error::StoreError;
use crate::store::tables::TRANSACTION_INFO_ROW;
use crate::store::{Store, Table, TableWrite};
use crate::types::{AppliedMark, TimeMs};
use bincode::Options;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionInfo {
    /// The last entry whose writes are in the store (index 0: nothing applied yet).
    pub applied: AppliedMark,
    /// The last membership applied, opaque to the core (the Raft layer encodes it).
    pub membership: Option<Vec<u8>>,
    /// The greatest leader-stamped time among the entries the store holds: a leader (even
    /// one restarted with a slow clock) never stamps a later entry earlier than this.
    /// Since format version 2; 0 when read from a version-1 record.
    pub time_floor: TimeMs,
}

/// The record as format version 1 wrote it (no time floor).
#[derive(Deserialize)]
struct TransactionInfoV1 {
    applied: AppliedMark,
    membership: Option<Vec<u8>>,
}

impl TransactionInfo {
    /// The record a store holds; the default (nothing applied) when it holds none.
    pub fn read<S: Store>(store: &S) -> Result<TransactionInfo, StoreError> {
        match store.get(Table::TransactionInfo, TRANSACTION_INFO_ROW)? {
            Some(bytes) => TransactionInfo::decode(&bytes),
            None => Ok(TransactionInfo::default()),
        }
    }

    /// Decodes a record of this format or of version 1.
    pub fn decode(bytes: &[u8]) -> Result<TransactionInfo, StoreError> {
        // Exact decoding: a version-1 record is too short for this one, never misread.
        let exact = bincode::options()
            .with_fixint_encoding()
            .reject_trailing_bytes();
        match exact.deserialize::<TransactionInfo>(bytes) {
            Ok(info) => Ok(info),
            Err(_) => match exact.deserialize::<TransactionInfoV1>(bytes) {
                Ok(old) => Ok(TransactionInfo {
                    applied: old.applied,
                    membership: old.membership,
                    time_floor: TimeMs(0),
                }),
                Err(error) => Err(StoreError::Corrupt(format!(
                    "transaction info does not decode: {error}"
                ))),
            },
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
