//! Requests and their legs as units of work: opening a request at any door, the steps on its
//! legs, and reads by the parties. The rules over legs are [`crate::domain::request`]'s; these
//! units load a request whole, let the rules decide, and persist what they decided together with
//! the outbox events and the access event, in one transaction.
//!
//! Who is party to a request: the citizen (her portal, or a representative), its entry agency,
//! and every agency a leg went to or came from (of the request, its parent or its children). Any
//! other caller is PERMISSION_DENIED, the same whether or not the request exists.

pub mod open;
pub mod read;
pub mod steps;

use std::{collections::HashMap, sync::Arc, time::Duration};

use crate::{
    catalog::Snapshot,
    domain::{
        access::{Action, Outcome},
        catalog::Channel,
        consent::{Categories, Purpose},
        due::{self, DEFAULT_AT_RISK_SHARE, DEFAULT_TIME_ZONE},
        handoff::LegState,
        request::{Case, CaseLeg, HandoffReason, NewLeg, Ranked},
        time::Timestamp,
    },
    error::AppError,
    records::{Access, Acting, Caller, Toward, acting, new_id, record, toward},
    store::{
        StoreResult, Tx, consent_sql,
        request_sql::{
            self, AttachmentRecord, EventRecord, HandoffRecord, NotOpenedRecord, RequestRecord,
            StepRecord,
        },
    },
};

pub use crate::records::citizens::Answer;

/// How requests' clocks and waits behave.
#[derive(Debug, Clone)]
pub struct RequestsConfig {
    /// The share of its limit at which a running clock is at risk.
    pub at_risk_share: f64,
    /// How long a leg may wait on the citizen before it ends as abandoned.
    pub wait_limit: Duration,
    /// The time zone of agencies without their own.
    pub default_time_zone: String,
    /// Agencies' own time zones, by agency id.
    pub agency_time_zones: HashMap<String, String>,
    /// How long the survey invitation of an ended leg or request stays open.
    pub survey_window: Duration,
}

impl Default for RequestsConfig {
    fn default() -> Self {
        Self {
            at_risk_share: DEFAULT_AT_RISK_SHARE,
            wait_limit: Duration::from_secs(30 * 86_400),
            default_time_zone: DEFAULT_TIME_ZONE.to_owned(),
            agency_time_zones: HashMap::new(),
            survey_window: crate::feedback::DEFAULT_SURVEY_WINDOW,
        }
    }
}

impl RequestsConfig {
    /// The time zone `agency` counts its clocks in.
    pub fn time_zone_of(&self, agency: &str) -> &str {
        self.agency_time_zones
            .get(agency)
            .map_or(&self.default_time_zone, String::as_str)
    }
}

/// The name the server's own steps are recorded under.
pub const SERVER_ACTOR: &str = "single-window";

/// A request with everything stored about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub request: RequestRecord,
    pub handoffs: Vec<HandoffRecord>,
    pub steps: Vec<StepRecord>,
    pub ranking: Vec<Ranked>,
    pub attachments: Vec<AttachmentRecord>,
    pub not_opened: Vec<NotOpenedRecord>,
    /// For a life-event parent: its children.
    pub children: Vec<RequestRecord>,
}

impl Loaded {
    /// The rules' view of the request.
    pub fn case(&self) -> Case {
        Case {
            entry_agency: self.request.entry_agency.clone(),
            escalation_agency: self.request.escalation_agency.clone(),
            ranking: self.ranking.clone(),
            legs: self
                .handoffs
                .iter()
                .map(|h| CaseLeg {
                    number: h.number,
                    from: h.from_agency.clone(),
                    to: h.to_agency.clone(),
                    service: h.service_id.clone(),
                    reason: h.reason,
                    primary: h.primary,
                    leg: crate::domain::handoff::Leg {
                        state: h.state,
                        clock: h.clock,
                    },
                })
                .collect(),
            withdrawn: self.request.withdrawn,
            children: self.children.iter().map(|c| c.status).collect(),
        }
    }

    /// The leg numbered `number`.
    pub fn handoff(&self, number: i64) -> Option<&HandoffRecord> {
        self.handoffs.iter().find(|h| h.number == number)
    }
}

/// Reads request `id` whole, if it exists.
pub async fn load(tx: &mut Tx, id: &str) -> StoreResult<Option<Loaded>> {
    let Some(request) = request_sql::get_request(tx, id).await? else {
        return Ok(None);
    };
    Ok(Some(Loaded {
        handoffs: request_sql::handoffs(tx, id).await?,
        steps: request_sql::steps(tx, id).await?,
        ranking: request_sql::ranking(tx, id).await?,
        attachments: request_sql::attachments(tx, id).await?,
        not_opened: request_sql::not_opened(tx, id).await?,
        children: request_sql::children(tx, id).await?,
        request,
    }))
}

/// Who the caller is to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// An agency party to it.
    Agency(String),
    /// The citizen herself, or a representative (their citizen id).
    Citizen { representative: Option<String> },
}

/// What the caller is to request `loaded`, or `None` when it is not party to it.
pub async fn party(
    tx: &mut Tx,
    caller: &Caller,
    loaded: &RequestRecord,
    now: Timestamp,
) -> StoreResult<Result<Option<Party>, AppError>> {
    let who = match acting(tx, caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    Ok(Ok(match &who {
        Acting::Agency(agency) => request_sql::is_party(tx, &loaded.id, agency)
            .await?
            .then(|| Party::Agency(agency.clone())),
        Acting::Citizen(_) => match toward(tx, &who, &loaded.citizen_id, now).await? {
            Toward::Herself => Some(Party::Citizen {
                representative: None,
            }),
            Toward::Representative(scope) => Some(Party::Citizen {
                representative: Some(scope.representative_id),
            }),
            _ => None,
        },
        Acting::Auditor => None,
    }))
}

/// Records an access to the citizen of `request` in her log.
pub async fn log(
    tx: &mut Tx,
    caller: &Caller,
    party: &Party,
    citizen_id: &str,
    action: Action,
    categories: Categories,
    at: Timestamp,
) -> StoreResult<()> {
    let representative = match party {
        Party::Citizen { representative } => representative.as_deref(),
        Party::Agency(_) => None,
    };
    let access = Access {
        caller,
        representative,
        citizen_id,
        action,
        purpose: matches!(party, Party::Agency(_)).then_some(Purpose::Referral),
        categories,
        outcome: Outcome::Allowed,
        at,
    };
    record(tx, access, true).await
}

/// The categories of the record the receiving agency `agency` may see of `loaded` at `now`: what
/// its legs that it did not decline carry, within the entry agency's live referral consent when an
/// agency opened the request.
pub async fn context_categories(
    tx: &mut Tx,
    loaded: &Loaded,
    agency: &str,
    now: Timestamp,
) -> StoreResult<Categories> {
    let carried = loaded
        .handoffs
        .iter()
        .filter(|h| h.to_agency == agency && h.state != LegState::Declined)
        .fold(Categories::NONE, |all, h| all.union(h.shared));
    if carried.is_empty() {
        return Ok(carried);
    }
    let Some(entry) = loaded
        .request
        .entry_agency
        .as_deref()
        .filter(|_| loaded.request.opened_by.starts_with("agencies/"))
    else {
        return Ok(carried);
    };
    let grants =
        consent_sql::grants(tx, &loaded.request.citizen_id, entry, Purpose::Referral).await?;
    let allowed = crate::domain::consent::covered(&grants, entry, Purpose::Referral, now);
    Ok(carried.iter().filter(|c| allowed.contains(*c)).collect())
}

/// A new leg, ready to store: its clock against the standard of its service for `channel`.
#[allow(clippy::too_many_arguments)]
pub fn new_handoff(
    snapshot: &Snapshot,
    config: &RequestsConfig,
    request_id: &str,
    number: i64,
    leg: &NewLeg,
    channel: Channel,
    note: &str,
    shared: Categories,
    at: Timestamp,
) -> HandoffRecord {
    let zone_name = config.time_zone_of(&leg.to).to_owned();
    let (standard_id, due_base) = clock_standard(snapshot, &leg.service, channel, &zone_name, at);
    HandoffRecord {
        request_id: request_id.to_owned(),
        number,
        from_agency: leg.from.clone(),
        to_agency: leg.to.clone(),
        service_id: leg.service.clone(),
        reason: leg.reason,
        state: LegState::Offered,
        primary: leg.primary,
        referred_from: leg.referred_from,
        note: note.to_owned(),
        shared,
        decline_reason: None,
        outcome: None,
        needs_attention: leg.reason == HandoffReason::Escalation,
        standard_id,
        due_base,
        time_zone: zone_name,
        clock: crate::domain::handoff::LegClock::offered(at),
        version: 1,
    }
}

/// The standard a clock of `service` started at `start` runs against, and its due time before
/// pauses, counted in `zone`.
pub fn clock_standard(
    snapshot: &Snapshot,
    service: &str,
    channel: Channel,
    zone: &str,
    start: Timestamp,
) -> (Option<String>, Option<Timestamp>) {
    let Some(standard) = snapshot
        .service(service)
        .and_then(|s| due::standard_for(s, Some(channel)))
    else {
        return (None, None);
    };
    let due = due::time_zone(zone).and_then(|tz| due::due_from(start, standard.thresholds[0], &tz));
    (Some(standard.id.clone()), due)
}

/// The step record of `state` on leg `number` by `caller` (or the server) at `at`.
pub fn step_record(
    loaded_steps: &[StepRecord],
    request_id: &str,
    number: i64,
    state: LegState,
    actor: (&str, &str),
    text: &str,
    at: Timestamp,
) -> StepRecord {
    let seq = loaded_steps
        .iter()
        .filter(|s| s.number == number)
        .map(|s| s.seq)
        .max()
        .unwrap_or(0)
        + 1;
    StepRecord {
        request_id: request_id.to_owned(),
        number,
        seq,
        state,
        at,
        actor: actor.0.to_owned(),
        officer: actor.1.to_owned(),
        text: text.to_owned(),
    }
}

/// The name and officer a caller's steps are recorded under.
pub fn actor_of(caller: &Caller) -> (String, String) {
    let actor = caller.actor();
    (actor.principal, actor.officer)
}

/// An outbox event telling `agency` about leg `number` of request `request_id`.
pub fn event(
    agency: &str,
    request_id: &str,
    number: i64,
    kind: &str,
    state: LegState,
    at: Timestamp,
) -> EventRecord {
    EventRecord {
        id: new_id(),
        agency: agency.to_owned(),
        request_id: request_id.to_owned(),
        handoff_number: number,
        kind: kind.to_owned(),
        state,
        at,
        position: None,
    }
}

/// The shared pieces every unit gets.
#[derive(Clone)]
pub struct Context {
    pub snapshot: Arc<Snapshot>,
    pub config: Arc<RequestsConfig>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish()
    }
}
