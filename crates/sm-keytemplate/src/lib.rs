//! S3 export task keys, sans-IO: the SDK's key rules and the `!{timestamp:PATTERN}` placeholders.
//!
//! This crate owns two decisions about the `key` of an `S3ExportTaskDefinition`
//! (`reference.md` §2, §3.7):
//!
//! * **is it valid** — [`validate_key`]: 1 to [`MAX_KEY_CHARS`] characters matching the SDK's
//!   pattern `^([^\\\{ \}%\`\[\]\"'\>\<\~\#\^\?\|]|!\{[a-zA-Z]+:[a-zA-Z\/]+\})*$`;
//! * **what object key does it name** — [`render`]: every `!{timestamp:PATTERN}` is replaced by
//!   the upload's start time formatted the way the reference server (Java) does, with
//!   `java.time.format.DateTimeFormatter.ofPattern(PATTERN)` in UTC. Text outside placeholders
//!   is copied unchanged.
//!
//! # Drive
//!
//! The runtime calls [`validate_key`] when a task is appended and [`render`] with the clock's
//! current time (milliseconds since the Unix epoch, UTC) when the upload starts. Any error is a
//! non-retryable task failure whose message ([`KeyError`]'s `Display`) names the placeholder and
//! the reason. Nothing here reads a clock, the environment or a file.
//!
//! # Java compatibility
//!
//! The supported pattern letters follow Java 17's count rules exactly (checked against a table
//! produced by Java 17, `tests/java_table.rs`):
//!
//! | letter | meaning | counts |
//! |---|---|---|
//! | `y` / `u` | year of era / proleptic year | 2: last two digits; 1, 3: padded to count; 4–19: padded, `+` if wider (11–18: error, see below) |
//! | `Y` | week-based year | as `y`, but no upper bound on the count |
//! | `M` / `L` | month | 1–2 numeric, 3 `Dec`, 4 `December`, 5 `D` |
//! | `Q` / `q` | quarter | 1–2 numeric, 3 `Q4`, 4 `4th quarter`, 5 `4` |
//! | `d` `H` `h` `k` `K` `m` `s` | day of month, hours, minute, second | 1–2 |
//! | `D` | day of year | 1–3 |
//! | `S` | fraction of second (truncated) | 1–9 |
//! | `a` | `AM` / `PM` | 1 |
//! | `E` | day of week | 1–3 `Thu`, 4 `Thursday`, 5 `T` |
//! | `e` | localized day of week | 1–2 numeric (Sunday = 1), 3–5 as `E` |
//! | `w` | week of week-based year | 1–2 |
//! | `W` | week of month | 1 |
//!
//! Quoted text `'...'`, `''` for a quote, optional sections `[...]` (always printed) and any
//! other non-letter character behave as in Java; `{`, `}`, `#` are reserved (error). Letters
//! Java defines but this crate does not support (era `G`, zones and offsets, `F`, `c`, `A`, `n`,
//! `N`, `g`, `p`, `B`) and letters Java does not define are errors. Java 17 throws
//! `ArrayIndexOutOfBoundsException` for a non-negative year printed with 11 to 18 `y`, `u` or
//! `Y` letters; that is an error here too ([`PatternError::JavaCannotPrint`]).
//!
//! **Locale.** Text and week fields depend on the JVM's default locale, which the reference
//! does not document. This crate assumes `Locale.US` (English names; weeks start on Sunday and
//! the week containing January 1st is week 1). Java 17 gives the same results for `Locale.ENGLISH`
//! and for a JVM started under `LANG=C`/`C.UTF-8`, which it maps to `en`. So `YYYY` and `w`
//! are **not** ISO week fields: from the Sunday before a New Year that is not a Sunday, `YYYY`
//! is already the next year (2020-12-27…31 print `YYYY` = 2021).
//!
//! **Placeholders.** A placeholder runs from `!{` to the first `}`; the namespace is the text
//! before the first `:` and must be `timestamp` (case-sensitive). An empty pattern is an error
//! (Java would print nothing; the SDK's pattern rejects it).

mod civil;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod pattern;

pub use error::{KeyError, PatternError, PlaceholderError};

use civil::DateTime;

/// The longest key, in characters (the SDK's limit).
pub const MAX_KEY_CHARS: usize = 1024;

/// The only placeholder namespace: `!{timestamp:PATTERN}`.
pub const TIMESTAMP_NAMESPACE: &str = "timestamp";

/// Characters the SDK's key pattern forbids outside placeholders.
const FORBIDDEN: [char; 17] = [
    '\\', '{', ' ', '}', '%', '`', '[', ']', '"', '\'', '>', '<', '~', '#', '^', '?', '|',
];

/// Checks `key` against the SDK's rules: 1 to [`MAX_KEY_CHARS`] characters, none of
/// `\ { } space % ` [ ] " ' > < ~ # ^ ? |` except inside a placeholder `!{name:pattern}` whose
/// name is ASCII letters and whose pattern is ASCII letters and `/`.
///
/// It does not check the namespace or the pattern letters: a key that passes can still fail
/// [`render`] (e.g. `!{date:yyyy}` or `!{timestamp:ZZ}`).
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_KEY_CHARS {
        return Err(KeyError::Length { chars });
    }
    let mut byte = 0;
    let mut index = 0;
    while byte < key.len() {
        let rest = &key[byte..];
        if rest.starts_with("!{") {
            let (text, body) = split_placeholder(rest, index)?;
            check_placeholder_body(body).map_err(|reason| KeyError::Placeholder {
                index,
                placeholder: text.to_owned(),
                reason,
            })?;
            byte += text.len();
            index += text.chars().count();
            continue;
        }
        let character = rest.chars().next().unwrap_or_default();
        if FORBIDDEN.contains(&character) {
            return Err(KeyError::ForbiddenCharacter { index, character });
        }
        byte += character.len_utf8();
        index += 1;
    }
    Ok(())
}

/// Replaces every `!{timestamp:PATTERN}` in `key` with the UTC time `now_ms` (milliseconds since
/// the Unix epoch) formatted like Java's `DateTimeFormatter.ofPattern(PATTERN, Locale.US)`.
///
/// Text outside placeholders is copied unchanged; `render` does not apply [`validate_key`]'s
/// character rules, so patterns may use quotes, digits and punctuation. Errors: an unterminated
/// placeholder, a missing `:`, a namespace other than `timestamp`, an empty pattern, or an
/// invalid or unsupported pattern (see the crate documentation).
///
/// ```
/// # use sm_keytemplate::render;
/// // 2020-12-31T23:59:59Z
/// let key = render("my-key/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/data.txt", 1_609_459_199_000);
/// assert_eq!(key.unwrap(), "my-key/2020/12/31/data.txt");
/// ```
pub fn render(key: &str, now_ms: i64) -> Result<String, KeyError> {
    let time = DateTime::from_epoch_millis(now_ms);
    let mut out = String::with_capacity(key.len() + 16);
    let mut rest = key;
    let mut index = 0;
    while let Some(pos) = rest.find("!{") {
        out.push_str(&rest[..pos]);
        index += rest[..pos].chars().count();
        let (text, body) = split_placeholder(&rest[pos..], index)?;
        let error = |reason| KeyError::Placeholder {
            index,
            placeholder: text.to_owned(),
            reason,
        };
        let (name, pattern) = body
            .split_once(':')
            .ok_or_else(|| error(PlaceholderError::MissingColon))?;
        if name != TIMESTAMP_NAMESPACE {
            return Err(error(PlaceholderError::UnknownNamespace(name.to_owned())));
        }
        if pattern.is_empty() {
            return Err(error(PlaceholderError::EmptyPattern));
        }
        pattern::format_into(pattern, &time, &mut out)
            .map_err(|e| error(PlaceholderError::Pattern(e)))?;
        index += text.chars().count();
        rest = &rest[pos + text.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Formats the UTC time `now_ms` (milliseconds since the Unix epoch) with a Java
/// `DateTimeFormatter` pattern, as [`render`] does for one placeholder. Unlike a placeholder,
/// the pattern may contain `}` (quoted) and may be empty (giving an empty string, as in Java).
pub fn format_timestamp(pattern: &str, now_ms: i64) -> Result<String, PatternError> {
    let mut out = String::new();
    pattern::format_into(pattern, &DateTime::from_epoch_millis(now_ms), &mut out)?;
    Ok(out)
}

/// Splits a placeholder off the front of `rest` (which starts with `!{`): returns the whole
/// placeholder text up to and including the first `}`, and the body between the braces.
fn split_placeholder(rest: &str, index: usize) -> Result<(&str, &str), KeyError> {
    match rest[2..].find('}') {
        Some(close) => Ok((&rest[..close + 3], &rest[2..close + 2])),
        None => Err(KeyError::Placeholder {
            index,
            placeholder: rest.to_owned(),
            reason: PlaceholderError::Unterminated,
        }),
    }
}

/// The SDK's placeholder shape: `[a-zA-Z]+:[a-zA-Z/]+`.
fn check_placeholder_body(body: &str) -> Result<(), PlaceholderError> {
    let (name, pattern) = body.split_once(':').ok_or(PlaceholderError::MissingColon)?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(PlaceholderError::InvalidName);
    }
    if pattern.is_empty() {
        return Err(PlaceholderError::EmptyPattern);
    }
    match pattern
        .chars()
        .find(|&c| !(c.is_ascii_alphabetic() || c == '/'))
    {
        Some(c) => Err(PlaceholderError::InvalidPatternCharacter(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2020-12-31T23:59:59.999Z, a Thursday.
    const NYE_2020: i64 = 1_609_459_199_999;

    #[test]
    fn aws_docs_example() {
        let key = "my-key/!{timestamp:YYYY}/!{timestamp:MM}/!{timestamp:dd}/data.txt";
        validate_key(key).unwrap();
        // Java's `YYYY` is the week-based year: on 2020-12-31 (US weeks) it is already 2021.
        assert_eq!(render(key, NYE_2020).unwrap(), "my-key/2021/12/31/data.txt");
        let key = "my-key/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/data.txt";
        assert_eq!(render(key, NYE_2020).unwrap(), "my-key/2020/12/31/data.txt");
        let key = "a/!{timestamp:yyyy/MM/dd}/b";
        validate_key(key).unwrap();
        assert_eq!(render(key, NYE_2020).unwrap(), "a/2020/12/31/b");
    }

    #[test]
    fn text_outside_placeholders_is_copied() {
        for key in [
            "plain/key.txt",
            "a!b!",
            "!",
            "{x}",
            "日本/データ",
            "a}b",
            "!!",
        ] {
            assert_eq!(render(key, 0).unwrap(), key);
        }
        assert_eq!(render("!!{timestamp:yy}!", 0).unwrap(), "!70!");
        assert_eq!(
            render("é!{timestamp:yyyy-MM-dd'T'HH:mm:ss}é", 0).unwrap(),
            "é1970-01-01T00:00:00é"
        );
    }

    #[test]
    fn render_errors_name_the_placeholder() {
        let e = render("x/!{date:yyyy}/y", 0).unwrap_err();
        assert_eq!(
            e,
            KeyError::Placeholder {
                index: 2,
                placeholder: "!{date:yyyy}".into(),
                reason: PlaceholderError::UnknownNamespace("date".into()),
            }
        );
        assert_eq!(
            e.to_string(),
            "S3 key placeholder `!{date:yyyy}` at index 2: unknown namespace \"date\"; only \
             `timestamp` is supported"
        );
        let e = render("é/!{timestamp:yyyy", 0).unwrap_err();
        assert!(matches!(
            e,
            KeyError::Placeholder {
                index: 2,
                reason: PlaceholderError::Unterminated,
                ..
            }
        ));
        let e = render("!{timestamp}", 0).unwrap_err();
        assert!(matches!(
            e,
            KeyError::Placeholder {
                reason: PlaceholderError::MissingColon,
                ..
            }
        ));
        let e = render("!{timestamp:}", 0).unwrap_err();
        assert!(matches!(
            e,
            KeyError::Placeholder {
                reason: PlaceholderError::EmptyPattern,
                ..
            }
        ));
        let e = render("!{timestamp:yy}/!{timestamp:yyyy-QQQQQQ}", 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "S3 key placeholder `!{timestamp:yyyy-QQQQQQ}` at index 16: invalid timestamp \
             pattern: pattern letter 'Q' is repeated 6 times; at most 5 allowed"
        );
        assert!(std::error::Error::source(&e).is_some());
        let e = render("!{timestamp:zzz}", 0).unwrap_err();
        assert!(e.to_string().contains("'z' is not supported"), "{e}");
        let e = render("!{timestamp:'abc}", 0).unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
        // Case-sensitive namespace.
        assert!(render("!{Timestamp:yyyy}", 0).is_err());
    }

    #[test]
    fn validate_accepts_sdk_keys() {
        for key in [
            "a",
            "my-key/!{timestamp:YYYY}/!{timestamp:MM}/!{timestamp:dd}/data.txt",
            "!{timestamp:yyyy/MM/dd}",
            "!{anything:abc}",
            "!",
            "a!b",
            "!!{timestamp:yy}",
            "日本/データ.txt",
            "tab\tand\nnewline",
            "(parens)&*@=+$,;:.-_",
            &"k".repeat(MAX_KEY_CHARS),
            &"é".repeat(MAX_KEY_CHARS),
        ] {
            assert_eq!(validate_key(key), Ok(()), "{key:?}");
        }
    }

    #[test]
    fn validate_rejects() {
        assert_eq!(validate_key(""), Err(KeyError::Length { chars: 0 }));
        assert_eq!(
            validate_key(&"k".repeat(MAX_KEY_CHARS + 1)),
            Err(KeyError::Length { chars: 1025 })
        );
        for (i, c) in FORBIDDEN.iter().enumerate() {
            let key = format!("ab{c}");
            assert_eq!(
                validate_key(&key),
                Err(KeyError::ForbiddenCharacter {
                    index: 2,
                    character: *c
                }),
                "case {i}"
            );
        }
        let reason = |key: &str| match validate_key(key) {
            Err(KeyError::Placeholder { reason, .. }) => reason,
            other => panic!("{key:?}: {other:?}"),
        };
        assert_eq!(reason("!{timestamp:yyyy"), PlaceholderError::Unterminated);
        assert_eq!(reason("!{timestamp}"), PlaceholderError::MissingColon);
        assert_eq!(reason("!{:yyyy}"), PlaceholderError::InvalidName);
        assert_eq!(reason("!{time1:yyyy}"), PlaceholderError::InvalidName);
        assert_eq!(reason("!{timestamp:}"), PlaceholderError::EmptyPattern);
        for c in ['-', '\'', ':', ' ', '1', '{', 'é'] {
            assert_eq!(
                reason(&format!("!{{timestamp:yy{c}MM}}")),
                PlaceholderError::InvalidPatternCharacter(c)
            );
        }
        assert_eq!(
            validate_key("ok/!{timestamp:yyyy}/bad key")
                .unwrap_err()
                .to_string(),
            "the S3 key contains ' ' at index 24, which is not allowed (forbidden: \\ { } space \
             % ` [ ] \" ' > < ~ # ^ ? |, except in a !{name:pattern} placeholder)"
        );
    }

    #[test]
    fn format_timestamp_allows_what_placeholders_cannot() {
        assert_eq!(format_timestamp("", 0).unwrap(), "");
        assert_eq!(format_timestamp("'{'yy'}'", 0).unwrap(), "{70}");
        assert_eq!(
            format_timestamp("}", 0),
            Err(PatternError::ReservedCharacter('}'))
        );
    }
}
