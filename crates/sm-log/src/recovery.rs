//! Recovery: scanning segment bytes and rebuilding the log state.
//!
//! Rules (each has a test below):
//! 1. A torn or corrupt tail of the **last** segment is truncated to the last good record,
//!    never below a verified [`TailCheckpoint`] (data known durable is never cut). Zeros from
//!    the last good record to the end of a file are not damage but space allocated ahead of
//!    the appends: the scan is clean, the log ends there and the file keeps its length.
//! 2. A last segment whose header is missing or damaged is rewritten as an empty segment with
//!    the base from its file name (its records, if any, cannot be trusted).
//! 3. A sealed (older) segment is not read at start-up: it spans the sequence numbers up to the
//!    next segment's base and is indexed on first use ([`index_segment`]). Records that fail
//!    their checks there are *damaged*: reads skip them, the log counts them
//!    ([`StreamLog::corrupt_records`]), and the good records after them stay readable (the
//!    index resynchronises on the next good record). A sealed file too short to hold a header
//!    is deleted. (With [`StreamLog::recover`], which scans everything, a sealed segment is
//!    used up to its first bad record and one with no good record is deleted.)
//! 4. A segment that overlaps the previous one is ignored and left alone.
//! 5. The next sequence number follows the last good record (or the last segment's base).

use crate::record::{parse_record, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC};
use crate::{LogSettings, Segment, SegmentOffsets, StreamLog};
use std::collections::VecDeque;

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanStop {
    /// The whole file was valid.
    Clean,
    /// The file ends in the middle of a record.
    Torn,
    /// A complete record failed its checks.
    Corrupt(&'static str),
    /// The segment header is missing, damaged, or names another base.
    BadHeader,
}

/// What a scan of one segment file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// Base sequence number (from the file name).
    pub base: u64,
    /// Length of the file as scanned.
    pub file_len: u64,
    /// Bytes up to the end of the last good record (the header alone counts when valid).
    pub valid_len: u64,
    /// Offsets of the good records scanned.
    pub offsets: Vec<u32>,
    /// Records before `offsets[0]` that were not scanned (a tail scan after a checkpoint).
    pub unscanned_prefix: u64,
    /// Ingest time of the last good record, if any was scanned.
    pub newest_ingest: Option<i64>,
    /// Why the scan stopped.
    pub stop: ScanStop,
}

fn header_ok(base: u64, bytes: &[u8]) -> bool {
    bytes.len() >= SEGMENT_HEADER_LEN as usize
        && bytes[..8] == SEGMENT_MAGIC
        && bytes[8..16] == base.to_le_bytes()
}

/// Scans records from `at` (an offset into `bytes`, the file from its start) while they are
/// good; fills `scan`.
fn scan_records(scan: &mut SegmentScan, bytes: &[u8], mut at: usize, first_seq: u64) {
    let mut seq = first_seq;
    loop {
        if at == bytes.len() {
            break;
        }
        match parse_record(&bytes[at..], seq) {
            Ok(Some((rec, used))) if u32::try_from(at).is_ok() => {
                scan.offsets.push(at as u32);
                scan.newest_ingest = Some(rec.ingest_time);
                at += used;
                seq += 1;
            }
            Ok(Some(_)) => {
                scan.stop = ScanStop::Corrupt("segment larger than 4 GiB");
                break;
            }
            // Zeros to the end of the file are space allocated ahead of the appends
            // (flushOnWrite segments), not damage: the log ends here.
            Ok(None) | Err(_) if bytes[at..].iter().all(|&b| b == 0) => break,
            Ok(None) => {
                scan.stop = ScanStop::Torn;
                break;
            }
            Err(reason) => {
                scan.stop = ScanStop::Corrupt(reason);
                break;
            }
        }
    }
    scan.valid_len = at as u64;
}

/// Scans the bytes of the segment file whose name says `base`.
pub fn scan_segment(base: u64, bytes: &[u8]) -> SegmentScan {
    let mut scan = SegmentScan {
        base,
        file_len: bytes.len() as u64,
        valid_len: 0,
        offsets: Vec::new(),
        unscanned_prefix: 0,
        newest_ingest: None,
        stop: ScanStop::Clean,
    };
    if !header_ok(base, bytes) {
        scan.stop = ScanStop::BadHeader;
        return scan;
    }
    scan_records(&mut scan, bytes, SEGMENT_HEADER_LEN as usize, base);
    scan
}

/// Where the active segment was known durable: written by the runtime after an fsync of the
/// segment covered `len` bytes, so that start-up scans only what was written after it.
/// Stored with a CRC ([`Self::encode`]); a checkpoint that does not match the segment file
/// (its last record is not where it says) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailCheckpoint {
    /// Segment base.
    pub segment: u64,
    /// End of the last record covered.
    pub len: u64,
    /// Records in the segment up to `len`.
    pub count: u64,
    /// Offset of the last record covered (it is re-checked at start-up).
    pub last_offset: u64,
    /// Ingest time of that record.
    pub newest_ingest: i64,
}

const CHECKPOINT_MAGIC: [u8; 8] = *b"SMTAIL\0\x01";

impl TailCheckpoint {
    /// Bytes of an encoded checkpoint.
    pub const ENCODED_LEN: usize = 52;

    /// The checkpoint's bytes: magic, the five fields (little-endian), CRC-32 of the rest.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[..8].copy_from_slice(&CHECKPOINT_MAGIC);
        b[8..16].copy_from_slice(&self.segment.to_le_bytes());
        b[16..24].copy_from_slice(&self.len.to_le_bytes());
        b[24..32].copy_from_slice(&self.count.to_le_bytes());
        b[32..40].copy_from_slice(&self.last_offset.to_le_bytes());
        b[40..48].copy_from_slice(&self.newest_ingest.to_le_bytes());
        let crc = crc32fast::hash(&b[..48]);
        b[48..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a checkpoint; `None` unless the bytes are exactly a well-formed one.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != Self::ENCODED_LEN || b[..8] != CHECKPOINT_MAGIC {
            return None;
        }
        let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if crc32fast::hash(&b[..48]) != u32::from_le_bytes(b[48..].try_into().expect("4 bytes")) {
            return None;
        }
        let c = Self {
            segment: u(8),
            len: u(16),
            count: u(24),
            last_offset: u(32),
            newest_ingest: u(40) as i64,
        };
        let sane = c.count > 0
            && c.last_offset >= SEGMENT_HEADER_LEN
            && c.last_offset + RECORD_HEADER_LEN < c.len
            && c.len <= u64::from(u32::MAX);
        sane.then_some(c)
    }
}

/// Scans the last segment from a checkpoint: `header` is the file's first 16 bytes, `tail`
/// its bytes from `ckpt.last_offset` to the end. The record at the checkpoint is verified
/// (sequence number, CRC, end); `None` if it does not match, and the caller scans the whole
/// file with [`scan_segment`] instead.
pub fn scan_segment_tail(ckpt: &TailCheckpoint, header: &[u8], tail: &[u8]) -> Option<SegmentScan> {
    if !header_ok(ckpt.segment, header) {
        return None;
    }
    let last_seq = ckpt.segment.checked_add(ckpt.count - 1)?;
    let (rec, used) = parse_record(tail, last_seq).ok()??;
    if ckpt.last_offset + used as u64 != ckpt.len || rec.ingest_time != ckpt.newest_ingest {
        return None;
    }
    let mut scan = SegmentScan {
        base: ckpt.segment,
        file_len: ckpt.last_offset + tail.len() as u64,
        valid_len: 0,
        offsets: vec![u32::try_from(ckpt.last_offset).ok()?],
        unscanned_prefix: ckpt.count - 1,
        newest_ingest: Some(rec.ingest_time),
        stop: ScanStop::Clean,
    };
    // Offsets in `tail` are relative to the checkpoint's record; shift them afterwards.
    let mut rel = SegmentScan {
        offsets: Vec::new(),
        ..scan.clone()
    };
    scan_records(&mut rel, tail, used, last_seq + 1);
    for o in rel.offsets {
        scan.offsets
            .push(u32::try_from(ckpt.last_offset + u64::from(o)).ok()?);
    }
    scan.newest_ingest = rel.newest_ingest;
    scan.valid_len = ckpt.last_offset + rel.valid_len;
    scan.stop = rel.stop;
    Some(scan)
}

/// A sealed segment file known only from the directory: name and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedFile {
    /// Base sequence number (from the file name).
    pub base: u64,
    /// File length.
    pub len: u64,
}

/// The index of one segment, built from its bytes by [`index_segment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentIndex {
    /// Segment base.
    pub segment: u64,
    /// One offset per sequence number (damaged ones: where the damage starts).
    pub offsets: Vec<u32>,
    /// End of the last record.
    pub data_end: u64,
    /// Damaged sequence numbers, sorted disjoint `[start, end)` ranges.
    pub bad: Vec<(u64, u64)>,
    /// Ingest time of the newest good record.
    pub newest_ingest: Option<i64>,
    /// Offset and end of the last record, if it is good.
    pub last_record: Option<(u64, u64)>,
    /// What the first damage was.
    pub reason: Option<&'static str>,
}

/// Damage found while indexing a segment, to report once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDamage {
    /// Segment base.
    pub segment: u64,
    /// First damaged sequence number.
    pub first_bad_seq: u64,
    /// Damaged records in the segment.
    pub bad_records: u64,
    /// What was wrong with the first.
    pub reason: &'static str,
}

/// The first place after `from` where a good record with a sequence number in `lo..hi` starts.
fn resync(bytes: &[u8], from: usize, lo: u64, hi: u64) -> Option<(usize, u64)> {
    let h = RECORD_HEADER_LEN as usize;
    let mut p = from;
    while p + h <= bytes.len() {
        let seq = u64::from_le_bytes(bytes[p + 8..p + 16].try_into().expect("8 bytes"));
        if (lo..hi).contains(&seq) && matches!(parse_record(&bytes[p..], seq), Ok(Some(_))) {
            return Some((p, seq));
        }
        p += 1;
    }
    None
}

/// Indexes the `count` records of segment `base` from its bytes (the file from its start).
/// Records that fail their checks are marked damaged and skipped: the index resumes at the
/// next good record with a later sequence number, so one bad record costs only itself.
pub fn index_segment(base: u64, bytes: &[u8], count: u64) -> SegmentIndex {
    let mut ix = SegmentIndex {
        segment: base,
        offsets: Vec::with_capacity(count.min(1 << 20) as usize),
        data_end: SEGMENT_HEADER_LEN.min(bytes.len() as u64),
        bad: Vec::new(),
        newest_ingest: None,
        last_record: None,
        reason: None,
    };
    let end = base.saturating_add(count);
    if !header_ok(base, bytes) {
        ix.reason = Some("segment header is damaged");
        ix.offsets.resize(count as usize, ix.data_end as u32);
        if count > 0 {
            ix.bad.push((base, end));
        }
        return ix;
    }
    let mut at = SEGMENT_HEADER_LEN as usize;
    let mut seq = base;
    while seq < end {
        match parse_record(&bytes[at..], seq).and_then(|r| r.ok_or("record is truncated")) {
            Ok((rec, used)) if u32::try_from(at + used).is_ok() => {
                ix.offsets.push(at as u32);
                ix.newest_ingest = Some(rec.ingest_time);
                ix.last_record = Some((at as u64, (at + used) as u64));
                at += used;
                ix.data_end = at as u64;
                seq += 1;
            }
            other => {
                ix.reason.get_or_insert(match other {
                    Err(r) => r,
                    Ok(_) => "segment larger than 4 GiB",
                });
                let (next_at, next_seq) = resync(bytes, at + 1, seq + 1, end)
                    .filter(|&(p, _)| u32::try_from(p).is_ok())
                    .unwrap_or((at, end));
                for _ in seq..next_seq {
                    ix.offsets.push(at as u32);
                }
                ix.bad.push((seq, next_seq));
                ix.last_record = None;
                at = next_at;
                seq = next_seq;
            }
        }
    }
    ix
}

/// A repair the caller must make after [`StreamLog::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryAction {
    /// Truncate the last segment to `len` bytes (rule 1).
    Truncate {
        /// Segment base.
        segment: u64,
        /// New length.
        len: u64,
    },
    /// Rewrite the segment as just a header (rule 2).
    RewriteHeader {
        /// Segment base.
        segment: u64,
    },
    /// Delete the segment file (rule 3).
    Delete {
        /// Segment base.
        segment: u64,
    },
    /// Leave the file alone but do not use it (rules 3 and 4); worth a warning.
    Ignore {
        /// Segment base.
        segment: u64,
        /// Why.
        reason: String,
    },
    /// Records after `at_seq` in a sealed segment are unreachable (rule 3); worth a warning.
    SealedDamage {
        /// Segment base.
        segment: u64,
        /// First unreadable sequence number.
        at_seq: u64,
        /// What was wrong.
        reason: String,
    },
}

enum Entry {
    Sealed(SealedFile),
    Scanned(SegmentScan),
}

impl Entry {
    fn base(&self) -> u64 {
        match self {
            Self::Sealed(f) => f.base,
            Self::Scanned(s) => s.base,
        }
    }
}

pub(crate) fn recover(
    settings: LogSettings,
    sealed: Vec<SealedFile>,
    scans: Vec<SegmentScan>,
) -> (StreamLog, Vec<RecoveryAction>) {
    let mut actions = Vec::new();
    let mut entries: Vec<Entry> = Vec::with_capacity(sealed.len() + scans.len());
    for f in sealed {
        if f.len < SEGMENT_HEADER_LEN {
            actions.push(RecoveryAction::Delete { segment: f.base });
        } else {
            entries.push(Entry::Sealed(f));
        }
    }
    entries.extend(scans.into_iter().map(Entry::Scanned));
    entries.sort_by_key(Entry::base);
    entries.dedup_by_key(|e| e.base());
    let mut segments: VecDeque<Segment> = VecDeque::new();
    let n = entries.len();
    let next_bases: Vec<Option<u64>> = (0..n)
        .map(|i| entries.get(i + 1).map(Entry::base))
        .collect();
    let mut next_seq = 0u64;
    for (i, entry) in entries.into_iter().enumerate() {
        let is_last = i + 1 == n;
        if let Some(prev) = segments.back() {
            if entry.base() < prev.end_seq() {
                actions.push(RecoveryAction::Ignore {
                    segment: entry.base(),
                    reason: format!(
                        "overlaps the segment starting at {} (which ends before {})",
                        prev.base,
                        prev.end_seq()
                    ),
                });
                continue;
            }
        }
        let scan = match entry {
            Entry::Sealed(f) => {
                let Some(next) = next_bases[i] else {
                    actions.push(RecoveryAction::Ignore {
                        segment: f.base,
                        reason: "the last segment was not scanned".into(),
                    });
                    continue;
                };
                let seg = Segment {
                    base: f.base,
                    len: f.len,
                    count: next - f.base,
                    index: None,
                    newest_ingest: None,
                    last_record: None,
                    indexed_once: false,
                    bad: Vec::new(),
                };
                next_seq = seg.end_seq();
                segments.push_back(seg);
                continue;
            }
            Entry::Scanned(scan) => scan,
        };
        let count = scan.unscanned_prefix + scan.offsets.len() as u64;
        let last_record = scan.offsets.last().map(|&o| (u64::from(o), scan.valid_len));
        let mut seg = Segment {
            base: scan.base,
            len: scan.valid_len,
            count,
            index: (scan.unscanned_prefix == 0).then_some(SegmentOffsets {
                offsets: scan.offsets,
                data_end: scan.valid_len,
            }),
            newest_ingest: scan.newest_ingest,
            last_record,
            indexed_once: scan.unscanned_prefix == 0,
            bad: Vec::new(),
        };
        match (&scan.stop, is_last) {
            (ScanStop::Clean, _) => {}
            (ScanStop::BadHeader, true) => {
                actions.push(RecoveryAction::RewriteHeader { segment: scan.base });
                seg.len = SEGMENT_HEADER_LEN;
                seg.count = 0;
                seg.last_record = None;
                seg.newest_ingest = None;
                if let Some(ix) = &mut seg.index {
                    ix.data_end = SEGMENT_HEADER_LEN;
                }
            }
            (ScanStop::Torn | ScanStop::Corrupt(_), true) => {
                actions.push(RecoveryAction::Truncate {
                    segment: scan.base,
                    len: scan.valid_len,
                });
            }
            (ScanStop::BadHeader, false) => {
                actions.push(RecoveryAction::Delete { segment: scan.base });
                continue;
            }
            (ScanStop::Torn | ScanStop::Corrupt(_), false) => {
                let reason = match &scan.stop {
                    ScanStop::Corrupt(r) => (*r).to_string(),
                    _ => "truncated record".to_string(),
                };
                actions.push(RecoveryAction::SealedDamage {
                    segment: scan.base,
                    at_seq: seg.end_seq(),
                    reason,
                });
                // The file keeps its bytes, so it still counts toward the stream's size.
                seg.len = scan.file_len;
            }
        }
        if seg.count == 0 && !is_last {
            actions.push(RecoveryAction::Delete { segment: seg.base });
            continue;
        }
        next_seq = seg.end_seq();
        segments.push_back(seg);
    }
    let total = segments.iter().map(|s| s.len).sum();
    (
        StreamLog {
            settings,
            segments,
            next_seq,
            total,
        },
        actions,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_records, Full, MemorySegments};

    fn settings() -> LogSettings {
        LogSettings {
            max_size: 1 << 20,
            segment_size: 200,
            full: Full::Overwrite,
            ttl_millis: None,
        }
    }

    fn filled(n: u64) -> (StreamLog, MemorySegments) {
        let mut log = StreamLog::new(settings(), 0);
        let mut mem = MemorySegments::default();
        for i in 0..n {
            let p = vec![i as u8 + 1; 40];
            let plan = log.plan_append(40, i as i64).unwrap();
            mem.execute_append(&plan, &p);
            log.apply_append(&plan);
        }
        (log, mem)
    }

    fn rescan(mem: &MemorySegments) -> Vec<SegmentScan> {
        mem.segments()
            .map(|(b, bytes)| scan_segment(b, bytes))
            .collect()
    }

    #[test]
    fn clean_recovery_is_identity() {
        let (log, mem) = filled(20);
        let (back, actions) = StreamLog::recover(settings(), rescan(&mem));
        assert!(actions.is_empty());
        assert_eq!(back, log);
    }

    #[test]
    fn rule1_torn_tail_of_last_segment_is_truncated() {
        let (log, mut mem) = filled(10);
        let last = log.active_segment().unwrap();
        let len = mem.segment(last).unwrap().len();
        mem.truncate(last, len - 5);
        let (back, actions) = StreamLog::recover(settings(), rescan(&mem));
        assert_eq!(
            actions,
            vec![RecoveryAction::Truncate {
                segment: last,
                len: (len - 64) as u64
            }]
        );
        assert_eq!(back.next_seq(), 9);
        assert_eq!(back.newest_seq(), Some(8));
        mem.truncate(last, len - 64);
        // Appending after the repair continues at 9.
        let mut back = back;
        let plan = back.plan_append(3, 0).unwrap();
        assert_eq!(plan.seq, 9);
        mem.execute_append(&plan, b"new");
        back.apply_append(&plan);
        let (again, actions) = StreamLog::recover(settings(), rescan(&mem));
        assert!(actions.is_empty());
        assert_eq!(again, back);
    }

    #[test]
    fn rule1_zeros_after_the_last_record_are_allocated_space_not_damage() {
        let (log, mut mem) = filled(10);
        let last = log.active_segment().unwrap();
        let mut bytes = mem.segment(last).unwrap().to_vec();
        let end = bytes.len() as u64;
        bytes.resize(bytes.len() + 4096, 0);
        mem.insert(last, bytes.clone());
        let scan = scan_segment(last, &bytes);
        assert_eq!(scan.stop, ScanStop::Clean);
        assert_eq!((scan.valid_len, scan.file_len), (end, end + 4096));
        let (back, actions) = StreamLog::recover(settings(), rescan(&mem));
        assert!(actions.is_empty(), "the file keeps its allocated space");
        assert_eq!(back, log);
        // Appends go where the records end, not where the file ends.
        assert_eq!(back.plan_append(3, 0).unwrap().offset, end);
        // A byte that is not zero after the records is damage again, and is cut.
        bytes[end as usize + 4000] = 1;
        mem.insert(last, bytes);
        let (_, actions) = StreamLog::recover(settings(), rescan(&mem));
        assert_eq!(
            actions,
            vec![RecoveryAction::Truncate {
                segment: last,
                len: end
            }]
        );
    }

    #[test]
    fn rule2_bad_header_of_last_segment_is_rewritten() {
        let (log, mut mem) = filled(10);
        let last = log.active_segment().unwrap();
        mem.truncate(last, 3);
        let (back, actions) = StreamLog::recover(settings(), rescan(&mem));
        assert_eq!(
            actions,
            vec![RecoveryAction::RewriteHeader { segment: last }]
        );
        assert_eq!(back.next_seq(), last);
    }

    #[test]
    fn rule3_bit_flip_in_sealed_segment_keeps_the_prefix() {
        let (log, mut mem) = filled(12);
        let first = log.segment_bases().next().unwrap();
        // Segments hold two 64-byte records; flip a payload byte of the first segment's second.
        mem.corrupt(first, 16 + 64 + 30);
        let (back, actions) = StreamLog::recover(settings(), rescan(&mem));
        assert!(matches!(
            actions.as_slice(),
            [RecoveryAction::SealedDamage {
                segment: 0,
                at_seq: 1,
                ..
            }]
        ));
        assert_eq!(back.next_seq(), log.next_seq());
        // Seq 0 is readable; a read from 1 skips to the next segment.
        let plan = back.plan_read(1, 1, u64::MAX);
        assert_eq!(plan.chunks[0].first_seq, 2);
        let c = &back.plan_read(0, 1, u64::MAX).chunks[0];
        let bytes =
            &mem.segment(c.segment).unwrap()[c.offset as usize..(c.offset + c.len) as usize];
        assert_eq!(
            decode_records(bytes, 0, 1).unwrap()[0].payload,
            &[1u8; 40][..]
        );
    }

    #[test]
    fn rule3_sealed_segment_without_records_is_deleted_and_rule4_overlap_ignored() {
        let (log, mut mem) = filled(12);
        let bases: Vec<u64> = log.segment_bases().collect();
        mem.truncate(bases[0], 0);
        let mut scans = rescan(&mem);
        // A stray copy of segment 3's header claiming base 4 overlaps segment 3.
        let mut stray = scans[1].clone();
        stray.base = bases[1] + 1;
        scans.push(stray);
        let (back, actions) = StreamLog::recover(settings(), scans);
        assert!(actions.contains(&RecoveryAction::Delete { segment: bases[0] }));
        assert!(actions.iter().any(
            |a| matches!(a, RecoveryAction::Ignore { segment, .. } if *segment == bases[1] + 1)
        ));
        assert_eq!(back.oldest_seq(), bases[1]);
        assert_eq!(back.next_seq(), 12);
    }

    #[test]
    fn rule5_empty_store_starts_at_zero() {
        let (log, actions) = StreamLog::recover(settings(), vec![]);
        assert!(actions.is_empty());
        assert_eq!(log.next_seq(), 0);
        assert_eq!(log.newest_seq(), None);
    }
}
