//! Survey responses: the drivers of satisfaction and their scores, what a response keeps of its
//! subject, the respondent's segment (never who she is), and the calendar quarters reports count in.

use std::fmt;

use jiff::tz::TimeZone;

use super::{
    citizen::{
        Province,
        record::{AddressKind, Circumstance, Details, Language},
        values::Date,
    },
    codes::coded_enum,
    consent::{Categories, Category},
    time::Timestamp,
};

coded_enum! {
    /// What a survey is about.
    pub enum SubjectKind { Handoff => "handoff", Request => "request" }
}

coded_enum! {
    /// A driver of satisfaction (OMB Circular A-11 section 280), in report order.
    pub enum Driver {
        Satisfaction => "satisfaction",
        Trust => "trust",
        Effectiveness => "effectiveness",
        Ease => "ease",
        Efficiency => "efficiency",
        Transparency => "transparency",
        Employees => "employees",
        Value => "value",
    }
}

coded_enum! {
    /// Whether a subject met its service standard when it ended.
    pub enum StandardResult { Met => "met", Missed => "missed" }
}

coded_enum! {
    /// An age band.
    pub enum AgeBand {
        Under18 => "under-18",
        From18To24 => "18-24",
        From25To34 => "25-34",
        From35To44 => "35-44",
        From45To54 => "45-54",
        From55To64 => "55-64",
        From65 => "65-plus",
    }
}

coded_enum! {
    /// Whether the respondent has accessibility needs.
    pub enum AccessibilityStatus { HasNeeds => "has-needs", NoNeeds => "no-needs" }
}

/// The drivers a response must score.
pub const REQUIRED: [Driver; 2] = [Driver::Satisfaction, Driver::Trust];

/// The lowest and highest score.
pub const SCORE_RANGE: std::ops::RangeInclusive<i64> = 1..=5;

/// Scores by driver, in [`Driver::ALL`]'s order; `None` where not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scores(pub [Option<u8>; 8]);

impl Scores {
    /// The score given to `driver`.
    pub fn get(&self, driver: Driver) -> Option<u8> {
        self.0[driver as usize]
    }

    /// Sets the score of `driver`.
    pub fn set(&mut self, driver: Driver, score: Option<u8>) {
        self.0[driver as usize] = score;
    }
}

/// Why a score was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreError {
    /// Outside 1-5.
    OutOfRange,
    /// A required driver was not scored.
    Missing,
}

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScoreError::OutOfRange => "must be 1 to 5 (0: not answered)",
            ScoreError::Missing => "is required: score it 1 to 5",
        })
    }
}

/// The score `raw` for `driver`: 1-5, or 0 for not answered where the driver is optional.
pub fn score(driver: Driver, raw: i64) -> Result<Option<u8>, ScoreError> {
    match raw {
        0 if REQUIRED.contains(&driver) => Err(ScoreError::Missing),
        0 => Ok(None),
        r if SCORE_RANGE.contains(&r) => Ok(Some(r as u8)),
        _ => Err(ScoreError::OutOfRange),
    }
}

/// Who responded, without saying who: each part `None` where not known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Segment {
    pub age_band: Option<AgeBand>,
    pub province: Option<Province>,
    pub language: Option<Language>,
    pub accessibility: Option<AccessibilityStatus>,
    pub client_group: Option<Circumstance>,
}

impl Segment {
    /// This segment with each part `given` knows replaced by the given one.
    pub fn overridden_by(self, given: &Segment) -> Segment {
        Segment {
            age_band: given.age_band.or(self.age_band),
            province: given.province.or(self.province),
            language: given.language.or(self.language),
            accessibility: given.accessibility.or(self.accessibility),
            client_group: given.client_group.or(self.client_group),
        }
    }
}

/// The categories a segment is taken from.
pub fn segment_categories() -> Categories {
    [
        Category::Identity,
        Category::Address,
        Category::Preferences,
        Category::Accessibility,
        Category::Circumstances,
    ]
    .into_iter()
    .collect()
}

/// The segment `details` give, reading only the parts of `shared`, on day `today`.
pub fn segment_of(details: &Details, shared: Categories, today: &Date) -> Segment {
    let mut segment = Segment::default();
    if shared.contains(Category::Identity) {
        segment.age_band = details
            .identity
            .date_of_birth
            .as_ref()
            .and_then(|born| age_on(born, today))
            .map(age_band);
    }
    if shared.contains(Category::Address) {
        let residential = details
            .addresses
            .iter()
            .find(|a| a.kind == AddressKind::Residential)
            .or(details.addresses.first());
        segment.province = residential.map(|a| a.province);
    }
    if shared.contains(Category::Preferences) {
        segment.language = details.preferences.language;
    }
    if shared.contains(Category::Accessibility) {
        segment.accessibility = Some(if details.accessibility.needs.is_empty() {
            AccessibilityStatus::NoNeeds
        } else {
            AccessibilityStatus::HasNeeds
        });
    }
    if shared.contains(Category::Circumstances) {
        segment.client_group = Circumstance::ALL
            .iter()
            .copied()
            .find(|c| details.circumstances.contains(c));
    }
    segment
}

/// Whole years from `born` to `today` (both `YYYY-MM-DD`); `None` when either does not parse or
/// `today` is before `born`.
fn age_on(born: &Date, today: &Date) -> Option<i64> {
    let parts = |d: &Date| -> Option<(i64, i64, i64)> {
        let mut it = d.as_str().split('-').map(|p| p.parse::<i64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    let (by, bm, bd) = parts(born)?;
    let (ty, tm, td) = parts(today)?;
    let years = ty - by - i64::from((tm, td) < (bm, bd));
    (years >= 0).then_some(years)
}

/// The band of an age in years.
pub fn age_band(age: i64) -> AgeBand {
    match age {
        ..18 => AgeBand::Under18,
        18..=24 => AgeBand::From18To24,
        25..=34 => AgeBand::From25To34,
        35..=44 => AgeBand::From35To44,
        45..=54 => AgeBand::From45To54,
        55..=64 => AgeBand::From55To64,
        _ => AgeBand::From65,
    }
}

/// A calendar quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: i16,
    /// 1 to 4.
    pub number: u8,
}

impl Quarter {
    /// The quarter `2026Q3` (case-insensitive `q`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Quarter> {
        let (year, number) = text.split_once(['Q', 'q'])?;
        if year.len() != 4 || number.len() != 1 {
            return None;
        }
        let year: i16 = year.parse().ok()?;
        let number: u8 = number.parse().ok()?;
        ((1..=4).contains(&number) && year >= 1900).then_some(Quarter { year, number })
    }

    /// The quarter `at` falls in, in `zone`.
    pub fn of(at: Timestamp, zone: &TimeZone) -> Quarter {
        let local = jiff::Timestamp::from_millisecond(at.unix_millis())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned_datetime(zone.clone());
        Quarter {
            year: local.year(),
            number: ((local.month() - 1) / 3 + 1) as u8,
        }
    }

    /// Its first instant, in `zone`.
    pub fn start(self, zone: &TimeZone) -> Timestamp {
        let month = (self.number as i8 - 1) * 3 + 1;
        jiff::civil::date(self.year, month, 1)
            .to_datetime(jiff::civil::Time::midnight())
            .to_zoned_datetime(zone.clone())
            .map_or(Timestamp::from_unix_millis(0), |z| {
                Timestamp::from_unix_millis(z.timestamp().as_millisecond())
            })
    }

    /// The quarter after this one.
    pub fn next(self) -> Quarter {
        match self.number {
            4 => Quarter {
                year: self.year + 1,
                number: 1,
            },
            n => Quarter {
                year: self.year,
                number: n + 1,
            },
        }
    }

    /// The quarter before this one.
    pub fn previous(self) -> Quarter {
        match self.number {
            1 => Quarter {
                year: self.year - 1,
                number: 4,
            },
            n => Quarter {
                year: self.year,
                number: n - 1,
            },
        }
    }

    /// The GC fiscal year quarter this calendar quarter is (April to March): its fiscal year's
    /// first calendar year and its number (`2026Q2` is fiscal 2026-27 Q1).
    pub fn fiscal(self) -> (i16, u8) {
        match self.number {
            1 => (self.year - 1, 4),
            n => (self.year, n - 1),
        }
    }

    /// The calendar quarter of fiscal quarter `number` of the fiscal year starting in `year`.
    pub fn from_fiscal(year: i16, number: u8) -> Option<Quarter> {
        match number {
            4 => Some(Quarter {
                year: year + 1,
                number: 1,
            }),
            1..=3 => Some(Quarter {
                year,
                number: number + 1,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.number)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::citizen::{
        PostalCode,
        record::{AccessibilityNeed, Address},
    };

    #[test]
    fn scores_are_one_to_five_and_the_required_drivers_must_be_scored() {
        assert_eq!(score(Driver::Ease, 0), Ok(None));
        assert_eq!(score(Driver::Ease, 5), Ok(Some(5)));
        assert_eq!(score(Driver::Ease, 6), Err(ScoreError::OutOfRange));
        assert_eq!(score(Driver::Ease, -1), Err(ScoreError::OutOfRange));
        assert_eq!(score(Driver::Satisfaction, 0), Err(ScoreError::Missing));
        assert_eq!(score(Driver::Trust, 1), Ok(Some(1)));
        let mut scores = Scores::default();
        scores.set(Driver::Value, Some(3));
        assert_eq!(scores.get(Driver::Value), Some(3));
        assert_eq!(scores.get(Driver::Ease), None);
    }

    #[test]
    fn a_segment_reads_only_the_shared_categories() {
        let mut details = Details::default();
        details.identity.date_of_birth = Some(Date::parse("1990-07-15").expect("date"));
        details.preferences.language = Some(Language::French);
        details.accessibility.needs = BTreeSet::from([AccessibilityNeed::ScreenReader]);
        details.circumstances = BTreeSet::from([Circumstance::Senior, Circumstance::Student]);
        details.addresses.push(Address {
            kind: AddressKind::Residential,
            line1: "1 rue".to_owned(),
            line2: String::new(),
            city: "Québec".to_owned(),
            province: Province::parse("QC").expect("province"),
            postal_code: PostalCode::parse("G1R 4P5").expect("postal code"),
        });
        let today = Date::parse("2026-07-14").expect("date");
        let all = segment_of(&details, segment_categories(), &today);
        assert_eq!(all.age_band, Some(AgeBand::From35To44));
        assert_eq!(all.province.map(Province::code), Some("QC"));
        assert_eq!(all.language, Some(Language::French));
        assert_eq!(all.accessibility, Some(AccessibilityStatus::HasNeeds));
        assert_eq!(
            all.client_group,
            Some(Circumstance::Student),
            "first in order"
        );
        let none = segment_of(&details, Categories::NONE, &today);
        assert_eq!(none, Segment::default());
        let given = Segment {
            language: Some(Language::English),
            ..Segment::default()
        };
        assert_eq!(all.overridden_by(&given).language, Some(Language::English));
        assert_eq!(
            age_on(&Date::parse("1990-07-14").expect("d"), &today),
            Some(36)
        );
        assert_eq!(age_band(17), AgeBand::Under18);
        assert_eq!(age_band(65), AgeBand::From65);
    }

    #[test]
    fn quarters_parse_print_and_map_to_the_fiscal_year() {
        let q = Quarter::parse("2026Q3").expect("quarter");
        assert_eq!(q.to_string(), "2026Q3");
        assert_eq!(q.previous().to_string(), "2026Q2");
        assert_eq!(q.next().next().to_string(), "2027Q1");
        assert_eq!(q.next().previous(), q);
        assert_eq!(
            Quarter::parse("2026Q1").expect("q").previous().to_string(),
            "2025Q4"
        );
        for bad in ["", "2026", "2026Q5", "2026Q0", "26Q1", "2026Q10", "abcdQ1"] {
            assert!(Quarter::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(q.fiscal(), (2026, 2));
        assert_eq!(Quarter::parse("2027Q1").expect("q").fiscal(), (2026, 4));
        for number in 1..=4 {
            let calendar = Quarter::from_fiscal(2026, number).expect("fiscal");
            assert_eq!(calendar.fiscal(), (2026, number));
        }
        let zone = TimeZone::get("America/Toronto").expect("zone");
        // 2026-07-01T03:30Z is still June 30 in Toronto.
        let at = Timestamp::from_unix_millis(1_782_876_600_000);
        assert_eq!(Quarter::of(at, &zone).to_string(), "2026Q2");
        assert_eq!(Quarter::of(at, &TimeZone::UTC).to_string(), "2026Q3");
        let start = q.start(&zone);
        assert_eq!(Quarter::of(start, &zone), q);
        assert_eq!(
            Quarter::of(Timestamp::from_unix_millis(start.unix_millis() - 1), &zone),
            q.previous()
        );
    }
}
