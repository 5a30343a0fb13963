//! A deterministic watch cell: a value plus waiters woken in the order they registered.
//!
//! `tokio::sync::watch` wakes waiters through randomly chosen notify shards (tokio's own
//! thread-local RNG), which breaks same-seed replay under madsim. `Notify::notify_waiters`
//! wakes its waiters in FIFO order, so this cell is built on it. The double buffer publishes
//! its flushed index here, and openraft's watch channels (`raft::watch_channel`) wrap it.

use std::ops::Deref;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::Notify;

struct Shared<T> {
    /// The value and how many times it was sent.
    value: RwLock<(T, u64)>,
    changed: Notify,
}

/// Cloning gives another handle on the same cell (any handle may send).
pub struct Watch<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Watch<T> {
    fn clone(&self) -> Self {
        Watch {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Watch<T> {
    pub fn new(value: T) -> Watch<T> {
        Watch {
            shared: Arc::new(Shared {
                value: RwLock::new((value, 0)),
                changed: Notify::new(),
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, (T, u64)> {
        let value = &self.shared.value;
        value
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, (T, u64)> {
        let value = &self.shared.value;
        value
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn send(&self, value: T) {
        self.send_if_modified(|current| {
            *current = value;
            true
        });
    }

    /// Changes the value in place and wakes waiters.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|current| {
            modify(current);
            true
        });
    }

    /// Changes the value only when `modify` says it did, and wakes waiters then.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let modified = {
            let mut slot = self.write();
            let modified = modify(&mut slot.0);
            if modified {
                slot.1 += 1;
            }
            modified
        };
        if modified {
            self.shared.changed.notify_waiters();
        }
        modified
    }

    /// Borrows the current value. Holds a read lock: keep it short, never across `.await`, and
    /// never send while holding it.
    pub fn borrow(&self) -> WatchRef<'_, T> {
        WatchRef { guard: self.read() }
    }

    /// How many times the value was sent.
    pub fn version(&self) -> u64 {
        self.read().1
    }

    /// Wakes every waiter without changing the value (e.g. the last sender went away).
    pub fn wake_all(&self) {
        self.shared.changed.notify_waiters();
    }

    /// Waits until `ready` holds for (value, version); returns that version.
    pub async fn wait_for_version(&self, mut ready: impl FnMut(&T, u64) -> bool) -> u64 {
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            // Register before checking, so a send between the check and the await still wakes us.
            notified.as_mut().enable();
            {
                let slot = self.read();
                if ready(&slot.0, slot.1) {
                    return slot.1;
                }
            }
            notified.await;
        }
    }
}

impl<T: Clone> Watch<T> {
    pub fn get(&self) -> T {
        self.read().0.clone()
    }

    /// Waits until `ready` holds for the current value, and returns that value.
    pub async fn wait_for(&self, mut ready: impl FnMut(&T) -> bool) -> T {
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let slot = self.read();
                if ready(&slot.0) {
                    return slot.0.clone();
                }
            }
            notified.await;
        }
    }
}

/// A borrow of a watch cell's value.
pub struct WatchRef<'a, T> {
    guard: RwLockReadGuard<'a, (T, u64)>,
}

impl<T> WatchRef<'_, T> {
    pub fn version(&self) -> u64 {
        self.guard.1
    }
}

impl<T> Deref for WatchRef<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard.0
    }
}
