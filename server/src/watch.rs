//! A deterministic watch cell: a value plus waiters woken in the order they registered.
//!
//! `tokio::sync::watch` wakes waiters through randomly chosen notify shards (tokio's own
//! thread-local RNG), which breaks same-seed replay under madsim. `Notify::notify_waiters`
//! wakes its waiters in FIFO order, so this cell is built on it.

use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

struct Shared<T> {
    value: Mutex<(T, u64)>,
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

impl<T: Clone> Watch<T> {
    pub fn new(value: T) -> Watch<T> {
        Watch {
            shared: Arc::new(Shared {
                value: Mutex::new((value, 0)),
                changed: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (T, u64)> {
        self.shared
            .value
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn send(&self, value: T) {
        {
            let mut slot = self.lock();
            slot.0 = value;
            slot.1 += 1;
        }
        self.shared.changed.notify_waiters();
    }

    /// Changes the value in place and wakes waiters.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        {
            let mut slot = self.lock();
            modify(&mut slot.0);
            slot.1 += 1;
        }
        self.shared.changed.notify_waiters();
    }

    pub fn get(&self) -> T {
        self.lock().0.clone()
    }

    /// How many times the value was sent.
    pub fn version(&self) -> u64 {
        self.lock().1
    }

    /// Waits until `ready` holds for the current value, and returns that value.
    pub async fn wait_for(&self, mut ready: impl FnMut(&T) -> bool) -> T {
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            // Register before checking, so a send between the check and the await still wakes us.
            notified.as_mut().enable();
            {
                let slot = self.lock();
                if ready(&slot.0) {
                    return slot.0.clone();
                }
            }
            notified.await;
        }
    }

    /// Waits for the next send after `seen_version`; returns the value and its version.
    pub async fn changed_since(&self, seen_version: u64) -> (T, u64) {
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let slot = self.lock();
                if slot.1 != seen_version {
                    return (slot.0.clone(), slot.1);
                }
            }
            notified.await;
        }
    }
}
