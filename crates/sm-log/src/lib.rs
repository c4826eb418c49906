//! The segmented log of one stream, sans-IO.
//!
//! This crate owns the record format, the segment layout, the retention rules (`maxSize` with
//! RejectNewData or OverwriteOldestData, TTL), the recovery scan, and read planning. It never
//! touches a file or a clock: it *plans* IO and the caller performs it, with time passed in as
//! milliseconds since the epoch.
//!
//! # Drive loop
//!
//! * **Append**: [`StreamLog::plan_append`] (pure) returns an [`AppendPlan`] or an
//!   [`AppendError`]. The caller executes it in this order: create `plan.retention.new_segment`
//!   (write [`segment_header`]), write [`record_header`] + payload at `plan.offset` of
//!   `plan.segment`, delete each segment in `plan.retention.evict`; then calls
//!   [`StreamLog::apply_append`]. Creating before deleting means a crash in between leaves
//!   extra data, never a lost sequence number.
//! * **Retention**: [`StreamLog::plan_expire`] (TTL) and [`StreamLog::plan_shrink`] (after a
//!   settings change) return a [`RetentionPlan`], executed the same way, then
//!   [`StreamLog::apply_retention`].
//! * **Read**: [`StreamLog::plan_read`] returns byte ranges; the caller reads them and calls
//!   [`decode_records`], which checks every CRC and sequence number.
//! * **Recovery**: the caller reads each segment file, calls [`scan_segment`], and hands the
//!   scans to [`StreamLog::recover`], which returns the log and the repairs to perform
//!   ([`RecoveryAction`]).
//!
//! [`MemorySegments`] executes plans in memory; Memory streams and the tests use it.
//!
//! # On-disk format (all integers little-endian)
//!
//! A segment file is named `{base:019}.log`, where `base` is the sequence number of its first
//! record, and holds a 16-byte header followed by records:
//!
//! ```text
//! segment header: magic "SMLOG\0\0\x01" (8 bytes; the last byte is the format version)
//!                 base sequence number u64
//! record:         payload length u32 | CRC-32 (IEEE) u32 | sequence number u64 |
//!                 ingest time i64 (ms since the epoch) | payload
//! ```
//!
//! The CRC covers the length, sequence number, ingest time and payload. Sequence numbers are
//! contiguous within a segment, starting at `base`. Payloads are never empty, so a zeroed
//! region is never a valid record.
//!
//! # Invariants
//!
//! * The last segment is the only one that receives appends; a segment is rolled when the next
//!   record would take it past the segment size (a segment holds at least one record).
//! * `total_bytes` (headers included) stays at or below `maxSize` after every append.
//! * Retention removes whole segments, oldest first. When it removes the active segment an
//!   empty successor is created first, so the next sequence number survives a restart.

mod memory;
mod record;
mod recovery;

use std::collections::VecDeque;

pub use memory::MemorySegments;
pub use record::{
    decode_records, parse_segment_file_name, record_header, segment_file_name, segment_header,
    CorruptRecord, Record, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
};
pub use recovery::{scan_segment, RecoveryAction, ScanStop, SegmentScan};

/// Largest payload a record can hold.
pub const MAX_PAYLOAD: u64 = 1 << 30;

/// What an append does when the stream is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Refuse the append.
    Reject,
    /// Remove the oldest segments until it fits.
    Overwrite,
}

/// Retention settings of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// Maximum bytes of all segments, headers included.
    pub max_size: u64,
    /// Size at which a segment is rolled.
    pub segment_size: u64,
    /// What to do when full.
    pub full: Full,
    /// Time to live of a segment's newest record, in ms.
    pub ttl_millis: Option<u64>,
}

/// Why an append was refused. Nothing was planned and nothing must be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// The record alone is larger than the stream may ever hold.
    TooLarge {
        /// Bytes the record (and its segment header) would take.
        needed: u64,
        /// The stream's `maxSize`.
        max_size: u64,
    },
    /// RejectNewData and the stream is full.
    Full {
        /// Bytes the stream holds.
        total: u64,
        /// Bytes the record would add.
        needed: u64,
        /// The stream's `maxSize`.
        max_size: u64,
    },
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { needed, max_size } => write!(
                f,
                "message needs {needed} bytes of storage, more than the stream's maxSize of {max_size} bytes"
            ),
            Self::Full {
                total,
                needed,
                max_size,
            } => write!(
                f,
                "stream is full: it holds {total} bytes, the message needs {needed} more, and maxSize is {max_size} bytes (strategyOnFull RejectNewData)"
            ),
        }
    }
}

impl std::error::Error for AppendError {}

/// Segments to create and remove.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionPlan {
    /// Create this segment (base sequence number) before anything else.
    pub new_segment: Option<u64>,
    /// Delete these segments, oldest first, after the rest of the plan.
    pub evict: Vec<u64>,
}

impl RetentionPlan {
    /// Whether the plan does nothing.
    pub fn is_empty(&self) -> bool {
        self.new_segment.is_none() && self.evict.is_empty()
    }
}

/// The IO of one append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendPlan {
    /// The sequence number the message gets.
    pub seq: u64,
    /// Its ingest time.
    pub ingest_time: i64,
    /// Its payload length.
    pub payload_len: u64,
    /// Segment to create first and segments to delete last.
    pub retention: RetentionPlan,
    /// The segment the record goes into.
    pub segment: u64,
    /// Byte offset of the record in that segment (its current length).
    pub offset: u64,
}

impl AppendPlan {
    /// Bytes the record takes on disk.
    pub fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN + self.payload_len
    }
}

/// One contiguous byte range of records within a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadChunk {
    /// Segment base.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Byte length.
    pub len: u64,
    /// Sequence number of the first record.
    pub first_seq: u64,
    /// Number of records.
    pub count: u64,
}

/// The ranges that answer a read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadPlan {
    /// The chunks, in sequence order.
    pub chunks: Vec<ReadChunk>,
    /// Number of records in all chunks.
    pub count: u64,
    /// True when more records were available but `max_bytes` stopped the plan.
    pub limited_by_bytes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    base: u64,
    len: u64,
    /// Offsets of the records, in order.
    offsets: Vec<u32>,
    newest_ingest: i64,
}

impl Segment {
    fn count(&self) -> u64 {
        self.offsets.len() as u64
    }

    fn end_seq(&self) -> u64 {
        self.base + self.count()
    }

    fn record_len(&self, i: usize) -> u64 {
        let start = u64::from(self.offsets[i]);
        let end = self.offsets.get(i + 1).map_or(self.len, |&o| u64::from(o));
        end - start
    }
}

/// The state of one stream's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLog {
    settings: LogSettings,
    segments: VecDeque<Segment>,
    next_seq: u64,
    total: u64,
}

impl StreamLog {
    /// An empty log whose first message gets sequence number `next_seq`.
    pub fn new(settings: LogSettings, next_seq: u64) -> Self {
        Self {
            settings,
            segments: VecDeque::new(),
            next_seq,
            total: 0,
        }
    }

    /// The retention settings.
    pub fn settings(&self) -> LogSettings {
        self.settings
    }

    /// Replaces the retention settings (apply [`Self::plan_shrink`] afterwards).
    pub fn set_settings(&mut self, settings: LogSettings) {
        self.settings = settings;
    }

    /// The sequence number the next append gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The first sequence number still readable (`next_seq` when empty).
    pub fn oldest_seq(&self) -> u64 {
        self.segments
            .iter()
            .find(|s| s.count() > 0)
            .map_or(self.next_seq, |s| s.base)
    }

    /// The newest readable sequence number, if any message is stored.
    pub fn newest_seq(&self) -> Option<u64> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.count() > 0)
            .map(|s| s.end_seq() - 1)
    }

    /// Bytes of all segments, headers included.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Number of readable messages.
    pub fn message_count(&self) -> u64 {
        self.segments.iter().map(Segment::count).sum()
    }

    /// Base sequence numbers of the segments, oldest first.
    pub fn segment_bases(&self) -> impl Iterator<Item = u64> + '_ {
        self.segments.iter().map(|s| s.base)
    }

    /// The segment that receives appends, if any.
    pub fn active_segment(&self) -> Option<u64> {
        self.segments.back().map(|s| s.base)
    }

    /// Plans the append of a `payload_len`-byte message at `now_ms`. Pure: nothing changes
    /// until [`Self::apply_append`].
    pub fn plan_append(&self, payload_len: u64, now_ms: i64) -> Result<AppendPlan, AppendError> {
        let rec = RECORD_HEADER_LEN + payload_len.min(MAX_PAYLOAD + 1);
        let max = self.settings.max_size;
        if payload_len > MAX_PAYLOAD || SEGMENT_HEADER_LEN + rec > max {
            return Err(AppendError::TooLarge {
                needed: SEGMENT_HEADER_LEN + rec,
                max_size: max,
            });
        }
        let mut roll = match self.segments.back() {
            None => true,
            Some(a) => a.count() > 0 && a.len + rec > self.settings.segment_size,
        };
        let needed = rec + if roll { SEGMENT_HEADER_LEN } else { 0 };
        let mut total = self.total + needed;
        let mut evict = Vec::new();
        let last = self.segments.len().saturating_sub(1);
        for (i, seg) in self.segments.iter().enumerate() {
            if total <= max {
                break;
            }
            if self.settings.full == Full::Reject {
                return Err(AppendError::Full {
                    total: self.total,
                    needed,
                    max_size: max,
                });
            }
            if i == last && !roll {
                roll = true;
                total += SEGMENT_HEADER_LEN;
            }
            evict.push(seg.base);
            total -= seg.len;
        }
        let (segment, offset) = if roll {
            (self.next_seq, SEGMENT_HEADER_LEN)
        } else {
            let a = self
                .segments
                .back()
                .expect("not rolling implies an active segment");
            (a.base, a.len)
        };
        Ok(AppendPlan {
            seq: self.next_seq,
            ingest_time: now_ms,
            payload_len,
            retention: RetentionPlan {
                new_segment: roll.then_some(self.next_seq),
                evict,
            },
            segment,
            offset,
        })
    }

    /// Records that `plan` (from [`Self::plan_append`] on this state) was executed.
    pub fn apply_append(&mut self, plan: &AppendPlan) {
        self.apply_retention(&plan.retention);
        let seg = self
            .segments
            .back_mut()
            .expect("an executed append plan leaves an active segment");
        debug_assert_eq!(seg.base, plan.segment);
        debug_assert_eq!(seg.len, plan.offset);
        seg.offsets.push(plan.offset as u32);
        seg.len += plan.record_len();
        seg.newest_ingest = plan.ingest_time;
        self.total += plan.record_len();
        self.next_seq = plan.seq + 1;
    }

    /// Records that `plan` was executed: the new segment exists, the evicted ones are gone.
    pub fn apply_retention(&mut self, plan: &RetentionPlan) {
        if let Some(base) = plan.new_segment {
            self.segments.push_back(Segment {
                base,
                len: SEGMENT_HEADER_LEN,
                offsets: Vec::new(),
                newest_ingest: i64::MIN,
            });
            self.total += SEGMENT_HEADER_LEN;
        }
        for base in &plan.evict {
            if let Some(i) = self.segments.iter().position(|s| s.base == *base) {
                let s = self.segments.remove(i).expect("index from position");
                self.total -= s.len;
            }
        }
    }

    /// Segments whose newest record is older than the TTL at `now_ms`, oldest first.
    pub fn plan_expire(&self, now_ms: i64) -> RetentionPlan {
        let Some(ttl) = self.settings.ttl_millis else {
            return RetentionPlan::default();
        };
        let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(ttl);
        let mut plan = RetentionPlan::default();
        for (i, seg) in self.segments.iter().enumerate() {
            if seg.count() == 0 || seg.newest_ingest >= cutoff {
                break;
            }
            if i + 1 == self.segments.len() {
                plan.new_segment = Some(self.next_seq);
            }
            plan.evict.push(seg.base);
        }
        plan
    }

    /// With OverwriteOldestData, the oldest segments to remove so that the log fits `maxSize`
    /// again (after the settings were lowered).
    pub fn plan_shrink(&self) -> RetentionPlan {
        let mut plan = RetentionPlan::default();
        if self.settings.full != Full::Overwrite {
            return plan;
        }
        let mut total = self.total;
        for (i, seg) in self.segments.iter().enumerate() {
            if total <= self.settings.max_size || seg.count() == 0 {
                break;
            }
            if i + 1 == self.segments.len() {
                plan.new_segment = Some(self.next_seq);
                total += SEGMENT_HEADER_LEN;
            }
            plan.evict.push(seg.base);
            total -= seg.len;
        }
        plan
    }

    /// Plans a read of up to `max_count` records starting at `start` (clamped to the oldest),
    /// stopping before `max_bytes` of records (headers included) unless the plan is empty.
    pub fn plan_read(&self, start: u64, max_count: u64, max_bytes: u64) -> ReadPlan {
        let mut plan = ReadPlan::default();
        let mut bytes = 0u64;
        let start = start.max(self.oldest_seq());
        for seg in &self.segments {
            if seg.end_seq() <= start || seg.count() == 0 {
                continue;
            }
            let first = start.saturating_sub(seg.base) as usize;
            let mut chunk: Option<ReadChunk> = None;
            for i in first..seg.offsets.len() {
                if plan.count == max_count {
                    break;
                }
                let len = seg.record_len(i);
                if plan.count > 0 && bytes + len > max_bytes {
                    plan.limited_by_bytes = true;
                    break;
                }
                bytes += len;
                plan.count += 1;
                match &mut chunk {
                    Some(c) => {
                        c.len += len;
                        c.count += 1;
                    }
                    None => {
                        chunk = Some(ReadChunk {
                            segment: seg.base,
                            offset: u64::from(seg.offsets[i]),
                            len,
                            first_seq: seg.base + i as u64,
                            count: 1,
                        })
                    }
                }
            }
            plan.chunks.extend(chunk);
            if plan.count == max_count || plan.limited_by_bytes {
                break;
            }
        }
        plan
    }

    /// Rebuilds a log from the scans of its segment files (any order) and says which repairs
    /// the caller must make. Never fails: what cannot be used is reported, not fatal.
    pub fn recover(settings: LogSettings, scans: Vec<SegmentScan>) -> (Self, Vec<RecoveryAction>) {
        recovery::recover(settings, scans)
    }
}
