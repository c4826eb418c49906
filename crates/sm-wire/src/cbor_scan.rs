//! A tolerant scan for the top-level `requestId` of a CBOR map, used to answer requests that
//! cannot be decoded in full (bad fields, truncated or oversize payloads). It walks the map
//! entry by entry, skipping values it does not need, and stops at the first problem.

const MAX_DEPTH: u32 = 64;

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

/// Major type and argument of a CBOR item head; `None` argument = indefinite length.
struct Head {
    major: u8,
    arg: Option<u64>,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }

    fn take(&mut self, n: u64) -> Option<&[u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        self.i = end;
        Some(s)
    }

    fn head(&mut self) -> Option<Head> {
        let ib = self.byte()?;
        let major = ib >> 5;
        let info = ib & 0x1f;
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(u64::from(self.byte()?)),
            25 => Some(u64::from(u16::from_be_bytes(
                self.take(2)?.try_into().ok()?,
            ))),
            26 => Some(u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().ok()?,
            ))),
            27 => Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            31 if matches!(major, 2..=5 | 7) => None,
            _ => return None,
        };
        Some(Head { major, arg })
    }

    fn is_break(&self) -> bool {
        self.b.get(self.i) == Some(&0xff)
    }

    /// Skips one complete item.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let h = self.head()?;
        match (h.major, h.arg) {
            (0 | 1, Some(_)) | (7, Some(_)) => Some(()),
            (2 | 3, Some(n)) => self.take(n).map(|_| ()),
            (2 | 3, None) => {
                while !self.is_break() {
                    self.skip(depth + 1)?;
                }
                self.i += 1;
                Some(())
            }
            (4 | 5, Some(n)) => {
                let items = if h.major == 5 { n.checked_mul(2)? } else { n };
                for _ in 0..items {
                    self.skip(depth + 1)?;
                }
                Some(())
            }
            (4 | 5, None) => {
                while !self.is_break() {
                    self.skip(depth + 1)?;
                }
                self.i += 1;
                Some(())
            }
            (6, Some(_)) => self.skip(depth + 1),
            _ => None,
        }
    }

    /// Reads a definite-length text string, or `None` for anything else.
    fn text(&mut self) -> Option<Option<&str>> {
        let start = self.i;
        let h = self.head()?;
        if h.major == 3 {
            if let Some(n) = h.arg {
                return Some(std::str::from_utf8(self.take(n)?).ok());
            }
        }
        self.i = start;
        self.skip(1)?;
        Some(None)
    }
}

/// The `requestId` text of the top-level CBOR map in `payload`, if it can be found before
/// the first undecodable or missing byte.
pub fn request_id_of(payload: &[u8]) -> Option<String> {
    let mut c = Cursor { b: payload, i: 0 };
    let h = c.head()?;
    if h.major != 5 {
        return None;
    }
    let mut left = h.arg;
    loop {
        match left {
            Some(0) => return None,
            Some(n) => left = Some(n - 1),
            None if c.is_break() => return None,
            None => {}
        }
        let key = c.text()?.map(str::to_owned);
        if key.as_deref() == Some("requestId") {
            return c.text()?.map(str::to_owned);
        }
        c.skip(1)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_request_id_after_other_keys() {
        // {"name": "s", "payload": h'0102', "requestId": "abc"}
        let mut v = vec![0xa3];
        v.extend([0x64]);
        v.extend(b"name");
        v.extend([0x61, b's']);
        v.extend([0x67]);
        v.extend(b"payload");
        v.extend([0x42, 1, 2]);
        v.extend([0x69]);
        v.extend(b"requestId");
        v.extend([0x63]);
        v.extend(b"abc");
        assert_eq!(request_id_of(&v).as_deref(), Some("abc"));
    }

    #[test]
    fn indefinite_map_and_truncation() {
        // {_ "requestId": " "} with indefinite length.
        let mut v = vec![0xbf, 0x69];
        v.extend(b"requestId");
        v.extend([0x61, b' ', 0xff]);
        assert_eq!(request_id_of(&v).as_deref(), Some(" "));
        // Truncated before the id: nothing, no panic.
        assert_eq!(request_id_of(&v[..5]), None);
        assert_eq!(request_id_of(&[]), None);
        assert_eq!(request_id_of(&[0x1b, 0xff]), None);
        // A huge declared array length is not trusted.
        assert_eq!(
            request_id_of(&[0xa1, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut v = vec![0xa2, 0x61, b'x'];
        v.extend(std::iter::repeat_n(0x81, 10_000));
        v.push(0x00);
        assert_eq!(request_id_of(&v), None);
    }
}
