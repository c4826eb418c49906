//! The one place that reads the clock. Core crates get time as arguments from here.

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The monotonic clock, from tokio so that paused-time tests drive it.
#[allow(clippy::disallowed_methods)]
pub fn instant() -> tokio::time::Instant {
    tokio::time::Instant::now()
}
