//! Requests, legs, clocks and journeys as the API returns them.

use prost_types::Duration as PbDuration;

use super::super::{
    citizens::encode::{category, citizen, citizen_name, timestamp},
    convert,
};
use crate::{
    catalog::Snapshot,
    domain::{
        citizen::record::Citizen,
        consent::Categories,
        due::{self, ClockReading, ClockStatus},
        handoff::{LegClock, LegState},
        names::{AGENCIES, SERVICES},
        request::{DeclineReason, HandoffReason, Outcome, RequestStatus},
        routing::Status as Eligibility,
        time::Timestamp,
    },
    proto::v1::{self as pb, need},
    requests::{Loaded, RequestsConfig},
    store::request_sql::{HandoffRecord, StepRecord, StoredNeed},
};

/// What encoding needs besides the request: the catalogue, the time and the clock settings.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub snapshot: &'a Snapshot,
    pub config: &'a RequestsConfig,
    pub now: Timestamp,
}

fn agency_name(id: &str) -> String {
    format!("{AGENCIES}/{id}")
}

fn service_name(id: &str) -> String {
    format!("{SERVICES}/{id}")
}

/// `requests/{id}`.
pub fn request_name(id: &str) -> String {
    format!("requests/{id}")
}

/// `requests/{id}/handoffs/{number}`.
pub fn handoff_name(id: &str, number: i64) -> String {
    format!("requests/{id}/handoffs/{number}")
}

fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

fn duration(millis: i64) -> Option<PbDuration> {
    Some(PbDuration {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    })
}

fn categories(c: Categories) -> Vec<i32> {
    c.iter().map(|c| category(c) as i32).collect()
}

pub(super) fn state(s: LegState) -> pb::HandoffState {
    match s {
        LegState::Offered => pb::HandoffState::Offered,
        LegState::Accepted => pb::HandoffState::Accepted,
        LegState::InProgress => pb::HandoffState::InProgress,
        LegState::WaitingOnCitizen => pb::HandoffState::WaitingOnCitizen,
        LegState::Completed => pb::HandoffState::Completed,
        LegState::Declined => pb::HandoffState::Declined,
        LegState::Withdrawn => pb::HandoffState::Withdrawn,
        LegState::Abandoned => pb::HandoffState::Abandoned,
    }
}

/// The proto status of a request.
pub fn status(s: RequestStatus) -> pb::RequestStatus {
    match s {
        RequestStatus::Open => pb::RequestStatus::Open,
        RequestStatus::Completed => pb::RequestStatus::Completed,
        RequestStatus::Withdrawn => pb::RequestStatus::Withdrawn,
        RequestStatus::Abandoned => pb::RequestStatus::Abandoned,
    }
}

fn reason(r: HandoffReason) -> pb::HandoffReason {
    match r {
        HandoffReason::Direct => pb::HandoffReason::Direct,
        HandoffReason::WrongDoor => pb::HandoffReason::WrongDoor,
        HandoffReason::Referral => pb::HandoffReason::Referral,
        HandoffReason::DeliveryPartner => pb::HandoffReason::DeliveryPartner,
        HandoffReason::LifeEvent => pb::HandoffReason::LifeEvent,
        HandoffReason::Escalation => pb::HandoffReason::Escalation,
    }
}

fn decline_reason(r: Option<DeclineReason>) -> pb::DeclineReason {
    match r {
        None => pb::DeclineReason::Unspecified,
        Some(DeclineReason::NotOurMandate) => pb::DeclineReason::NotOurMandate,
        Some(DeclineReason::NotEligible) => pb::DeclineReason::NotEligible,
        Some(DeclineReason::OutsideJurisdiction) => pb::DeclineReason::OutsideJurisdiction,
        Some(DeclineReason::Duplicate) => pb::DeclineReason::Duplicate,
        Some(DeclineReason::InsufficientInformation) => pb::DeclineReason::InsufficientInformation,
        Some(DeclineReason::Other) => pb::DeclineReason::Other,
    }
}

fn outcome(o: Option<Outcome>) -> pb::HandoffOutcome {
    match o {
        None => pb::HandoffOutcome::Unspecified,
        Some(Outcome::Delivered) => pb::HandoffOutcome::Delivered,
        Some(Outcome::Refused) => pb::HandoffOutcome::Refused,
        Some(Outcome::InformationProvided) => pb::HandoffOutcome::InformationProvided,
        Some(Outcome::CitizenDeclined) => pb::HandoffOutcome::CitizenDeclined,
    }
}

fn clock_status(s: ClockStatus) -> pb::ClockStatus {
    match s {
        ClockStatus::NoStandard => pb::ClockStatus::NoStandard,
        ClockStatus::OnTrack => pb::ClockStatus::OnTrack,
        ClockStatus::AtRisk => pb::ClockStatus::AtRisk,
        ClockStatus::Breached => pb::ClockStatus::Breached,
        ClockStatus::Met => pb::ClockStatus::Met,
        ClockStatus::Missed => pb::ClockStatus::Missed,
    }
}

/// The pauses of a leg, from its steps.
fn pauses(steps: &[&StepRecord]) -> Vec<pb::Pause> {
    let mut out: Vec<pb::Pause> = Vec::new();
    for s in steps {
        if let Some(open) = out.last_mut().filter(|p| p.end_time.is_none()) {
            open.end_time = Some(timestamp(s.at));
        }
        if s.state == LegState::WaitingOnCitizen {
            out.push(pb::Pause {
                start_time: Some(timestamp(s.at)),
                end_time: None,
                reason: s.text.clone(),
            });
        }
    }
    out
}

/// A clock read now, with its standard.
pub struct ReadClock {
    pub reading: ClockReading,
    pub proto: pb::Clock,
}

fn clock(
    view: View<'_>,
    clock: &LegClock,
    (service_id, standard_id): (&str, Option<&str>),
    due_base: Option<Timestamp>,
    zone: &str,
    pauses: Vec<pb::Pause>,
) -> ReadClock {
    let reading = due::read(clock, due_base, view.now, view.config.at_risk_share);
    let standard = standard_id.and_then(|s| view.snapshot.standard(service_id, s));
    let proto = pb::Clock {
        standard: standard
            .map(|s| crate::domain::names::format_standard(&s.service_id, &s.id))
            .unwrap_or_default(),
        standard_text: standard.and_then(|s| convert::text(&s.text)),
        threshold: standard
            .and_then(|s| s.thresholds.first())
            .map(convert::threshold),
        start_time: Some(timestamp(clock.offered)),
        due_time: reading.due.map(timestamp),
        end_time: clock.ended.map(timestamp),
        elapsed: duration(reading.elapsed_millis),
        paused: duration(reading.paused_millis),
        share_used: reading.share_used,
        status: clock_status(reading.status).into(),
        time_zone: zone.to_owned(),
        pauses,
    };
    ReadClock { reading, proto }
}

pub(super) fn leg_steps(loaded: &Loaded, number: i64) -> Vec<&StepRecord> {
    loaded.steps.iter().filter(|s| s.number == number).collect()
}

/// A leg's clock.
pub fn leg_clock(view: View<'_>, loaded: &Loaded, h: &HandoffRecord) -> ReadClock {
    clock(
        view,
        &h.clock,
        (&h.service_id, h.standard_id.as_deref()),
        h.due_base,
        &h.time_zone,
        pauses(&leg_steps(loaded, h.number)),
    )
}

/// The request's end-to-end clock: from its opening to its end, its primary legs' pauses
/// excluded, against its current service's standard.
pub fn request_clock(view: View<'_>, loaded: &Loaded) -> ReadClock {
    let r = &loaded.request;
    let primaries: Vec<&HandoffRecord> = loaded.handoffs.iter().filter(|h| h.primary).collect();
    let current = primaries.last();
    let end_to_end = LegClock {
        offered: r.created,
        paused_since: current.and_then(|h| h.clock.paused_since),
        paused_millis: primaries.iter().map(|h| h.clock.paused_millis).sum(),
        ended: r.ended,
        last: r.updated,
    };
    let all_pauses = primaries
        .iter()
        .flat_map(|h| pauses(&leg_steps(loaded, h.number)))
        .collect();
    let zone = current.map_or(view.config.default_time_zone.as_str(), |h| {
        h.time_zone.as_str()
    });
    let service = current.map_or("", |h| h.service_id.as_str());
    clock(
        view,
        &end_to_end,
        (service, r.standard_id.as_deref()),
        r.due_base,
        zone,
        all_pauses,
    )
}

fn handoff(view: View<'_>, loaded: &Loaded, h: &HandoffRecord) -> pb::Handoff {
    let id = &loaded.request.id;
    pb::Handoff {
        name: handoff_name(id, h.number),
        from_agency: h
            .from_agency
            .as_deref()
            .map(agency_name)
            .unwrap_or_default(),
        to_agency: agency_name(&h.to_agency),
        service: service_name(&h.service_id),
        reason: reason(h.reason).into(),
        state: state(h.state).into(),
        primary: h.primary,
        referred_from: h
            .referred_from
            .map(|n| handoff_name(id, n))
            .unwrap_or_default(),
        note: h.note.clone(),
        shared_categories: categories(h.shared),
        decline_reason: decline_reason(h.decline_reason).into(),
        outcome: outcome(h.outcome).into(),
        clock: Some(leg_clock(view, loaded, h).proto),
        steps: leg_steps(loaded, h.number)
            .into_iter()
            .map(|s| pb::HandoffStep {
                state: state(s.state).into(),
                time: Some(timestamp(s.at)),
                actor: s.actor.clone(),
                officer: s.officer.clone(),
                text: s.text.clone(),
            })
            .collect(),
        needs_attention: h.needs_attention,
        etag: etag(h.version),
    }
}

fn eligibility(e: Option<Eligibility>) -> pb::EligibilityStatus {
    match e {
        None => pb::EligibilityStatus::NoRules,
        Some(Eligibility::Met) => pb::EligibilityStatus::Met,
        Some(Eligibility::Unknown) => pb::EligibilityStatus::Unknown,
        Some(Eligibility::Failed) => pb::EligibilityStatus::Failed,
    }
}

/// The request as a party sees it; `context` is the record released to the calling agency.
pub fn request(
    view: View<'_>,
    loaded: &Loaded,
    context: Option<&(Citizen, Categories)>,
) -> pb::Request {
    let r = &loaded.request;
    let primary = loaded.handoffs.iter().rev().find(|h| h.primary);
    pb::Request {
        name: request_name(&r.id),
        citizen: citizen_name(&r.citizen_id),
        need: Some(pb::Need {
            need: Some(match &r.need {
                StoredNeed::Text(t) => need::Need::Text(t.clone()),
                StoredNeed::Service(s) => need::Need::Service(service_name(s)),
                StoredNeed::LifeEvent(e) => need::Need::LifeEvent(format!("lifeEvents/{e}")),
            }),
        }),
        entry_point: Some(pb::EntryPoint {
            agency: r
                .entry_agency
                .as_deref()
                .map(agency_name)
                .unwrap_or_default(),
            channel: convert::channel(r.entry_channel).into(),
        }),
        opened_by: r.opened_by.clone(),
        officer: r.officer.clone(),
        status: status(r.status).into(),
        service: primary
            .map(|h| service_name(&h.service_id))
            .unwrap_or_default(),
        owner_agency: agency_name(&r.owner_agency),
        needs_attention: r.needs_attention,
        parent: r.parent_id.as_deref().map(request_name).unwrap_or_default(),
        children: loaded
            .children
            .iter()
            .map(|c| request_name(&c.id))
            .collect(),
        handoffs: loaded
            .handoffs
            .iter()
            .map(|h| handoff(view, loaded, h))
            .collect(),
        ranking: loaded
            .ranking
            .iter()
            .map(|c| pb::RankedService {
                service: service_name(&c.service),
                agency: agency_name(&c.agency),
                score: c.score,
                eligibility: eligibility(c.eligibility).into(),
                offered: loaded
                    .handoffs
                    .iter()
                    .any(|h| h.service_id == c.service && h.to_agency == c.agency),
            })
            .collect(),
        not_opened: loaded
            .not_opened
            .iter()
            .map(|n| pb::NotOpened {
                service: service_name(&n.service_id),
                reason: convert::text(&n.reason),
            })
            .collect(),
        note: r.note.clone(),
        attachments: loaded
            .attachments
            .iter()
            .map(|a| pb::Attachment {
                filename: a.filename.clone(),
                media_type: a.media_type.clone(),
                content: a.content.clone(),
                sha256: a.sha256.clone(),
            })
            .collect(),
        clock: Some(request_clock(view, loaded).proto),
        create_time: Some(timestamp(r.created)),
        update_time: Some(timestamp(r.updated)),
        end_time: r.ended.map(timestamp),
        etag: etag(r.version),
        context_categories: context.map(|(_, c)| categories(*c)).unwrap_or_default(),
        context: context.map(|(c, shown)| citizen(c, *shown)),
        shared_categories: categories(r.shared),
    }
}
