//! Retry policy of the exporters, sans-IO.
//!
//! This crate owns two decisions: **when** to try again ([`Backoff`]: capped exponential
//! backoff with jitter, cap 5 minutes, never gives up), and **what** a send achieved
//! ([`BatchState`]: per-record outcomes — delivered, retry, or skipped as non-retryable — folded
//! into how far the export's checkpoint may advance and which records must be sent again).
//!
//! # Drive loop
//!
//! * The runtime builds a [`BatchState`] from the sequence numbers of a batch it read, sends
//!   the records that [`BatchState::to_send`] lists, maps the destination's answer to one
//!   [`RecordOutcome`] per sent record and calls [`BatchState::settle`]. The returned
//!   [`Settlement`] says how many records at the front are finished (the checkpoint may advance
//!   past them) and whether a retry is due.
//! * On a retryable failure the runtime asks [`Backoff::next_delay_ms`] with a random draw of
//!   its own (no RNG here), waits, and sends `to_send()` again. [`Backoff::reset`] after a
//!   success.
//!
//! Time and randomness are inputs; nothing here sleeps or reads a clock.

/// The longest wait between two attempts: five minutes, as the reference documents.
pub const MAX_BACKOFF_MS: u64 = 5 * 60 * 1000;

/// Capped exponential backoff with "equal jitter": the n-th delay is uniformly drawn from
/// `[d/2, d]` where `d = min(cap, base · 2^n)`. It never gives up and never exceeds the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `base_ms` (at least 1) and capped at `cap_ms` (at most 5 minutes).
    pub fn new(base_ms: u64, cap_ms: u64) -> Self {
        Self {
            base_ms: base_ms.max(1),
            cap_ms: cap_ms.clamp(1, MAX_BACKOFF_MS),
            attempt: 0,
        }
    }

    /// Failures since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt, given a uniformly random `draw`; counts a failure.
    pub fn next_delay_ms(&mut self, draw: u64) -> u64 {
        let exp = self
            .base_ms
            .checked_shl(self.attempt.min(63))
            .filter(|d| d >> self.attempt.min(63) == self.base_ms)
            .unwrap_or(u64::MAX);
        let d = exp.min(self.cap_ms);
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        half + draw % (d - half + 1)
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What happened to one sent record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Accepted by the destination.
    Delivered,
    /// Failed in a way that may succeed later (throttling, 5xx, timeouts): send again.
    Retry(String),
    /// Failed for good (the record is invalid for the destination): skip it, count it.
    Skip(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Pending,
    Delivered,
    Skipped,
}

/// The state of one batch across its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchState {
    seqs: Vec<u64>,
    sizes: Vec<u64>,
    slots: Vec<Slot>,
    /// Records at the front already reported as finished.
    finished: usize,
}

/// What a settle call concluded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settlement {
    /// Records newly finished at the front of the batch (delivered or skipped): the export's
    /// checkpoint may move past them.
    pub newly_finished: usize,
    /// Sequence number after the last finished record, if any record finished now.
    pub checkpoint: Option<u64>,
    /// Records delivered in this call, and their bytes.
    pub delivered: u64,
    /// Bytes delivered in this call.
    pub delivered_bytes: u64,
    /// Records skipped in this call, with their errors (sequence number, message).
    pub skipped: Vec<(u64, String)>,
    /// The first retryable error of this call, if any record must be sent again.
    pub retry_error: Option<String>,
}

impl BatchState {
    /// A batch of records with these sequence numbers (ascending) and payload sizes.
    pub fn new(records: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let (seqs, sizes): (Vec<u64>, Vec<u64>) = records.into_iter().unzip();
        let slots = vec![Slot::Pending; seqs.len()];
        Self {
            seqs,
            sizes,
            slots,
            finished: 0,
        }
    }

    /// Indices (into the batch) of the records still to send, in order.
    pub fn to_send(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i] == Slot::Pending)
            .collect()
    }

    /// Sequence number of a record of the batch.
    pub fn seq(&self, index: usize) -> u64 {
        self.seqs[index]
    }

    /// Whether every record is delivered or skipped.
    pub fn is_done(&self) -> bool {
        self.finished == self.slots.len()
    }

    /// Number of records in the batch.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Applies the outcomes of one attempt: `outcomes[k]` belongs to `sent[k]` (indices from
    /// [`Self::to_send`]). A record with no outcome (the call failed as a whole before it) is
    /// treated as `Retry` with `whole_call_error`.
    pub fn settle(
        &mut self,
        sent: &[usize],
        outcomes: &[RecordOutcome],
        whole_call_error: &str,
    ) -> Settlement {
        let mut s = Settlement::default();
        for (k, &i) in sent.iter().enumerate() {
            if i >= self.slots.len() || self.slots[i] != Slot::Pending {
                continue;
            }
            match outcomes.get(k) {
                Some(RecordOutcome::Delivered) => {
                    self.slots[i] = Slot::Delivered;
                    s.delivered += 1;
                    s.delivered_bytes += self.sizes[i];
                }
                Some(RecordOutcome::Skip(e)) => {
                    self.slots[i] = Slot::Skipped;
                    s.skipped.push((self.seqs[i], e.clone()));
                }
                Some(RecordOutcome::Retry(e)) => {
                    s.retry_error.get_or_insert_with(|| e.clone());
                }
                None => {
                    s.retry_error
                        .get_or_insert_with(|| whole_call_error.to_owned());
                }
            }
        }
        let before = self.finished;
        while self.finished < self.slots.len() && self.slots[self.finished] != Slot::Pending {
            self.finished += 1;
        }
        s.newly_finished = self.finished - before;
        if s.newly_finished > 0 {
            s.checkpoint = Some(self.seqs[self.finished - 1] + 1);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backoff_grows_then_caps() {
        // The smallest draw gives half of each exponential step: 500, 1000, 2000, ...
        let mut b = Backoff::new(1000, MAX_BACKOFF_MS);
        let low: Vec<u64> = (0..12).map(|_| b.next_delay_ms(0)).collect();
        assert_eq!(&low[..4], &[500, 1000, 2000, 4000]);
        assert_eq!(*low.last().unwrap(), MAX_BACKOFF_MS / 2);
        // The largest possible delay is the full step, and never above the cap.
        let mut b = Backoff::new(1000, MAX_BACKOFF_MS);
        assert_eq!(b.next_delay_ms(500), 1000);
        for _ in 0..100 {
            assert!(b.next_delay_ms(u64::MAX - 7) <= MAX_BACKOFF_MS);
        }
        assert_eq!(b.attempts(), 101);
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.next_delay_ms(0), 500);
    }

    proptest! {
        #[test]
        fn backoff_never_exceeds_cap_and_never_gives_up(base in 1u64..100_000, draws in prop::collection::vec(any::<u64>(), 1..200)) {
            let mut b = Backoff::new(base, MAX_BACKOFF_MS);
            for d in draws {
                let delay = b.next_delay_ms(d);
                prop_assert!(delay <= MAX_BACKOFF_MS);
                prop_assert!(delay >= base / 2);
            }
        }
    }

    #[test]
    fn partial_failures_advance_only_the_finished_prefix() {
        let mut b = BatchState::new((10..15).map(|s| (s, 100)));
        let sent = b.to_send();
        let outcomes = vec![
            RecordOutcome::Delivered,
            RecordOutcome::Retry("throttled".into()),
            RecordOutcome::Delivered,
            RecordOutcome::Skip("too large".into()),
            RecordOutcome::Retry("throttled".into()),
        ];
        let s = b.settle(&sent, &outcomes, "");
        assert_eq!(s.newly_finished, 1);
        assert_eq!(s.checkpoint, Some(11));
        assert_eq!(s.delivered, 2);
        assert_eq!(s.skipped, vec![(13, "too large".to_string())]);
        assert_eq!(s.retry_error.as_deref(), Some("throttled"));
        // Only the failed records are sent again, in order.
        assert_eq!(b.to_send(), vec![1, 4]);
        let s = b.settle(
            &[1, 4],
            &[RecordOutcome::Delivered, RecordOutcome::Delivered],
            "",
        );
        assert_eq!(s.newly_finished, 4);
        assert_eq!(s.checkpoint, Some(15));
        assert!(b.is_done());
        assert_eq!(s.retry_error, None);
    }

    #[test]
    fn whole_call_failure_retries_everything() {
        let mut b = BatchState::new([(0, 1), (1, 1)]);
        let s = b.settle(&[0, 1], &[], "connection refused");
        assert_eq!(s.retry_error.as_deref(), Some("connection refused"));
        assert_eq!(s.checkpoint, None);
        assert_eq!(b.to_send(), vec![0, 1]);
    }
}
