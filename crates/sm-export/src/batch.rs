//! What a batch achieved across its attempts: per-record outcomes folded into how far the
//! export's checkpoint may advance (the finished prefix) and which records must be sent again.

use crate::classify::{Class, ExportError, Failure};

/// What happened to one sent record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Accepted by the destination.
    Delivered,
    /// Failed: skipped when the failure's class is [`Class::Refused`], else sent again.
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Pending,
    Delivered,
    Skipped(ExportError),
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

/// What a settle call concluded. The counts are those of the records newly finished at the
/// front of the batch, so that they always match the checkpoint: a record delivered while an
/// earlier one still waits for its retry is counted when the prefix reaches it (a crash in
/// between sends it again, and it is counted once).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settlement {
    /// Records newly finished at the front of the batch (delivered or skipped): the export's
    /// checkpoint may move past them.
    pub newly_finished: usize,
    /// Sequence number after the last finished record, if any record finished now.
    pub checkpoint: Option<u64>,
    /// Of the newly finished records, those delivered.
    pub delivered: u64,
    /// Their payload bytes.
    pub delivered_bytes: u64,
    /// Of the newly finished records, those skipped, with their errors (sequence number,
    /// error).
    pub skipped: Vec<(u64, ExportError)>,
    /// Whether any record was delivered or skipped by this attempt (progress, even if the
    /// prefix did not move).
    pub progressed: bool,
    /// The first failure of a record that must be sent again, if any.
    pub retry: Option<Failure>,
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

    /// Applies the outcomes of one attempt: `(index, outcome)` pairs, indices into the batch.
    /// Records still pending that got no outcome (the send stopped before them) are retried
    /// with `stopped`, or with the first retryable outcome's failure.
    pub fn settle(
        &mut self,
        outcomes: Vec<(usize, RecordOutcome)>,
        stopped: Option<Failure>,
    ) -> Settlement {
        let mut s = Settlement::default();
        for (i, outcome) in outcomes {
            if i >= self.slots.len() || self.slots[i] != Slot::Pending {
                continue;
            }
            match outcome {
                RecordOutcome::Delivered => {
                    self.slots[i] = Slot::Delivered;
                    s.progressed = true;
                }
                RecordOutcome::Failed(f) if f.class == Class::Refused => {
                    self.slots[i] = Slot::Skipped(f.error);
                    s.progressed = true;
                }
                RecordOutcome::Failed(f) => {
                    s.retry.get_or_insert(f);
                }
            }
        }
        let before = self.finished;
        while self.finished < self.slots.len() && self.slots[self.finished] != Slot::Pending {
            match &self.slots[self.finished] {
                Slot::Delivered => {
                    s.delivered += 1;
                    s.delivered_bytes += self.sizes[self.finished];
                }
                Slot::Skipped(e) => s.skipped.push((self.seqs[self.finished], e.clone())),
                Slot::Pending => {}
            }
            self.finished += 1;
        }
        s.newly_finished = self.finished - before;
        if s.newly_finished > 0 {
            s.checkpoint = Some(self.seqs[self.finished - 1] + 1);
        }
        if !self.is_done() && s.retry.is_none() {
            s.retry = stopped;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(class: Class, what: &str) -> RecordOutcome {
        RecordOutcome::Failed(Failure::new(class, ExportError::S3Task(what.to_owned())))
    }

    #[test]
    fn partial_failures_advance_only_the_finished_prefix() {
        let mut b = BatchState::new((10..15).map(|s| (s, 100)));
        let outcomes = vec![
            (0, RecordOutcome::Delivered),
            (1, failed(Class::Throttled, "throttled")),
            (2, RecordOutcome::Delivered),
            (3, failed(Class::Refused, "too large")),
            (4, failed(Class::Transient, "500")),
        ];
        let s = b.settle(outcomes, None);
        assert_eq!(s.newly_finished, 1);
        assert_eq!(s.checkpoint, Some(11));
        // Counted as the prefix reaches them: 12 and 13 wait behind 11.
        assert_eq!((s.delivered, s.delivered_bytes), (1, 100));
        assert!(s.skipped.is_empty() && s.progressed);
        assert_eq!(s.retry.unwrap().class, Class::Throttled);
        // Only the failed records are sent again, in order.
        assert_eq!(b.to_send(), vec![1, 4]);
        let s = b.settle(
            vec![(1, RecordOutcome::Delivered), (4, RecordOutcome::Delivered)],
            None,
        );
        assert_eq!(s.newly_finished, 4);
        assert_eq!(s.checkpoint, Some(15));
        assert_eq!((s.delivered, s.delivered_bytes), (3, 300));
        assert_eq!(
            s.skipped,
            vec![(13, ExportError::S3Task("too large".into()))]
        );
        assert!(b.is_done());
        assert_eq!(s.retry, None);
    }

    #[test]
    fn records_without_outcome_are_retried_with_the_stop_reason() {
        let mut b = BatchState::new([(0, 1), (1, 1)]);
        let stop = Failure::new(Class::Unavailable, ExportError::NoRegion);
        let s = b.settle(vec![(0, RecordOutcome::Delivered)], Some(stop.clone()));
        assert_eq!(s.retry, Some(stop));
        assert_eq!(s.checkpoint, Some(1));
        assert_eq!(b.to_send(), vec![1]);
        // Outcomes for finished or unknown records are ignored.
        let s = b.settle(
            vec![
                (0, failed(Class::Refused, "x")),
                (9, RecordOutcome::Delivered),
            ],
            None,
        );
        assert_eq!(s, Settlement::default());
    }
}
