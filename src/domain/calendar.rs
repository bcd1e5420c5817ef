//! Business days for the clocks of handoffs: weekdays that are not federal statutory holidays.
//!
//! The calendar is computed by rule, so it never runs out: the general holidays of the Canada
//! Labour Code (New Year's Day, Good Friday, Victoria Day, Canada Day, Labour Day, the National Day
//! for Truth and Reconciliation from 2021, Thanksgiving, Remembrance Day, Christmas Day, Boxing
//! Day), plus Easter Monday and the August Civic Holiday, which the federal public service also
//! observes. A holiday on a weekend is observed on the next weekday that is not already a holiday
//! (Christmas on a Saturday: Monday 27; Boxing Day then Tuesday 28).

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// Day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl CivilDate {
    /// The date `year-month-day` (not checked).
    pub const fn new(year: i32, month: u32, day: u32) -> Self {
        Self { year, month, day }
    }

    /// Days since 1970-01-01 (Howard Hinnant's days-from-civil).
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }

    /// The date `n` days later (earlier when negative).
    pub fn plus_days(self, n: i64) -> Self {
        Self::from_days(self.days() + n)
    }

    /// Days since the last Monday: 0 on a Monday, 6 on a Sunday.
    fn days_since_monday(self) -> i64 {
        // 1970-01-01 was a Thursday.
        (self.days() + 3).rem_euclid(7)
    }

    /// Its day of the week.
    pub fn weekday(self) -> Weekday {
        match self.days_since_monday() {
            0 => Weekday::Monday,
            1 => Weekday::Tuesday,
            2 => Weekday::Wednesday,
            3 => Weekday::Thursday,
            4 => Weekday::Friday,
            5 => Weekday::Saturday,
            _ => Weekday::Sunday,
        }
    }

    fn weekend(self) -> bool {
        matches!(self.weekday(), Weekday::Saturday | Weekday::Sunday)
    }
}

/// Easter Sunday of `year` (Gregorian; the anonymous computus).
pub fn easter(year: i32) -> CivilDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    CivilDate::new(
        year,
        u32::try_from(month).unwrap_or(4),
        u32::try_from(day).unwrap_or(1),
    )
}

/// The `n`th Monday (from 1) of `month` in `year`.
fn nth_monday(year: i32, month: u32, n: i64) -> CivilDate {
    let first = CivilDate::new(year, month, 1);
    let offset = (7 - first.days_since_monday()) % 7;
    first.plus_days(offset + 7 * (n - 1))
}

/// The federal statutory holidays of `year`, as observed, in order.
pub fn federal_holidays(year: i32) -> Vec<CivilDate> {
    let easter = easter(year);
    // The last Monday on or before May 24 (Monday is 0 below).
    let may_24 = CivilDate::new(year, 5, 24);
    let victoria = may_24.plus_days(-may_24.days_since_monday());
    let moving = [
        easter.plus_days(-2),
        easter.plus_days(1),
        victoria,
        nth_monday(year, 8, 1),
        nth_monday(year, 9, 1),
        nth_monday(year, 10, 2),
    ];
    let mut fixed = vec![
        CivilDate::new(year, 1, 1),
        CivilDate::new(year, 7, 1),
        CivilDate::new(year, 11, 11),
        CivilDate::new(year, 12, 25),
        CivilDate::new(year, 12, 26),
    ];
    if year >= 2021 {
        fixed.push(CivilDate::new(year, 9, 30));
    }
    fixed.sort();
    let mut holidays: Vec<CivilDate> = moving.to_vec();
    for date in fixed {
        let mut observed = date;
        while observed.weekend() || holidays.contains(&observed) {
            observed = observed.plus_days(1);
        }
        holidays.push(observed);
    }
    holidays.sort();
    holidays
}

/// Whether `date` is a business day: a weekday that is not a federal statutory holiday.
pub fn is_business_day(date: CivilDate) -> bool {
    !date.weekend() && !federal_holidays(date.year).contains(&date)
}

/// The business day `n` business days after `date` (`n` 0: `date` itself if it is one, else the
/// next).
pub fn add_business_days(date: CivilDate, n: u32) -> CivilDate {
    let mut day = date;
    while !is_business_day(day) {
        day = day.plus_days(1);
    }
    for _ in 0..n {
        day = day.plus_days(1);
        while !is_business_day(day) {
            day = day.plus_days(1);
        }
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> CivilDate {
        CivilDate::new(y, m, day)
    }

    #[test]
    fn days_round_trip_and_weekdays_are_right() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_454, 800_000] {
            assert_eq!(CivilDate::from_days(days).days(), days);
        }
        assert_eq!(d(1970, 1, 1).weekday(), Weekday::Thursday);
        assert_eq!(d(2026, 12, 2).weekday(), Weekday::Wednesday);
        assert_eq!(d(2024, 2, 29).plus_days(1), d(2024, 3, 1));
    }

    #[test]
    fn easter_matches_known_dates() {
        assert_eq!(easter(2024), d(2024, 3, 31));
        assert_eq!(easter(2025), d(2025, 4, 20));
        assert_eq!(easter(2026), d(2026, 4, 5));
        assert_eq!(easter(2027), d(2027, 3, 28));
    }

    #[test]
    fn the_2026_federal_holidays_are_observed_on_weekdays() {
        assert_eq!(
            federal_holidays(2026),
            vec![
                d(2026, 1, 1),
                d(2026, 4, 3),
                d(2026, 4, 6),
                d(2026, 5, 18),
                d(2026, 7, 1),
                d(2026, 8, 3),
                d(2026, 9, 7),
                d(2026, 9, 30),
                d(2026, 10, 12),
                d(2026, 11, 11),
                d(2026, 12, 25),
                d(2026, 12, 28),
            ]
        );
    }

    #[test]
    fn weekend_holidays_move_to_the_next_free_weekday() {
        // 2027: Christmas is a Saturday, so Christmas is observed Monday 27 and Boxing Day Tuesday 28.
        let h = federal_holidays(2027);
        assert!(h.contains(&d(2027, 12, 27)) && h.contains(&d(2027, 12, 28)));
        // 2023: Canada Day was a Saturday, observed Monday July 3; Victoria Day was May 22.
        let h = federal_holidays(2023);
        assert!(h.contains(&d(2023, 7, 3)) && h.contains(&d(2023, 5, 22)));
        // Before 2021 there was no National Day for Truth and Reconciliation.
        assert!(!federal_holidays(2020).contains(&d(2020, 9, 30)));
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        // Thursday 2026-12-24 plus 2 business days: Fri 25 and Mon 28 are holidays.
        assert_eq!(add_business_days(d(2026, 12, 24), 1), d(2026, 12, 29));
        assert_eq!(add_business_days(d(2026, 12, 24), 2), d(2026, 12, 30));
        // Ten business days from Friday 2026-03-27 skip Good Friday and Easter Monday.
        assert_eq!(add_business_days(d(2026, 3, 27), 10), d(2026, 4, 14));
        assert_eq!(add_business_days(d(2026, 12, 5), 0), d(2026, 12, 7));
    }
}
