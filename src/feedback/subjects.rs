//! Survey subjects: what was true of a leg or a request when it ended, stored in the transaction
//! that ended it. Completed and declined legs invite a survey (a declined leg is a wrong door, the
//! experience most worth hearing about); withdrawn and abandoned legs count as ended but invite
//! none. A top-level request invites one when it completes; child requests of a life event do not
//! (their parent speaks for the whole journey).

use crate::{
    domain::{
        due::{self, ClockStatus},
        feedback::{Quarter, StandardResult, SubjectKind},
        handoff::LegState,
        principal::Principal,
        request::RequestStatus,
        time::Timestamp,
    },
    records::new_id,
    requests::RequestsConfig,
    store::{
        StoreResult, Tx,
        feedback_sql::{self, SubjectRecord},
        request_sql::{HandoffRecord, RequestRecord},
    },
};

/// The quarter `at` falls in, in the configured zone (UTC if the zone is unknown).
pub fn quarter_of(config: &RequestsConfig, at: Timestamp) -> Quarter {
    let zone = due::time_zone(&config.default_time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    Quarter::of(at, &zone)
}

/// The team id in an actor's principal name (`agencies/a/teams/t` gives `t`), or ''.
fn team_of(actor: &str) -> String {
    match Principal::parse(actor, None) {
        Ok(Principal::Agency { team: Some(t), .. }) => t,
        _ => String::new(),
    }
}

/// Whether leg `h`, ended at `at`, met its standard (completed legs with a standard only).
fn leg_standard(h: &HandoffRecord, at_risk_share: f64, at: Timestamp) -> Option<StandardResult> {
    if h.state != LegState::Completed {
        return None;
    }
    match due::read(&h.clock, h.due_base, at, at_risk_share).status {
        ClockStatus::Met => Some(StandardResult::Met),
        ClockStatus::Missed => Some(StandardResult::Missed),
        _ => None,
    }
}

/// Stores leg `h` of `request` as ended by `actor` (principal name, officer) at `at`.
pub async fn leg_ended(
    tx: &mut Tx,
    config: &RequestsConfig,
    request: &RequestRecord,
    h: &HandoffRecord,
    actor: (&str, &str),
    at: Timestamp,
) -> StoreResult<()> {
    let subject = SubjectRecord {
        id: new_id(),
        citizen_id: request.citizen_id.clone(),
        request_id: request.id.clone(),
        number: h.number,
        kind: SubjectKind::Handoff,
        ended_as: h.state.code().to_owned(),
        invited: matches!(h.state, LegState::Completed | LegState::Declined),
        agency: h.to_agency.clone(),
        team: team_of(actor.0),
        officer: actor.1.to_owned(),
        service_id: h.service_id.clone(),
        channel: request.entry_channel,
        from_agency: h.from_agency.clone().unwrap_or_default(),
        entry_agency: request.entry_agency.clone().unwrap_or_default(),
        standard: leg_standard(h, config.at_risk_share, at),
        quarter: quarter_of(config, at).to_string(),
        ended: at,
        expires: at.plus(config.survey_window),
        responded: false,
    };
    feedback_sql::insert_subject(tx, &subject).await
}

/// Stores top-level `request`, whose legs are `legs`, as ended at `at` (child requests are not
/// subjects).
pub async fn request_ended(
    tx: &mut Tx,
    config: &RequestsConfig,
    request: &RequestRecord,
    legs: &[HandoffRecord],
    at: Timestamp,
) -> StoreResult<()> {
    if request.parent_id.is_some() || request.status == RequestStatus::Open {
        return Ok(());
    }
    let primary: Vec<&HandoffRecord> = legs.iter().filter(|h| h.primary).collect();
    let results: Vec<StandardResult> = primary
        .iter()
        .filter_map(|h| leg_standard(h, config.at_risk_share, h.clock.ended.unwrap_or(at)))
        .collect();
    let standard = if results.is_empty() {
        None
    } else if results.contains(&StandardResult::Missed) {
        Some(StandardResult::Missed)
    } else {
        Some(StandardResult::Met)
    };
    let subject = SubjectRecord {
        id: new_id(),
        citizen_id: request.citizen_id.clone(),
        request_id: request.id.clone(),
        number: 0,
        kind: SubjectKind::Request,
        ended_as: request.status.code().to_owned(),
        invited: request.status == RequestStatus::Completed,
        agency: request.owner_agency.clone(),
        team: String::new(),
        officer: String::new(),
        service_id: primary
            .last()
            .map(|h| h.service_id.clone())
            .unwrap_or_default(),
        channel: request.entry_channel,
        from_agency: request.entry_agency.clone().unwrap_or_default(),
        entry_agency: request.entry_agency.clone().unwrap_or_default(),
        standard,
        quarter: quarter_of(config, at).to_string(),
        ended: at,
        expires: at.plus(config.survey_window),
        responded: false,
    };
    feedback_sql::insert_subject(tx, &subject).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_comes_from_the_actor_that_ended_the_leg() {
        assert_eq!(team_of("agencies/cra-arc/teams/benefits"), "benefits");
        assert_eq!(team_of("agencies/cra-arc"), "");
        assert_eq!(team_of("single-window"), "");
    }
}
