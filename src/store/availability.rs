//! Whether the database answers, as the server's own check last found it (PostgreSQL).
//!
//! While the database is down, a call that needs a new connection would wait the whole acquire
//! timeout (the pool retries a refused connection until then) before failing: with the check
//! marking the database down, calls fail at once with `Unavailable` instead. When it answers again,
//! the connections the pool kept from before the outage are discarded as they are handed out
//! (a restarted server has closed them), so the first calls after recovery do not fail on them.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// Shared by a store's clones and its pool's hooks.
#[derive(Debug)]
pub(super) struct Availability {
    down: AtomicBool,
    /// When the last outage was detected: microseconds after `origin`, plus one (0 = never).
    outage_at: AtomicU64,
    origin: Instant,
}

impl Availability {
    pub(super) fn new() -> Self {
        Self {
            down: AtomicBool::new(false),
            outage_at: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }

    fn micros_now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Marks the database down (calls fail at once until [`Availability::mark_up`]).
    pub(super) fn mark_down(&self) {
        if !self.down.swap(true, Ordering::AcqRel) {
            self.outage_at
                .store(self.micros_now() + 1, Ordering::Release);
        }
    }

    /// Marks the database up.
    pub(super) fn mark_up(&self) {
        self.down.store(false, Ordering::Release);
    }

    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Whether a connection `age` old was opened before the last outage was detected, and so may
    /// be one the database closed.
    pub(super) fn predates_outage(&self, age: Duration) -> bool {
        let outage_at = self.outage_at.load(Ordering::Acquire);
        if outage_at == 0 {
            return false;
        }
        let opened_at = self
            .micros_now()
            .saturating_sub(u64::try_from(age.as_micros()).unwrap_or(u64::MAX));
        opened_at < outage_at
    }
}

/// The error calls get while the database is marked down.
pub(super) fn down_error() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "the database did not answer the server's last check",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_an_outage_are_stale_and_later_ones_are_not() {
        let a = Availability::new();
        assert!(!a.is_down());
        assert!(
            !a.predates_outage(Duration::from_secs(3600)),
            "no outage yet"
        );
        std::thread::sleep(Duration::from_millis(5));
        a.mark_down();
        assert!(a.is_down());
        std::thread::sleep(Duration::from_millis(5));
        assert!(a.predates_outage(Duration::from_millis(8)), "opened before");
        assert!(!a.predates_outage(Duration::from_millis(1)), "opened after");
        a.mark_up();
        assert!(!a.is_down());
        assert!(
            a.predates_outage(Duration::from_millis(8)),
            "still stale after recovery"
        );
    }
}
