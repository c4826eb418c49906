//! The append hot path without serde, both sides of it. The server decodes an
//! AppendMessageRequest in the shape every SDK sends (a definite map of `requestId`, `name` and
//! `payload`, in any order) with the payload sharing the frame's buffer, and encodes the
//! success response; the client (`sm-client`) encodes the request straight into its frame
//! buffer and reads a successful response in place. Every encoder writes exactly the bytes
//! [`crate::encode_frame`] writes for the `sm-model` struct (camelCase keys, shortest CBOR
//! heads, as ciborium does).
//!
//! The decoders are shortcuts, never a second opinion: they answer only for input whose meaning
//! is plain (no other keys, no repeated key, no null, no indefinite lengths, valid UTF-8,
//! nothing after the map; for responses, status Success) and return `None` for anything else,
//! which then goes through the serde decoder and its error messages. `fuzzing::server_codec`
//! checks that the server's decoder and the serde one agree.

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

    /// The bytes of a definite text string (not checked as UTF-8).
    fn text_bytes(&mut self) -> Option<&'a [u8]> {
        let (a, b) = self.string(3)?;
        Some(&self.b[a..b])
    }

    fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.text_bytes()?).ok()
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

fn put_text(s: &str, out: &mut BytesMut) {
    put_head(out, 3, s.len() as u64);
    out.put_slice(s.as_bytes());
}

/// Appends the frame of a successful AppendMessageResponse (`requestId` when given, status
/// Success, `sequenceNumber`), byte for byte what [`crate::encode_frame`] writes for it.
/// Returns the frame's length prefix value.
pub fn encode_append_success(request_id: Option<&str>, seq: i64, out: &mut BytesMut) -> usize {
    let start = out.len();
    out.put_i32(0);
    out.put_u8(Op::AppendMessageResponse as u8);
    put_head(out, 5, 2 + u64::from(request_id.is_some()));
    if let Some(id) = request_id {
        put_text("requestId", out);
        put_text(id, out);
    }
    put_text("status", out);
    put_head(out, 0, ResponseStatusCode::Success as u64);
    put_text("sequenceNumber", out);
    if seq >= 0 {
        put_head(out, 0, seq as u64);
    } else {
        put_head(out, 1, !(seq as u64));
    }
    let len = out.len() - start - 4;
    // A request id is bounded by the frame it came in, far below 2 GiB.
    out[start..start + 4].copy_from_slice(&(len as i32).to_be_bytes());
    len
}

// The client's side.

/// The shortest CBOR head of major type `major` with argument `n`, as ciborium writes it.
fn put_head(out: &mut BytesMut, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.put_u8(m | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.put_slice(&[m | 24, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        out.put_u8(m | 25);
        out.put_u16(n as u16);
    } else if n <= u64::from(u32::MAX) {
        out.put_u8(m | 26);
        out.put_u32(n as u32);
    } else {
        out.put_u8(m | 27);
        out.put_u64(n);
    }
}

/// Bytes of the head `put_head` writes for argument `n`.
fn head_len(n: usize) -> usize {
    match n as u64 {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

const REQUEST_ID: &str = "requestId";
const NAME: &str = "name";
const PAYLOAD: &str = "payload";

/// The length [`encode_append_request`] will give the frame, counted like
/// [`crate::encode_frame`]'s result (op byte + CBOR, without the 4-byte prefix), so a caller can
/// refuse an oversize frame before writing anything.
pub fn append_request_len(request_id: &str, name: &str, payload: &[u8]) -> usize {
    let text = |s: &str| head_len(s.len()) + s.len();
    1 + 1
        + text(REQUEST_ID)
        + text(request_id)
        + text(NAME)
        + text(name)
        + text(PAYLOAD)
        + head_len(payload.len())
        + payload.len()
}

/// Appends one `AppendMessage` frame (`{requestId, name, payload}`) to `out`, byte for byte
/// what [`crate::encode_frame`] writes for `sm_model::AppendMessageRequest` with all three
/// fields set; returns its length as that function does. The caller checks the length against
/// its frame limit first ([`append_request_len`]); a length above `i32::MAX` is not encodable
/// and panics.
pub fn encode_append_request(
    request_id: &str,
    name: &str,
    payload: &[u8],
    out: &mut BytesMut,
) -> usize {
    let len = append_request_len(request_id, name, payload);
    let prefix = i32::try_from(len).expect("the caller checked the frame length");
    out.reserve(4 + len);
    out.put_i32(prefix);
    out.put_u8(Op::AppendMessage as u8);
    put_head(out, 5, 3);
    for (key, value) in [(REQUEST_ID, request_id), (NAME, name)] {
        put_head(out, 3, key.len() as u64);
        out.put_slice(key.as_bytes());
        put_head(out, 3, value.len() as u64);
        out.put_slice(value.as_bytes());
    }
    put_head(out, 3, PAYLOAD.len() as u64);
    out.put_slice(PAYLOAD.as_bytes());
    put_head(out, 2, payload.len() as u64);
    out.put_slice(payload);
    len
}

/// A successful `AppendMessageResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck<'a> {
    /// The echoed `requestId`.
    pub request_id: &'a str,
    /// The appended message's sequence number.
    pub sequence_number: i64,
}

/// Reads a successful `AppendMessageResponse` payload (the CBOR map of an op-9 frame): status
/// 0, a text `requestId` and an integer `sequenceNumber`, in any order, nothing else. `None`
/// for every other shape, which the caller then decodes with serde to report it properly.
pub fn decode_append_ack(payload: &[u8]) -> Option<AppendAck<'_>> {
    let mut r = Cursor { b: payload, i: 0 };
    let (5, entries) = r.head()? else {
        return None;
    };
    let (mut id, mut status, mut seq) = (None, None, None);
    for _ in 0..entries {
        // Keys are compared as bytes: only exact ASCII keys match.
        match r.text_bytes()? {
            b"requestId" if id.is_none() => id = Some(r.text_bytes()?),
            b"status" if status.is_none() => status = Some(r.head()?),
            b"sequenceNumber" if seq.is_none() => {
                seq = Some(match r.head()? {
                    (0, n) => i64::try_from(n).ok()?,
                    (1, n) => -1 - i64::try_from(n).ok()?,
                    _ => return None,
                });
            }
            _ => return None,
        }
    }
    if status? != (0, 0) {
        return None;
    }
    Some(AppendAck {
        request_id: std::str::from_utf8(id?).ok()?,
        sequence_number: seq?,
    })
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

    mod client {
        use super::*;
        use crate::encode_frame;
        use proptest::prelude::*;
        use serde::Serialize;
        use sm_model::{AppendMessageRequest, AppendMessageResponse, ResponseStatusCode};

        fn serde_frame<T: Serialize>(op: Op, v: &T) -> (BytesMut, usize) {
            let mut out = BytesMut::new();
            let n = encode_frame(op, v, &mut out).unwrap();
            (out, n)
        }

        fn check_request(id: &str, name: &str, payload: &[u8]) {
            let (want, want_len) = serde_frame(
                Op::AppendMessage,
                &AppendMessageRequest {
                    request_id: Some(id.into()),
                    name: Some(name.into()),
                    payload: Some(Bytes::copy_from_slice(payload)),
                },
            );
            let mut got = BytesMut::from(&b"xy"[..]);
            let len = encode_append_request(id, name, payload, &mut got);
            assert_eq!(&got[..2], b"xy", "appends after what is there");
            assert_eq!(&got[2..], &want[..]);
            assert_eq!(len, want_len);
            assert_eq!(append_request_len(id, name, payload), want_len);
        }

        #[test]
        fn request_bytes_equal_serde_at_every_head_width() {
            for n in [1, 23, 24, 255, 256, 65_535, 65_536, 100_000] {
                check_request("rs-0", "s", &vec![7u8; n]);
            }
            check_request(&"i".repeat(300), &"n".repeat(255), b"x");
            check_request("", "stream_name-1 with space", &[0, 1, 2, 255]);
        }

        proptest! {
            #[test]
            fn request_bytes_equal_serde(
                id in "[ -~]{0,40}",
                name in "\\PC{0,70}",
                payload in proptest::collection::vec(any::<u8>(), 0..600),
            ) {
                check_request(&id, &name, &payload);
            }

            #[test]
            fn ack_decodes_like_serde(id in "\\PC{0,40}", seq in any::<i64>()) {
                let (frame, _) = serde_frame(
                    Op::AppendMessageResponse,
                    &AppendMessageResponse {
                        request_id: Some(id.clone()),
                        status: ResponseStatusCode::Success,
                        error_message: None,
                        sequence_number: Some(seq),
                    },
                );
                let ack = decode_append_ack(&frame[5..]).unwrap();
                prop_assert_eq!(ack.request_id, id.as_str());
                prop_assert_eq!(ack.sequence_number, seq);
            }

            #[test]
            fn arbitrary_bytes_do_not_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = decode_append_ack(&b);
            }
        }

        fn cbor(v: &ciborium::Value) -> Vec<u8> {
            let mut out = vec![];
            ciborium::into_writer(v, &mut out).unwrap();
            out
        }

        fn map(entries: &[(&str, ciborium::Value)]) -> ciborium::Value {
            ciborium::Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (ciborium::Value::Text((*k).into()), v.clone()))
                    .collect(),
            )
        }

        #[test]
        fn ack_key_order_and_refusals() {
            use ciborium::Value::{Integer, Null, Text};
            let ok = [
                ("sequenceNumber", Integer(42.into())),
                ("status", Integer(0.into())),
                ("requestId", Text("rs-7".into())),
            ];
            assert_eq!(
                decode_append_ack(&cbor(&map(&ok))),
                Some(AppendAck {
                    request_id: "rs-7",
                    sequence_number: 42
                })
            );
            // Every other shape is left to serde.
            let refused: Vec<Vec<(&str, ciborium::Value)>> = vec![
                vec![ok[0].clone(), ("status", Integer(1.into())), ok[2].clone()],
                vec![ok[0].clone(), ok[1].clone()],
                vec![ok[1].clone(), ok[2].clone()],
                vec![ok[0].clone(), ok[2].clone()],
                [&ok[..], &[("errorMessage", Text("x".into()))]].concat(),
                [&ok[..], &[("other", Integer(1.into()))]].concat(),
                [&ok[..], &[("status", Integer(0.into()))]].concat(),
                vec![ok[0].clone(), ok[1].clone(), ("requestId", Null)],
                vec![ok[0].clone(), ("status", Text("0".into())), ok[2].clone()],
                vec![
                    ("sequenceNumber", Text("1".into())),
                    ok[1].clone(),
                    ok[2].clone(),
                ],
                vec![
                    ("sequenceNumber", Integer(u64::MAX.into())),
                    ok[1].clone(),
                    ok[2].clone(),
                ],
            ];
            for entries in refused {
                assert_eq!(
                    decode_append_ack(&cbor(&map(&entries))),
                    None,
                    "{entries:?}"
                );
            }
            // Negative sequence numbers are read like serde reads them.
            let neg = [
                ok[1].clone(),
                ok[2].clone(),
                ("sequenceNumber", Integer((-5).into())),
            ];
            assert_eq!(
                decode_append_ack(&cbor(&map(&neg))).map(|a| a.sequence_number),
                Some(-5)
            );
            // Indefinite maps and truncations.
            let whole = cbor(&map(&ok));
            for cut in 0..whole.len() {
                assert_eq!(decode_append_ack(&whole[..cut]), None);
            }
            assert_eq!(decode_append_ack(&[0xbf, 0xff]), None);
            // A requestId that is not UTF-8.
            let mut bad = vec![0xa3, 0x69];
            bad.extend(b"requestId");
            bad.extend([0x62, 0xff, 0xfe, 0x66]);
            bad.extend(b"status");
            bad.extend([0x00, 0x6e]);
            bad.extend(b"sequenceNumber");
            bad.push(0x01);
            assert_eq!(decode_append_ack(&bad), None);
            bad[12..14].copy_from_slice(b"ok");
            assert_eq!(
                decode_append_ack(&bad).map(|a| (a.request_id, a.sequence_number)),
                Some(("ok", 1))
            );
        }
    }
}
