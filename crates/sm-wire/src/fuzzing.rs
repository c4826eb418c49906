//! Entry points shared by the fuzz targets in `fuzz/` and the corpus replay test, so both
//! drive exactly the functions the runtime calls.

use bytes::BytesMut;

use crate::{encode_status, Event, Op, ServerCodec};

/// Feeds `data` to a server connection codec in pieces (sizes taken from the data itself),
/// answering every event the way the runtime does. Must never panic, never loop forever, and
/// never hold more than the bytes it was given.
pub fn server_codec(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
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
