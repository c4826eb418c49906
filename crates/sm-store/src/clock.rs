//! The store's one source of time: ingest times, how long an fsync took, how long a group
//! commit leader waits for company, and long-poll deadlines all come from the [`Clock`] the
//! store was opened with ([`crate::Options::clock`]).

use std::time::Instant;

/// Where the store reads time.
pub trait Clock: Send + Sync {
    /// Wall-clock milliseconds since the Unix epoch (ingest times).
    fn now_ms(&self) -> i64;
    /// The monotonic clock (durations and deadlines).
    fn instant(&self) -> Instant;
}

/// The system's clocks: the only place in this crate that reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    #[allow(clippy::disallowed_methods)]
    fn instant(&self) -> Instant {
        Instant::now()
    }
}
