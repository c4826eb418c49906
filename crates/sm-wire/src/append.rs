//! The append hot path without serde: decoding an AppendMessageRequest in the shape every SDK
//! sends (a definite map of `requestId`, `name` and `payload`, in any order) with the payload
//! sharing the frame's buffer, and encoding the success response.
//!
//! The decoder is a shortcut, never a second opinion: it answers only for input whose meaning
//! is plain (no other keys, no repeated key, no null, no indefinite lengths, valid UTF-8,
//! nothing after the map) and returns `None` for anything else, which then goes through the
//! serde decoder and its error messages. `fuzzing::server_codec` checks that both agree.

use bytes::{BufMut, Bytes, BytesMut};
use sm_model::{AppendMessageRequest, ResponseStatusCode};

use crate::Op;

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// The head of a definite-length item: major type and argument.
    fn head(&mut self) -> Option<(u8, u64)> {
        let ib = *self.b.get(self.i)?;
        self.i += 1;
        let info = ib & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        };
        Some((ib >> 5, arg))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        self.i = end;
        Some(s)
    }

    /// A definite string of major type `major` (2 bytes, 3 text): its byte range.
    fn string(&mut self, major: u8) -> Option<(usize, usize)> {
        let (m, len) = self.head()?;
        if m != major {
            return None;
        }
        let start = self.i;
        self.take(usize::try_from(len).ok()?)?;
        Some((start, self.i))
    }

    fn text(&mut self) -> Option<&'a str> {
        let (a, b) = self.string(3)?;
        std::str::from_utf8(&self.b[a..b]).ok()
    }
}

/// Decodes an AppendMessageRequest payload in the plain shape; `None` means "use the general
/// decoder" (see the module docs), not "invalid".
pub fn decode_append_request(payload: &Bytes) -> Option<AppendMessageRequest> {
    let mut c = Cursor { b: payload, i: 0 };
    let (major, entries) = c.head()?;
    if major != 5 || entries > 3 {
        return None;
    }
    let mut req = AppendMessageRequest::default();
    for _ in 0..entries {
        match c.text()? {
            "requestId" if req.request_id.is_none() => req.request_id = Some(c.text()?.into()),
            "name" if req.name.is_none() => req.name = Some(c.text()?.into()),
            "payload" if req.payload.is_none() => {
                let (a, b) = c.string(2)?;
                req.payload = Some(payload.slice(a..b));
            }
            _ => return None,
        }
    }
    (c.i == payload.len()).then_some(req)
}

fn put_head(major: u8, arg: u64, out: &mut BytesMut) {
    let m = major << 5;
    match arg {
        0..=23 => out.put_u8(m | arg as u8),
        24..=0xff => {
            out.put_u8(m | 24);
            out.put_u8(arg as u8);
        }
        0x100..=0xffff => {
            out.put_u8(m | 25);
            out.put_u16(arg as u16);
        }
        0x1_0000..=0xffff_ffff => {
            out.put_u8(m | 26);
            out.put_u32(arg as u32);
        }
        _ => {
            out.put_u8(m | 27);
            out.put_u64(arg);
        }
    }
}

fn put_text(s: &str, out: &mut BytesMut) {
    put_head(3, s.len() as u64, out);
    out.put_slice(s.as_bytes());
}

/// Appends the frame of a successful AppendMessageResponse (`requestId` when given, status
/// Success, `sequenceNumber`), byte for byte what [`crate::encode_frame`] writes for it.
/// Returns the frame's length prefix value.
pub fn encode_append_success(request_id: Option<&str>, seq: i64, out: &mut BytesMut) -> usize {
    let start = out.len();
    out.put_i32(0);
    out.put_u8(Op::AppendMessageResponse as u8);
    put_head(5, 2 + u64::from(request_id.is_some()), out);
    if let Some(id) = request_id {
        put_text("requestId", out);
        put_text(id, out);
    }
    put_text("status", out);
    put_head(0, ResponseStatusCode::Success as u64, out);
    put_text("sequenceNumber", out);
    if seq >= 0 {
        put_head(0, seq as u64, out);
    } else {
        put_head(1, !(seq as u64), out);
    }
    let len = out.len() - start - 4;
    // A request id is bounded by the frame it came in, far below 2 GiB.
    out[start..start + 4].copy_from_slice(&(len as i32).to_be_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::Value;
    use sm_model::AppendMessageResponse;

    fn cbor(v: &Value) -> Bytes {
        let mut out = vec![];
        ciborium::into_writer(v, &mut out).unwrap();
        out.into()
    }

    fn serde(b: &Bytes) -> Option<AppendMessageRequest> {
        ciborium::from_reader(&b[..]).ok()
    }

    fn entry(k: &str, v: Value) -> (Value, Value) {
        (Value::Text(k.into()), v)
    }

    #[test]
    fn plain_requests_decode_like_serde_and_share_the_buffer() {
        let shapes = [
            vec![
                entry("requestId", Value::Text("r1".into())),
                entry("name", Value::Text("s".into())),
                entry("payload", Value::Bytes(vec![7; 300])),
            ],
            vec![
                entry("payload", Value::Bytes(vec![1, 2])),
                entry("name", Value::Text("ünï".into())),
            ],
            vec![entry("requestId", Value::Text("x".repeat(70_000)))],
            vec![],
        ];
        for s in shapes {
            let b = cbor(&Value::Map(s));
            let fast = decode_append_request(&b).expect("plain shape");
            assert_eq!(Some(&fast), serde(&b).as_ref());
            if let Some(p) = &fast.payload {
                let range = b.as_ptr() as usize..b.as_ptr() as usize + b.len();
                assert!(range.contains(&(p.as_ptr() as usize)), "payload not copied");
            }
        }
    }

    #[test]
    fn anything_unusual_goes_to_the_general_decoder() {
        let unusual = [
            // An unknown key, a repeated key, a null, a wrong type, not a map.
            Value::Map(vec![entry("other", Value::Integer(1.into()))]),
            Value::Map(vec![
                entry("name", Value::Text("a".into())),
                entry("name", Value::Text("b".into())),
            ]),
            Value::Map(vec![entry("name", Value::Null)]),
            Value::Map(vec![entry("payload", Value::Text("str".into()))]),
            Value::Array(vec![]),
        ];
        for v in unusual {
            assert_eq!(decode_append_request(&cbor(&v)), None, "{v:?}");
        }
        // Indefinite map, invalid UTF-8, trailing bytes, truncation.
        let plain = cbor(&Value::Map(vec![entry("name", Value::Text("ab".into()))]));
        let mut indefinite = vec![0xbf];
        indefinite.extend_from_slice(&plain[1..]);
        indefinite.push(0xff);
        let mut bad_utf8 = plain.to_vec();
        *bad_utf8.last_mut().unwrap() = 0xff;
        let mut trailing = plain.to_vec();
        trailing.push(0);
        for b in [
            indefinite,
            bad_utf8,
            trailing,
            plain[..plain.len() - 1].to_vec(),
        ] {
            assert_eq!(
                decode_append_request(&Bytes::from(b.clone())),
                None,
                "{b:?}"
            );
        }
    }

    #[test]
    fn success_frames_match_the_serde_encoder() {
        let ids = [None, Some(""), Some("r-1"), Some(&*"é".repeat(200))];
        let seqs = [
            0,
            1,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            1 << 32,
            i64::MAX,
            -1,
            -25,
        ];
        for id in ids {
            for seq in seqs {
                let resp = AppendMessageResponse {
                    request_id: id.map(str::to_owned),
                    status: ResponseStatusCode::Success,
                    error_message: None,
                    sequence_number: Some(seq),
                };
                let mut want = BytesMut::from(&b"xy"[..]);
                let n = crate::encode_frame(Op::AppendMessageResponse, &resp, &mut want).unwrap();
                let mut got = BytesMut::from(&b"xy"[..]);
                assert_eq!(encode_append_success(id, seq, &mut got), n);
                assert_eq!(got, want, "id {id:?} seq {seq}");
            }
        }
    }
}
