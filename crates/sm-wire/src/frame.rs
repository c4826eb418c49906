//! The frame layer: `int32 BE length | op | payload`, where length counts the op byte.

use bytes::{Buf, Bytes, BytesMut};

/// The protocol's frame cap: the SDKs refuse to send `len(payload) + 1 > 2^30`.
pub const PROTOCOL_MAX_FRAME: u32 = 1 << 30;

/// How much of an oversize frame's payload is kept to find its `requestId`.
pub const OVERSIZE_HEAD_BYTES: usize = 4096;

/// One decoded unit of the frame layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A whole frame.
    Frame {
        /// The op byte.
        op: u8,
        /// The CBOR payload.
        payload: Bytes,
    },
    /// A frame longer than the configured maximum but within the protocol's, reported once its
    /// first [`OVERSIZE_HEAD_BYTES`] arrived (kept so the `requestId` can be answered); the
    /// rest of it is then discarded as it arrives, never buffered.
    Oversize {
        /// The op byte.
        op: u8,
        /// The declared length (payload + 1).
        declared: u32,
        /// The start of the payload.
        head: Bytes,
    },
}

/// A length prefix that no client of this protocol sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Zero, negative, or above [`PROTOCOL_MAX_FRAME`].
    BadLength(i32),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadLength(n) => write!(
                f,
                "frame length prefix {n} is outside 1..={PROTOCOL_MAX_FRAME}"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

#[derive(Debug)]
enum State {
    Head,
    Body {
        op: u8,
        len: usize,
    },
    /// Discarding an oversize frame; `head` is `None` once it was reported.
    Skip {
        op: u8,
        declared: u32,
        remaining: usize,
        head: Option<BytesMut>,
    },
}

/// Incremental frame decoder over a caller-owned buffer.
///
/// Allocation is bounded by the caller's buffer: the decoder never reserves the declared
/// length, and frames above `max_frame` are skipped without being buffered.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame: u32,
    state: State,
}

impl FrameDecoder {
    /// A decoder that accepts frames whose length prefix is at most `max_frame`
    /// (clamped to [`PROTOCOL_MAX_FRAME`]).
    pub fn new(max_frame: u32) -> Self {
        Self {
            max_frame: max_frame.clamp(1, PROTOCOL_MAX_FRAME),
            state: State::Head,
        }
    }

    /// The largest accepted length prefix.
    pub fn max_frame(&self) -> u32 {
        self.max_frame
    }

    /// Whether a frame has started but not ended (its header or body is partly received),
    /// counting `buffered` bytes not yet decoded.
    pub fn mid_frame(&self, buffered: usize) -> bool {
        match self.state {
            State::Head => buffered > 0,
            State::Body { .. } | State::Skip { .. } => true,
        }
    }

    /// Consumes bytes from `src` and returns the next complete unit, `Ok(None)` when more
    /// bytes are needed, or an error when the length prefix is impossible.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        loop {
            match &mut self.state {
                State::Head => {
                    if src.len() < 5 {
                        return Ok(None);
                    }
                    let raw = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
                    if raw < 1 || raw as u32 > PROTOCOL_MAX_FRAME {
                        return Err(FrameError::BadLength(raw));
                    }
                    let op = src[4];
                    src.advance(5);
                    let declared = raw as u32;
                    let len = (declared - 1) as usize;
                    if declared > self.max_frame {
                        self.state = State::Skip {
                            op,
                            declared,
                            remaining: len,
                            head: Some(BytesMut::new()),
                        };
                    } else {
                        self.state = State::Body { op, len };
                    }
                }
                State::Body { op, len } => {
                    if src.len() < *len {
                        return Ok(None);
                    }
                    let payload = src.split_to(*len).freeze();
                    let op = *op;
                    self.state = State::Head;
                    return Ok(Some(Inbound::Frame { op, payload }));
                }
                State::Skip {
                    op,
                    declared,
                    remaining,
                    head,
                } => {
                    let take = (*remaining).min(src.len());
                    let mut report = None;
                    if let Some(h) = head {
                        let keep = take.min(OVERSIZE_HEAD_BYTES - h.len());
                        h.extend_from_slice(&src[..keep]);
                        // Report as soon as the head is complete, not after the whole frame:
                        // the client gets its answer while the rest is discarded.
                        let wanted = OVERSIZE_HEAD_BYTES.min(*declared as usize - 1);
                        if h.len() == wanted {
                            report = Some(Inbound::Oversize {
                                op: *op,
                                declared: *declared,
                                head: std::mem::take(h).freeze(),
                            });
                            *head = None;
                        }
                    }
                    src.advance(take);
                    *remaining -= take;
                    let done = *remaining == 0;
                    if done {
                        self.state = State::Head;
                    }
                    if report.is_some() || !done {
                        return Ok(report);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 1) as i32).to_be_bytes().to_vec();
        v.push(op);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn byte_at_a_time() {
        let bytes = [frame(4, b"hello"), frame(11, b"")].concat();
        let mut d = FrameDecoder::new(PROTOCOL_MAX_FRAME);
        let mut buf = BytesMut::new();
        let mut out = vec![];
        for b in bytes {
            buf.extend_from_slice(&[b]);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        assert_eq!(
            out,
            vec![
                Inbound::Frame {
                    op: 4,
                    payload: Bytes::from_static(b"hello")
                },
                Inbound::Frame {
                    op: 11,
                    payload: Bytes::new()
                }
            ]
        );
    }

    #[test]
    fn impossible_lengths() {
        for raw in [0i32, -1, i32::MIN, (PROTOCOL_MAX_FRAME + 1) as i32] {
            let mut buf = BytesMut::from(&[&raw.to_be_bytes()[..], &[4]].concat()[..]);
            let err = FrameDecoder::new(PROTOCOL_MAX_FRAME)
                .decode(&mut buf)
                .unwrap_err();
            assert_eq!(err, FrameError::BadLength(raw));
        }
    }

    #[test]
    fn oversize_is_skipped_and_reported() {
        let payload = vec![7u8; 10_000];
        let mut buf = BytesMut::from(&[frame(4, &payload), frame(11, b"x")].concat()[..]);
        let mut d = FrameDecoder::new(100);
        match d.decode(&mut buf).unwrap().unwrap() {
            Inbound::Oversize { op, declared, head } => {
                assert_eq!(op, 4);
                assert_eq!(declared, 10_001);
                assert_eq!(head.len(), OVERSIZE_HEAD_BYTES);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Some(Inbound::Frame {
                op: 11,
                payload: Bytes::from_static(b"x")
            })
        );
    }

    #[test]
    fn oversize_is_reported_before_its_body_ends() {
        let whole = frame(4, &vec![1u8; 10_000]);
        let mut d = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&whole[..5 + OVERSIZE_HEAD_BYTES]);
        assert!(matches!(
            d.decode(&mut buf).unwrap(),
            Some(Inbound::Oversize { op: 4, .. })
        ));
        assert!(d.mid_frame(buf.len()));
        buf.extend_from_slice(&whole[5 + OVERSIZE_HEAD_BYTES..]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert!(!d.mid_frame(buf.len()));
        // A short oversize frame is reported when it ends.
        let mut buf = BytesMut::from(&frame(4, &[2u8; 150])[..]);
        match d.decode(&mut buf).unwrap() {
            Some(Inbound::Oversize { head, .. }) => assert_eq!(head.len(), 150),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn declared_length_is_not_allocated() {
        // A 1 GiB claim with 10 bytes of body: the buffer stays small and nothing is emitted.
        let mut buf = BytesMut::from(&frame(4, b"0123456789")[..5]);
        buf[0..4].copy_from_slice(&(PROTOCOL_MAX_FRAME as i32).to_be_bytes());
        buf.extend_from_slice(b"0123456789");
        let mut d = FrameDecoder::new(PROTOCOL_MAX_FRAME);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() < 1024);
    }
}
