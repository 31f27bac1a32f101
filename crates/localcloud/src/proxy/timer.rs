//! hyper's timer for one client connection, reusing one tokio timer.
//!
//! hyper asks its timer for a new sleep each time it starts waiting for a
//! request head (its header read timeout) and drops that sleep once the head
//! is in. With hyper-util's `TokioTimer`, every request therefore registers a
//! timer with tokio's timer driver and removes it again, each under the
//! driver's lock. Here a connection keeps one tokio timer and moves its
//! deadline later for each request, which, while the previous deadline is
//! still pending, only stores the new one.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Given to hyper's server connection builder, one per connection. hyper
/// keeps at most one header read sleep at a time, so the sleeps it makes
/// can share one tokio timer.
#[derive(Clone, Default)]
pub(super) struct ConnectionTimer {
    /// Made on first use, inside the runtime.
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(SharedSleep {
            timer: self.shared.clone(),
            deadline: tokio::time::Instant::from_std(deadline),
            armed: false,
        })
    }

    /// tokio's clock, as `TokioTimer` has it, so that paused time in tests
    /// applies here too.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// One of hyper's sleeps: sets the shared timer to its deadline when first
/// polled (a head that is already in never touches the timer).
struct SharedSleep {
    timer: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
    deadline: tokio::time::Instant,
    armed: bool,
}

impl Future for SharedSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let first_poll = !std::mem::replace(&mut self.armed, true);
        let mut timer = self.timer.lock().unwrap_or_else(PoisonError::into_inner);
        let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if first_poll {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for SharedSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    /// Polls `sleep` once, then drops it, as hyper does when a head arrives.
    async fn abandon(mut sleep: Pin<Box<dyn hyper::rt::Sleep>>) {
        let polled = std::future::poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await;
        assert!(polled.is_pending());
    }

    async fn time_to_wake(timer: &ConnectionTimer, duration: Duration) -> Duration {
        let started = tokio::time::Instant::now();
        timer.sleep(duration).await;
        started.elapsed()
    }

    #[tokio::test]
    async fn each_sleep_ends_at_its_own_deadline() {
        let timer = ConnectionTimer::default();
        let ms = Duration::from_millis;
        assert!(time_to_wake(&timer, ms(200)).await >= ms(200));

        // A later deadline than the abandoned one's: the timer must not
        // wake at the old one.
        abandon(timer.sleep(ms(300))).await;
        tokio::time::sleep(ms(150)).await;
        assert!(time_to_wake(&timer, ms(300)).await >= ms(300));

        // An earlier one: the timer must not wait for the old one.
        abandon(timer.sleep(Duration::from_secs(3))).await;
        let waited = time_to_wake(&timer, ms(50)).await;
        assert!(
            waited >= ms(50) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }
}
