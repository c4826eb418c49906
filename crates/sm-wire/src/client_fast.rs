//! The client's hot path without serde: an `AppendMessage` request encoded straight into a
//! frame buffer, and a successful `AppendMessageResponse` read in place. Both produce or accept
//! exactly what the serde structs of `sm-model` do (`{requestId, name, payload}` and
//! `{requestId, status, sequenceNumber}`, camelCase keys, shortest CBOR heads); anything else
//! in a response (an error status, an `errorMessage`, an unknown key, a null) is left to the
//! serde decoder by returning `None`.

use bytes::{BufMut, BytesMut};

use crate::Op;

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

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    /// A definite head: (major type, argument).
    fn head(&mut self) -> Option<(u8, u64)> {
        let ib = *self.b.get(self.i)?;
        self.i += 1;
        let arg = match ib & 0x1f {
            n @ 0..=23 => u64::from(n),
            24 => u64::from(*self.take(1)?.first()?),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        };
        Some((ib >> 5, arg))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }

    /// The bytes of a definite text string (not checked as UTF-8).
    fn text(&mut self) -> Option<&'a [u8]> {
        match self.head()? {
            (3, n) => self.take(usize::try_from(n).ok()?),
            _ => None,
        }
    }
}

/// Reads a successful `AppendMessageResponse` payload (the CBOR map of an op-9 frame): status
/// 0, a text `requestId` and an integer `sequenceNumber`, in any order, nothing else. `None`
/// for every other shape, which the caller then decodes with serde to report it properly.
pub fn decode_append_ack(payload: &[u8]) -> Option<AppendAck<'_>> {
    let mut r = Reader { b: payload, i: 0 };
    let (5, entries) = r.head()? else {
        return None;
    };
    let (mut id, mut status, mut seq) = (None, None, None);
    for _ in 0..entries {
        // Keys are compared as bytes: only exact ASCII keys match.
        match r.text()? {
            b"requestId" if id.is_none() => id = Some(r.text()?),
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
                payload: Some(payload.to_vec()),
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
