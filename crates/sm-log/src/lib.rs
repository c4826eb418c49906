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
//!   [`decode_records`], which checks every CRC and sequence number. A plan stops at a segment
//!   that is not indexed yet (`need_index`): the caller reads the bytes of
//!   [`StreamLog::index_request`], calls [`index_segment`] and [`StreamLog::apply_index`]
//!   (which returns newly found damage, to report once), and plans again. Damaged records are
//!   skipped by plans and counted ([`StreamLog::corrupt_records`]). If a read finds a record
//!   failing its checks in an indexed segment, the caller re-indexes that segment the same way.
//!   To bound memory the caller may [`StreamLog::drop_index`] of sealed segments at any time
//!   (not while it is still planning a read that needs them).
//! * **Recovery (fast, what the runtime does)**: the caller lists the segment files; sealed ones
//!   go to [`StreamLog::recover_lazy`] as [`SealedFile`]s (name and length only), the last one
//!   is scanned with [`scan_segment`], or only after its [`TailCheckpoint`] with
//!   [`scan_segment_tail`]. It returns the log and the repairs to perform
//!   ([`RecoveryAction`]). TTL needs sealed segments' ingest times:
//!   [`StreamLog::expire_needs_index`] names the segment to index before
//!   [`StreamLog::plan_expire`]. [`StreamLog::tail_checkpoint`] says what to checkpoint once
//!   the active segment is durable.
//! * **Recovery (full)**: [`StreamLog::recover`] over [`scan_segment`]s of every file (tests,
//!   tools).
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
pub use recovery::{
    index_segment, scan_segment, scan_segment_tail, IndexDamage, RecoveryAction, ScanStop,
    SealedFile, SegmentIndex, SegmentScan, TailCheckpoint,
};

#[doc(hidden)]
pub mod fuzzing;

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
    /// The plan stopped before this segment because it is not indexed yet: index it
    /// ([`StreamLog::index_request`]) and plan again.
    pub need_index: Option<u64>,
    /// Damaged sequence numbers the plan skipped.
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    base: u64,
    /// Bytes of the segment file counted for the stream's size.
    len: u64,
    /// Sequence numbers the segment spans: `base..base + count` (damaged ones included).
    count: u64,
    /// The record index, or `None` while the segment is not indexed yet (see [`IndexRequest`]).
    index: Option<SegmentOffsets>,
    /// Ingest time of the newest readable record; `None` while unknown (not indexed) or when
    /// the segment has no readable record.
    newest_ingest: Option<i64>,
    /// Offset and end of the last record, when known (always, for the active segment).
    last_record: Option<(u64, u64)>,
    /// Whether the segment was indexed at least once (so `newest_ingest` is known even after
    /// its index was dropped).
    indexed_once: bool,
    /// Damaged sequence numbers as sorted, disjoint `[start, end)` ranges; reads skip them.
    /// Kept when the index is dropped.
    bad: Vec<(u64, u64)>,
}

/// Where each record of an indexed segment is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SegmentOffsets {
    /// Offset of each record (`seq - base`); a damaged record's entry is where its damaged
    /// bytes start, so a good record always ends where the next entry begins.
    offsets: Vec<u32>,
    /// End of the last record (the rest of the file, if any, is not records).
    data_end: u64,
}

impl Segment {
    fn count(&self) -> u64 {
        self.count
    }

    fn end_seq(&self) -> u64 {
        self.base + self.count
    }

    fn bad_count(&self) -> u64 {
        self.bad.iter().map(|(a, b)| b - a).sum()
    }

    fn is_bad(&self, seq: u64) -> bool {
        self.bad.iter().any(|&(a, b)| a <= seq && seq < b)
    }

    /// Bytes of record `i` (indexed segments only).
    fn record_len(&self, ix: &SegmentOffsets, i: usize) -> u64 {
        let start = u64::from(ix.offsets[i]);
        let end = ix.offsets.get(i + 1).map_or(ix.data_end, |&o| u64::from(o));
        end - start
    }
}

/// A segment the caller must read so that the log can index it: bytes `0..len` of the segment
/// file, then [`index_segment`] and [`StreamLog::apply_index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRequest {
    /// Segment base.
    pub segment: u64,
    /// Bytes to read from the start of the file.
    pub len: u64,
    /// Records the segment must hold.
    pub count: u64,
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

    /// Plans appending messages of `payload_lens` one after another for as long as they go
    /// into the active segment with no retention action (no segment to create, none to
    /// evict, nothing refused): the plans [`Self::plan_append`] would return for them in turn,
    /// each applied before the next, so the caller can write them all at once and then
    /// [`Self::apply_append`] each. Returns that prefix; it is empty when the first message
    /// needs a roll or an eviction or is refused, which [`Self::plan_append`] then plans alone.
    pub fn plan_run(&self, payload_lens: &[u64], now_ms: i64) -> Vec<AppendPlan> {
        let Some(active) = self.segments.back() else {
            return Vec::new();
        };
        let (max, segment_size) = (self.settings.max_size, self.settings.segment_size);
        let (mut count, mut len, mut total) = (active.count(), active.len, self.total);
        let mut plans = Vec::new();
        for &payload_len in payload_lens {
            let rec = RECORD_HEADER_LEN + payload_len.min(MAX_PAYLOAD + 1);
            let fits = payload_len <= MAX_PAYLOAD
                && SEGMENT_HEADER_LEN + rec <= max
                && !(count > 0 && len + rec > segment_size)
                && total + rec <= max;
            if !fits {
                break;
            }
            plans.push(AppendPlan {
                seq: self.next_seq + plans.len() as u64,
                ingest_time: now_ms,
                payload_len,
                retention: RetentionPlan::default(),
                segment: active.base,
                offset: len,
            });
            count += 1;
            len += rec;
            total += rec;
        }
        plans
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
        if let Some(ix) = &mut seg.index {
            ix.offsets.push(plan.offset as u32);
            ix.data_end = plan.offset + plan.record_len();
        }
        seg.count += 1;
        seg.last_record = Some((plan.offset, plan.offset + plan.record_len()));
        seg.len += plan.record_len();
        seg.newest_ingest = Some(plan.ingest_time);
        self.total += plan.record_len();
        self.next_seq = plan.seq + 1;
    }

    /// Records that `plan` was executed: the new segment exists, the evicted ones are gone.
    pub fn apply_retention(&mut self, plan: &RetentionPlan) {
        if let Some(base) = plan.new_segment {
            self.segments.push_back(Segment {
                base,
                len: SEGMENT_HEADER_LEN,
                count: 0,
                index: Some(SegmentOffsets {
                    offsets: Vec::new(),
                    data_end: SEGMENT_HEADER_LEN,
                }),
                newest_ingest: None,
                last_record: None,
                indexed_once: true,
                bad: Vec::new(),
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
            if seg.count() == 0 || !Self::expired(seg, cutoff).unwrap_or(false) {
                break;
            }
            if i + 1 == self.segments.len() {
                plan.new_segment = Some(self.next_seq);
            }
            plan.evict.push(seg.base);
        }
        plan
    }

    /// Whether a segment is past the cutoff: `None` when its newest ingest time is unknown.
    fn expired(seg: &Segment, cutoff: i64) -> Option<bool> {
        match seg.newest_ingest {
            Some(t) => Some(t < cutoff),
            // Indexed and no readable record: nothing in it can be served, let it go.
            None if seg.indexed_once => Some(true),
            None => None,
        }
    }

    /// The segment [`Self::plan_expire`] at `now_ms` needs indexed before it can decide (the
    /// oldest segments are past the TTL up to one whose newest ingest time is unknown).
    pub fn expire_needs_index(&self, now_ms: i64) -> Option<u64> {
        let ttl = i64::try_from(self.settings.ttl_millis?).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(ttl);
        for seg in &self.segments {
            if seg.count() == 0 {
                return None;
            }
            match Self::expired(seg, cutoff) {
                Some(true) => {}
                Some(false) => return None,
                None => return Some(seg.base),
            }
        }
        None
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
    /// Damaged records are skipped (counted in `skipped`); the plan stops at a segment that is
    /// not indexed yet (`need_index`).
    pub fn plan_read(&self, start: u64, max_count: u64, max_bytes: u64) -> ReadPlan {
        let mut plan = ReadPlan::default();
        let mut bytes = 0u64;
        let start = start.max(self.oldest_seq());
        'segments: for seg in &self.segments {
            if seg.end_seq() <= start || seg.count() == 0 {
                continue;
            }
            let Some(ix) = &seg.index else {
                plan.need_index = Some(seg.base);
                break;
            };
            let first = start.saturating_sub(seg.base) as usize;
            let mut chunk: Option<ReadChunk> = None;
            for i in first..ix.offsets.len() {
                if plan.count == max_count {
                    break;
                }
                let seq = seg.base + i as u64;
                if seg.is_bad(seq) {
                    plan.skipped += 1;
                    plan.chunks.extend(chunk.take());
                    continue;
                }
                let len = seg.record_len(ix, i);
                if plan.count > 0 && bytes + len > max_bytes {
                    plan.limited_by_bytes = true;
                    plan.chunks.extend(chunk.take());
                    break 'segments;
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
                            offset: u64::from(ix.offsets[i]),
                            len,
                            first_seq: seq,
                            count: 1,
                        })
                    }
                }
            }
            plan.chunks.extend(chunk);
            if plan.count == max_count {
                break;
            }
        }
        plan
    }

    /// What to read to index segment `base` (or to re-index it after a read found a record
    /// failing its checks); `None` if there is no such segment.
    pub fn index_request(&self, base: u64) -> Option<IndexRequest> {
        let seg = self.segments.iter().find(|s| s.base == base)?;
        Some(IndexRequest {
            segment: base,
            len: seg.len,
            count: seg.count,
        })
    }

    /// Whether segment `base` is indexed.
    pub fn is_indexed(&self, base: u64) -> bool {
        self.segments
            .iter()
            .any(|s| s.base == base && s.index.is_some())
    }

    /// Installs the index of a segment (from [`index_segment`] over the bytes of its
    /// [`IndexRequest`]). Returns the damage found that the log did not know of yet, to be
    /// reported once. An index that does not match the segment (it changed since the
    /// request) is ignored.
    pub fn apply_index(&mut self, index: SegmentIndex) -> Option<IndexDamage> {
        let seg = self.segments.iter_mut().find(|s| s.base == index.segment)?;
        if seg.count != index.offsets.len() as u64 {
            return None;
        }
        let before = seg.bad_count();
        let newly_bad = index.bad.iter().map(|(a, b)| b - a).sum::<u64>();
        seg.newest_ingest = index.newest_ingest;
        seg.last_record = index.last_record;
        seg.indexed_once = true;
        seg.bad = index.bad;
        seg.index = Some(SegmentOffsets {
            offsets: index.offsets,
            data_end: index.data_end,
        });
        let first = seg.bad.first().map(|r| r.0);
        (newly_bad > before).then(|| IndexDamage {
            segment: seg.base,
            first_bad_seq: first.unwrap_or(seg.base),
            bad_records: newly_bad,
            reason: index.reason.unwrap_or("damaged record"),
        })
    }

    /// Forgets the index of sealed segment `base` to bound memory (it is rebuilt on the next
    /// read that needs it; what is known about damage and ingest times is kept). The active
    /// segment keeps its index. Returns whether an index was dropped.
    pub fn drop_index(&mut self, base: u64) -> bool {
        let last = self.segments.back().map(|s| s.base);
        match self.segments.iter_mut().find(|s| s.base == base) {
            Some(seg) if Some(base) != last && seg.index.is_some() => {
                seg.index = None;
                true
            }
            _ => false,
        }
    }

    /// Number of stored sequence numbers found damaged (skipped by reads).
    pub fn corrupt_records(&self) -> u64 {
        self.segments.iter().map(Segment::bad_count).sum()
    }

    /// Rebuilds a log from the scans of its segment files (any order) and says which repairs
    /// the caller must make. Never fails: what cannot be used is reported, not fatal.
    pub fn recover(settings: LogSettings, scans: Vec<SegmentScan>) -> (Self, Vec<RecoveryAction>) {
        recovery::recover(settings, Vec::new(), scans)
    }

    /// Fast recovery: sealed segments are known only by their file length and are indexed
    /// lazily; only the last segment is scanned (`last`, possibly only its tail after a
    /// [`TailCheckpoint`], see [`scan_segment_tail`]). A sealed segment spans the sequence
    /// numbers up to the next segment's base.
    pub fn recover_lazy(
        settings: LogSettings,
        sealed: Vec<SealedFile>,
        last: Option<SegmentScan>,
    ) -> (Self, Vec<RecoveryAction>) {
        recovery::recover(settings, sealed, last.into_iter().collect())
    }

    /// The checkpoint of the active segment as it is now (write it only once the segment is
    /// durable up to its length). `None` when there is nothing worth checkpointing.
    pub fn tail_checkpoint(&self) -> Option<TailCheckpoint> {
        let seg = self.segments.back()?;
        let (last_offset, len) = seg.last_record?;
        Some(TailCheckpoint {
            segment: seg.base,
            len,
            count: seg.count,
            last_offset,
            newest_ingest: seg.newest_ingest.unwrap_or(i64::MIN),
        })
    }
}
