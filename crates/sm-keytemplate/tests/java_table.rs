//! Ground truth from Java: every expected value below was produced by Java 17.0.15's
//! `DateTimeFormatter.ofPattern(pattern, Locale.US).withZone(ZoneOffset.UTC).format(instant)`
//! (OpenJDK 17.0.15+6-Debian-1deb12u1); `Err` rows are patterns where `ofPattern` threw
//! `IllegalArgumentException`, with Java's message; a cell starting with `!ERR` is an instant
//! where `format` threw (Java 17 cannot print a non-negative year with 11 to 18 `y`/`u`/`Y`:
//! `ArrayIndexOutOfBoundsException`). Regenerate with a throwaway Java program
//! that loops over `INSTANTS` and `TABLE`'s patterns and prints this file.
//!
//! Rows that use a letter Java supports but this crate deliberately rejects (era, zones,
//! offsets, `F`, `c`, `A`, `n`, `N`, `g`, `p`, `B`) must be errors here, whatever Java prints.

use sm_keytemplate::{format_timestamp, render, KeyError, PlaceholderError};

/// Letters Java 17 accepts that this crate rejects on purpose.
const REJECTED_ON_PURPOSE: &str = "GFcAnNgVvzOXxZpB";

/// Whether `pattern` uses a rejected letter outside quoted text.
fn uses_rejected_letter(pattern: &str) -> bool {
    let mut quoted = false;
    pattern.chars().any(|c| {
        if c == '\'' {
            quoted = !quoted;
        }
        !quoted && REJECTED_ON_PURPOSE.contains(c)
    })
}

#[test]
fn matches_java_17() {
    let mut checked = 0;
    for (pattern, expected) in TABLE {
        let placeholder_ok = !pattern.is_empty() && !pattern.contains('}');
        let key = format!("pre/!{{timestamp:{pattern}}}/post");
        match expected {
            Ok(_) if uses_rejected_letter(pattern) => {
                for ms in INSTANTS {
                    assert!(
                        format_timestamp(pattern, ms).is_err(),
                        "{pattern:?} should be rejected"
                    );
                }
                assert!(render(&key, 0).is_err());
            }
            Ok(outputs) => {
                for (ms, want) in INSTANTS.iter().zip(outputs) {
                    checked += 1;
                    if want.starts_with("!ERR") {
                        let ours = format_timestamp(pattern, *ms);
                        assert!(
                            ours.is_err(),
                            "{pattern:?} at {ms}: Java: {want}, ours: {ours:?}"
                        );
                        if placeholder_ok {
                            assert!(render(&key, *ms).is_err());
                        }
                        continue;
                    }
                    assert_eq!(
                        format_timestamp(pattern, *ms).as_deref(),
                        Ok(*want),
                        "pattern {pattern:?} at {ms} ms"
                    );
                    if placeholder_ok {
                        assert_eq!(render(&key, *ms).unwrap(), format!("pre/{want}/post"));
                    }
                }
            }
            Err(java_message) => {
                let ours = format_timestamp(pattern, 0);
                assert!(
                    ours.is_err(),
                    "{pattern:?}: Java says {java_message:?}, we print {ours:?}"
                );
                if placeholder_ok {
                    assert!(matches!(
                        render(&key, 0),
                        Err(KeyError::Placeholder {
                            index: 4,
                            reason: PlaceholderError::Pattern(_),
                            ..
                        })
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 3000, "only {checked} cases checked");
}

/// Instants (milliseconds since the Unix epoch), in column order of `TABLE`.
/// Instants (milliseconds since the Unix epoch), in column order of `TABLE`.
#[rustfmt::skip]
const INSTANTS: [i64; 30] = [
    0, // 1970-01-01T00:00:00Z
    -1, // 1969-12-31T23:59:59.999Z
    1609459199999, // 2020-12-31T23:59:59.999Z
    1609459200000, // 2021-01-01T00:00:00Z
    1609675200000, // 2021-01-03T12:00:00Z
    1609718400001, // 2021-01-04T00:00:00.001Z
    1640476800000, // 2021-12-26T00:00:00Z
    1641078000000, // 2022-01-01T23:00:00Z
    1672577999000, // 2023-01-01T12:59:59Z
    1709210096789, // 2024-02-29T12:34:56.789Z
    1735430400000, // 2024-12-29T00:00:00Z
    1735559999500, // 2024-12-30T11:59:59.500Z
    1767186309007, // 2025-12-31T13:05:09.007Z
    1798246923000, // 2026-12-26T01:02:03Z
    1798329600000, // 2026-12-27T00:00:00Z
    1798718400000, // 2026-12-31T12:00:00Z
    1798763400000, // 2027-01-01T00:30:00Z
    1622455200000, // 2021-05-31T10:00:00Z
    1627776000000, // 2021-08-01T00:00:00Z
    946684799999, // 1999-12-31T23:59:59.999Z
    946684800000, // 2000-01-01T00:00:00Z
    951890828090, // 2000-03-01T06:07:08.090Z
    4107542400000, // 2100-03-01T00:00:00Z
    7289654399000, // 2200-12-31T23:59:59Z
    253402300799999, // 9999-12-31T23:59:59.999Z
    253402300800000, // +10000-01-01T00:00:00Z
    -62135596800001, // 0000-12-31T23:59:59.999Z
    -62198755200000, // -0001-01-01T00:00:00Z
    9223372036854775807, // +292278994-08-17T07:12:55.807Z
    -9223372036854775808, // -292275055-05-16T16:47:04.192Z
];

/// `(pattern, Ok(outputs per instant) | Err(Java's exception message))`.
#[rustfmt::skip]
const TABLE: &[(&str, Result<[&str; 30], &str>)] = &[
    (
        "y",
        Ok(["1970", "1969", "2020", "2021", "2021", "2021", "2021", "2022", "2023", "2024", "2024", "2024", "2025", "2026", "2026", "2026", "2027", "2021", "2021", "1999", "2000", "2000", "2100", "2200", "9999", "10000", "1", "2", "292278994", "292275056", ]),
    ),
    (
        "yy",
        Ok(["70", "69", "20", "21", "21", "21", "21", "22", "23", "24", "24", "24", "25", "26", "26", "26", "27", "21", "21", "99", "00", "00", "00", "00", "99", "00", "01", "02", "94", "56", ]),
    ),
    (
        "yyy",
        Ok(["1970", "1969", "2020", "2021", "2021", "2021", "2021", "2022", "2023", "2024", "2024", "2024", "2025", "2026", "2026", "2026", "2027", "2021", "2021", "1999", "2000", "2000", "2100", "2200", "9999", "10000", "001", "002", "292278994", "292275056", ]),
    ),
    (
        "yyyy",
        Ok(["1970", "1969", "2020", "2021", "2021", "2021", "2021", "2022", "2023", "2024", "2024", "2024", "2025", "2026", "2026", "2026", "2027", "2021", "2021", "1999", "2000", "2000", "2100", "2200", "9999", "+10000", "0001", "0002", "+292278994", "+292275056", ]),
    ),
    (
        "yyyyy",
        Ok(["01970", "01969", "02020", "02021", "02021", "02021", "02021", "02022", "02023", "02024", "02024", "02024", "02025", "02026", "02026", "02026", "02027", "02021", "02021", "01999", "02000", "02000", "02100", "02200", "09999", "10000", "00001", "00002", "+292278994", "+292275056", ]),
    ),
    (
        "yyyyyy",
        Ok(["001970", "001969", "002020", "002021", "002021", "002021", "002021", "002022", "002023", "002024", "002024", "002024", "002025", "002026", "002026", "002026", "002027", "002021", "002021", "001999", "002000", "002000", "002100", "002200", "009999", "010000", "000001", "000002", "+292278994", "+292275056", ]),
    ),
    (
        "u",
        Ok(["1970", "1969", "2020", "2021", "2021", "2021", "2021", "2022", "2023", "2024", "2024", "2024", "2025", "2026", "2026", "2026", "2027", "2021", "2021", "1999", "2000", "2000", "2100", "2200", "9999", "10000", "0", "-1", "292278994", "-292275055", ]),
    ),
    (
        "uu",
        Ok(["70", "69", "20", "21", "21", "21", "21", "22", "23", "24", "24", "24", "25", "26", "26", "26", "27", "21", "21", "99", "00", "00", "00", "00", "99", "00", "00", "01", "94", "55", ]),
    ),
    (
        "uuu",
        Ok(["1970", "1969", "2020", "2021", "2021", "2021", "2021", "2022", "2023", "2024", "2024", "2024", "2025", "2026", "2026", "2026", "2027", "2021", "2021", "1999", "2000", "2000", "2100", "2200", "9999", "10000", "000", "-001", "292278994", "-292275055", ]),
    ),
    (
        "uuuu",
        Ok(["1970", "1969", "2020", "2021", "2021", "2021", "2021", "2022", "2023", "2024", "2024", "2024", "2025", "2026", "2026", "2026", "2027", "2021", "2021", "1999", "2000", "2000", "2100", "2200", "9999", "+10000", "0000", "-0001", "+292278994", "-292275055", ]),
    ),
    (
        "uuuuu",
        Ok(["01970", "01969", "02020", "02021", "02021", "02021", "02021", "02022", "02023", "02024", "02024", "02024", "02025", "02026", "02026", "02026", "02027", "02021", "02021", "01999", "02000", "02000", "02100", "02200", "09999", "10000", "00000", "-00001", "+292278994", "-292275055", ]),
    ),
    (
        "uuuuuu",
        Ok(["001970", "001969", "002020", "002021", "002021", "002021", "002021", "002022", "002023", "002024", "002024", "002024", "002025", "002026", "002026", "002026", "002027", "002021", "002021", "001999", "002000", "002000", "002100", "002200", "009999", "010000", "000000", "-000001", "+292278994", "-292275055", ]),
    ),
    (
        "M",
        Ok(["1", "12", "12", "1", "1", "1", "12", "1", "1", "2", "12", "12", "12", "12", "12", "12", "1", "5", "8", "12", "1", "3", "3", "12", "12", "1", "12", "1", "8", "5", ]),
    ),
    (
        "MM",
        Ok(["01", "12", "12", "01", "01", "01", "12", "01", "01", "02", "12", "12", "12", "12", "12", "12", "01", "05", "08", "12", "01", "03", "03", "12", "12", "01", "12", "01", "08", "05", ]),
    ),
    (
        "MMM",
        Ok(["Jan", "Dec", "Dec", "Jan", "Jan", "Jan", "Dec", "Jan", "Jan", "Feb", "Dec", "Dec", "Dec", "Dec", "Dec", "Dec", "Jan", "May", "Aug", "Dec", "Jan", "Mar", "Mar", "Dec", "Dec", "Jan", "Dec", "Jan", "Aug", "May", ]),
    ),
    (
        "MMMM",
        Ok(["January", "December", "December", "January", "January", "January", "December", "January", "January", "February", "December", "December", "December", "December", "December", "December", "January", "May", "August", "December", "January", "March", "March", "December", "December", "January", "December", "January", "August", "May", ]),
    ),
    (
        "MMMMM",
        Ok(["J", "D", "D", "J", "J", "J", "D", "J", "J", "F", "D", "D", "D", "D", "D", "D", "J", "M", "A", "D", "J", "M", "M", "D", "D", "J", "D", "J", "A", "M", ]),
    ),
    ("MMMMMM", Err("Too many pattern letters: M")),
    (
        "L",
        Ok(["1", "12", "12", "1", "1", "1", "12", "1", "1", "2", "12", "12", "12", "12", "12", "12", "1", "5", "8", "12", "1", "3", "3", "12", "12", "1", "12", "1", "8", "5", ]),
    ),
    (
        "LL",
        Ok(["01", "12", "12", "01", "01", "01", "12", "01", "01", "02", "12", "12", "12", "12", "12", "12", "01", "05", "08", "12", "01", "03", "03", "12", "12", "01", "12", "01", "08", "05", ]),
    ),
    (
        "LLL",
        Ok(["Jan", "Dec", "Dec", "Jan", "Jan", "Jan", "Dec", "Jan", "Jan", "Feb", "Dec", "Dec", "Dec", "Dec", "Dec", "Dec", "Jan", "May", "Aug", "Dec", "Jan", "Mar", "Mar", "Dec", "Dec", "Jan", "Dec", "Jan", "Aug", "May", ]),
    ),
    (
        "LLLL",
        Ok(["January", "December", "December", "January", "January", "January", "December", "January", "January", "February", "December", "December", "December", "December", "December", "December", "January", "May", "August", "December", "January", "March", "March", "December", "December", "January", "December", "January", "August", "May", ]),
    ),
    (
        "LLLLL",
        Ok(["J", "D", "D", "J", "J", "J", "D", "J", "J", "F", "D", "D", "D", "D", "D", "D", "J", "M", "A", "D", "J", "M", "M", "D", "D", "J", "D", "J", "A", "M", ]),
    ),
    ("LLLLLL", Err("Too many pattern letters: L")),
    (
        "d",
        Ok(["1", "31", "31", "1", "3", "4", "26", "1", "1", "29", "29", "30", "31", "26", "27", "31", "1", "31", "1", "31", "1", "1", "1", "31", "31", "1", "31", "1", "17", "16", ]),
    ),
    (
        "dd",
        Ok(["01", "31", "31", "01", "03", "04", "26", "01", "01", "29", "29", "30", "31", "26", "27", "31", "01", "31", "01", "31", "01", "01", "01", "31", "31", "01", "31", "01", "17", "16", ]),
    ),
    ("ddd", Err("Too many pattern letters: d")),
    ("dddd", Err("Too many pattern letters: d")),
    ("ddddd", Err("Too many pattern letters: d")),
    ("dddddd", Err("Too many pattern letters: d")),
    (
        "H",
        Ok(["0", "23", "23", "0", "12", "0", "0", "23", "12", "12", "0", "11", "13", "1", "0", "12", "0", "10", "0", "23", "0", "6", "0", "23", "23", "0", "23", "0", "7", "16", ]),
    ),
    (
        "HH",
        Ok(["00", "23", "23", "00", "12", "00", "00", "23", "12", "12", "00", "11", "13", "01", "00", "12", "00", "10", "00", "23", "00", "06", "00", "23", "23", "00", "23", "00", "07", "16", ]),
    ),
    ("HHH", Err("Too many pattern letters: H")),
    ("HHHH", Err("Too many pattern letters: H")),
    ("HHHHH", Err("Too many pattern letters: H")),
    ("HHHHHH", Err("Too many pattern letters: H")),
    (
        "h",
        Ok(["12", "11", "11", "12", "12", "12", "12", "11", "12", "12", "12", "11", "1", "1", "12", "12", "12", "10", "12", "11", "12", "6", "12", "11", "11", "12", "11", "12", "7", "4", ]),
    ),
    (
        "hh",
        Ok(["12", "11", "11", "12", "12", "12", "12", "11", "12", "12", "12", "11", "01", "01", "12", "12", "12", "10", "12", "11", "12", "06", "12", "11", "11", "12", "11", "12", "07", "04", ]),
    ),
    ("hhh", Err("Too many pattern letters: h")),
    ("hhhh", Err("Too many pattern letters: h")),
    ("hhhhh", Err("Too many pattern letters: h")),
    ("hhhhhh", Err("Too many pattern letters: h")),
    (
        "k",
        Ok(["24", "23", "23", "24", "12", "24", "24", "23", "12", "12", "24", "11", "13", "1", "24", "12", "24", "10", "24", "23", "24", "6", "24", "23", "23", "24", "23", "24", "7", "16", ]),
    ),
    (
        "kk",
        Ok(["24", "23", "23", "24", "12", "24", "24", "23", "12", "12", "24", "11", "13", "01", "24", "12", "24", "10", "24", "23", "24", "06", "24", "23", "23", "24", "23", "24", "07", "16", ]),
    ),
    ("kkk", Err("Too many pattern letters: k")),
    ("kkkk", Err("Too many pattern letters: k")),
    ("kkkkk", Err("Too many pattern letters: k")),
    ("kkkkkk", Err("Too many pattern letters: k")),
    (
        "K",
        Ok(["0", "11", "11", "0", "0", "0", "0", "11", "0", "0", "0", "11", "1", "1", "0", "0", "0", "10", "0", "11", "0", "6", "0", "11", "11", "0", "11", "0", "7", "4", ]),
    ),
    (
        "KK",
        Ok(["00", "11", "11", "00", "00", "00", "00", "11", "00", "00", "00", "11", "01", "01", "00", "00", "00", "10", "00", "11", "00", "06", "00", "11", "11", "00", "11", "00", "07", "04", ]),
    ),
    ("KKK", Err("Too many pattern letters: K")),
    ("KKKK", Err("Too many pattern letters: K")),
    ("KKKKK", Err("Too many pattern letters: K")),
    ("KKKKKK", Err("Too many pattern letters: K")),
    (
        "m",
        Ok(["0", "59", "59", "0", "0", "0", "0", "0", "59", "34", "0", "59", "5", "2", "0", "0", "30", "0", "0", "59", "0", "7", "0", "59", "59", "0", "59", "0", "12", "47", ]),
    ),
    (
        "mm",
        Ok(["00", "59", "59", "00", "00", "00", "00", "00", "59", "34", "00", "59", "05", "02", "00", "00", "30", "00", "00", "59", "00", "07", "00", "59", "59", "00", "59", "00", "12", "47", ]),
    ),
    ("mmm", Err("Too many pattern letters: m")),
    ("mmmm", Err("Too many pattern letters: m")),
    ("mmmmm", Err("Too many pattern letters: m")),
    ("mmmmmm", Err("Too many pattern letters: m")),
    (
        "s",
        Ok(["0", "59", "59", "0", "0", "0", "0", "0", "59", "56", "0", "59", "9", "3", "0", "0", "0", "0", "0", "59", "0", "8", "0", "59", "59", "0", "59", "0", "55", "4", ]),
    ),
    (
        "ss",
        Ok(["00", "59", "59", "00", "00", "00", "00", "00", "59", "56", "00", "59", "09", "03", "00", "00", "00", "00", "00", "59", "00", "08", "00", "59", "59", "00", "59", "00", "55", "04", ]),
    ),
    ("sss", Err("Too many pattern letters: s")),
    ("ssss", Err("Too many pattern letters: s")),
    ("sssss", Err("Too many pattern letters: s")),
    ("ssssss", Err("Too many pattern letters: s")),
    (
        "D",
        Ok(["1", "365", "366", "1", "3", "4", "360", "1", "1", "60", "364", "365", "365", "360", "361", "365", "1", "151", "213", "365", "1", "61", "60", "365", "365", "1", "366", "1", "229", "136", ]),
    ),
    (
        "DD",
        Ok(["01", "365", "366", "01", "03", "04", "360", "01", "01", "60", "364", "365", "365", "360", "361", "365", "01", "151", "213", "365", "01", "61", "60", "365", "365", "01", "366", "01", "229", "136", ]),
    ),
    (
        "DDD",
        Ok(["001", "365", "366", "001", "003", "004", "360", "001", "001", "060", "364", "365", "365", "360", "361", "365", "001", "151", "213", "365", "001", "061", "060", "365", "365", "001", "366", "001", "229", "136", ]),
    ),
    ("DDDD", Err("Too many pattern letters: D")),
    ("DDDDD", Err("Too many pattern letters: D")),
    ("DDDDDD", Err("Too many pattern letters: D")),
    (
        "S",
        Ok(["0", "9", "9", "0", "0", "0", "0", "0", "0", "7", "0", "5", "0", "0", "0", "0", "0", "0", "0", "9", "0", "0", "0", "0", "9", "0", "9", "0", "8", "1", ]),
    ),
    (
        "SS",
        Ok(["00", "99", "99", "00", "00", "00", "00", "00", "00", "78", "00", "50", "00", "00", "00", "00", "00", "00", "00", "99", "00", "09", "00", "00", "99", "00", "99", "00", "80", "19", ]),
    ),
    (
        "SSS",
        Ok(["000", "999", "999", "000", "000", "001", "000", "000", "000", "789", "000", "500", "007", "000", "000", "000", "000", "000", "000", "999", "000", "090", "000", "000", "999", "000", "999", "000", "807", "192", ]),
    ),
    (
        "SSSS",
        Ok(["0000", "9990", "9990", "0000", "0000", "0010", "0000", "0000", "0000", "7890", "0000", "5000", "0070", "0000", "0000", "0000", "0000", "0000", "0000", "9990", "0000", "0900", "0000", "0000", "9990", "0000", "9990", "0000", "8070", "1920", ]),
    ),
    (
        "SSSSS",
        Ok(["00000", "99900", "99900", "00000", "00000", "00100", "00000", "00000", "00000", "78900", "00000", "50000", "00700", "00000", "00000", "00000", "00000", "00000", "00000", "99900", "00000", "09000", "00000", "00000", "99900", "00000", "99900", "00000", "80700", "19200", ]),
    ),
    (
        "SSSSSS",
        Ok(["000000", "999000", "999000", "000000", "000000", "001000", "000000", "000000", "000000", "789000", "000000", "500000", "007000", "000000", "000000", "000000", "000000", "000000", "000000", "999000", "000000", "090000", "000000", "000000", "999000", "000000", "999000", "000000", "807000", "192000", ]),
    ),
    (
        "a",
        Ok(["AM", "PM", "PM", "AM", "PM", "AM", "AM", "PM", "PM", "PM", "AM", "AM", "PM", "AM", "AM", "PM", "AM", "AM", "AM", "PM", "AM", "AM", "AM", "PM", "PM", "AM", "PM", "AM", "AM", "PM", ]),
    ),
    ("aa", Err("Too many pattern letters: a")),
    ("aaa", Err("Too many pattern letters: a")),
    ("aaaa", Err("Too many pattern letters: a")),
    ("aaaaa", Err("Too many pattern letters: a")),
    ("aaaaaa", Err("Too many pattern letters: a")),
    (
        "E",
        Ok(["Thu", "Wed", "Thu", "Fri", "Sun", "Mon", "Sun", "Sat", "Sun", "Thu", "Sun", "Mon", "Wed", "Sat", "Sun", "Thu", "Fri", "Mon", "Sun", "Fri", "Sat", "Wed", "Mon", "Wed", "Fri", "Sat", "Sun", "Fri", "Sun", "Sun", ]),
    ),
    (
        "EE",
        Ok(["Thu", "Wed", "Thu", "Fri", "Sun", "Mon", "Sun", "Sat", "Sun", "Thu", "Sun", "Mon", "Wed", "Sat", "Sun", "Thu", "Fri", "Mon", "Sun", "Fri", "Sat", "Wed", "Mon", "Wed", "Fri", "Sat", "Sun", "Fri", "Sun", "Sun", ]),
    ),
    (
        "EEE",
        Ok(["Thu", "Wed", "Thu", "Fri", "Sun", "Mon", "Sun", "Sat", "Sun", "Thu", "Sun", "Mon", "Wed", "Sat", "Sun", "Thu", "Fri", "Mon", "Sun", "Fri", "Sat", "Wed", "Mon", "Wed", "Fri", "Sat", "Sun", "Fri", "Sun", "Sun", ]),
    ),
    (
        "EEEE",
        Ok(["Thursday", "Wednesday", "Thursday", "Friday", "Sunday", "Monday", "Sunday", "Saturday", "Sunday", "Thursday", "Sunday", "Monday", "Wednesday", "Saturday", "Sunday", "Thursday", "Friday", "Monday", "Sunday", "Friday", "Saturday", "Wednesday", "Monday", "Wednesday", "Friday", "Saturday", "Sunday", "Friday", "Sunday", "Sunday", ]),
    ),
    (
        "EEEEE",
        Ok(["T", "W", "T", "F", "S", "M", "S", "S", "S", "T", "S", "M", "W", "S", "S", "T", "F", "M", "S", "F", "S", "W", "M", "W", "F", "S", "S", "F", "S", "S", ]),
    ),
    ("EEEEEE", Err("Too many pattern letters: E")),
    (
        "e",
        Ok(["5", "4", "5", "6", "1", "2", "1", "7", "1", "5", "1", "2", "4", "7", "1", "5", "6", "2", "1", "6", "7", "4", "2", "4", "6", "7", "1", "6", "1", "1", ]),
    ),
    (
        "ee",
        Ok(["05", "04", "05", "06", "01", "02", "01", "07", "01", "05", "01", "02", "04", "07", "01", "05", "06", "02", "01", "06", "07", "04", "02", "04", "06", "07", "01", "06", "01", "01", ]),
    ),
    (
        "eee",
        Ok(["Thu", "Wed", "Thu", "Fri", "Sun", "Mon", "Sun", "Sat", "Sun", "Thu", "Sun", "Mon", "Wed", "Sat", "Sun", "Thu", "Fri", "Mon", "Sun", "Fri", "Sat", "Wed", "Mon", "Wed", "Fri", "Sat", "Sun", "Fri", "Sun", "Sun", ]),
    ),
    (
        "eeee",
        Ok(["Thursday", "Wednesday", "Thursday", "Friday", "Sunday", "Monday", "Sunday", "Saturday", "Sunday", "Thursday", "Sunday", "Monday", "Wednesday", "Saturday", "Sunday", "Thursday", "Friday", "Monday", "Sunday", "Friday", "Saturday", "Wednesday", "Monday", "Wednesday", "Friday", "Saturday", "Sunday", "Friday", "Sunday", "Sunday", ]),
    ),
    (
        "eeeee",
        Ok(["T", "W", "T", "F", "S", "M", "S", "S", "S", "T", "S", "M", "W", "S", "S", "T", "F", "M", "S", "F", "S", "W", "M", "W", "F", "S", "S", "F", "S", "S", ]),
    ),
    ("eeeeee", Err("Too many pattern letters: e")),
    (
        "w",
        Ok(["1", "1", "1", "1", "2", "2", "1", "1", "1", "9", "1", "1", "1", "52", "1", "1", "1", "23", "32", "1", "1", "10", "10", "1", "1", "1", "1", "1", "34", "21", ]),
    ),
    (
        "ww",
        Ok(["01", "01", "01", "01", "02", "02", "01", "01", "01", "09", "01", "01", "01", "52", "01", "01", "01", "23", "32", "01", "01", "10", "10", "01", "01", "01", "01", "01", "34", "21", ]),
    ),
    ("www", Err("Too many pattern letters: w")),
    ("wwww", Err("Too many pattern letters: w")),
    ("wwwww", Err("Too many pattern letters: w")),
    ("wwwwww", Err("Too many pattern letters: w")),
    (
        "W",
        Ok(["1", "5", "5", "1", "2", "2", "5", "1", "1", "5", "5", "5", "5", "4", "5", "5", "1", "6", "1", "5", "1", "1", "1", "5", "5", "1", "6", "1", "4", "4", ]),
    ),
    ("WW", Err("Too many pattern letters: W")),
    ("WWW", Err("Too many pattern letters: W")),
    ("WWWW", Err("Too many pattern letters: W")),
    ("WWWWW", Err("Too many pattern letters: W")),
    ("WWWWWW", Err("Too many pattern letters: W")),
    (
        "Y",
        Ok(["1970", "1970", "2021", "2021", "2021", "2021", "2022", "2022", "2023", "2024", "2025", "2025", "2026", "2026", "2027", "2027", "2027", "2021", "2021", "2000", "2000", "2000", "2100", "2201", "10000", "10000", "1", "-1", "292278994", "-292275055", ]),
    ),
    (
        "YY",
        Ok(["70", "70", "21", "21", "21", "21", "22", "22", "23", "24", "25", "25", "26", "26", "27", "27", "27", "21", "21", "00", "00", "00", "00", "01", "00", "00", "01", "01", "94", "55", ]),
    ),
    (
        "YYY",
        Ok(["1970", "1970", "2021", "2021", "2021", "2021", "2022", "2022", "2023", "2024", "2025", "2025", "2026", "2026", "2027", "2027", "2027", "2021", "2021", "2000", "2000", "2000", "2100", "2201", "10000", "10000", "001", "-001", "292278994", "-292275055", ]),
    ),
    (
        "YYYY",
        Ok(["1970", "1970", "2021", "2021", "2021", "2021", "2022", "2022", "2023", "2024", "2025", "2025", "2026", "2026", "2027", "2027", "2027", "2021", "2021", "2000", "2000", "2000", "2100", "2201", "+10000", "+10000", "0001", "-0001", "+292278994", "-292275055", ]),
    ),
    (
        "YYYYY",
        Ok(["01970", "01970", "02021", "02021", "02021", "02021", "02022", "02022", "02023", "02024", "02025", "02025", "02026", "02026", "02027", "02027", "02027", "02021", "02021", "02000", "02000", "02000", "02100", "02201", "10000", "10000", "00001", "-00001", "+292278994", "-292275055", ]),
    ),
    (
        "YYYYYY",
        Ok(["001970", "001970", "002021", "002021", "002021", "002021", "002022", "002022", "002023", "002024", "002025", "002025", "002026", "002026", "002027", "002027", "002027", "002021", "002021", "002000", "002000", "002000", "002100", "002201", "010000", "010000", "000001", "-000001", "+292278994", "-292275055", ]),
    ),
    (
        "Q",
        Ok(["1", "4", "4", "1", "1", "1", "4", "1", "1", "1", "4", "4", "4", "4", "4", "4", "1", "2", "3", "4", "1", "1", "1", "4", "4", "1", "4", "1", "3", "2", ]),
    ),
    (
        "QQ",
        Ok(["01", "04", "04", "01", "01", "01", "04", "01", "01", "01", "04", "04", "04", "04", "04", "04", "01", "02", "03", "04", "01", "01", "01", "04", "04", "01", "04", "01", "03", "02", ]),
    ),
    (
        "QQQ",
        Ok(["Q1", "Q4", "Q4", "Q1", "Q1", "Q1", "Q4", "Q1", "Q1", "Q1", "Q4", "Q4", "Q4", "Q4", "Q4", "Q4", "Q1", "Q2", "Q3", "Q4", "Q1", "Q1", "Q1", "Q4", "Q4", "Q1", "Q4", "Q1", "Q3", "Q2", ]),
    ),
    (
        "QQQQ",
        Ok(["1st quarter", "4th quarter", "4th quarter", "1st quarter", "1st quarter", "1st quarter", "4th quarter", "1st quarter", "1st quarter", "1st quarter", "4th quarter", "4th quarter", "4th quarter", "4th quarter", "4th quarter", "4th quarter", "1st quarter", "2nd quarter", "3rd quarter", "4th quarter", "1st quarter", "1st quarter", "1st quarter", "4th quarter", "4th quarter", "1st quarter", "4th quarter", "1st quarter", "3rd quarter", "2nd quarter", ]),
    ),
    (
        "QQQQQ",
        Ok(["1", "4", "4", "1", "1", "1", "4", "1", "1", "1", "4", "4", "4", "4", "4", "4", "1", "2", "3", "4", "1", "1", "1", "4", "4", "1", "4", "1", "3", "2", ]),
    ),
    ("QQQQQQ", Err("Too many pattern letters: Q")),
    (
        "q",
        Ok(["1", "4", "4", "1", "1", "1", "4", "1", "1", "1", "4", "4", "4", "4", "4", "4", "1", "2", "3", "4", "1", "1", "1", "4", "4", "1", "4", "1", "3", "2", ]),
    ),
    (
        "qq",
        Ok(["01", "04", "04", "01", "01", "01", "04", "01", "01", "01", "04", "04", "04", "04", "04", "04", "01", "02", "03", "04", "01", "01", "01", "04", "04", "01", "04", "01", "03", "02", ]),
    ),
    (
        "qqq",
        Ok(["Q1", "Q4", "Q4", "Q1", "Q1", "Q1", "Q4", "Q1", "Q1", "Q1", "Q4", "Q4", "Q4", "Q4", "Q4", "Q4", "Q1", "Q2", "Q3", "Q4", "Q1", "Q1", "Q1", "Q4", "Q4", "Q1", "Q4", "Q1", "Q3", "Q2", ]),
    ),
    (
        "qqqq",
        Ok(["1st quarter", "4th quarter", "4th quarter", "1st quarter", "1st quarter", "1st quarter", "4th quarter", "1st quarter", "1st quarter", "1st quarter", "4th quarter", "4th quarter", "4th quarter", "4th quarter", "4th quarter", "4th quarter", "1st quarter", "2nd quarter", "3rd quarter", "4th quarter", "1st quarter", "1st quarter", "1st quarter", "4th quarter", "4th quarter", "1st quarter", "4th quarter", "1st quarter", "3rd quarter", "2nd quarter", ]),
    ),
    (
        "qqqqq",
        Ok(["1", "4", "4", "1", "1", "1", "4", "1", "1", "1", "4", "4", "4", "4", "4", "4", "1", "2", "3", "4", "1", "1", "1", "4", "4", "1", "4", "1", "3", "2", ]),
    ),
    ("qqqqqq", Err("Too many pattern letters: q")),
    (
        "yyyyyyyyy",
        Ok(["000001970", "000001969", "000002020", "000002021", "000002021", "000002021", "000002021", "000002022", "000002023", "000002024", "000002024", "000002024", "000002025", "000002026", "000002026", "000002026", "000002027", "000002021", "000002021", "000001999", "000002000", "000002000", "000002100", "000002200", "000009999", "000010000", "000000001", "000000002", "292278994", "292275056", ]),
    ),
    (
        "yyyyyyyyyy",
        Ok(["0000001970", "0000001969", "0000002020", "0000002021", "0000002021", "0000002021", "0000002021", "0000002022", "0000002023", "0000002024", "0000002024", "0000002024", "0000002025", "0000002026", "0000002026", "0000002026", "0000002027", "0000002021", "0000002021", "0000001999", "0000002000", "0000002000", "0000002100", "0000002200", "0000009999", "0000010000", "0000000001", "0000000002", "0292278994", "0292275056", ]),
    ),
    (
        "yyyyyyyyyyy",
        Ok(["!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", ]),
    ),
    (
        "uuuuuuuuuuu",
        Ok(["!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "-00000000001", "!ERR Index 11 out of bounds for length 11", "-00292275055", ]),
    ),
    (
        "uuuuuuuuuuuuuuuuuu",
        Ok(["!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "-000000000000000001", "!ERR Index 18 out of bounds for length 11", "-000000000292275055", ]),
    ),
    (
        "YYYYYYYYYYY",
        Ok(["!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "!ERR Index 11 out of bounds for length 11", "-00000000001", "!ERR Index 11 out of bounds for length 11", "-00292275055", ]),
    ),
    (
        "YYYYYYYYYYYYYYYYYY",
        Ok(["!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "!ERR Index 18 out of bounds for length 11", "-000000000000000001", "!ERR Index 18 out of bounds for length 11", "-000000000292275055", ]),
    ),
    (
        "yyyyyyyyyyyyyyyyyyy",
        Ok(["0000000000000001970", "0000000000000001969", "0000000000000002020", "0000000000000002021", "0000000000000002021", "0000000000000002021", "0000000000000002021", "0000000000000002022", "0000000000000002023", "0000000000000002024", "0000000000000002024", "0000000000000002024", "0000000000000002025", "0000000000000002026", "0000000000000002026", "0000000000000002026", "0000000000000002027", "0000000000000002021", "0000000000000002021", "0000000000000001999", "0000000000000002000", "0000000000000002000", "0000000000000002100", "0000000000000002200", "0000000000000009999", "0000000000000010000", "0000000000000000001", "0000000000000000002", "0000000000292278994", "0000000000292275056", ]),
    ),
    ("yyyyyyyyyyyyyyyyyyyy", Err("The minimum width must be from 1 to 19 inclusive but was 20")),
    (
        "uuuuuuuuuuuuuuuuuuu",
        Ok(["0000000000000001970", "0000000000000001969", "0000000000000002020", "0000000000000002021", "0000000000000002021", "0000000000000002021", "0000000000000002021", "0000000000000002022", "0000000000000002023", "0000000000000002024", "0000000000000002024", "0000000000000002024", "0000000000000002025", "0000000000000002026", "0000000000000002026", "0000000000000002026", "0000000000000002027", "0000000000000002021", "0000000000000002021", "0000000000000001999", "0000000000000002000", "0000000000000002000", "0000000000000002100", "0000000000000002200", "0000000000000009999", "0000000000000010000", "0000000000000000000", "-0000000000000000001", "0000000000292278994", "-0000000000292275055", ]),
    ),
    ("uuuuuuuuuuuuuuuuuuuu", Err("The minimum width must be from 1 to 19 inclusive but was 20")),
    (
        "YYYYYYYYYYYYYYYYYYY",
        Ok(["0000000000000001970", "0000000000000001970", "0000000000000002021", "0000000000000002021", "0000000000000002021", "0000000000000002021", "0000000000000002022", "0000000000000002022", "0000000000000002023", "0000000000000002024", "0000000000000002025", "0000000000000002025", "0000000000000002026", "0000000000000002026", "0000000000000002027", "0000000000000002027", "0000000000000002027", "0000000000000002021", "0000000000000002021", "0000000000000002000", "0000000000000002000", "0000000000000002000", "0000000000000002100", "0000000000000002201", "0000000000000010000", "0000000000000010000", "0000000000000000001", "-0000000000000000001", "0000000000292278994", "-0000000000292275055", ]),
    ),
    (
        "YYYYYYYYYYYYYYYYYYYY",
        Ok(["00000000000000001970", "00000000000000001970", "00000000000000002021", "00000000000000002021", "00000000000000002021", "00000000000000002021", "00000000000000002022", "00000000000000002022", "00000000000000002023", "00000000000000002024", "00000000000000002025", "00000000000000002025", "00000000000000002026", "00000000000000002026", "00000000000000002027", "00000000000000002027", "00000000000000002027", "00000000000000002021", "00000000000000002021", "00000000000000002000", "00000000000000002000", "00000000000000002000", "00000000000000002100", "00000000000000002201", "00000000000000010000", "00000000000000010000", "00000000000000000001", "-00000000000000000001", "00000000000292278994", "-00000000000292275055", ]),
    ),
    (
        "YYYYYYYYYYYYYYYYYYYYYYYYY",
        Ok(["0000000000000000000001970", "0000000000000000000001970", "0000000000000000000002021", "0000000000000000000002021", "0000000000000000000002021", "0000000000000000000002021", "0000000000000000000002022", "0000000000000000000002022", "0000000000000000000002023", "0000000000000000000002024", "0000000000000000000002025", "0000000000000000000002025", "0000000000000000000002026", "0000000000000000000002026", "0000000000000000000002027", "0000000000000000000002027", "0000000000000000000002027", "0000000000000000000002021", "0000000000000000000002021", "0000000000000000000002000", "0000000000000000000002000", "0000000000000000000002000", "0000000000000000000002100", "0000000000000000000002201", "0000000000000000000010000", "0000000000000000000010000", "0000000000000000000000001", "-0000000000000000000000001", "0000000000000000292278994", "-0000000000000000292275055", ]),
    ),
    (
        "SSSSSSSSS",
        Ok(["000000000", "999000000", "999000000", "000000000", "000000000", "001000000", "000000000", "000000000", "000000000", "789000000", "000000000", "500000000", "007000000", "000000000", "000000000", "000000000", "000000000", "000000000", "000000000", "999000000", "000000000", "090000000", "000000000", "000000000", "999000000", "000000000", "999000000", "000000000", "807000000", "192000000", ]),
    ),
    ("SSSSSSSSSS", Err("Minimum width must be from 0 to 9 inclusive but was 10")),
    (
        "yyyy/MM/dd",
        Ok(["1970/01/01", "1969/12/31", "2020/12/31", "2021/01/01", "2021/01/03", "2021/01/04", "2021/12/26", "2022/01/01", "2023/01/01", "2024/02/29", "2024/12/29", "2024/12/30", "2025/12/31", "2026/12/26", "2026/12/27", "2026/12/31", "2027/01/01", "2021/05/31", "2021/08/01", "1999/12/31", "2000/01/01", "2000/03/01", "2100/03/01", "2200/12/31", "9999/12/31", "+10000/01/01", "0001/12/31", "0002/01/01", "+292278994/08/17", "+292275056/05/16", ]),
    ),
    (
        "YYYY/MM/dd",
        Ok(["1970/01/01", "1970/12/31", "2021/12/31", "2021/01/01", "2021/01/03", "2021/01/04", "2022/12/26", "2022/01/01", "2023/01/01", "2024/02/29", "2025/12/29", "2025/12/30", "2026/12/31", "2026/12/26", "2027/12/27", "2027/12/31", "2027/01/01", "2021/05/31", "2021/08/01", "2000/12/31", "2000/01/01", "2000/03/01", "2100/03/01", "2201/12/31", "+10000/12/31", "+10000/01/01", "0001/12/31", "-0001/01/01", "+292278994/08/17", "-292275055/05/16", ]),
    ),
    (
        "YYYY/ww/e",
        Ok(["1970/01/5", "1970/01/4", "2021/01/5", "2021/01/6", "2021/02/1", "2021/02/2", "2022/01/1", "2022/01/7", "2023/01/1", "2024/09/5", "2025/01/1", "2025/01/2", "2026/01/4", "2026/52/7", "2027/01/1", "2027/01/5", "2027/01/6", "2021/23/2", "2021/32/1", "2000/01/6", "2000/01/7", "2000/10/4", "2100/10/2", "2201/01/4", "+10000/01/6", "+10000/01/7", "0001/01/1", "-0001/01/6", "+292278994/34/1", "-292275055/21/1", ]),
    ),
    (
        "yyyy-MM-dd'T'HH:mm:ss.SSS",
        Ok(["1970-01-01T00:00:00.000", "1969-12-31T23:59:59.999", "2020-12-31T23:59:59.999", "2021-01-01T00:00:00.000", "2021-01-03T12:00:00.000", "2021-01-04T00:00:00.001", "2021-12-26T00:00:00.000", "2022-01-01T23:00:00.000", "2023-01-01T12:59:59.000", "2024-02-29T12:34:56.789", "2024-12-29T00:00:00.000", "2024-12-30T11:59:59.500", "2025-12-31T13:05:09.007", "2026-12-26T01:02:03.000", "2026-12-27T00:00:00.000", "2026-12-31T12:00:00.000", "2027-01-01T00:30:00.000", "2021-05-31T10:00:00.000", "2021-08-01T00:00:00.000", "1999-12-31T23:59:59.999", "2000-01-01T00:00:00.000", "2000-03-01T06:07:08.090", "2100-03-01T00:00:00.000", "2200-12-31T23:59:59.000", "9999-12-31T23:59:59.999", "+10000-01-01T00:00:00.000", "0001-12-31T23:59:59.999", "0002-01-01T00:00:00.000", "+292278994-08-17T07:12:55.807", "+292275056-05-16T16:47:04.192", ]),
    ),
    (
        "yyyyMMddHHmmss",
        Ok(["19700101000000", "19691231235959", "20201231235959", "20210101000000", "20210103120000", "20210104000000", "20211226000000", "20220101230000", "20230101125959", "20240229123456", "20241229000000", "20241230115959", "20251231130509", "20261226010203", "20261227000000", "20261231120000", "20270101003000", "20210531100000", "20210801000000", "19991231235959", "20000101000000", "20000301060708", "21000301000000", "22001231235959", "99991231235959", "+100000101000000", "00011231235959", "00020101000000", "+2922789940817071255", "+2922750560516164704", ]),
    ),
    (
        "hh:mm a",
        Ok(["12:00 AM", "11:59 PM", "11:59 PM", "12:00 AM", "12:00 PM", "12:00 AM", "12:00 AM", "11:00 PM", "12:59 PM", "12:34 PM", "12:00 AM", "11:59 AM", "01:05 PM", "01:02 AM", "12:00 AM", "12:00 PM", "12:30 AM", "10:00 AM", "12:00 AM", "11:59 PM", "12:00 AM", "06:07 AM", "12:00 AM", "11:59 PM", "11:59 PM", "12:00 AM", "11:59 PM", "12:00 AM", "07:12 AM", "04:47 PM", ]),
    ),
    (
        "h a",
        Ok(["12 AM", "11 PM", "11 PM", "12 AM", "12 PM", "12 AM", "12 AM", "11 PM", "12 PM", "12 PM", "12 AM", "11 AM", "1 PM", "1 AM", "12 AM", "12 PM", "12 AM", "10 AM", "12 AM", "11 PM", "12 AM", "6 AM", "12 AM", "11 PM", "11 PM", "12 AM", "11 PM", "12 AM", "7 AM", "4 PM", ]),
    ),
    (
        "KK k kk",
        Ok(["00 24 24", "11 23 23", "11 23 23", "00 24 24", "00 12 12", "00 24 24", "00 24 24", "11 23 23", "00 12 12", "00 12 12", "00 24 24", "11 11 11", "01 13 13", "01 1 01", "00 24 24", "00 12 12", "00 24 24", "10 10 10", "00 24 24", "11 23 23", "00 24 24", "06 6 06", "00 24 24", "11 23 23", "11 23 23", "00 24 24", "11 23 23", "00 24 24", "07 7 07", "04 16 16", ]),
    ),
    (
        "EEEE, MMMM d",
        Ok(["Thursday, January 1", "Wednesday, December 31", "Thursday, December 31", "Friday, January 1", "Sunday, January 3", "Monday, January 4", "Sunday, December 26", "Saturday, January 1", "Sunday, January 1", "Thursday, February 29", "Sunday, December 29", "Monday, December 30", "Wednesday, December 31", "Saturday, December 26", "Sunday, December 27", "Thursday, December 31", "Friday, January 1", "Monday, May 31", "Sunday, August 1", "Friday, December 31", "Saturday, January 1", "Wednesday, March 1", "Monday, March 1", "Wednesday, December 31", "Friday, December 31", "Saturday, January 1", "Sunday, December 31", "Friday, January 1", "Sunday, August 17", "Sunday, May 16", ]),
    ),
    (
        "QQQQ qqq",
        Ok(["1st quarter Q1", "4th quarter Q4", "4th quarter Q4", "1st quarter Q1", "1st quarter Q1", "1st quarter Q1", "4th quarter Q4", "1st quarter Q1", "1st quarter Q1", "1st quarter Q1", "4th quarter Q4", "4th quarter Q4", "4th quarter Q4", "4th quarter Q4", "4th quarter Q4", "4th quarter Q4", "1st quarter Q1", "2nd quarter Q2", "3rd quarter Q3", "4th quarter Q4", "1st quarter Q1", "1st quarter Q1", "1st quarter Q1", "4th quarter Q4", "4th quarter Q4", "1st quarter Q1", "4th quarter Q4", "1st quarter Q1", "3rd quarter Q3", "2nd quarter Q2", ]),
    ),
    (
        "'Q'Q",
        Ok(["Q1", "Q4", "Q4", "Q1", "Q1", "Q1", "Q4", "Q1", "Q1", "Q1", "Q4", "Q4", "Q4", "Q4", "Q4", "Q4", "Q1", "Q2", "Q3", "Q4", "Q1", "Q1", "Q1", "Q4", "Q4", "Q1", "Q4", "Q1", "Q3", "Q2", ]),
    ),
    (
        "''",
        Ok(["'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", ]),
    ),
    (
        "''''",
        Ok(["'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", "'", ]),
    ),
    (
        "'it''s'",
        Ok(["it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", "it's", ]),
    ),
    (
        "'a''b''c'",
        Ok(["a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", "a'b'c", ]),
    ),
    ("'", Err("Pattern ends with an incomplete string literal: '")),
    ("yyyy'", Err("Pattern ends with an incomplete string literal: yyyy'")),
    ("a'b", Err("Pattern ends with an incomplete string literal: a'b")),
    ("'abc", Err("Pattern ends with an incomplete string literal: 'abc")),
    (
        "[yyyy]/[MM]",
        Ok(["1970/01", "1969/12", "2020/12", "2021/01", "2021/01", "2021/01", "2021/12", "2022/01", "2023/01", "2024/02", "2024/12", "2024/12", "2025/12", "2026/12", "2026/12", "2026/12", "2027/01", "2021/05", "2021/08", "1999/12", "2000/01", "2000/03", "2100/03", "2200/12", "9999/12", "+10000/01", "0001/12", "0002/01", "+292278994/08", "+292275056/05", ]),
    ),
    (
        "[yyyy[MM]",
        Ok(["197001", "196912", "202012", "202101", "202101", "202101", "202112", "202201", "202301", "202402", "202412", "202412", "202512", "202612", "202612", "202612", "202701", "202105", "202108", "199912", "200001", "200003", "210003", "220012", "999912", "+1000001", "000112", "000201", "+29227899408", "+29227505605", ]),
    ),
    ("yyyy]", Err("Pattern invalid as it contains ] without previous [")),
    ("#", Err("Pattern includes reserved character: '#'")),
    ("{", Err("Pattern includes reserved character: '{'")),
    ("}", Err("Pattern includes reserved character: '}'")),
    ("yyyy-#", Err("Pattern includes reserved character: '#'")),
    (
        "-_.,: +~/",
        Ok(["-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", "-_.,: +~/", ]),
    ),
    (
        "éé yyyy",
        Ok(["éé 1970", "éé 1969", "éé 2020", "éé 2021", "éé 2021", "éé 2021", "éé 2021", "éé 2022", "éé 2023", "éé 2024", "éé 2024", "éé 2024", "éé 2025", "éé 2026", "éé 2026", "éé 2026", "éé 2027", "éé 2021", "éé 2021", "éé 1999", "éé 2000", "éé 2000", "éé 2100", "éé 2200", "éé 9999", "éé +10000", "éé 0001", "éé 0002", "éé +292278994", "éé +292275056", ]),
    ),
    (
        "v",
        Ok(["Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", ]),
    ),
    (
        "vvvv",
        Ok(["Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", ]),
    ),
    (
        "yyyy/MM/dd/HH",
        Ok(["1970/01/01/00", "1969/12/31/23", "2020/12/31/23", "2021/01/01/00", "2021/01/03/12", "2021/01/04/00", "2021/12/26/00", "2022/01/01/23", "2023/01/01/12", "2024/02/29/12", "2024/12/29/00", "2024/12/30/11", "2025/12/31/13", "2026/12/26/01", "2026/12/27/00", "2026/12/31/12", "2027/01/01/00", "2021/05/31/10", "2021/08/01/00", "1999/12/31/23", "2000/01/01/00", "2000/03/01/06", "2100/03/01/00", "2200/12/31/23", "9999/12/31/23", "+10000/01/01/00", "0001/12/31/23", "0002/01/01/00", "+292278994/08/17/07", "+292275056/05/16/16", ]),
    ),
    (
        "D/DD/DDD",
        Ok(["1/01/001", "365/365/365", "366/366/366", "1/01/001", "3/03/003", "4/04/004", "360/360/360", "1/01/001", "1/01/001", "60/60/060", "364/364/364", "365/365/365", "365/365/365", "360/360/360", "361/361/361", "365/365/365", "1/01/001", "151/151/151", "213/213/213", "365/365/365", "1/01/001", "61/61/061", "60/60/060", "365/365/365", "365/365/365", "1/01/001", "366/366/366", "1/01/001", "229/229/229", "136/136/136", ]),
    ),
    (
        "uu/yy/YY",
        Ok(["70/70/70", "69/69/70", "20/20/21", "21/21/21", "21/21/21", "21/21/21", "21/21/22", "22/22/22", "23/23/23", "24/24/24", "24/24/25", "24/24/25", "25/25/26", "26/26/26", "26/26/27", "26/26/27", "27/27/27", "21/21/21", "21/21/21", "99/99/00", "00/00/00", "00/00/00", "00/00/00", "00/00/01", "99/99/00", "00/00/00", "00/01/01", "01/02/01", "94/94/94", "55/56/55", ]),
    ),
    (
        "hh/HH/kk/KK",
        Ok(["12/00/24/00", "11/23/23/11", "11/23/23/11", "12/00/24/00", "12/12/12/00", "12/00/24/00", "12/00/24/00", "11/23/23/11", "12/12/12/00", "12/12/12/00", "12/00/24/00", "11/11/11/11", "01/13/13/01", "01/01/01/01", "12/00/24/00", "12/12/12/00", "12/00/24/00", "10/10/10/10", "12/00/24/00", "11/23/23/11", "12/00/24/00", "06/06/06/06", "12/00/24/00", "11/23/23/11", "11/23/23/11", "12/00/24/00", "11/23/23/11", "12/00/24/00", "07/07/07/07", "04/16/16/04", ]),
    ),
    (
        "",
        Ok(["", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ]),
    ),
    (
        "G",
        Ok(["AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "AD", "BC", "BC", "AD", "BC", ]),
    ),
    (
        "z",
        Ok(["Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", ]),
    ),
    (
        "X",
        Ok(["Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", ]),
    ),
    (
        "x",
        Ok(["+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", "+00", ]),
    ),
    (
        "Z",
        Ok(["+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", "+0000", ]),
    ),
    (
        "B",
        Ok(["midnight", "at night", "at night", "midnight", "noon", "midnight", "midnight", "at night", "in the afternoon", "in the afternoon", "midnight", "in the morning", "in the afternoon", "at night", "midnight", "noon", "at night", "in the morning", "midnight", "at night", "midnight", "in the morning", "midnight", "at night", "at night", "midnight", "at night", "midnight", "in the morning", "in the afternoon", ]),
    ),
    (
        "n",
        Ok(["0", "999000000", "999000000", "0", "0", "1000000", "0", "0", "0", "789000000", "0", "500000000", "7000000", "0", "0", "0", "0", "0", "0", "999000000", "0", "90000000", "0", "0", "999000000", "0", "999000000", "0", "807000000", "192000000", ]),
    ),
    (
        "N",
        Ok(["0", "86399999000000", "86399999000000", "0", "43200000000000", "1000000", "0", "82800000000000", "46799000000000", "45296789000000", "0", "43199500000000", "47109007000000", "3723000000000", "0", "43200000000000", "1800000000000", "36000000000000", "0", "86399999000000", "0", "22028090000000", "0", "86399000000000", "86399999000000", "0", "86399999000000", "0", "25975807000000", "60424192000000", ]),
    ),
    (
        "A",
        Ok(["0", "86399999", "86399999", "0", "43200000", "1", "0", "82800000", "46799000", "45296789", "0", "43199500", "47109007", "3723000", "0", "43200000", "1800000", "36000000", "0", "86399999", "0", "22028090", "0", "86399000", "86399999", "0", "86399999", "0", "25975807", "60424192", ]),
    ),
    (
        "F",
        Ok(["1", "3", "3", "1", "3", "4", "5", "1", "1", "1", "1", "2", "3", "5", "6", "3", "1", "3", "1", "3", "1", "1", "1", "3", "3", "1", "3", "1", "3", "2", ]),
    ),
    ("V", Err("Pattern letter count must be 2: V")),
    (
        "VV",
        Ok(["Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", "Z", ]),
    ),
    (
        "O",
        Ok(["GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", "GMT", ]),
    ),
    ("p", Err("Pad letter 'p' must be followed by valid pad pattern: p")),
    (
        "pd",
        Ok(["1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "1", "3", "4", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "1", "1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "1", "1", "1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", "!ERR Cannot print as output of 2 characters exceeds pad width of 1", ]),
    ),
    (
        "c",
        Ok(["5", "4", "5", "6", "1", "2", "1", "7", "1", "5", "1", "2", "4", "7", "1", "5", "6", "2", "1", "6", "7", "4", "2", "4", "6", "7", "1", "6", "1", "1", ]),
    ),
    (
        "g",
        Ok(["40587", "40586", "59214", "59215", "59217", "59218", "59574", "59580", "59945", "60369", "60673", "60674", "61040", "61400", "61401", "61405", "61406", "59365", "59427", "51543", "51544", "51604", "88128", "124957", "2973483", "2973484", "-678576", "-679306", "106752031754", "-106751950581", ]),
    ),
    ("b", Err("Unknown pattern letter: b")),
    ("f", Err("Unknown pattern letter: f")),
    ("I", Err("Unknown pattern letter: I")),
    ("t", Err("Unknown pattern letter: t")),
    (
        "Yw",
        Ok(["19701", "19701", "20211", "20211", "20212", "20212", "20221", "20221", "20231", "20249", "20251", "20251", "20261", "202652", "20271", "20271", "20271", "202123", "202132", "20001", "20001", "200010", "210010", "22011", "100001", "100001", "11", "-11", "29227899434", "-29227505521", ]),
    ),
    (
        "ww/W/e",
        Ok(["01/1/5", "01/5/4", "01/5/5", "01/1/6", "02/2/1", "02/2/2", "01/5/1", "01/1/7", "01/1/1", "09/5/5", "01/5/1", "01/5/2", "01/5/4", "52/4/7", "01/5/1", "01/5/5", "01/1/6", "23/6/2", "32/1/1", "01/5/6", "01/1/7", "10/1/4", "10/1/2", "01/5/4", "01/5/6", "01/1/7", "01/6/1", "01/1/6", "34/4/1", "21/4/1", ]),
    ),
    (
        "Dy",
        Ok(["11970", "3651969", "3662020", "12021", "32021", "42021", "3602021", "12022", "12023", "602024", "3642024", "3652024", "3652025", "3602026", "3612026", "3652026", "12027", "1512021", "2132021", "3651999", "12000", "612000", "602100", "3652200", "3659999", "110000", "3661", "12", "229292278994", "136292275056", ]),
    ),
];
