//! Decoding FeedbackService's messages into valid values, every bad field named.

use super::super::{
    citizens::decode::{channel, circumstance},
    request::Violations,
    requests::decode as request_decode,
};
use crate::{
    domain::{
        catalog::Channel,
        citizen::{
            Province,
            record::{Circumstance, Language},
        },
        feedback::{
            AccessibilityStatus, AgeBand, Driver, Quarter, Scores, Segment, SubjectKind, score,
        },
        report::Grouping,
        warnings::{WarningKind, WarningState},
    },
    proto::v1 as pb,
};

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// Most contacts a response may report.
pub const MAX_CONTACTS: i32 = 99;

/// The (request id, leg number, kind) of a subject name: `requests/{r}/handoffs/{n}` or
/// `requests/{r}`.
pub fn subject(v: &mut Violations, field: &str, name: &str) -> (String, i64, SubjectKind) {
    if name.contains("/handoffs/") {
        let (id, n) = request_decode::handoff_name(v, field, name);
        (id, n, SubjectKind::Handoff)
    } else if name.is_empty() {
        v.add(
            field,
            "is required: `requests/{request}/handoffs/{handoff}` or `requests/{request}`",
        );
        (String::new(), 0, SubjectKind::Handoff)
    } else {
        let id = request_decode::request_name(v, field, name);
        (id, 0, SubjectKind::Request)
    }
}

/// The scores, each driver's field named (`scores.trust`).
pub fn scores(v: &mut Violations, given: Option<&pb::Scores>) -> Scores {
    let Some(s) = given else {
        v.add("scores", "is required: score satisfaction and trust 1 to 5");
        return Scores::default();
    };
    let raw = [
        (Driver::Satisfaction, s.satisfaction),
        (Driver::Trust, s.trust),
        (Driver::Effectiveness, s.effectiveness),
        (Driver::Ease, s.ease),
        (Driver::Efficiency, s.efficiency),
        (Driver::Transparency, s.transparency),
        (Driver::Employees, s.employees),
        (Driver::Value, s.value),
    ];
    let mut out = Scores::default();
    for (driver, value) in raw {
        match score(driver, i64::from(value)) {
            Ok(score) => out.set(driver, score),
            Err(error) => v.add(format!("scores.{}", driver.code()), error.to_string()),
        }
    }
    out
}

/// The number of contacts: 0 (not said) to [`MAX_CONTACTS`].
pub fn contacts(v: &mut Violations, value: i32) -> i64 {
    if !(0..=MAX_CONTACTS).contains(&value) {
        v.add(
            "contacts",
            format!("must be 0 (not said) to {MAX_CONTACTS}"),
        );
    }
    i64::from(value.clamp(0, MAX_CONTACTS))
}

/// The survey channel: for an agency, telephone or in person (required); for a portal, online.
pub fn survey_channel(v: &mut Violations, value: i32, agency: bool) -> Channel {
    let given = channel(v, "survey_channel", value);
    match (agency, given) {
        (true, Some(c @ (Channel::Telephone | Channel::InPerson))) => c,
        (true, _) => {
            v.add(
                "survey_channel",
                "an agency records phone or in-person surveys: CHANNEL_TELEPHONE or CHANNEL_IN_PERSON",
            );
            Channel::Telephone
        }
        (false, None | Some(Channel::Online)) => Channel::Online,
        (false, Some(_)) => {
            v.add(
                "survey_channel",
                "a portal's survey is CHANNEL_ONLINE (or unset)",
            );
            Channel::Online
        }
    }
}

/// The segment parts a respondent gives.
pub fn segment(v: &mut Violations, given: Option<&pb::Segment>) -> Segment {
    let Some(s) = given else {
        return Segment::default();
    };
    let age_band = match pb::AgeBand::try_from(s.age_band) {
        Ok(b) => age_band(b),
        Err(_) => {
            v.add(
                "segment.age_band",
                format!("{} is not a valid age band", s.age_band),
            );
            None
        }
    };
    let province = if s.province.is_empty() {
        None
    } else {
        match Province::parse(&s.province) {
            Ok(p) => Some(p),
            Err(e) => {
                v.add("segment.province", e.to_string());
                None
            }
        }
    };
    let language = match pb::Language::try_from(s.language) {
        Ok(pb::Language::Unspecified) => None,
        Ok(pb::Language::English) => Some(Language::English),
        Ok(pb::Language::French) => Some(Language::French),
        Err(_) => {
            v.add(
                "segment.language",
                format!("{} is not a valid language", s.language),
            );
            None
        }
    };
    let accessibility = match pb::AccessibilityStatus::try_from(s.accessibility) {
        Ok(pb::AccessibilityStatus::Unspecified) => None,
        Ok(pb::AccessibilityStatus::HasNeeds) => Some(AccessibilityStatus::HasNeeds),
        Ok(pb::AccessibilityStatus::NoNeeds) => Some(AccessibilityStatus::NoNeeds),
        Err(_) => {
            v.add(
                "segment.accessibility",
                format!("{} is not a valid accessibility status", s.accessibility),
            );
            None
        }
    };
    let client_group: Option<Circumstance> = match pb::Circumstance::try_from(s.client_group) {
        Ok(c) => circumstance(c),
        Err(_) => {
            v.add(
                "segment.client_group",
                format!("{} is not a valid client group", s.client_group),
            );
            None
        }
    };
    Segment {
        age_band,
        province,
        language,
        accessibility,
        client_group,
    }
}

/// The domain age band of a proto one (`None` for unspecified).
pub fn age_band(b: pb::AgeBand) -> Option<AgeBand> {
    Some(match b {
        pb::AgeBand::Unspecified => return None,
        pb::AgeBand::Under18 => AgeBand::Under18,
        pb::AgeBand::AgeBand18To24 => AgeBand::From18To24,
        pb::AgeBand::AgeBand25To34 => AgeBand::From25To34,
        pb::AgeBand::AgeBand35To44 => AgeBand::From35To44,
        pb::AgeBand::AgeBand45To54 => AgeBand::From45To54,
        pb::AgeBand::AgeBand55To64 => AgeBand::From55To64,
        pb::AgeBand::AgeBand65AndOver => AgeBand::From65,
    })
}

/// A required grouping.
pub fn grouping(v: &mut Violations, value: i32) -> Grouping {
    use pb::ReportGrouping as P;
    match P::try_from(value) {
        Ok(P::Agency) => Grouping::Agency,
        Ok(P::AgencyQuarter) => Grouping::AgencyQuarter,
        Ok(P::Team) => Grouping::Team,
        Ok(P::Service) => Grouping::Service,
        Ok(P::ServiceQuarter) => Grouping::ServiceQuarter,
        Ok(P::ServiceChannel) => Grouping::ServiceChannel,
        Ok(P::Channel) => Grouping::Channel,
        Ok(P::AgencyPair) => Grouping::AgencyPair,
        Ok(P::AgencyPairQuarter) => Grouping::AgencyPairQuarter,
        Ok(P::AgeBand) => Grouping::AgeBand,
        Ok(P::Province) => Grouping::Province,
        Ok(P::Language) => Grouping::Language,
        Ok(P::Accessibility) => Grouping::Accessibility,
        Ok(P::ClientGroup) => Grouping::ClientGroup,
        Ok(P::Unspecified) => {
            v.add("grouping", "is required: one of the REPORT_GROUPING values");
            Grouping::Agency
        }
        Err(_) => {
            v.add("grouping", format!("{value} is not a valid grouping"));
            Grouping::Agency
        }
    }
}

/// A report's subject kind (legs by default).
pub fn subject_kind(v: &mut Violations, value: i32) -> SubjectKind {
    match pb::SubjectKind::try_from(value) {
        Ok(pb::SubjectKind::Unspecified | pb::SubjectKind::Handoff) => SubjectKind::Handoff,
        Ok(pb::SubjectKind::Request) => SubjectKind::Request,
        Err(_) => {
            v.add("subject", format!("{value} is not a valid subject kind"));
            SubjectKind::Handoff
        }
    }
}

/// An optional quarter (`2026Q3`).
pub fn quarter(v: &mut Violations, field: &str, value: &str) -> Option<Quarter> {
    if value.is_empty() {
        return None;
    }
    let parsed = Quarter::parse(value);
    if parsed.is_none() {
        v.add(field, "must be a calendar quarter such as `2026Q3`");
    }
    parsed
}

/// The id in a required `earlyWarnings/{warning}`.
pub fn warning_name(v: &mut Violations, field: &str, name: &str) -> String {
    v.name(field, name, "earlyWarnings")
}

/// A warning state filter value.
pub fn warning_state(value: pb::WarningState) -> Option<WarningState> {
    match value {
        pb::WarningState::Unspecified => None,
        pb::WarningState::Open => Some(WarningState::Open),
        pb::WarningState::Acknowledged => Some(WarningState::Acknowledged),
        pb::WarningState::Resolved => Some(WarningState::Resolved),
    }
}

/// A warning kind filter value.
pub fn warning_kind(value: pb::WarningKind) -> Option<WarningKind> {
    match value {
        pb::WarningKind::Unspecified => None,
        pb::WarningKind::ScoreDrop => Some(WarningKind::ScoreDrop),
        pb::WarningKind::StandardBelowTarget => Some(WarningKind::StandardBelowTarget),
        pb::WarningKind::DeclineRate => Some(WarningKind::DeclineRate),
        pb::WarningKind::AtRiskBacklog => Some(WarningKind::AtRiskBackLog),
    }
}

/// The calendar quarter `quarter` names: itself, or with `fiscal` the quarter of the fiscal year
/// that starts in April of its year.
pub fn calendar_quarter(quarter: Quarter, fiscal: bool) -> Option<Quarter> {
    if fiscal {
        Quarter::from_fiscal(quarter.year, quarter.number)
    } else {
        Some(quarter)
    }
}
