//! Entry points for `cargo fuzz` (`fuzz/fuzz_targets/`), kept in the library so the fuzzer drives
//! the same functions the runtime calls. Not a stable API.

/// Splits `data` into a time (the first 8 bytes, little-endian `i64`; missing bytes are zero)
/// and a key (the rest, lossy UTF-8), then runs [`crate::validate_key`], [`crate::render`] and
/// [`crate::format_timestamp`]. Panics only if one of them panics or an invariant breaks:
///
/// * a key without `!{` renders to itself;
/// * rendering is deterministic;
/// * an error's message is not empty.
pub fn render_key(data: &[u8]) {
    let mut time = [0u8; 8];
    let head = data.len().min(8);
    time[..head].copy_from_slice(&data[..head]);
    let now_ms = i64::from_le_bytes(time);
    let key = String::from_utf8_lossy(&data[head..]);

    if let Err(e) = crate::validate_key(&key) {
        assert!(!e.to_string().is_empty());
    }
    let rendered = crate::render(&key, now_ms);
    match &rendered {
        Ok(out) if !key.contains("!{") => assert_eq!(out, &*key),
        Ok(_) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    assert_eq!(rendered, crate::render(&key, now_ms));
    if let Err(e) = crate::format_timestamp(&key, now_ms) {
        assert!(!e.to_string().is_empty());
    }
}
