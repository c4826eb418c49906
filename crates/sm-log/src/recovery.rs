//! Recovery: scanning segment bytes and rebuilding the log state.
//!
//! Rules (each has a test below):
//! 1. A torn or corrupt tail of the **last** segment is truncated to the last good record.
//! 2. A last segment whose header is missing or damaged is rewritten as an empty segment with
//!    the base from its file name (its records, if any, cannot be trusted).
//! 3. A sealed (older) segment is indexed up to its first bad record; the rest of that segment
//!    is unreachable but the file is kept. A sealed segment with no good record is deleted.
//! 4. A segment that overlaps the previous one is ignored and left alone.
//! 5. The next sequence number follows the last good record (or the last segment's base).

use crate::record::{parse_record, SEGMENT_HEADER_LEN, SEGMENT_MAGIC};
use crate::{LogSettings, Segment, StreamLog};
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
    /// Offsets of the good records.
    pub offsets: Vec<u32>,
    /// Ingest time of the last good record.
    pub newest_ingest: i64,
    /// Why the scan stopped.
    pub stop: ScanStop,
}

/// Scans the bytes of the segment file whose name says `base`.
pub fn scan_segment(base: u64, bytes: &[u8]) -> SegmentScan {
    let mut scan = SegmentScan {
        base,
        file_len: bytes.len() as u64,
        valid_len: 0,
        offsets: Vec::new(),
        newest_ingest: i64::MIN,
        stop: ScanStop::Clean,
    };
    let h = SEGMENT_HEADER_LEN as usize;
    if bytes.len() < h || bytes[..8] != SEGMENT_MAGIC || bytes[8..16] != base.to_le_bytes() {
        scan.stop = ScanStop::BadHeader;
        return scan;
    }
    let mut at = h;
    loop {
        if at == bytes.len() {
            break;
        }
        let seq = base + scan.offsets.len() as u64;
        match parse_record(&bytes[at..], seq) {
            Ok(Some((rec, used))) if u32::try_from(at).is_ok() => {
                scan.offsets.push(at as u32);
                scan.newest_ingest = rec.ingest_time;
                at += used;
            }
            Ok(Some(_)) => {
                scan.stop = ScanStop::Corrupt("segment larger than 4 GiB");
                break;
            }
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
    scan
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

pub(crate) fn recover(
    settings: LogSettings,
    mut scans: Vec<SegmentScan>,
) -> (StreamLog, Vec<RecoveryAction>) {
    scans.sort_by_key(|s| s.base);
    let mut actions = Vec::new();
    let mut segments: VecDeque<Segment> = VecDeque::new();
    let n = scans.len();
    let mut next_seq = 0u64;
    for (i, scan) in scans.into_iter().enumerate() {
        let is_last = i + 1 == n;
        if let Some(prev) = segments.back() {
            if scan.base < prev.end_seq() {
                actions.push(RecoveryAction::Ignore {
                    segment: scan.base,
                    reason: format!(
                        "overlaps the segment starting at {} (which ends before {})",
                        prev.base,
                        prev.end_seq()
                    ),
                });
                continue;
            }
        }
        let mut seg = Segment {
            base: scan.base,
            len: scan.valid_len,
            offsets: scan.offsets,
            newest_ingest: scan.newest_ingest,
        };
        match (&scan.stop, is_last) {
            (ScanStop::Clean, _) => {}
            (ScanStop::BadHeader, true) => {
                actions.push(RecoveryAction::RewriteHeader { segment: scan.base });
                seg.len = SEGMENT_HEADER_LEN;
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
        if seg.offsets.is_empty() && !is_last {
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
