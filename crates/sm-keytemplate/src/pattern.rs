//! A subset of `java.time.format.DateTimeFormatter.ofPattern(pattern, Locale.US)`, printing only,
//! zone UTC.
//!
//! The parse follows Java 17's `DateTimeFormatterBuilder.appendPattern` step by step, so the
//! same patterns fail (first error from the left) and the same ones print the same text:
//!
//! * a run of one ASCII letter is a field; its count selects width or text style;
//! * `'text'` is literal text, `''` a literal quote (also inside quoted text);
//! * `[` and `]` open and close optional sections; every field is available when printing an
//!   instant, so their content always prints; a `]` without `[` is an error;
//! * `{`, `}` and `#` are reserved: error;
//! * anything else (digits, punctuation, non-ASCII) is printed as is.

use crate::civil::{DateTime, WeekRules};
use crate::error::PatternError;

/// Full English month names (`MMMM`); `MMM` is the first three letters, `MMMMM` the first.
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Full English day names by ISO number − 1 (`EEEE`); `E`–`EEE` is the first three letters,
/// `EEEEE` the first.
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// `QQQQ`: quarter names.
const QUARTERS: [&str; 4] = ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"];

/// Letters Java 17 defines but this implementation rejects: era, week-in-month of day
/// (`F`), the `c` standalone day of week, milli/nano-of-day, nano-of-second (`n`), modified
/// Julian day, zone ids/names/offsets (the zone is always UTC), pad modifier, day period.
const JAVA_ONLY_LETTERS: &str = "GFcAnNgVvzOXxZpB";

/// The week rules of the reference's locale (see the crate documentation).
const WEEKS: WeekRules = WeekRules::US;

/// How a number is signed and padded (Java's `SignStyle`, the subset the supported letters use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// `-` for negative values only.
    Normal,
    /// `-` for negative values, `+` for values wider than the minimum width (if below 19).
    ExceedsPad,
}

/// Formats `t` with `pattern`, appending to `out`. On error `out` may hold part of the output.
pub(crate) fn format_into(
    pattern: &str,
    t: &DateTime,
    out: &mut String,
) -> Result<(), PatternError> {
    let bytes = pattern.as_bytes();
    let mut optional_depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphabetic() {
            let count = bytes[i..].iter().take_while(|&&x| x == b).count();
            field(char::from(b), count, t, out)?;
            i += count;
        } else if b == b'\'' {
            // Java: scan to the closing quote, skipping doubled quotes.
            let start = i + 1;
            let mut pos = start;
            let end = loop {
                match bytes[pos..].iter().position(|&x| x == b'\'') {
                    None => return Err(PatternError::UnterminatedQuote),
                    Some(k) if bytes.get(pos + k + 1) == Some(&b'\'') => pos += k + 2,
                    Some(k) => break pos + k,
                }
            };
            let text = &pattern[start..end];
            if text.is_empty() {
                out.push('\'');
            } else {
                out.push_str(&text.replace("''", "'"));
            }
            i = end + 1;
        } else if b == b'[' {
            optional_depth += 1;
            i += 1;
        } else if b == b']' {
            if optional_depth == 0 {
                return Err(PatternError::UnmatchedBracket);
            }
            optional_depth -= 1;
            i += 1;
        } else if matches!(b, b'{' | b'}' | b'#') {
            return Err(PatternError::ReservedCharacter(char::from(b)));
        } else {
            // A literal; may be a multi-byte character.
            let c = pattern[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
    }
    Ok(())
}

/// Appends one field: `letter` repeated `count` (≥ 1) times.
fn field(letter: char, count: usize, t: &DateTime, out: &mut String) -> Result<(), PatternError> {
    let at_most = |max: usize| {
        if count > max {
            Err(PatternError::TooManyLetters { letter, count, max })
        } else {
            Ok(())
        }
    };
    let d = &t.date;
    match letter {
        'y' | 'u' => {
            at_most(19)?;
            let year = if letter == 'y' {
                d.year_of_era()
            } else {
                d.year
            };
            year_field(letter, year, count, out)?;
        }
        // Java puts no upper bound on `Y`: it pads to any width.
        'Y' => year_field(letter, WEEKS.week_based_year(d), count, out)?,
        'M' | 'L' => {
            at_most(5)?;
            let name = MONTHS[d.month as usize - 1];
            match count {
                1 | 2 => number(out, i64::from(d.month), count, Sign::Normal),
                3 => out.push_str(&name[..3]),
                4 => out.push_str(name),
                _ => out.push_str(&name[..1]),
            }
        }
        'Q' | 'q' => {
            at_most(5)?;
            let q = d.quarter();
            match count {
                1 | 2 => number(out, i64::from(q), count, Sign::Normal),
                3 => {
                    out.push('Q');
                    number(out, i64::from(q), 1, Sign::Normal);
                }
                4 => out.push_str(QUARTERS[q as usize - 1]),
                _ => number(out, i64::from(q), 1, Sign::Normal),
            }
        }
        'E' | 'e' => {
            at_most(5)?;
            let name = DAYS[d.iso_day_of_week as usize - 1];
            match count {
                1 | 2 if letter == 'e' => number(out, WEEKS.day_of_week(d), count, Sign::Normal),
                1..=3 => out.push_str(&name[..3]),
                4 => out.push_str(name),
                _ => out.push_str(&name[..1]),
            }
        }
        'a' => {
            at_most(1)?;
            out.push_str(if t.hour < 12 { "AM" } else { "PM" });
        }
        'd' | 'H' | 'h' | 'k' | 'K' | 'm' | 's' => {
            at_most(2)?;
            let value = match letter {
                'd' => d.day,
                'H' => t.hour,
                'h' => match t.hour % 12 {
                    0 => 12,
                    h => h,
                },
                'k' => match t.hour {
                    0 => 24,
                    h => h,
                },
                'K' => t.hour % 12,
                'm' => t.minute,
                _ => t.second,
            };
            number(out, i64::from(value), count, Sign::Normal);
        }
        'D' => {
            at_most(3)?;
            number(out, i64::from(d.day_of_year), count, Sign::Normal);
        }
        'S' => {
            at_most(9)?;
            // Nano-of-second, truncated (not rounded) to `count` digits.
            let nanos = format!("{:09}", u64::from(t.milli) * 1_000_000);
            out.push_str(&nanos[..count]);
        }
        'w' => {
            at_most(2)?;
            number(out, WEEKS.week_of_week_based_year(d), count, Sign::Normal);
        }
        'W' => {
            at_most(1)?;
            number(out, WEEKS.week_of_month(d), 1, Sign::Normal);
        }
        _ if JAVA_ONLY_LETTERS.contains(letter) => {
            return Err(PatternError::UnsupportedLetter(letter))
        }
        _ => return Err(PatternError::UnknownLetter(letter)),
    }
    Ok(())
}

/// `y`, `u`, `Y`: 2 letters print the last two digits of the absolute value; 1 or 3 print the
/// whole number padded to the count; 4 or more pad to the count and add `+` when the year is
/// wider than the count (Java's `SignStyle.EXCEEDS_PAD`). Negative years get `-`.
///
/// Java 17 cannot print a non-negative year with 11 to 18 letters: its `EXCEEDS_PAD` check
/// indexes a table of powers of ten that stops at 10¹⁰ and throws
/// `ArrayIndexOutOfBoundsException`. The same inputs are an error here.
fn year_field(letter: char, year: i64, count: usize, out: &mut String) -> Result<(), PatternError> {
    match count {
        2 => number(out, (year.unsigned_abs() % 100) as i64, 2, Sign::Normal),
        1 | 3 => number(out, year, count, Sign::Normal),
        11..=18 if year >= 0 => return Err(PatternError::JavaCannotPrint { letter, count }),
        _ => number(out, year, count, Sign::ExceedsPad),
    }
    Ok(())
}

/// Appends `value` zero-padded to `min_width` digits, signed per `sign`.
fn number(out: &mut String, value: i64, min_width: usize, sign: Sign) {
    let digits = value.unsigned_abs().to_string();
    if value < 0 {
        out.push('-');
    } else if sign == Sign::ExceedsPad && min_width < 19 && digits.len() > min_width {
        out.push('+');
    }
    for _ in digits.len()..min_width {
        out.push('0');
    }
    out.push_str(&digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(pattern: &str, ms: i64) -> Result<String, PatternError> {
        let mut out = String::new();
        format_into(pattern, &DateTime::from_epoch_millis(ms), &mut out).map(|()| out)
    }

    #[test]
    fn numbers_and_signs() {
        let mut s = String::new();
        number(&mut s, 7, 3, Sign::Normal);
        number(&mut s, -7, 3, Sign::ExceedsPad);
        number(&mut s, 12345, 4, Sign::ExceedsPad);
        number(&mut s, 1234, 4, Sign::ExceedsPad);
        number(&mut s, i64::MIN, 1, Sign::Normal);
        assert_eq!(s, "007-007+123451234-9223372036854775808");
    }

    #[test]
    fn docs_example() {
        // 2020-12-31T12:00:00Z: a Thursday; Java's US week-based year is already 2021.
        let ms = 1_609_416_000_000;
        assert_eq!(fmt("yyyy/MM/dd", ms).unwrap(), "2020/12/31");
        assert_eq!(fmt("YYYY/MM/dd", ms).unwrap(), "2021/12/31");
    }

    #[test]
    fn quotes_and_literals() {
        assert_eq!(fmt("''", 0).unwrap(), "'");
        assert_eq!(fmt("''''", 0).unwrap(), "'");
        assert_eq!(fmt("'it''s' yy", 0).unwrap(), "it's 70");
        assert_eq!(fmt("'[x]'[yy]", 0).unwrap(), "[x]70");
        assert_eq!(fmt("é-1_ü", 0).unwrap(), "é-1_ü");
        assert_eq!(fmt("'''", 0), Err(PatternError::UnterminatedQuote));
        assert_eq!(fmt("yy]", 0), Err(PatternError::UnmatchedBracket));
        assert_eq!(fmt("#", 0), Err(PatternError::ReservedCharacter('#')));
    }

    #[test]
    fn letter_errors() {
        assert_eq!(fmt("G", 0), Err(PatternError::UnsupportedLetter('G')));
        assert_eq!(fmt("b", 0), Err(PatternError::UnknownLetter('b')));
        assert_eq!(
            fmt("yyyy-MMMMMM", 0),
            Err(PatternError::TooManyLetters {
                letter: 'M',
                count: 6,
                max: 5
            })
        );
        // The first error from the left wins, like Java.
        assert_eq!(fmt("b'", 0), Err(PatternError::UnknownLetter('b')));
        assert_eq!(fmt("'b", 0), Err(PatternError::UnterminatedQuote));
    }

    /// Java 17 throws for 11 to 18 year letters unless the year is negative (found by fuzzing
    /// against Java).
    #[test]
    fn java_cannot_print_11_to_18_year_letters() {
        for letter in ['y', 'u', 'Y'] {
            for count in 11..=18 {
                let p = letter.to_string().repeat(count);
                assert_eq!(
                    fmt(&p, 0),
                    Err(PatternError::JavaCannotPrint { letter, count })
                );
            }
        }
        // Year -292275055: `u` and `Y` are negative and print; `y` (year of era) is positive.
        assert_eq!(fmt(&"u".repeat(11), i64::MIN).unwrap(), "-00292275055");
        assert_eq!(
            fmt(&"Y".repeat(18), i64::MIN).unwrap(),
            "-000000000292275055"
        );
        assert!(fmt(&"y".repeat(11), i64::MIN).is_err());
        assert_eq!(fmt(&"y".repeat(10), 0).unwrap(), "0000001970");
        assert_eq!(fmt(&"y".repeat(19), 0).unwrap(), "0000000000000001970");
    }

    #[test]
    fn week_based_year_pads_without_limit() {
        assert_eq!(
            fmt(&"Y".repeat(25), 0).unwrap(),
            format!("{}1970", "0".repeat(21))
        );
    }
}
