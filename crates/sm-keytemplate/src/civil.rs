//! Proleptic Gregorian calendar arithmetic in UTC, plus the localized week fields of
//! `java.time.temporal.WeekFields`.
//!
//! Every `i64` millisecond instant maps to a date: the years reach about ±292 million, well
//! inside what the `i64` day arithmetic below can hold.

/// Milliseconds in a day.
const MS_PER_DAY: i64 = 86_400_000;

/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT: i64 = 719_468;

/// Days in a 400-year Gregorian cycle.
const DAYS_PER_ERA: i64 = 146_097;

/// Whether `year` (proleptic, astronomical numbering: year 0 = 1 BC) is a leap year.
pub(crate) fn is_leap_year(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Days since 1970-01-01 of the civil date `year-month-day` (month 1..=12, day 1..=31).
///
/// Howard Hinnant's `days_from_civil`: the year is counted from March so the leap day is last.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // 0..=399
    let month_from_march = i64::from((month + 9) % 12); // March = 0
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT
}

/// The civil date `(year, month, day)` of a day counted from 1970-01-01 (inverse of
/// [`days_from_civil`]).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z - era * DAYS_PER_ERA; // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both values are small by construction (1..=31, 1..=12).
    (year, month as u32, day as u32)
}

/// A calendar date (UTC) with the derived fields the formatter needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Date {
    /// Days since 1970-01-01.
    pub epoch_day: i64,
    /// Proleptic year (`u`): year 0 is 1 BC, -1 is 2 BC.
    pub year: i64,
    /// Month of year, 1..=12.
    pub month: u32,
    /// Day of month, 1..=31.
    pub day: u32,
    /// Day of year, 1..=366.
    pub day_of_year: u32,
    /// ISO day of week: Monday = 1 … Sunday = 7.
    pub iso_day_of_week: u32,
}

impl Date {
    /// The date of a day counted from 1970-01-01.
    pub fn from_epoch_day(epoch_day: i64) -> Self {
        let (year, month, day) = civil_from_days(epoch_day);
        let day_of_year = epoch_day - days_from_civil(year, 1, 1) + 1;
        // 1970-01-01 was a Thursday (ISO 4).
        let iso_day_of_week = (epoch_day + 3).rem_euclid(7) + 1;
        Self {
            epoch_day,
            year,
            month,
            day,
            day_of_year: day_of_year as u32,
            iso_day_of_week: iso_day_of_week as u32,
        }
    }

    /// Days in this date's year (365 or 366).
    pub fn length_of_year(&self) -> u32 {
        if is_leap_year(self.year) {
            366
        } else {
            365
        }
    }

    /// Year of era (`y`): the year for AD, `1 - year` for BC (year 0 is 1 BC).
    pub fn year_of_era(&self) -> i64 {
        if self.year >= 1 {
            self.year
        } else {
            1 - self.year
        }
    }

    /// Quarter of year, 1..=4.
    pub fn quarter(&self) -> u32 {
        (self.month - 1) / 3 + 1
    }
}

/// A UTC date and time of day at millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    /// The date.
    pub date: Date,
    /// Hour of day, 0..=23.
    pub hour: u32,
    /// Minute of hour, 0..=59.
    pub minute: u32,
    /// Second of minute, 0..=59.
    pub second: u32,
    /// Millisecond of second, 0..=999.
    pub milli: u32,
}

impl DateTime {
    /// The UTC date and time of `ms` milliseconds since 1970-01-01T00:00:00Z (negative = before).
    pub fn from_epoch_millis(ms: i64) -> Self {
        let epoch_day = ms.div_euclid(MS_PER_DAY);
        // 0..86_400_000 fits in u32.
        let ms_of_day = ms.rem_euclid(MS_PER_DAY) as u32;
        Self {
            date: Date::from_epoch_day(epoch_day),
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            milli: ms_of_day % 1000,
        }
    }
}

/// Week definition of `java.time.temporal.WeekFields`: the first day of the week and the
/// minimal number of days of the first week of a month or year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WeekRules {
    /// ISO number (Monday = 1 … Sunday = 7) of the day that starts a week.
    pub first_day: u32,
    /// How many days of a year (month) its first week needs, 1..=7.
    pub min_days: u32,
}

impl WeekRules {
    /// `WeekFields.of(Locale.US)`: weeks start on Sunday, the week containing January 1st is
    /// week 1. Java 17 gives the same for `Locale.ENGLISH` and for the JVM default locale under
    /// `LANG=C` (which the JVM maps to `en`).
    pub const US: Self = Self {
        first_day: 7,
        min_days: 1,
    };

    /// `WeekFields.ISO`: weeks start on Monday, week 1 has at least 4 days (ISO-8601).
    #[cfg(test)]
    pub const ISO: Self = Self {
        first_day: 1,
        min_days: 4,
    };

    /// Localized day of week, 1..=7, where 1 is [`WeekRules::first_day`] (Java's `e`/`c`).
    pub fn day_of_week(&self, date: &Date) -> i64 {
        (i64::from(date.iso_day_of_week) - i64::from(self.first_day)).rem_euclid(7) + 1
    }

    /// Java's `WeekFields.ComputedDayOfField.startOfWeekOffset`: the offset (from day 1 of the
    /// month or year) of the first day of week 1, given a day and its localized day of week.
    fn start_of_week_offset(&self, day: i64, dow: i64) -> i64 {
        let week_start = (day - dow).rem_euclid(7);
        if week_start + 1 > i64::from(self.min_days) {
            // The partial week at the start is long enough to be week 1.
            7 - week_start
        } else {
            -week_start
        }
    }

    /// Java's `computeWeek`: the week number of `day` given the offset of week 1.
    fn compute_week(offset: i64, day: i64) -> i64 {
        (7 + offset + (day - 1)) / 7
    }

    /// Week of month (Java's `W`); 0 if the day lies before the month's week 1 (not possible
    /// when `min_days` is 1).
    pub fn week_of_month(&self, date: &Date) -> i64 {
        let dom = i64::from(date.day);
        let offset = self.start_of_week_offset(dom, self.day_of_week(date));
        Self::compute_week(offset, dom)
    }

    /// Week-based year (Java's `Y`).
    pub fn week_based_year(&self, date: &Date) -> i64 {
        let doy = i64::from(date.day_of_year);
        let offset = self.start_of_week_offset(doy, self.day_of_week(date));
        let week = Self::compute_week(offset, doy);
        if week == 0 {
            // The day belongs to the last week of the previous year.
            return date.year - 1;
        }
        let year_len = i64::from(date.length_of_year());
        let new_year_week = Self::compute_week(offset, year_len + i64::from(self.min_days));
        if week >= new_year_week {
            // The day lies in the partial week that counts as week 1 of the next year.
            return date.year + 1;
        }
        date.year
    }

    /// Week of week-based year (Java's `w`), 1..=53.
    pub fn week_of_week_based_year(&self, date: &Date) -> i64 {
        let doy = i64::from(date.day_of_year);
        let offset = self.start_of_week_offset(doy, self.day_of_week(date));
        let week = Self::compute_week(offset, doy);
        if week == 0 {
            // Same week as the last day of the previous year.
            let last_of_previous = Date::from_epoch_day(date.epoch_day - doy);
            return self.week_of_week_based_year(&last_of_previous);
        }
        if week > 50 {
            let year_len = i64::from(date.length_of_year());
            let new_year_week = Self::compute_week(offset, year_len + i64::from(self.min_days));
            if week >= new_year_week {
                return week - new_year_week + 1;
            }
        }
        week
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent, slow reference: count days year by year from 1970.
    fn naive_days(year: i64, month: u32, day: u32) -> i64 {
        const MONTH_DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let year_len = |y: i64| if is_leap_year(y) { 366 } else { 365 };
        let mut days = 0;
        if year >= 1970 {
            for y in 1970..year {
                days += year_len(y);
            }
        } else {
            for y in year..1970 {
                days -= year_len(y);
            }
        }
        for m in 1..month {
            days += MONTH_DAYS[m as usize - 1] + i64::from(m == 2 && is_leap_year(year));
        }
        days + i64::from(day) - 1
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
        assert!(is_leap_year(0));
        assert!(is_leap_year(-4));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(-1));
    }

    #[test]
    fn civil_round_trip_matches_naive_count() {
        // Every day from 1600 to 2400 (covers 400-year cycles and the epoch both ways).
        let start = days_from_civil(1600, 1, 1);
        let end = days_from_civil(2400, 12, 31);
        let mut expected = (1600, 1, 1);
        assert_eq!(start, naive_days(1600, 1, 1));
        for d in start..=end {
            let (y, m, day) = civil_from_days(d);
            assert_eq!((y, m, day), expected, "epoch day {d}");
            assert_eq!(days_from_civil(y, m, day), d);
            // advance `expected` by one calendar day
            let month_len = match m {
                2 if is_leap_year(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            expected = if day < month_len {
                (y, m, day + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
        assert_eq!(naive_days(2400, 12, 31), end);
    }

    #[test]
    fn extreme_instants() {
        let max = DateTime::from_epoch_millis(i64::MAX);
        assert_eq!(
            (max.date.year, max.date.month, max.date.day),
            (292_278_994, 8, 17)
        );
        assert_eq!(
            (max.hour, max.minute, max.second, max.milli),
            (7, 12, 55, 807)
        );
        let min = DateTime::from_epoch_millis(i64::MIN);
        assert_eq!(
            (min.date.year, min.date.month, min.date.day),
            (-292_275_055, 5, 16)
        );
        assert_eq!(
            (min.hour, min.minute, min.second, min.milli),
            (16, 47, 4, 192)
        );
        let before = DateTime::from_epoch_millis(-1);
        assert_eq!(
            (before.date.year, before.date.month, before.date.day),
            (1969, 12, 31)
        );
        assert_eq!(before.date.day_of_year, 365);
        assert_eq!(before.date.iso_day_of_week, 3);
        assert_eq!((before.hour, before.milli), (23, 999));
    }

    /// The ISO rules through the same Java algorithm give the well-known ISO week dates.
    #[test]
    fn iso_rules_give_iso_weeks() {
        let cases = [
            ((2020, 12, 31), (2020, 53)),
            ((2021, 1, 3), (2020, 53)),
            ((2021, 1, 4), (2021, 1)),
            ((2024, 12, 30), (2025, 1)),
            ((2026, 12, 31), (2026, 53)),
            ((2027, 1, 3), (2026, 53)),
            ((2027, 1, 4), (2027, 1)),
            ((2005, 1, 1), (2004, 53)),
            ((2008, 12, 29), (2009, 1)),
        ];
        for ((y, m, d), (wy, w)) in cases {
            let date = Date::from_epoch_day(days_from_civil(y, m, d));
            assert_eq!(WeekRules::ISO.week_based_year(&date), wy, "{y}-{m}-{d}");
            assert_eq!(
                WeekRules::ISO.week_of_week_based_year(&date),
                w,
                "{y}-{m}-{d}"
            );
        }
    }

    /// With US rules, January 1st is always in week 1 and the week-based year is never behind.
    #[test]
    fn us_rules_invariants() {
        for d in days_from_civil(1990, 1, 1)..days_from_civil(2060, 1, 1) {
            let date = Date::from_epoch_day(d);
            let us = WeekRules::US;
            let wy = us.week_based_year(&date);
            let w = us.week_of_week_based_year(&date);
            assert!((1..=53).contains(&w));
            assert!((1..=6).contains(&us.week_of_month(&date)));
            if date.month == 1 && date.day == 1 {
                assert_eq!((wy, w), (date.year, 1));
            }
            assert!(wy == date.year || (wy == date.year + 1 && date.month == 12 && date.day >= 26));
            if us.day_of_week(&date) == 1 && date.epoch_day > days_from_civil(1990, 1, 7) {
                // A Sunday starts a new week: the week number changes from the day before.
                let prev = Date::from_epoch_day(d - 1);
                assert_ne!(us.week_of_week_based_year(&prev), w);
            }
        }
    }
}
