//! The export scheduler: which export sends a batch next, and when.
//!
//! This module owns one cursor per export (the next sequence number to export), the batch
//! triggers, the order between exports, and the global limits. It does no IO and reads no
//! clock: time comes in as `now` (ms since the epoch) on every call.
//!
//! * **Batch triggers** — an export is due when it has `batchSize` messages pending, or when it
//!   has any pending and no `batchIntervalMillis` is set (the SDK's documented meaning: unset =
//!   eligible immediately), or when its oldest pending message is older than the interval.
//! * **Order** — strict by priority (1 highest; unset ranks after 10), round-robin (least
//!   recently served first) within a priority. An export has at most one batch in flight, so
//!   the concurrency bound always leaves room for lower priorities whenever higher ones have
//!   nothing due: no starvation beyond what priority implies.
//! * **Limits** — at most `max_in_flight` sends at once (the exporter thread pool size), and
//!   an average bandwidth cap: a token bucket in bytes refilled at the configured rate, charged
//!   after each send with the bytes it really sent, sends allowed while the balance is positive.
//! * **Retries** — after a failure the export waits until its `retry_at` (the delay comes from
//!   [`crate::retry`]); the retry is then due regardless of the batch triggers.
//!
//! # Drive loop
//!
//! The engine calls [`Scheduler::upsert`] / [`Scheduler::remove`] when definitions change,
//! [`Scheduler::handle_stream`] when a stream grows (with a lookup of the ingest time of the
//! message at the cursor, called only when the interval trigger needs it), then [`Scheduler::poll_send`]
//! until it returns `None`, carries out each [`SendOrder`], reports it with
//! [`Scheduler::handle_done`], and sleeps until [`Scheduler::poll_timeout`] or the next event.

use std::collections::BTreeMap;

/// Identifies an export; assigned by the caller.
pub type ExportKey = u64;

/// Priority given to exports without one: after every explicit priority (1..=10).
pub const UNSET_PRIORITY: u8 = 11;

/// How an export batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSpec {
    /// Messages per batch (at least 1).
    pub batch_size: u64,
    /// Longest a pending message waits for a full batch; `None` = send at once.
    pub interval_ms: Option<u64>,
    /// 1 (highest) ..= 10, or [`UNSET_PRIORITY`].
    pub priority: u8,
    /// Paused.
    pub disabled: bool,
}

/// Global limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sends in progress at once (at least 1).
    pub max_in_flight: usize,
    /// Average bytes per second over all exports, if capped.
    pub bandwidth_bytes_per_sec: Option<u64>,
}

/// A batch to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOrder {
    /// The export.
    pub key: ExportKey,
    /// First sequence number to send (the cursor).
    pub from_seq: u64,
    /// At most this many messages.
    pub max_messages: u64,
    /// Whether this is a retry of a failed attempt.
    pub retry: bool,
}

/// How a send ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// The cursor may move to `cursor` (at or past the old one).
    Progress {
        /// New cursor.
        cursor: u64,
        /// Bytes put on the wire by this send (all attempts' bytes count for bandwidth).
        bytes: u64,
    },
    /// Some or all records must be sent again after `delay_ms`; the cursor may still move.
    Retry {
        /// New cursor (records finished at the front of the batch).
        cursor: u64,
        /// Bytes put on the wire.
        bytes: u64,
        /// Wait before the retry.
        delay_ms: u64,
    },
}

#[derive(Debug, Clone)]
struct Export {
    spec: ExportSpec,
    cursor: u64,
    next_seq: u64,
    pending_since: Option<i64>,
    in_flight: bool,
    retry_at: Option<i64>,
    last_served: u64,
}

impl Export {
    fn pending(&self) -> u64 {
        self.next_seq.saturating_sub(self.cursor)
    }

    fn due(&self, now: i64) -> bool {
        if self.spec.disabled || self.in_flight || self.pending() == 0 {
            return false;
        }
        if let Some(t) = self.retry_at {
            return now >= t;
        }
        self.pending() >= self.spec.batch_size
            || match self.spec.interval_ms {
                None => true,
                Some(iv) => self
                    .pending_since
                    .is_some_and(|t| now.saturating_sub(t) >= iv as i64),
            }
    }

    /// When this export becomes due by time alone, if it is waiting for time.
    fn wakeup(&self, now: i64) -> Option<i64> {
        if self.spec.disabled || self.in_flight || self.pending() == 0 {
            return None;
        }
        if let Some(t) = self.retry_at {
            return (t > now).then_some(t);
        }
        if self.pending() >= self.spec.batch_size {
            return None;
        }
        let iv = self.spec.interval_ms? as i64;
        // The age of what is pending is unknown (a batch just moved the cursor): come back at
        // once, so that the caller tells it (`handle_stream`).
        let Some(since) = self.pending_since else {
            return Some(now);
        };
        let t = since.saturating_add(iv);
        (t > now).then_some(t)
    }
}

/// The scheduler of all exports of all streams.
#[derive(Debug, Clone)]
pub struct Scheduler {
    exports: BTreeMap<ExportKey, Export>,
    limits: Limits,
    in_flight: usize,
    /// Bandwidth balance in bytes (may go negative: sends are charged after the fact).
    tokens: f64,
    refilled_at: i64,
    served: u64,
}

impl Scheduler {
    /// A scheduler with these limits, starting at `now`.
    pub fn new(limits: Limits, now: i64) -> Self {
        Self {
            exports: BTreeMap::new(),
            limits: Limits {
                max_in_flight: limits.max_in_flight.max(1),
                bandwidth_bytes_per_sec: limits.bandwidth_bytes_per_sec.filter(|&b| b > 0),
            },
            in_flight: 0,
            tokens: 0.0,
            refilled_at: now,
            served: 0,
        }
    }

    /// Adds an export with its starting cursor, or changes an existing export's spec (its
    /// cursor is then kept; use [`Self::set_cursor`] to move it).
    pub fn upsert(&mut self, key: ExportKey, spec: ExportSpec, cursor: u64) {
        let spec = ExportSpec {
            batch_size: spec.batch_size.max(1),
            ..spec
        };
        self.exports
            .entry(key)
            .and_modify(|e| e.spec = spec)
            .or_insert(Export {
                spec,
                cursor,
                next_seq: cursor,
                pending_since: None,
                in_flight: false,
                retry_at: None,
                last_served: 0,
            });
    }

    /// Moves an export's cursor (a changed `startSequenceNumber`, or messages lost to retention).
    pub fn set_cursor(&mut self, key: ExportKey, cursor: u64) {
        if let Some(e) = self.exports.get_mut(&key) {
            if e.cursor != cursor {
                e.cursor = cursor;
                e.pending_since = None;
            }
        }
    }

    /// Forgets an export (an in-flight send's report is then ignored).
    pub fn remove(&mut self, key: ExportKey) {
        if let Some(e) = self.exports.remove(&key) {
            if e.in_flight {
                self.in_flight -= 1;
            }
        }
    }

    /// The export's cursor.
    pub fn cursor(&self, key: ExportKey) -> Option<u64> {
        self.exports.get(&key).map(|e| e.cursor)
    }

    /// Keys of all exports.
    pub fn keys(&self) -> impl Iterator<Item = ExportKey> + '_ {
        self.exports.keys().copied()
    }

    /// The export's stream now ends before `next_seq`. When the scheduler needs the age of
    /// the oldest pending message (an interval is set and the batch is not full), it calls
    /// `ingest_time_at(cursor)` for the ingest time of the message at the cursor; `None` (or
    /// not asked) means `now`.
    pub fn handle_stream(
        &mut self,
        key: ExportKey,
        next_seq: u64,
        ingest_time_at: impl FnOnce(u64) -> Option<i64>,
        now: i64,
    ) {
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        e.next_seq = next_seq;
        if e.pending() == 0 {
            e.pending_since = None;
        } else if e.pending_since.is_none() {
            let needs_age = e.spec.interval_ms.is_some() && e.pending() < e.spec.batch_size;
            let t = if needs_age {
                ingest_time_at(e.cursor)
            } else {
                None
            };
            e.pending_since = Some(t.unwrap_or(now));
        }
    }

    fn refill(&mut self, now: i64) {
        if let Some(rate) = self.limits.bandwidth_bytes_per_sec {
            let dt = now.saturating_sub(self.refilled_at).max(0) as f64 / 1000.0;
            // Up to one second of unused budget may be saved up.
            self.tokens = (self.tokens + dt * rate as f64).min(rate as f64);
        }
        self.refilled_at = self.refilled_at.max(now);
    }

    /// The next batch to send, if any export is due and the limits allow it. The export is
    /// marked in flight until [`Self::handle_done`].
    #[must_use]
    pub fn poll_send(&mut self, now: i64) -> Option<SendOrder> {
        if self.in_flight >= self.limits.max_in_flight {
            return None;
        }
        self.refill(now);
        if self.limits.bandwidth_bytes_per_sec.is_some() && self.tokens <= 0.0 {
            return None;
        }
        let (&key, _) = self
            .exports
            .iter()
            .filter(|(_, e)| e.due(now))
            .min_by_key(|(_, e)| (e.spec.priority, e.last_served))?;
        self.served += 1;
        let served = self.served;
        let e = self.exports.get_mut(&key)?;
        e.in_flight = true;
        e.last_served = served;
        let retry = e.retry_at.take().is_some();
        self.in_flight += 1;
        Some(SendOrder {
            key,
            from_seq: e.cursor,
            max_messages: e.spec.batch_size,
            retry,
        })
    }

    /// Reports the end of a send ordered by [`Self::poll_send`].
    pub fn handle_done(&mut self, key: ExportKey, done: Done, now: i64) {
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        if !e.in_flight {
            return;
        }
        e.in_flight = false;
        self.in_flight -= 1;
        let (cursor, bytes) = match done {
            Done::Progress { cursor, bytes } => (cursor, bytes),
            Done::Retry {
                cursor,
                bytes,
                delay_ms,
            } => {
                e.retry_at = Some(now.saturating_add(delay_ms.min(i64::MAX as u64) as i64));
                (cursor, bytes)
            }
        };
        if cursor > e.cursor {
            e.cursor = cursor;
            // The pending messages' age is unknown again; the caller supplies it.
            e.pending_since = None;
        }
        self.refill(now);
        if self.limits.bandwidth_bytes_per_sec.is_some() {
            self.tokens -= bytes as f64;
        }
    }

    /// The earliest time at which something may become due by time alone.
    #[must_use]
    pub fn poll_timeout(&self, now: i64) -> Option<i64> {
        let mut t = self.exports.values().filter_map(|e| e.wakeup(now)).min();
        if let Some(rate) = self.limits.bandwidth_bytes_per_sec {
            if self.tokens <= 0.0 && self.exports.values().any(|e| e.due(now)) {
                let wait_ms = ((-self.tokens + 1.0) * 1000.0 / rate as f64).ceil() as i64;
                let refill = self.refilled_at.saturating_add(wait_ms.max(1));
                t = Some(t.map_or(refill, |x| x.min(refill)));
            }
        }
        t
    }
}

#[cfg(test)]
mod tests;
