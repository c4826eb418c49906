//! Entry points shared by the fuzz targets in `fuzz/` and the corpus replay test, so both
//! drive exactly the functions the runtime calls.

use bytes::{Bytes, BytesMut};

use crate::{encode_status, Event, Op, ServerCodec};

/// Feeds `data` to a server connection codec in pieces (sizes taken from the data itself),
/// answering every event the way the runtime does. Must never panic, never loop forever, and
/// never hold more than the bytes it was given.
pub fn server_codec(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    append_shortcut(rest);
    let step = usize::from(split % 64) + 1;
    // Small frame limit so the oversize path is reached too.
    let max_frame = if split & 0x80 != 0 {
        64
    } else {
        crate::PROTOCOL_MAX_FRAME
    };
    let mut codec = ServerCodec::new(max_frame);
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    for piece in rest.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Event::Connect(req))) => {
                    let _ = crate::negotiate(&req);
                }
                Ok(Some(Event::Request(req))) => {
                    encode_status(
                        req.op().response(),
                        req.request_id(),
                        sm_model::ResponseStatusCode::Success,
                        None,
                        &mut out,
                    );
                }
                Ok(Some(Event::Reject(r))) => {
                    assert_ne!(r.op, Op::ConnectResponse);
                    encode_status(
                        r.op,
                        r.request_id.as_deref(),
                        r.status,
                        Some(&r.message),
                        &mut out,
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = e.reply();
                    return;
                }
            }
            out.clear();
        }
        assert!(buf.len() <= rest.len());
    }
}

/// The append shortcut agrees with the general decoder wherever it answers, and its response
/// encoder with the serde one.
fn append_shortcut(payload: &[u8]) {
    let b = Bytes::copy_from_slice(payload);
    if let Some(fast) = crate::decode_append_request(&b) {
        let general: sm_model::AppendMessageRequest = ciborium::from_reader(payload)
            .expect("the general decoder accepts what the shortcut does");
        assert_eq!(fast, general);
        let seq = payload.len() as i64 * 7919 - 1000;
        let mut got = BytesMut::new();
        let n = crate::encode_append_success(fast.request_id.as_deref(), seq, &mut got);
        let resp = sm_model::AppendMessageResponse {
            request_id: fast.request_id,
            status: sm_model::ResponseStatusCode::Success,
            error_message: None,
            sequence_number: Some(seq),
        };
        let mut want = BytesMut::new();
        assert_eq!(
            crate::encode_frame(Op::AppendMessageResponse, &resp, &mut want).ok(),
            Some(n)
        );
        assert_eq!(got, want);
    }
}
