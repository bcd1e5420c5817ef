//! A request's journey in words a citizen understands, in English and French: each leg, what
//! happened on it, and how it stands against its service's published standard.

use super::encode::{
    View, handoff_name, leg_clock, leg_steps, request_clock, request_name, state, status,
};
use crate::{
    catalog::Snapshot,
    domain::{
        catalog::Text,
        due::ClockStatus,
        handoff::LegState,
        request::{HandoffReason, RequestStatus},
        time::Timestamp,
    },
    grpc::citizens::encode::timestamp,
    proto::v1 as pb,
    requests::{Loaded, read::Read},
    store::request_sql::{HandoffRecord, StepRecord},
};

fn text(en: String, fr: String) -> Option<pb::LocalizedText> {
    Some(pb::LocalizedText { en, fr })
}

/// An agency's or a service's name from the catalogue, or its id when the catalogue lacks it.
fn agency(snapshot: &Snapshot, id: &str) -> Text {
    snapshot.agency(id).map_or_else(
        || Text {
            en: id.to_owned(),
            fr: id.to_owned(),
        },
        |a| a.name.clone(),
    )
}

fn service(snapshot: &Snapshot, id: &str) -> Text {
    snapshot.service(id).map_or_else(
        || Text {
            en: id.to_owned(),
            fr: id.to_owned(),
        },
        |s| s.name.clone(),
    )
}

/// What the offer of a leg means for the citizen.
fn offered(h: &HandoffRecord, a: &Text, s: &Text) -> (String, String) {
    match h.reason {
        HandoffReason::Direct => (
            format!("{} took your request for {}.", a.en, s.en),
            format!("{} a pris en charge votre demande pour {}.", a.fr, s.fr),
        ),
        HandoffReason::WrongDoor => (
            format!(
                "Your request was passed to {}, which delivers {}.",
                a.en, s.en
            ),
            format!(
                "Votre demande a été transmise à {}, qui offre {}.",
                a.fr, s.fr
            ),
        ),
        HandoffReason::Referral => (
            format!("Your request was referred to {} for {}.", a.en, s.en),
            format!("Votre demande a été dirigée vers {} pour {}.", a.fr, s.fr),
        ),
        HandoffReason::DeliveryPartner => (
            format!(
                "Your request was passed to {}, which delivers {} where you live.",
                a.en, s.en
            ),
            format!(
                "Votre demande a été transmise à {}, qui offre {} là où vous habitez.",
                a.fr, s.fr
            ),
        ),
        HandoffReason::LifeEvent => (
            format!(
                "For your life event, your request for {} was sent to {}.",
                s.en, a.en
            ),
            format!(
                "Pour votre événement de vie, votre demande pour {} a été transmise à {}.",
                s.fr, a.fr
            ),
        ),
        HandoffReason::Escalation => (
            format!(
                "No agency could take your request yet; {} is looking into it.",
                a.en
            ),
            format!(
                "Aucun organisme n'a encore pu prendre votre demande; {} s'en occupe.",
                a.fr
            ),
        ),
    }
}

/// What a step means for the citizen.
fn step_words(
    h: &HandoffRecord,
    s: &StepRecord,
    previous: Option<LegState>,
    a: &Text,
    svc: &Text,
) -> (String, String) {
    let with = |en: &str, fr: &str| {
        if s.text.is_empty() {
            (format!("{en}."), format!("{fr}."))
        } else {
            (format!("{en}: {}", s.text), format!("{fr} : {}", s.text))
        }
    };
    match s.state {
        LegState::Offered => offered(h, a, svc),
        LegState::Accepted => (
            format!("{} accepted your request.", a.en),
            format!("{} a accepté votre demande.", a.fr),
        ),
        LegState::InProgress if previous == Some(LegState::WaitingOnCitizen) => (
            format!("{} resumed work on your request.", a.en),
            format!("{} a repris le traitement de votre demande.", a.fr),
        ),
        LegState::InProgress => (
            format!("{} started working on your request.", a.en),
            format!("{} a commencé à traiter votre demande.", a.fr),
        ),
        LegState::WaitingOnCitizen => with(
            &format!("{} is waiting for you (the clock is paused)", a.en),
            &format!(
                "{} attend une action de votre part (le délai est suspendu)",
                a.fr
            ),
        ),
        LegState::Completed => with(
            &format!("{} completed your request", a.en),
            &format!("{} a terminé votre demande", a.fr),
        ),
        LegState::Declined => with(
            &format!("{} could not take your request", a.en),
            &format!("{} n'a pas pu prendre votre demande", a.fr),
        ),
        LegState::Withdrawn => with("Your request was withdrawn", "Votre demande a été retirée"),
        LegState::Abandoned => (
            format!(
                "{} closed this step because it did not hear from you in time.",
                a.en
            ),
            format!(
                "{} a fermé cette étape faute de réponse de votre part à temps.",
                a.fr
            ),
        ),
    }
}

/// `2026-12-15 14:00` in `zone`.
fn local_time(t: Timestamp, zone: &str) -> String {
    let Some(tz) = crate::domain::due::time_zone(zone) else {
        return String::new();
    };
    jiff::Timestamp::from_millisecond(t.unix_millis())
        .map(|ts| {
            ts.to_zoned_datetime(tz)
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// A length of time in words: days, hours or minutes (at least one), in English and French.
fn length(millis: i64) -> (String, String) {
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    let (n, en, fr) = if millis >= DAY {
        ((millis + DAY / 2) / DAY, "day", "jour")
    } else if millis >= HOUR {
        ((millis + HOUR / 2) / HOUR, "hour", "heure")
    } else {
        ((millis + 59_999) / 60_000, "minute", "minute")
    };
    let plural = if n > 1 { "s" } else { "" };
    (format!("{n} {en}{plural}"), format!("{n} {fr}{plural}"))
}

/// How a leg stands against its standard.
fn summary(
    view: View<'_>,
    loaded: &Loaded,
    h: &HandoffRecord,
    svc: &Text,
) -> Option<pb::LocalizedText> {
    let clock = leg_clock(view, loaded, h);
    let r = clock.reading;
    let Some(due) = r.due else {
        return text(
            format!(
                "{} publishes no time limit, so this step has no due date.",
                svc.en
            ),
            format!(
                "{} ne publie aucun délai; cette étape n'a donc pas d'échéance.",
                svc.fr
            ),
        );
    };
    let standard = &clock.proto.standard_text;
    let (sen, sfr) = standard
        .as_ref()
        .map_or((String::new(), String::new()), |t| {
            (t.en.clone(), t.fr.clone())
        });
    let when = local_time(due, &h.time_zone);
    let used = (r.share_used * 100.0).round();
    let (en, fr) = match r.status {
        ClockStatus::OnTrack => (
            format!("On track: {used}% of the time allowed is used."),
            format!("Dans les délais : {used} % du temps alloué est utilisé."),
        ),
        ClockStatus::AtRisk => (
            format!("At risk: {used}% of the time allowed is used."),
            format!("À risque : {used} % du temps alloué est utilisé."),
        ),
        ClockStatus::Breached => (
            "Late: the due date has passed.".to_owned(),
            "En retard : l'échéance est dépassée.".to_owned(),
        ),
        ClockStatus::Met => (
            "Done within the standard.".to_owned(),
            "Terminé dans le délai de la norme.".to_owned(),
        ),
        ClockStatus::Missed => (
            "Done, but after the due date.".to_owned(),
            "Terminé, mais après l'échéance.".to_owned(),
        ),
        ClockStatus::NoStandard => (String::new(), String::new()),
    };
    let paused = if r.paused_millis > 0 {
        let (en, fr) = length(r.paused_millis);
        (
            format!(" Paused {en} while waiting for you (not counted)."),
            format!(" Suspendu {fr} en attendant votre réponse (non compté)."),
        )
    } else {
        (String::new(), String::new())
    };
    text(
        format!(
            "Standard: “{sen}”. Due {when} ({}). {en}{}",
            h.time_zone, paused.0
        ),
        format!(
            "Norme : « {sfr} ». Échéance : {when} ({}). {fr}{}",
            h.time_zone, paused.1
        ),
    )
}

fn legs(view: View<'_>, loaded: &Loaded) -> Vec<pb::JourneyLeg> {
    loaded
        .handoffs
        .iter()
        .map(|h| {
            let a = agency(view.snapshot, &h.to_agency);
            let svc = service(view.snapshot, &h.service_id);
            let mut previous = None;
            let events = leg_steps(loaded, h.number)
                .into_iter()
                .map(|s| {
                    let (en, fr) = step_words(h, s, previous, &a, &svc);
                    previous = Some(s.state);
                    pb::JourneyEvent {
                        time: Some(timestamp(s.at)),
                        text: text(en, fr),
                        state: state(s.state).into(),
                    }
                })
                .collect();
            pb::JourneyLeg {
                handoff: handoff_name(&loaded.request.id, h.number),
                agency: format!("agencies/{}", h.to_agency),
                agency_name: super::super::convert::text(&a),
                service: format!("services/{}", h.service_id),
                service_name: super::super::convert::text(&svc),
                state: state(h.state).into(),
                summary: summary(view, loaded, h, &svc),
                clock: Some(leg_clock(view, loaded, h).proto),
                events,
            }
        })
        .collect()
}

/// The journey of a request read with its children.
pub fn journey(view: View<'_>, read: &Read) -> pb::Journey {
    let loaded = &read.loaded;
    let r = &loaded.request;
    let owner = agency(view.snapshot, &r.owner_agency);
    let (en, fr) = match r.status {
        RequestStatus::Open if r.needs_attention => (
            format!(
                "Your request is with {}, which is finding who can help.",
                owner.en
            ),
            format!(
                "Votre demande est entre les mains de {}, qui cherche qui peut vous aider.",
                owner.fr
            ),
        ),
        RequestStatus::Open => (
            format!("Your request is with {}.", owner.en),
            format!("Votre demande est entre les mains de {}.", owner.fr),
        ),
        RequestStatus::Completed => (
            "Your request is complete.".to_owned(),
            "Votre demande est terminée.".to_owned(),
        ),
        RequestStatus::Withdrawn => (
            "Your request was withdrawn.".to_owned(),
            "Votre demande a été retirée.".to_owned(),
        ),
        RequestStatus::Abandoned => (
            "Your request was closed because we did not hear from you in time.".to_owned(),
            "Votre demande a été fermée faute de réponse de votre part à temps.".to_owned(),
        ),
    };
    let mut all_legs = legs(view, loaded);
    for child in &read.children {
        all_legs.extend(legs(view, child));
    }
    all_legs.sort_by_key(|l| {
        l.clock
            .as_ref()
            .and_then(|c| c.start_time)
            .map(|t| (t.seconds, t.nanos))
    });
    pb::Journey {
        request: request_name(&r.id),
        status: status(r.status).into(),
        summary: text(en, fr),
        clock: Some(request_clock(view, loaded).proto),
        legs: all_legs,
    }
}
