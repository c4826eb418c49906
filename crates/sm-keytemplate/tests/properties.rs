//! Property tests: rendered dates parse back to the instant, the week-based year only differs
//! around New Year, and the SDK's key pattern agrees with `validate_key`.

use proptest::prelude::*;
use sm_keytemplate::{render, validate_key, KeyError};

/// 1970-01-01T00:00:00Z and 2201-01-01T00:00:00Z in milliseconds.
const START_1970: i64 = 0;
const END_2200: i64 = 7_289_654_400_000;

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn month_len(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An independent (slow, obvious) civil-date parser: `yyyy-MM-ddTHH:mm:ss` (years ≥ 1970) to
/// seconds since the epoch, counting whole years and months.
fn parse_civil(s: &str) -> i64 {
    let b = s.as_bytes();
    assert_eq!(b.len(), 19, "{s:?}");
    assert_eq!(
        (b[4], b[7], b[10], b[13], b[16]),
        (b'-', b'-', b'T', b':', b':')
    );
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, mo, d) = (num(0..4), num(5..7), num(8..10));
    let (h, mi, se) = (num(11..13), num(14..16), num(17..19));
    assert!((1..=12).contains(&mo) && (1..=month_len(y, mo)).contains(&d));
    assert!(h < 24 && mi < 60 && se < 60);
    let mut days = 0;
    for year in 1970..y {
        days += if is_leap(year) { 366 } else { 365 };
    }
    for month in 1..mo {
        days += month_len(y, month);
    }
    days += d - 1;
    ((days * 24 + h) * 60 + mi) * 60 + se
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Quotes are fine in `render` even though `validate_key` forbids them in keys.
    #[test]
    fn iso_like_pattern_round_trips(ms in START_1970..END_2200) {
        let out = render("!{timestamp:yyyy-MM-dd'T'HH:mm:ss}", ms).unwrap();
        prop_assert_eq!(parse_civil(&out), ms.div_euclid(1000));
        let millis = render("!{timestamp:SSS}", ms).unwrap();
        prop_assert_eq!(millis.parse::<i64>().unwrap(), ms.rem_euclid(1000));
    }

    /// Java's `YYYY` (US weeks) differs from `yyyy` only in the last days of December, where
    /// the week that contains the next January 1st has started: then it is one year ahead.
    #[test]
    fn week_based_year_differs_only_near_new_year(ms in START_1970..END_2200) {
        let out = render("!{timestamp:YYYY/yyyy/MM/dd/w/e}", ms).unwrap();
        let f: Vec<i64> = out.split('/').map(|x| x.parse().unwrap()).collect();
        let (week_year, year, month, day, week, dow) = (f[0], f[1], f[2], f[3], f[4], f[5]);
        if week_year != year {
            // Within 7 days of New Year, and in fact only Dec 26..=31 going forward.
            prop_assert!(month == 12 && day >= 26, "{}", out);
            prop_assert_eq!(week_year, year + 1);
            prop_assert_eq!(week, 1);
            // The days from that week's Sunday (e = 1) to Dec 31 are all in the new week year.
            prop_assert!(31 - day < 8 - dow);
        }
        if month == 1 && day <= 7 {
            prop_assert_eq!(week_year, year);
        }
    }

    /// Any key the SDK's regular expression accepts (generated from it) passes `validate_key`.
    #[test]
    fn sdk_pattern_keys_validate(
        key in "([^\\\\{ }%`\\[\\]\"'><~#^?|]|!\\{[a-zA-Z]{1,12}:[a-zA-Z/]{1,12}\\}){1,60}"
    ) {
        prop_assert_eq!(validate_key(&key), Ok(()));
    }

    /// A forbidden character outside a placeholder makes the key invalid, at its index.
    #[test]
    fn forbidden_character_is_reported(
        prefix in "[a-zA-Z0-9/_.-]{0,20}",
        bad in "[\\\\{ }%`\\[\\]\"'><~#^?|]",
        suffix in "[a-zA-Z0-9/_.-]{0,20}",
    ) {
        let key = format!("{prefix}{bad}{suffix}");
        let e = validate_key(&key).unwrap_err();
        let KeyError::ForbiddenCharacter { index, .. } = e else {
            return Err(TestCaseError::fail(format!("{key:?}: {e:?}")));
        };
        prop_assert_eq!(index, prefix.chars().count());
    }

    /// Keys without `!{` render to themselves; nothing panics on arbitrary input.
    #[test]
    fn arbitrary_keys(key in "\\PC{0,40}", ms in any::<i64>()) {
        let _ = validate_key(&key);
        let out = render(&key, ms);
        if !key.contains("!{") {
            prop_assert_eq!(out.as_deref(), Ok(key.as_str()));
        }
    }

    /// Every supported field renders for any `i64` instant (±292 million years).
    #[test]
    fn all_fields_render_for_any_instant(ms in any::<i64>()) {
        let key = "!{timestamp:yyyy/yy/uuuu/YYYY/YY/MMMM/LLL/QQQQ/qqq/dd/DDD/HH/hh/kk/KK/mm/ss/\
                   SSSSSSSSS/a/EEEE/e/ww/W}";
        validate_key(key).unwrap();
        let out = render(key, ms).unwrap();
        prop_assert_eq!(out.split('/').count(), 23);
    }
}
