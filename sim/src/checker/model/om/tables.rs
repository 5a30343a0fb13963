//! A bucket's committed and open keys, cheap to copy and to hash: the checker copies a state at
//! every step and fingerprints it, so a bucket shares its entries between copies (reference
//! counted; opens grouped per key name, so adding one copies one group) and keeps a running sum
//! of its entries' fingerprints (hashing a bucket does not visit its entries).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::checker::fingerprint::{fingerprint_of, Fingerprint};

use super::KeyInfo;

/// Committed keys by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct KeyTable {
    entries: BTreeMap<String, (Fingerprint, Arc<KeyInfo>)>,
    sum: Fingerprint,
}

impl Hash for KeyTable {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.entries.len().hash(state);
        self.sum.hash(state);
    }
}

impl KeyTable {
    pub(super) fn get(&self, name: &str) -> Option<&KeyInfo> {
        self.entries.get(name).map(|(_, info)| &**info)
    }

    pub(super) fn contains_key(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in name order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &KeyInfo)> {
        self.entries
            .iter()
            .map(|(name, (_, info))| (name.as_str(), &**info))
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &KeyInfo> {
        self.entries.values().map(|(_, info)| &**info)
    }

    pub(super) fn insert(&mut self, name: String, info: KeyInfo) {
        let print = fingerprint_of(&info);
        self.sum = self.sum.plus(print);
        if let Some((old, _)) = self.entries.insert(name, (print, Arc::new(info))) {
            self.sum = self.sum.minus(old);
        }
    }

    pub(super) fn remove(&mut self, name: &str) -> Option<KeyInfo> {
        let (print, info) = self.entries.remove(name)?;
        self.sum = self.sum.minus(print);
        Some(Arc::unwrap_or_clone(info))
    }
}

/// The opens of one key name, by open id.
type OpenGroup = BTreeMap<u64, (Fingerprint, Arc<KeyInfo>)>;

/// Open (uncommitted) keys by (key name, open id): the order `ListOpenKeys` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct OpenKeyTable {
    groups: BTreeMap<String, Arc<OpenGroup>>,
    len: usize,
    sum: Fingerprint,
}

impl Hash for OpenKeyTable {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.len.hash(state);
        self.sum.hash(state);
    }
}

impl OpenKeyTable {
    pub(super) fn get(&self, name: &str, open_id: u64) -> Option<&KeyInfo> {
        let (_, info) = self.groups.get(name)?.get(&open_id)?;
        Some(info)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries in (name, open id) order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, u64, &KeyInfo)> {
        self.groups.iter().flat_map(|(name, group)| {
            group
                .iter()
                .map(move |(open_id, (_, info))| (name.as_str(), *open_id, &**info))
        })
    }

    /// Number of opens of `name` with an id of at least `from`.
    pub(super) fn count_from(&self, name: &str, from: u64) -> usize {
        self.groups
            .get(name)
            .map_or(0, |group| group.range(from..).count())
    }

    pub(super) fn insert(&mut self, name: &str, open_id: u64, info: KeyInfo) {
        let print = fingerprint_of(&(open_id, &info));
        let group = self.groups.entry(name.to_string()).or_default();
        match Arc::make_mut(group).insert(open_id, (print, Arc::new(info))) {
            Some((old, _)) => self.sum = self.sum.minus(old),
            None => self.len += 1,
        }
        self.sum = self.sum.plus(print);
    }

    pub(super) fn remove(&mut self, name: &str, open_id: u64) -> Option<KeyInfo> {
        let group = self.groups.get_mut(name)?;
        if !group.contains_key(&open_id) {
            return None;
        }
        let (print, info) = Arc::make_mut(group)
            .remove(&open_id)
            .expect("checked above");
        if group.is_empty() {
            self.groups.remove(name);
        }
        self.len -= 1;
        self.sum = self.sum.minus(print);
        Some(Arc::unwrap_or_clone(info))
    }
}
