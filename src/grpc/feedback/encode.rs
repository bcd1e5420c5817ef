//! Encoding feedback's records and reports as FeedbackService's messages.

use std::collections::BTreeMap;

use super::super::{citizens::encode::timestamp, convert};
use crate::{
    catalog::Snapshot,
    domain::{
        catalog::Channel,
        citizen::record::{Circumstance, Language},
        drivers::Priority,
        feedback::{AccessibilityStatus, AgeBand, Driver, Quarter, StandardResult, SubjectKind},
        report::{Cell, Dimension, Grouping, Suppressed, Tally, ratio},
        time::Timestamp,
        warnings::{WarningKind, WarningState},
    },
    feedback::{channels::ServiceChannels, drivers::KeyDrivers, public::Public, report::Report},
    proto::v1 as pb,
    store::{
        feedback_sql::{ResponseRecord, SubjectRecord},
        warning_sql::WarningRecord,
    },
};

fn agency_name(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!("agencies/{id}")
    }
}

fn service_name(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!("services/{id}")
    }
}

fn team_name(agency: &str, team: &str) -> String {
    if team.is_empty() {
        String::new()
    } else {
        format!("agencies/{agency}/teams/{team}")
    }
}

/// The name of a subject.
pub fn subject_name(request_id: &str, number: i64) -> String {
    if number == 0 {
        format!("requests/{request_id}")
    } else {
        format!("requests/{request_id}/handoffs/{number}")
    }
}

pub fn kind(k: SubjectKind) -> pb::SubjectKind {
    match k {
        SubjectKind::Handoff => pb::SubjectKind::Handoff,
        SubjectKind::Request => pb::SubjectKind::Request,
    }
}

fn driver(d: Driver) -> pb::Driver {
    match d {
        Driver::Satisfaction => pb::Driver::Satisfaction,
        Driver::Trust => pb::Driver::Trust,
        Driver::Effectiveness => pb::Driver::Effectiveness,
        Driver::Ease => pb::Driver::Ease,
        Driver::Efficiency => pb::Driver::Efficiency,
        Driver::Transparency => pb::Driver::Transparency,
        Driver::Employees => pb::Driver::Employees,
        Driver::Value => pb::Driver::Value,
    }
}

fn standard(s: Option<StandardResult>) -> pb::StandardResult {
    match s {
        None => pb::StandardResult::Unspecified,
        Some(StandardResult::Met) => pb::StandardResult::Met,
        Some(StandardResult::Missed) => pb::StandardResult::Missed,
    }
}

fn age_band(b: Option<AgeBand>) -> pb::AgeBand {
    match b {
        None => pb::AgeBand::Unspecified,
        Some(AgeBand::Under18) => pb::AgeBand::Under18,
        Some(AgeBand::From18To24) => pb::AgeBand::AgeBand18To24,
        Some(AgeBand::From25To34) => pb::AgeBand::AgeBand25To34,
        Some(AgeBand::From35To44) => pb::AgeBand::AgeBand35To44,
        Some(AgeBand::From45To54) => pb::AgeBand::AgeBand45To54,
        Some(AgeBand::From55To64) => pb::AgeBand::AgeBand55To64,
        Some(AgeBand::From65) => pb::AgeBand::AgeBand65AndOver,
    }
}

fn language(l: Option<Language>) -> pb::Language {
    match l {
        None => pb::Language::Unspecified,
        Some(Language::English) => pb::Language::English,
        Some(Language::French) => pb::Language::French,
    }
}

fn accessibility(a: Option<AccessibilityStatus>) -> pb::AccessibilityStatus {
    match a {
        None => pb::AccessibilityStatus::Unspecified,
        Some(AccessibilityStatus::HasNeeds) => pb::AccessibilityStatus::HasNeeds,
        Some(AccessibilityStatus::NoNeeds) => pb::AccessibilityStatus::NoNeeds,
    }
}

fn client_group(c: Option<Circumstance>) -> pb::Circumstance {
    match c {
        None => pb::Circumstance::Unspecified,
        Some(Circumstance::Veteran) => pb::Circumstance::Veteran,
        Some(Circumstance::Student) => pb::Circumstance::Student,
        Some(Circumstance::Newcomer) => pb::Circumstance::Newcomer,
        Some(Circumstance::Indigenous) => pb::Circumstance::Indigenous,
        Some(Circumstance::Disability) => pb::Circumstance::Disability,
        Some(Circumstance::Caregiver) => pb::Circumstance::Caregiver,
        Some(Circumstance::Senior) => pb::Circumstance::Senior,
    }
}

fn scores(r: &ResponseRecord) -> pb::Scores {
    let s = |d: Driver| i32::from(r.scores.get(d).unwrap_or(0));
    pb::Scores {
        satisfaction: s(Driver::Satisfaction),
        trust: s(Driver::Trust),
        effectiveness: s(Driver::Effectiveness),
        ease: s(Driver::Ease),
        efficiency: s(Driver::Efficiency),
        transparency: s(Driver::Transparency),
        employees: s(Driver::Employees),
        value: s(Driver::Value),
    }
}

/// A stored response on `subject`, with its comment as given, recorded at `at`.
pub fn response(
    r: &ResponseRecord,
    subject: &str,
    comment: &str,
    at: Timestamp,
) -> pb::SurveyResponse {
    pb::SurveyResponse {
        name: format!("surveyResponses/{}", r.id),
        subject: subject.to_owned(),
        kind: kind(r.kind).into(),
        scores: Some(scores(r)),
        contacts: i32::try_from(r.contacts).unwrap_or(0),
        survey_channel: convert::channel(r.survey_channel).into(),
        comment: comment.to_owned(),
        agency: agency_name(&r.agency),
        team: team_name(&r.agency, &r.team),
        officer: r.officer.clone(),
        service: service_name(&r.service_id),
        channel: convert::channel(r.channel).into(),
        from_agency: agency_name(&r.from_agency),
        standard: standard(r.standard).into(),
        segment: Some(pb::Segment {
            age_band: age_band(r.segment.age_band).into(),
            province: r
                .segment
                .province
                .map(|p| p.code().to_owned())
                .unwrap_or_default(),
            language: language(r.segment.language).into(),
            accessibility: accessibility(r.segment.accessibility).into(),
            client_group: client_group(r.segment.client_group).into(),
        }),
        quarter: r.quarter.clone(),
        record_time: Some(timestamp(at)),
    }
}

/// An invitation.
pub fn invitation(s: &SubjectRecord) -> pb::SurveyInvitation {
    pb::SurveyInvitation {
        name: format!("citizens/{}/surveyInvitations/{}", s.citizen_id, s.id),
        subject: subject_name(&s.request_id, s.number),
        kind: kind(s.kind).into(),
        agency: agency_name(&s.agency),
        service: service_name(&s.service_id),
        end_time: Some(timestamp(s.ended)),
        expire_time: Some(timestamp(s.expires)),
        responded: s.responded,
    }
}

fn grouping(g: Grouping) -> pb::ReportGrouping {
    use pb::ReportGrouping as P;
    match g {
        Grouping::Agency => P::Agency,
        Grouping::AgencyQuarter => P::AgencyQuarter,
        Grouping::Team => P::Team,
        Grouping::Service => P::Service,
        Grouping::ServiceQuarter => P::ServiceQuarter,
        Grouping::ServiceChannel => P::ServiceChannel,
        Grouping::Channel => P::Channel,
        Grouping::AgencyPair => P::AgencyPair,
        Grouping::AgencyPairQuarter => P::AgencyPairQuarter,
        Grouping::AgeBand => P::AgeBand,
        Grouping::Province => P::Province,
        Grouping::Language => P::Language,
        Grouping::Accessibility => P::Accessibility,
        Grouping::ClientGroup => P::ClientGroup,
    }
}

/// The key of a group over `dimensions`.
pub fn key(dimensions: &[Dimension], values: &[String]) -> pb::GroupKey {
    let mut key = pb::GroupKey::default();
    let mut segment: Option<pb::Segment> = None;
    let agency = dimensions
        .iter()
        .position(|d| *d == Dimension::Agency)
        .map(|i| values[i].clone())
        .unwrap_or_default();
    for (d, value) in dimensions.iter().zip(values) {
        let seg = || pb::Segment::default();
        match d {
            Dimension::Agency => key.agency = agency_name(value),
            Dimension::Team => key.team = team_name(&agency, value),
            Dimension::Service => key.service = service_name(value),
            Dimension::Channel => {
                key.channel = Channel::from_code(value)
                    .map_or(pb::Channel::Unspecified, convert::channel)
                    .into();
            }
            Dimension::Quarter => key.quarter = value.clone(),
            Dimension::FromAgency => key.from_agency = agency_name(value),
            Dimension::AgeBand => {
                segment.get_or_insert_with(seg).age_band =
                    age_band(AgeBand::from_code(value)).into();
            }
            Dimension::Province => segment.get_or_insert_with(seg).province = value.clone(),
            Dimension::Language => {
                segment.get_or_insert_with(seg).language =
                    language(Language::from_code(value)).into();
            }
            Dimension::Accessibility => {
                segment.get_or_insert_with(seg).accessibility =
                    accessibility(AccessibilityStatus::from_code(value)).into();
            }
            Dimension::ClientGroup => {
                segment.get_or_insert_with(seg).client_group =
                    client_group(Circumstance::from_code(value)).into();
            }
        }
    }
    key.segment = segment;
    key
}

fn suppression(s: Option<Suppressed>) -> pb::Suppression {
    match s {
        None => pb::Suppression::Unspecified,
        Some(Suppressed::TooFewRespondents) => pb::Suppression::TooFewRespondents,
        Some(Suppressed::Complementary) => pb::Suppression::Complementary,
    }
}

/// A group's figures; only its key and suppression when it is suppressed.
pub fn group(key: pb::GroupKey, t: &Tally, suppressed: Option<Suppressed>) -> pb::ReportGroup {
    if suppressed.is_some() {
        return pb::ReportGroup {
            key: Some(key),
            suppression: suppression(suppressed).into(),
            ..pb::ReportGroup::default()
        };
    }
    pb::ReportGroup {
        key: Some(key),
        suppression: pb::Suppression::Unspecified.into(),
        ended: t.ended,
        surveys_offered: t.offered,
        responses: t.responses,
        response_rate: ratio(t.responses, t.offered),
        drivers: Driver::ALL
            .iter()
            .map(|d| {
                let (answered, mean) = t.mean(*d);
                pb::DriverFigures {
                    driver: driver(*d).into(),
                    answered,
                    mean,
                    distribution: t.distribution[*d as usize].to_vec(),
                }
            })
            .collect(),
        share_satisfied: t.share_satisfied(),
        mean_contacts: ratio(t.contacts, t.contacts_said),
        with_standard: t.with_standard,
        share_met_standard: ratio(t.met, t.with_standard),
    }
}

/// A report as the caller may read it.
pub fn report(
    r: &Report,
    (g, subject, quarter): (Grouping, SubjectKind, Option<String>),
    minimum: i64,
    unsuppressed: bool,
) -> pb::SatisfactionReport {
    let cell = |c: &Cell| group(key(&r.dimensions, &c.key), &c.tally, c.suppressed);
    pb::SatisfactionReport {
        grouping: grouping(g).into(),
        subject: kind(subject).into(),
        quarter: quarter.unwrap_or_default(),
        groups: r.groups.iter().map(cell).collect(),
        total: Some(group(pb::GroupKey::default(), &r.total, r.total_suppressed)),
        minimum_respondents: i32::try_from(minimum).unwrap_or(i32::MAX),
        unsuppressed,
        method: if unsuppressed {
            "Unsuppressed figures, read by an auditor (the read is logged).".to_owned()
        } else {
            crate::domain::report::METHOD.to_owned()
        },
    }
}

fn priority(p: Option<Priority>) -> pb::DriverPriority {
    match p {
        None => pb::DriverPriority::Unspecified,
        Some(Priority::FixFirst) => pb::DriverPriority::FixFirst,
        Some(Priority::Maintain) => pb::DriverPriority::Maintain,
        Some(Priority::Monitor) => pb::DriverPriority::Monitor,
        Some(Priority::Lower) => pb::DriverPriority::Lower,
    }
}

/// Key drivers of a scope.
pub fn key_drivers(
    k: &KeyDrivers,
    (agency, service, quarter, subject): (&str, &str, &str, SubjectKind),
) -> pb::KeyDrivers {
    pb::KeyDrivers {
        agency: agency_name(agency),
        service: service_name(service),
        quarter: quarter.to_owned(),
        subject: kind(subject).into(),
        responses: k.responses,
        suppressed: k.suppressed,
        drivers: k
            .drivers
            .iter()
            .map(|i| pb::DriverImportance {
                driver: driver(i.driver).into(),
                answered: i.answered,
                mean: i.mean,
                correlation_with_satisfaction: i.with_satisfaction,
                correlation_with_value: i.with_value,
                answered_with_value: i.answered_with_value,
                priority: priority(i.priority).into(),
                opportunity: i.opportunity,
            })
            .collect(),
        method: crate::domain::drivers::METHOD.to_owned(),
    }
}

fn warning_kind(k: WarningKind) -> pb::WarningKind {
    match k {
        WarningKind::ScoreDrop => pb::WarningKind::ScoreDrop,
        WarningKind::StandardBelowTarget => pb::WarningKind::StandardBelowTarget,
        WarningKind::DeclineRate => pb::WarningKind::DeclineRate,
        WarningKind::AtRiskBackLog => pb::WarningKind::AtRiskBacklog,
    }
}

fn warning_state(s: WarningState) -> pb::WarningState {
    match s {
        WarningState::Open => pb::WarningState::Open,
        WarningState::Acknowledged => pb::WarningState::Acknowledged,
        WarningState::Resolved => pb::WarningState::Resolved,
    }
}

/// A warning in words, English and French.
fn summary(w: &WarningRecord) -> pb::LocalizedText {
    let k = &w.key;
    let f = &w.figures;
    let who = if k.service_id.is_empty() {
        format!("agencies/{}", k.agency)
    } else {
        format!("services/{} (agencies/{})", k.service_id, k.agency)
    };
    let pct = |x: f64| format!("{:.0} %", x * 100.0);
    let (en, fr) = match k.kind {
        WarningKind::ScoreDrop => {
            let d = k.driver.map_or("satisfaction", Driver::code);
            (
                format!(
                    "The mean {d} score of {who} fell from {:.2} to {:.2} in {} ({} responses against {}; p = {:.4}).",
                    f.baseline,
                    f.current,
                    k.period,
                    f.current_count,
                    f.baseline_count,
                    f.p_value.unwrap_or(1.0)
                ),
                format!(
                    "Le score moyen « {d} » de {who} est passé de {:.2} à {:.2} en {} ({} réponses contre {}; p = {:.4}).",
                    f.baseline,
                    f.current,
                    k.period,
                    f.current_count,
                    f.baseline_count,
                    f.p_value.unwrap_or(1.0)
                ),
            )
        }
        WarningKind::StandardBelowTarget => (
            format!(
                "services/{}/standards/{} was met in {} of {} legs in {}, under its target of {}.",
                k.service_id,
                k.standard_id,
                pct(f.current),
                f.current_count,
                k.period,
                pct(f.baseline)
            ),
            format!(
                "La norme services/{}/standards/{} a été respectée dans {} de {} étapes en {}, sous sa cible de {}.",
                k.service_id,
                k.standard_id,
                pct(f.current),
                f.current_count,
                k.period,
                pct(f.baseline)
            ),
        ),
        WarningKind::DeclineRate => {
            let from = if k.from_agency.is_empty() {
                "citizens' portals".to_owned()
            } else {
                format!("agencies/{}", k.from_agency)
            };
            (
                format!(
                    "agencies/{} declined {} of the {} legs {from} handed it in {} (threshold {}).",
                    k.agency,
                    pct(f.current),
                    f.current_count,
                    k.period,
                    pct(f.threshold)
                ),
                format!(
                    "agencies/{} a refusé {} des {} étapes transmises par {from} en {} (seuil {}).",
                    k.agency,
                    pct(f.current),
                    f.current_count,
                    k.period,
                    pct(f.threshold)
                ),
            )
        }
        WarningKind::AtRiskBackLog => (
            format!(
                "agencies/{} has {} open legs at risk or breached on {}, against {} a week before.",
                k.agency, f.current, k.period, f.baseline
            ),
            format!(
                "agencies/{} a {} étapes ouvertes à risque ou en retard le {}, contre {} une semaine plus tôt.",
                k.agency, f.current, k.period, f.baseline
            ),
        ),
    };
    pb::LocalizedText { en, fr }
}

/// An early warning.
pub fn warning(w: &WarningRecord) -> pb::EarlyWarning {
    let k = &w.key;
    let f = &w.figures;
    pb::EarlyWarning {
        name: format!("earlyWarnings/{}", w.id),
        kind: warning_kind(k.kind).into(),
        agency: agency_name(&k.agency),
        service: service_name(&k.service_id),
        standard: if k.standard_id.is_empty() {
            String::new()
        } else {
            format!("services/{}/standards/{}", k.service_id, k.standard_id)
        },
        from_agency: agency_name(&k.from_agency),
        driver: k.driver.map_or(pb::Driver::Unspecified, driver).into(),
        period: k.period.clone(),
        current_value: f.current,
        baseline_value: f.baseline,
        threshold: f.threshold,
        current_count: f.current_count,
        baseline_count: f.baseline_count,
        p_value: f.p_value.unwrap_or(0.0),
        state: warning_state(w.state).into(),
        action: w.action.clone(),
        acknowledged_by: w.acknowledged_by.clone(),
        acknowledge_time: w.acknowledged.map(timestamp),
        raise_time: Some(timestamp(w.raised)),
        update_time: Some(timestamp(w.updated)),
        resolve_time: w.resolved.map(timestamp),
        etag: format!("\"v{}\"", w.version),
        summary: Some(summary(w)),
    }
}

fn channel_figures(
    mix: &BTreeMap<Channel, i64>,
    before: Option<&BTreeMap<Channel, i64>>,
) -> Vec<pb::ChannelFigure> {
    let total: i64 = mix.values().sum();
    let before_total: i64 = before.map_or(0, |b| b.values().sum());
    mix.iter()
        .map(|(channel, requests)| {
            let share = ratio(*requests, total);
            let shift = before.map_or(0.0, |b| {
                share - ratio(b.get(channel).copied().unwrap_or(0), before_total)
            });
            pb::ChannelFigure {
                channel: convert::channel(*channel).into(),
                requests: *requests,
                share,
                shift,
            }
        })
        .collect()
}

/// One service's channels.
pub fn service_channels(id: &str, snapshot: &Snapshot, c: &ServiceChannels) -> pb::ServiceChannels {
    let service = snapshot.service(id);
    let mut previous: Option<&BTreeMap<Channel, i64>> = None;
    let mut quarters = Vec::with_capacity(c.quarters.len());
    for (quarter, mix) in &c.quarters {
        quarters.push(pb::QuarterChannels {
            quarter: quarter.clone(),
            requests: mix.values().sum(),
            channels: channel_figures(mix, previous),
        });
        previous = Some(mix);
    }
    pb::ServiceChannels {
        service: service_name(id),
        display_name: service.and_then(|s| convert::text(&s.name)),
        agency: service.map(|s| agency_name(&s.agency)).unwrap_or_default(),
        quarters,
        overall: channel_figures(&c.overall, None),
        published: service.and_then(|s| convert::volumes(&s.volumes)),
        satisfaction: c
            .satisfaction
            .iter()
            .map(|cell| {
                let shown = cell.suppressed.is_none();
                let t = &cell.tally;
                let (_, mean) = t.mean(Driver::Satisfaction);
                pb::ChannelSatisfaction {
                    channel: Channel::from_code(&cell.key[2])
                        .map_or(pb::Channel::Unspecified, convert::channel)
                        .into(),
                    suppression: suppression(cell.suppressed).into(),
                    responses: if shown { t.responses } else { 0 },
                    mean_satisfaction: if shown { mean } else { 0.0 },
                    share_satisfied: if shown { t.share_satisfied() } else { 0.0 },
                    agency: agency_name(&cell.key[0]),
                }
            })
            .collect(),
    }
}

/// The public report.
pub fn public_report(
    p: &Public,
    quarter: Quarter,
    snapshot: Option<&Snapshot>,
    minimum: i64,
) -> pb::PublicReport {
    let (fiscal_year, fiscal_number) = quarter.fiscal();
    let rows = p
        .report
        .groups
        .iter()
        .map(|cell| {
            let g = group(
                key(&p.report.dimensions, &cell.key),
                &cell.tally,
                cell.suppressed,
            );
            pb::PublicReportRow {
                agency: agency_name(&cell.key[0]),
                service: service_name(&cell.key[1]),
                display_name: snapshot
                    .and_then(|s| s.service(&cell.key[1]))
                    .and_then(|s| convert::text(&s.name)),
                channel: Channel::from_code(&cell.key[2])
                    .map_or(pb::Channel::Unspecified, convert::channel)
                    .into(),
                suppression: g.suppression,
                customers: g.ended,
                surveys_offered: g.surveys_offered,
                respondents: g.responses,
                response_rate: g.response_rate,
                drivers: g.drivers,
                share_satisfied: g.share_satisfied,
            }
        })
        .collect();
    pb::PublicReport {
        quarter: quarter.to_string(),
        fiscal_quarter: format!(
            "{}-{:02} Q{}",
            fiscal_year,
            (i32::from(fiscal_year) + 1) % 100,
            fiscal_number
        ),
        rows,
        actions: p
            .actions
            .iter()
            .map(|w| pb::ActionTaken {
                agency: agency_name(&w.key.agency),
                warning: format!("earlyWarnings/{}", w.id),
                summary: Some(summary(w)),
                action: w.action.clone(),
                acknowledge_time: w.acknowledged.map(timestamp),
            })
            .collect(),
        minimum_respondents: i32::try_from(minimum).unwrap_or(i32::MAX),
        method: crate::domain::report::METHOD.to_owned(),
        wrong_doors: p
            .wrong_doors
            .iter()
            .map(|w| pb::WrongDoorRow {
                from_agency: agency_name(&w.from_agency),
                to_agency: agency_name(&w.to_agency),
                suppression: if w.suppressed {
                    pb::Suppression::TooFewRespondents
                } else {
                    pb::Suppression::Unspecified
                }
                .into(),
                answered: w.answered,
                declined: w.declined,
                decline_rate: if w.answered > 0 {
                    w.declined as f64 / w.answered as f64
                } else {
                    0.0
                },
            })
            .collect(),
    }
}
