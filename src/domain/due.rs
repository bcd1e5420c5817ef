//! Clocks against published standards: which standard a leg runs against, when it falls due, and
//! how it stands (on track, at risk, breached, met, missed).
//!
//! The rule, in order: the service's timeliness standard for the request's channel with a parsed
//! time limit, else its first timeliness standard with a parsed time limit, else none (the clock
//! runs with no due time, and says so). The due time counts the primary limit from the start in
//! the agency's time zone: seconds, minutes and hours as elapsed time; calendar days, weeks and
//! months on the local calendar (the same local time on the day it falls); business days on the
//! calendar of [`super::calendar`] (weekends and federal statutory holidays skipped; a start on a
//! day off counts from the next business day). A fractional number of days rounds up. Each pause
//! moves the due time later by its length, so elapsed time excludes pauses.

use jiff::{Span, civil, tz::TimeZone};

use super::{
    calendar::{self, CivilDate},
    catalog::{Channel, Service, ServiceStandard, StandardKind},
    handoff::LegClock,
    threshold::{DurationUnit, Threshold},
    time::Timestamp,
};

/// The time zone clocks count in unless an agency has its own.
pub const DEFAULT_TIME_ZONE: &str = "America/Toronto";

/// The share of its limit at which a running clock is at risk, unless configured.
pub const DEFAULT_AT_RISK_SHARE: f64 = 0.8;

/// The standard a leg of `service` runs against for a request reached through `channel`.
pub fn standard_for(service: &Service, channel: Option<Channel>) -> Option<&ServiceStandard> {
    let timed =
        |s: &&ServiceStandard| s.kind == StandardKind::Timeliness && !s.thresholds.is_empty();
    let mut timed_standards = service.standards.iter().filter(timed);
    channel
        .and_then(|c| {
            service
                .standards
                .iter()
                .filter(timed)
                .find(|s| s.channel == Some(c))
        })
        .or_else(|| timed_standards.next())
}

/// A time zone by IANA name; `None` when the bundled database does not know it.
pub fn time_zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name).ok()
}

/// When `threshold` falls for a clock started at `start` in `zone`, before any pause; `None` when
/// the limit cannot be placed on the calendar (out of range).
pub fn due_from(start: Timestamp, threshold: Threshold, zone: &TimeZone) -> Option<Timestamp> {
    let value = threshold.value.max(0.0);
    let exact = |millis_per_unit: f64| {
        let millis = (value * millis_per_unit).ceil();
        (millis < 1e15).then(|| Timestamp::from_unix_millis(start.unix_millis() + millis as i64))
    };
    match threshold.unit {
        DurationUnit::Seconds => return exact(1_000.0),
        DurationUnit::Minutes => return exact(60_000.0),
        DurationUnit::Hours => return exact(3_600_000.0),
        _ => {}
    }
    let whole = value.ceil();
    if whole > 100_000.0 {
        return None;
    }
    let whole = whole as i64;
    let zoned = jiff::Timestamp::from_millisecond(start.unix_millis())
        .ok()?
        .to_zoned_datetime(zone.clone());
    let local = match threshold.unit {
        DurationUnit::Seconds | DurationUnit::Minutes | DurationUnit::Hours => return None,
        DurationUnit::CalendarDays => zoned.checked_add(Span::new().try_days(whole).ok()?).ok()?,
        DurationUnit::Weeks => zoned
            .checked_add(Span::new().try_days(whole.checked_mul(7)?).ok()?)
            .ok()?,
        DurationUnit::Months => zoned
            .checked_add(Span::new().try_months(whole).ok()?)
            .ok()?,
        DurationUnit::BusinessDays => {
            let date = zoned.date();
            let start_day = CivilDate::new(
                i32::from(date.year()),
                u32::try_from(date.month()).ok()?,
                u32::try_from(date.day()).ok()?,
            );
            let due = calendar::add_business_days(start_day, u32::try_from(whole).ok()?);
            let on = civil::Date::new(
                i16::try_from(due.year).ok()?,
                i8::try_from(due.month).ok()?,
                i8::try_from(due.day).ok()?,
            )
            .ok()?;
            on.to_datetime(zoned.time())
                .to_zoned_datetime(zone.clone())
                .ok()?
        }
    };
    Some(Timestamp::from_unix_millis(
        local.timestamp().as_millisecond(),
    ))
}

/// How a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStatus {
    NoStandard,
    OnTrack,
    AtRisk,
    Breached,
    Met,
    Missed,
}

/// A clock read at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockReading {
    pub elapsed_millis: i64,
    pub paused_millis: i64,
    /// The due time, pauses included; `None` without a standard.
    pub due: Option<Timestamp>,
    /// Elapsed over the limit; 0 without a standard.
    pub share_used: f64,
    pub status: ClockStatus,
}

/// Reads `clock`, whose limit falls at `due_base` before pauses, at `now`.
pub fn read(
    clock: &LegClock,
    due_base: Option<Timestamp>,
    now: Timestamp,
    at_risk_share: f64,
) -> ClockReading {
    let elapsed = clock.elapsed_millis(now);
    let paused = clock.paused_millis_at(now);
    let Some(base) = due_base else {
        return ClockReading {
            elapsed_millis: elapsed,
            paused_millis: paused,
            due: None,
            share_used: 0.0,
            status: ClockStatus::NoStandard,
        };
    };
    let limit = (base.unix_millis() - clock.offered.unix_millis()).max(1);
    let share = elapsed as f64 / limit as f64;
    let status = match (clock.ended.is_some(), elapsed > limit) {
        (true, false) => ClockStatus::Met,
        (true, true) => ClockStatus::Missed,
        (false, true) => ClockStatus::Breached,
        (false, false) if share >= at_risk_share => ClockStatus::AtRisk,
        (false, false) => ClockStatus::OnTrack,
    };
    ClockReading {
        elapsed_millis: elapsed,
        paused_millis: paused,
        due: Some(Timestamp::from_unix_millis(
            base.unix_millis().saturating_add(paused),
        )),
        share_used: share,
        status,
    }
}

/// How a standard performs on the legs that ran against it: completed legs, of which met, and
/// declined legs (counted in a decline rate, not against the standard).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Performance {
    pub completed: i64,
    pub met: i64,
    pub declined: i64,
}

impl Performance {
    /// The share of completed legs that met the standard; `None` before any completed.
    pub fn share_met(self) -> Option<f64> {
        (self.completed > 0).then(|| self.met as f64 / self.completed as f64)
    }

    /// The share of answered legs (completed or declined) that were declined.
    pub fn decline_rate(self) -> Option<f64> {
        let answered = self.completed + self.declined;
        (answered > 0).then(|| self.declined as f64 / answered as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::handoff::{Leg, Step};

    fn toronto() -> TimeZone {
        time_zone(DEFAULT_TIME_ZONE).expect("bundled")
    }

    /// The instant of a Toronto wall-clock time.
    fn local(y: i16, m: i8, d: i8, h: i8) -> Timestamp {
        let zoned = civil::date(y, m, d)
            .at(h, 0, 0, 0)
            .to_zoned_datetime(toronto())
            .expect("valid");
        Timestamp::from_unix_millis(zoned.timestamp().as_millisecond())
    }

    fn limit(value: f64, unit: DurationUnit) -> Threshold {
        Threshold { value, unit }
    }

    #[test]
    fn business_days_skip_weekends_and_statutory_holidays_in_the_agencys_time_zone() {
        // Thursday 2026-12-24 at 10:00: Friday 25 and Monday 28 (Boxing Day observed) are holidays.
        let start = local(2026, 12, 24, 10);
        let due = due_from(start, limit(2.0, DurationUnit::BusinessDays), &toronto());
        assert_eq!(due, Some(local(2026, 12, 30, 10)));
        // Friday 16:00 plus one business day is Monday 16:00.
        let due = due_from(
            local(2026, 11, 27, 16),
            limit(1.0, DurationUnit::BusinessDays),
            &toronto(),
        );
        assert_eq!(due, Some(local(2026, 11, 30, 16)));
    }

    #[test]
    fn calendar_days_keep_the_local_time_across_a_daylight_saving_change() {
        // 2026-11-01 is the end of daylight saving time in Toronto: 7 days is 7 * 24 h + 1 h.
        let start = local(2026, 10, 30, 9);
        let due = due_from(start, limit(7.0, DurationUnit::CalendarDays), &toronto()).expect("due");
        assert_eq!(due, local(2026, 11, 6, 9));
        assert_eq!(
            due.unix_millis() - start.unix_millis(),
            (7 * 24 + 1) * 3_600_000
        );
        let due = due_from(start, limit(1.0, DurationUnit::Months), &toronto());
        assert_eq!(due, Some(local(2026, 11, 30, 9)));
        let due = due_from(start, limit(90.0, DurationUnit::Minutes), &toronto());
        assert_eq!(
            due,
            Some(Timestamp::from_unix_millis(start.unix_millis() + 5_400_000))
        );
    }

    #[test]
    fn a_pause_moves_the_due_time_and_at_risk_and_breach_follow_the_share_used() {
        let start = Timestamp::from_unix_millis(0);
        let base = Some(Timestamp::from_unix_millis(1_000_000));
        let at = Timestamp::from_unix_millis;
        let leg = Leg::offered(start)
            .apply(Step::Accept, at(100_000))
            .and_then(|l| l.apply(Step::WaitOnCitizen, at(500_000)))
            .and_then(|l| l.apply(Step::Resume, at(800_000)))
            .expect("legal");
        let reading = read(&leg.clock, base, at(900_000), 0.8);
        assert_eq!(reading.elapsed_millis, 600_000);
        assert_eq!(reading.due, Some(at(1_300_000)));
        assert_eq!(reading.status, ClockStatus::OnTrack);
        assert_eq!(
            read(&leg.clock, base, at(1_150_000), 0.8).status,
            ClockStatus::AtRisk
        );
        assert_eq!(
            read(&leg.clock, base, at(1_300_001), 0.8).status,
            ClockStatus::Breached
        );
        let done = leg.apply(Step::Complete, at(1_200_000)).expect("legal");
        assert_eq!(
            read(&done.clock, base, at(9_999_999), 0.8).status,
            ClockStatus::Met
        );
        assert_eq!(
            read(&done.clock, None, at(1), 0.8).status,
            ClockStatus::NoStandard
        );
    }
}
