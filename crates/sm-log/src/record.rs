//! Record and segment header encoding (see the crate docs for the format).

/// Magic at the start of every segment file; the last byte is the format version.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SMLOG\0\0\x01";
/// Bytes of the segment header.
pub const SEGMENT_HEADER_LEN: u64 = 16;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: u64 = 24;

/// The file name of the segment whose first sequence number is `base`.
pub fn segment_file_name(base: u64) -> String {
    format!("{base:019}.log")
}

/// The base sequence number of a segment file name, or `None` for any other file.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() < 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The 16-byte header of the segment starting at `base`.
pub fn segment_header(base: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..].copy_from_slice(&base.to_le_bytes());
    h
}

fn crc(len: u32, seq: u64, ingest_time: i64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(&ingest_time.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// The 24-byte header of a record; write it followed by `payload`.
///
/// # Panics
/// If `payload` is longer than `u32::MAX` bytes (the log refuses such appends before).
pub fn record_header(seq: u64, ingest_time: i64, payload: &[u8]) -> [u8; 24] {
    let len = u32::try_from(payload.len()).expect("payload length checked by plan_append");
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[4..8].copy_from_slice(&crc(len, seq, ingest_time, payload).to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&ingest_time.to_le_bytes());
    h
}

/// One record read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Ingest time, ms since the epoch.
    pub ingest_time: i64,
    /// Payload.
    pub payload: &'a [u8],
}

/// A record that failed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord {
    /// The sequence number expected at that place.
    pub expected_seq: u64,
    /// Byte offset of the bad record within the decoded buffer.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

impl std::fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {} is corrupt ({}) at byte {} of the read",
            self.expected_seq, self.reason, self.offset
        )
    }
}

impl std::error::Error for CorruptRecord {}

/// Parses one record at the start of `b`: `Ok(None)` if `b` is too short to hold it.
pub(crate) fn parse_record(
    b: &[u8],
    expected_seq: u64,
) -> Result<Option<(Record<'_>, usize)>, &'static str> {
    if b.len() < RECORD_HEADER_LEN as usize {
        return Ok(None);
    }
    let len = u32::from_le_bytes(b[0..4].try_into().expect("4 bytes"));
    let stored_crc = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
    let ingest_time = i64::from_le_bytes(b[16..24].try_into().expect("8 bytes"));
    if len == 0 || u64::from(len) > crate::MAX_PAYLOAD {
        return Err("impossible payload length");
    }
    let end = RECORD_HEADER_LEN as usize + len as usize;
    if b.len() < end {
        return Ok(None);
    }
    let payload = &b[RECORD_HEADER_LEN as usize..end];
    if crc(len, seq, ingest_time, payload) != stored_crc {
        return Err("CRC mismatch");
    }
    if seq != expected_seq {
        return Err("unexpected sequence number");
    }
    Ok(Some((
        Record {
            seq,
            ingest_time,
            payload,
        },
        end,
    )))
}

/// Decodes exactly `count` records starting with `first_seq` from `bytes` (a [`crate::ReadChunk`]
/// as read from its segment), checking every CRC and sequence number.
pub fn decode_records(
    bytes: &[u8],
    first_seq: u64,
    count: u64,
) -> Result<Vec<Record<'_>>, CorruptRecord> {
    let mut out = Vec::with_capacity(count.min(4096) as usize);
    let mut at = 0usize;
    for i in 0..count {
        let expected_seq = first_seq + i;
        match parse_record(&bytes[at..], expected_seq) {
            Ok(Some((rec, used))) => {
                out.push(rec);
                at += used;
            }
            Ok(None) => {
                return Err(CorruptRecord {
                    expected_seq,
                    offset: at,
                    reason: "record is truncated",
                })
            }
            Err(reason) => {
                return Err(CorruptRecord {
                    expected_seq,
                    offset: at,
                    reason,
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_ieee() {
        // Known answer pins the algorithm: CRC-32/IEEE("123456789") = 0xCBF43926.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trip_and_bit_flips() {
        let mut buf = Vec::new();
        for (i, p) in [&b"a"[..], b"hello", &[0u8; 300]].iter().enumerate() {
            buf.extend_from_slice(&record_header(7 + i as u64, 1000 + i as i64, p));
            buf.extend_from_slice(p);
        }
        let recs = decode_records(&buf, 7, 3).unwrap();
        assert_eq!(recs[1].payload, b"hello");
        assert_eq!(recs[2].ingest_time, 1002);
        for bit in [0usize, 5 * 8, 10 * 8 + 3, 17 * 8, (buf.len() - 1) * 8] {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode_records(&b, 7, 3).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
        assert_eq!(
            decode_records(&buf, 8, 1).unwrap_err().reason,
            "unexpected sequence number"
        );
        assert!(decode_records(&buf[..buf.len() - 1], 7, 3).is_err());
    }

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(42), "0000000000000000042.log");
        assert_eq!(parse_segment_file_name("0000000000000000042.log"), Some(42));
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("42.log"), None);
        assert_eq!(parse_segment_file_name("stream.json"), None);
        assert_eq!(parse_segment_file_name("000000000000000004x.log"), None);
    }
}
