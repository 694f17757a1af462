//! The wall clock the scheduler reads, and how it waits for an instant.
//!
//! tokio's timer counts whole milliseconds and rounds up, so a sleep until 07:00:00.000 wakes
//! 1–2 ms after it. For the system clock the scheduler therefore sleeps on tokio until
//! [`PRECISE_WAIT`] before the instant (still answering commands and shutdown meanwhile), and
//! waits out the rest with `clock_nanosleep` to the absolute wall-clock instant, with the
//! thread's timer slack at its minimum: tens of microseconds late, and no core spinning (the
//! thread sleeps in the kernel). Clocks driven by tokio's paused time in tests never wait for
//! real.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The last stretch before an instant that is waited out precisely. It blocks the worker
/// thread that runs the scheduler for at most this long, once per firing instant; a command
/// arriving then waits as long.
pub const PRECISE_WAIT: Duration = Duration::from_millis(3);

/// The wall clock the scheduler reads. Tests drive it from tokio's paused clock.
#[derive(Clone)]
pub struct Clock {
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// Whether [`Clock::wait_until`] may sleep the thread: true only for the system clock.
    real: bool,
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock {
            now: Arc::new(Utc::now),
            real: true,
        }
    }

    /// A clock that reads `start` plus however far tokio's clock has moved since now: with
    /// `tokio::time::pause()`, time passes only when the test advances it.
    pub fn from_tokio(start: DateTime<Utc>) -> Clock {
        let origin = tokio::time::Instant::now();
        Clock::from_fn(move || {
            start + chrono::Duration::from_std(origin.elapsed()).unwrap_or_default()
        })
    }

    /// A clock reading `now`, waiting only through tokio (for tests).
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock {
            now: Arc::new(now),
            real: false,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }

    /// Splits a wait of `wait` for the instant `at` into the part tokio sleeps and the
    /// instant to wait for precisely afterwards, when this clock does that.
    pub fn split_wait(
        &self,
        wait: Duration,
        at: DateTime<Utc>,
    ) -> (Duration, Option<DateTime<Utc>>) {
        if self.real {
            (wait.saturating_sub(PRECISE_WAIT), Some(at))
        } else {
            (wait, None)
        }
    }

    /// Blocks this thread until the wall clock reaches `at` (at most [`PRECISE_WAIT`] plus
    /// a little); returns at once for clocks that are not the system's, or when `at` is past
    /// or further off than that.
    pub fn wait_until(&self, at: DateTime<Utc>) {
        if !self.real {
            return;
        }
        let Ok(remaining) = (at - Utc::now()).to_std() else {
            return;
        };
        if remaining > PRECISE_WAIT * 2 {
            // Woken early by something else: tokio's timer will bring us back.
            return;
        }
        sleep_until_wall(at, remaining);
    }
}

/// `clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME)`: the kernel wakes us at the wall-clock
/// instant itself, whatever happened to the clock meanwhile.
#[cfg(target_os = "linux")]
fn sleep_until_wall(at: DateTime<Utc>, _remaining: Duration) {
    // One nanosecond of timer slack instead of the default 50 µs, for this thread.
    // SAFETY: PR_SET_TIMERSLACK takes an integer and changes only this thread's slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let target = libc::timespec {
        tv_sec: at.timestamp() as libc::time_t,
        // A leap second reads as 1,000,000,000 ns or more, which the kernel refuses.
        tv_nsec: at.timestamp_subsec_nanos().min(999_999_999) as libc::c_long,
    };
    loop {
        // SAFETY: `target` is a valid timespec; the remainder pointer may be null for an
        // absolute sleep.
        let result = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_REALTIME,
                libc::TIMER_ABSTIME,
                &target,
                std::ptr::null_mut(),
            )
        };
        if result != libc::EINTR {
            break;
        }
    }
}

/// Elsewhere, a relative sleep for what remains.
#[cfg(not(target_os = "linux"))]
fn sleep_until_wall(_at: DateTime<Utc>, remaining: Duration) {
    std::thread::sleep(remaining);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_wakes_at_the_instant_not_before() {
        let clock = Clock::system();
        for _ in 0..20 {
            let at = Utc::now() + chrono::Duration::microseconds(1_500);
            clock.wait_until(at);
            assert!(Utc::now() >= at, "woke before the instant");
        }
    }

    #[test]
    fn only_the_system_clock_waits_precisely() {
        let clock = Clock::from_fn(Utc::now);
        let at = Utc::now() + chrono::Duration::milliseconds(2);
        assert_eq!(
            clock.split_wait(Duration::from_millis(2), at),
            (Duration::from_millis(2), None)
        );
        let system = Clock::system().split_wait(Duration::from_millis(10), at);
        assert_eq!(system, (Duration::from_millis(10) - PRECISE_WAIT, Some(at)));
    }
}
