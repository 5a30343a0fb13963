//! openraft's watch channel on our deterministic cell (`crate::watch`): tokio's watch wakes
//! waiters in a random shard order, which would make a seed replay diverge.

use crate::watch::{Watch, WatchRef};
use openraft_rt::watch::{self, RecvError, SendError};
use openraft_rt::{OptionalSend, OptionalSync};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct DeterministicWatch;

struct Ends {
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

pub struct Sender<T> {
    cell: Watch<T>,
    ends: Arc<Ends>,
}

pub struct Receiver<T> {
    cell: Watch<T>,
    ends: Arc<Ends>,
    /// The version this receiver has seen.
    seen: u64,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.ends.senders.fetch_add(1, Ordering::SeqCst);
        Sender {
            cell: self.cell.clone(),
            ends: self.ends.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.ends.senders.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Receivers waiting in `changed` must learn the channel closed.
            self.cell.wake_all();
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.ends.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver {
            cell: self.cell.clone(),
            ends: self.ends.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.ends.receivers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl watch::Watch for DeterministicWatch {
    type Sender<T: OptionalSend + OptionalSync> = Sender<T>;
    type Receiver<T: OptionalSend + OptionalSync> = Receiver<T>;
    type Ref<'a, T: OptionalSend + 'a> = WatchRef<'a, T>;

    fn channel<T: OptionalSend + OptionalSync>(init: T) -> (Sender<T>, Receiver<T>) {
        let cell = Watch::new(init);
        let ends = Arc::new(Ends {
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        });
        let receiver = Receiver {
            cell: cell.clone(),
            ends: ends.clone(),
            seen: 0,
        };
        (Sender { cell, ends }, receiver)
    }
}

impl<T: OptionalSend + OptionalSync> watch::WatchSender<DeterministicWatch, T> for Sender<T> {
    fn send(&self, value: T) -> Result<(), SendError<T>> {
        // As tokio's: with no receiver left the value is handed back, not stored.
        if self.ends.receivers.load(Ordering::SeqCst) == 0 {
            return Err(SendError(value));
        }
        self.cell.send(value);
        Ok(())
    }

    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        self.cell.send_if_modified(modify)
    }

    fn borrow_watched(&self) -> WatchRef<'_, T> {
        self.cell.borrow()
    }

    fn subscribe(&self) -> Receiver<T> {
        self.ends.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver {
            cell: self.cell.clone(),
            ends: self.ends.clone(),
            seen: self.cell.version(),
        }
    }
}

impl<T: OptionalSend + OptionalSync> watch::WatchReceiver<DeterministicWatch, T> for Receiver<T> {
    async fn changed(&mut self) -> Result<(), RecvError> {
        let seen = self.seen;
        let ends = self.ends.clone();
        let version = (self.cell)
            .wait_for_version(|_, version| {
                version != seen || ends.senders.load(Ordering::SeqCst) == 0
            })
            .await;
        if version == seen {
            return Err(RecvError(()));
        }
        self.seen = version;
        Ok(())
    }

    fn borrow_watched(&self) -> WatchRef<'_, T> {
        self.cell.borrow()
    }

    fn borrow_and_update(&mut self) -> WatchRef<'_, T> {
        let borrowed = self.cell.borrow();
        self.seen = borrowed.version();
        borrowed
    }
}
