//! One `openraft_rt::AsyncRuntime` over our `tokio` alias: madsim in simulation, tokio
//! otherwise. openraft's own tokio runtime calls the real tokio reactor, which does not exist
//! under madsim.
//!
//! Spawn, sleep, timeouts and instants go through `tokio` (simulated under madsim); the
//! thread-local rng draws from madsim's seeded rng in simulation; mpsc, oneshot and mutex are
//! tokio's sync types (deterministic: FIFO wake-ups); the watch channel is our own, because
//! tokio's wakes its waiters in random order.

use super::watch_channel::DeterministicWatch;
use openraft_rt::{AsyncRuntime, OptionalSend};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct OmRuntime;

/// `tokio::time::Instant`: simulated time under madsim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OmInstant(tokio::time::Instant);

impl Add<Duration> for OmInstant {
    type Output = Self;
    fn add(self, duration: Duration) -> Self {
        OmInstant(self.0 + duration)
    }
}

impl AddAssign<Duration> for OmInstant {
    fn add_assign(&mut self, duration: Duration) {
        self.0 += duration;
    }
}

impl Sub<Duration> for OmInstant {
    type Output = Self;
    fn sub(self, duration: Duration) -> Self {
        OmInstant(self.0 - duration)
    }
}

impl Sub<OmInstant> for OmInstant {
    type Output = Duration;
    fn sub(self, earlier: OmInstant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }
}

impl SubAssign<Duration> for OmInstant {
    fn sub_assign(&mut self, duration: Duration) {
        self.0 -= duration;
    }
}

impl openraft_rt::Instant for OmInstant {
    fn now() -> Self {
        OmInstant(crate::clock::monotonic_now())
    }
}

/// A future bounded by a deadline. Our own type because madsim's `timeout` is unnameable and
/// it has no `timeout_at`. The inner future is polled first (biased, deterministic).
pub struct OmTimeout<F> {
    future: Pin<Box<F>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

/// The deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl<F: Future> Future for OmTimeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.future.as_mut().poll(context) {
            return Poll::Ready(Ok(output));
        }
        match self.sleep.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The rng openraft draws election jitter from: madsim's seeded global rng in simulation (so a
/// seed replays exactly), the OS-seeded one in real runs.
#[derive(Debug, Default)]
pub struct OmRng;

impl rand_core::TryRng for OmRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(draw_u64() as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(draw_u64())
    }

    fn try_fill_bytes(&mut self, destination: &mut [u8]) -> Result<(), Infallible> {
        for chunk in destination.chunks_mut(8) {
            let bytes = draw_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[allow(clippy::disallowed_methods)] // madsim's rng: seeded in simulation, OS-seeded for real runs
fn draw_u64() -> u64 {
    use madsim::rand::RngCore;
    madsim::rand::thread_rng().next_u64()
}

impl AsyncRuntime for OmRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    type Instant = OmInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = OmTimeout<T>;
    type ThreadLocalRng = OmRng;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        tokio::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: OmInstant) -> Self::Sleep {
        tokio::time::sleep_until(deadline.0)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        OmTimeout {
            future: Box::pin(future),
            sleep: Box::pin(tokio::time::sleep(duration)),
        }
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: OmInstant,
        future: F,
    ) -> Self::Timeout<R, F> {
        OmTimeout {
            future: Box::pin(future),
            sleep: Box::pin(tokio::time::sleep_until(deadline.0)),
        }
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> OmRng {
        OmRng
    }

    type Mpsc = openraft_rt_tokio::TokioMpsc;
    type Watch = DeterministicWatch;
    type Oneshot = openraft_rt_tokio::TokioOneshot;
    type Mutex<T: OptionalSend + 'static> = openraft_rt_tokio::TokioMutex<T>;

    fn new(_threads: usize) -> Self {
        OmRuntime
    }

    /// Runs `future` on a fresh runtime of the build's kind (tests; nodes run inside one).
    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        #[cfg(madsim)]
        {
            madsim::runtime::Runtime::new().block_on(future)
        }
        #[cfg(not(madsim))]
        {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(future)
        }
    }

    /// No OS threads (madsim refuses them): blocking work runs inline.
    fn spawn_blocking<F, T>(work: F) -> impl Future<Output = Result<T, std::io::Error>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        std::future::ready(Ok(work()))
    }
}

#[cfg(test)]
mod tests {
    use super::OmRuntime;

    /// openraft's own conformance suite for runtimes.
    #[test]
    fn passes_openraft_runtime_suite() {
        openraft_rt::testing::Suite::<OmRuntime>::test_all();
    }
}
