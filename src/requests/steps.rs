//! Steps on a request: a leg's own steps (accept, decline, start, wait, resume, complete), handing
//! part of the work onward, withdrawing the request, and the server's own step (a wait that
//! outlasted its limit ends as abandoned). Each loads the request whole, lets the rules decide,
//! and saves every changed leg, the new legs, the request (and its parent when its status
//! changes), the steps' history, outbox events and an access event, in one transaction.

use std::sync::Arc;

use super::{
    Context, Loaded, Party, RequestsConfig, SERVER_ACTOR, actor_of, event, load, log, new_handoff,
    party, step_record,
};
use crate::{
    domain::{
        access::Action,
        handoff::{LegState, Step},
        request::{Case, DeclineReason, HandoffReason, NewLeg, Outcome, Refused, RequestStatus},
        time::Timestamp,
    },
    error::AppError,
    feedback,
    records::{Caller, Idempotency, citizens::Answer, recall, remember},
    secrets::Keyring,
    store::{
        StoreResult, Tx,
        request_sql::{self, EventRecord},
    },
};

/// What a step changes.
#[derive(Debug, Clone)]
pub enum Change {
    /// A step of the leg's own state machine, with its text (a decline's, a wait's reason, an
    /// outcome's).
    Leg {
        step: Step,
        text: String,
        decline: Option<DeclineReason>,
        outcome: Option<Outcome>,
    },
    /// Part of the work handed to another agency.
    Onward {
        service: String,
        agency: String,
        note: String,
    },
    /// The request withdrawn.
    Withdraw { reason: String },
}

/// Encodes a request for the answer (the API layer's encoder).
pub type Respond = Arc<dyn Fn(&Loaded) -> Vec<u8> + Send + Sync>;

/// Input of [`apply`].
pub struct Apply {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub idempotency: Idempotency,
    pub cx: Context,
    pub request_id: String,
    /// The leg, for leg steps and onward referrals; `None` for a withdrawal.
    pub number: Option<i64>,
    /// The version of the leg (or, for a withdrawal, of the request) the caller read.
    pub expected_version: i64,
    pub change: Change,
    pub now: Timestamp,
    pub respond: Respond,
}

fn name_of(request: &str, number: Option<i64>) -> String {
    match number {
        Some(n) => format!("requests/{request}/handoffs/{n}"),
        None => format!("requests/{request}"),
    }
}

/// Takes the step: the receiving agency for leg steps and onward referrals, the citizen or the
/// entry agency for a withdrawal. Answers the encoded request after the step.
pub async fn apply(tx: &mut Tx, input: &Apply) -> Answer<crate::records::Answered> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => {
            return Ok(Ok(crate::records::Answered {
                bytes,
                replayed: true,
            }));
        }
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    let Some(before) = load(tx, &input.request_id).await? else {
        return Ok(Err(AppError::PermissionDenied));
    };
    let party = match party(tx, &input.caller, &before.request, input.now).await? {
        Ok(Some(party)) => party,
        Ok(None) => return Ok(Err(AppError::PermissionDenied)),
        Err(error) => return Ok(Err(error)),
    };
    let name = name_of(&input.request_id, input.number);
    let allowed = match (&input.number, &party) {
        (Some(n), Party::Agency(agency)) => match before.handoff(*n) {
            Some(h) => h.to_agency == *agency,
            None => return Ok(Err(AppError::NotFound { name })),
        },
        (Some(_), Party::Citizen { .. }) => false,
        (None, Party::Agency(agency)) => before.request.entry_agency.as_deref() == Some(agency),
        (None, Party::Citizen { .. }) => true,
    };
    if !allowed {
        return Ok(Err(AppError::PermissionDenied));
    }
    let version = match input.number.and_then(|n| before.handoff(n)) {
        Some(h) => h.version,
        None => before.request.version,
    };
    if version != input.expected_version {
        return Ok(Err(AppError::EtagMismatch { name }));
    }
    let (actor, officer) = actor_of(&input.caller);
    let mut case = before.case();
    let mut new_legs: Vec<(NewLeg, String)> = Vec::new();
    let text = match &input.change {
        Change::Leg { step, text: t, .. } => {
            let number = input.number.unwrap_or_default();
            match case.step(number, *step, input.now) {
                Ok(Some(next)) => new_legs.push((next, before.request.note.clone())),
                Ok(None) => {}
                Err(refused) => return Ok(Err(refused_error(refused, &name))),
            }
            t.clone()
        }
        Change::Onward {
            service,
            agency,
            note,
        } => {
            let number = input.number.unwrap_or_default();
            let held = before.handoff(number).map(|h| h.state);
            match held {
                Some(state) if state.held() => {}
                Some(state) => {
                    return Ok(Err(AppError::FailedPrecondition {
                        condition: "HANDOFF_STATE",
                        subject: name,
                        description: format!(
                            "a leg that is {} cannot refer work onward: accept it first",
                            state.code()
                        ),
                    }));
                }
                None => return Ok(Err(AppError::NotFound { name })),
            }
            let from = before.handoff(number).map(|h| h.to_agency.clone());
            let leg = NewLeg {
                from,
                to: agency.clone(),
                service: service.clone(),
                reason: HandoffReason::Referral,
                primary: false,
                referred_from: Some(number),
            };
            new_legs.push((leg, note.clone()));
            String::new()
        }
        Change::Withdraw { reason } => {
            if let Err(refused) = case.withdraw(input.now) {
                return Ok(Err(refused_error(refused, &name)));
            }
            reason.clone()
        }
    };
    let actor = Actor {
        name: &actor,
        officer: &officer,
        text: &text,
    };
    let after = save(
        tx,
        &input.cx,
        &before,
        &mut case,
        &new_legs,
        &input.change,
        actor,
        input.now,
    )
    .await?;
    if let Change::Withdraw { .. } = &input.change {
        for child in &before.children {
            withdraw_child(tx, &input.cx, &child.id, actor, input.now).await?;
        }
    }
    let after = match &after.request.parent_id {
        None if !before.children.is_empty() => load(tx, &input.request_id).await?.unwrap_or(after),
        _ => after,
    };
    log(
        tx,
        &input.caller,
        &party,
        &before.request.citizen_id,
        Action::ChangeRequest,
        Default::default(),
        input.now,
    )
    .await?;
    let response = (input.respond)(&after);
    remember(tx, &input.keys, &input.idempotency, &response, input.now).await?;
    Ok(Ok(crate::records::Answered {
        bytes: response,
        replayed: false,
    }))
}

fn refused_error(refused: Refused, name: &str) -> AppError {
    let (condition, description) = match refused {
        Refused::Illegal(illegal) => ("HANDOFF_STATE", illegal.to_string()),
        Refused::EscalationDeclined => (
            "ESCALATION",
            "an escalation cannot be declined: accept it, refer the work onward, or withdraw the request".to_owned(),
        ),
        Refused::Ended(status) => (
            "REQUEST_STATE",
            format!("the request has ended ({})", status.code()),
        ),
    };
    AppError::FailedPrecondition {
        condition,
        subject: name.to_owned(),
        description,
    }
}

/// Who took a step, as the history records it.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub officer: &'a str,
    pub text: &'a str,
}

/// Withdraws an open child request of a withdrawn parent.
async fn withdraw_child(
    tx: &mut Tx,
    cx: &Context,
    id: &str,
    actor: Actor<'_>,
    now: Timestamp,
) -> StoreResult<()> {
    let Some(child) = load(tx, id).await? else {
        return Ok(());
    };
    let mut case = child.case();
    if case.withdraw(now).is_ok() {
        let change = Change::Withdraw {
            reason: actor.text.to_owned(),
        };
        save(tx, cx, &child, &mut case, &[], &change, actor, now).await?;
    }
    Ok(())
}

/// Saves what the rules changed of `before` into `case`, adds `new_legs` (each with its note),
/// and returns the request as it now stands.
#[allow(clippy::too_many_arguments)]
async fn save(
    tx: &mut Tx,
    cx: &Context,
    before: &Loaded,
    case: &mut Case,
    new_legs: &[(NewLeg, String)],
    change: &Change,
    actor: Actor<'_>,
    now: Timestamp,
) -> StoreResult<Loaded> {
    let mut after = before.clone();
    let id = before.request.id.clone();
    let mut events: Vec<EventRecord> = Vec::new();
    for (h, leg) in after.handoffs.iter_mut().zip(&case.legs) {
        if h.state == leg.leg.state {
            continue;
        }
        h.state = leg.leg.state;
        h.clock = leg.leg.clock;
        h.version += 1;
        h.needs_attention = h.reason == HandoffReason::Escalation && h.state == LegState::Offered;
        if let Change::Leg {
            decline, outcome, ..
        } = change
        {
            h.decline_reason = h
                .decline_reason
                .or(*decline)
                .filter(|_| h.state == LegState::Declined);
            h.outcome = h
                .outcome
                .or(*outcome)
                .filter(|_| h.state == LegState::Completed);
        }
        request_sql::update_handoff(tx, h).await?;
        if h.state.ended() {
            let actor = (actor.name, actor.officer);
            feedback::subjects::leg_ended(tx, &cx.config, &before.request, h, actor, now).await?;
        }
        let step = step_record(
            &after.steps,
            &id,
            h.number,
            h.state,
            (actor.name, actor.officer),
            actor.text,
            now,
        );
        request_sql::insert_step(tx, &step).await?;
        after.steps.push(step);
        events.push(event(&h.to_agency, &id, h.number, "changed", h.state, now));
    }
    for (leg, note) in new_legs {
        let number = case.add(leg, now);
        let h = new_handoff(
            &cx.snapshot,
            &cx.config,
            &id,
            number,
            leg,
            before.request.entry_channel,
            note,
            before.request.shared,
            now,
        );
        request_sql::insert_handoff(tx, &h).await?;
        let step = step_record(
            &after.steps,
            &id,
            number,
            LegState::Offered,
            (actor.name, actor.officer),
            "",
            now,
        );
        request_sql::insert_step(tx, &step).await?;
        after.steps.push(step);
        events.push(event(&h.to_agency, &id, number, "offered", h.state, now));
        after.handoffs.push(h);
    }
    let r = &mut after.request;
    let primary_before = before
        .handoffs
        .iter()
        .rev()
        .find(|h| h.primary)
        .map(|h| h.number);
    let primary_now = after.handoffs.iter().rev().find(|h| h.primary).cloned();
    if let Some(p) = &primary_now
        && Some(p.number) != primary_before
    {
        let (standard, due) = super::clock_standard(
            &cx.snapshot,
            &p.service_id,
            r.entry_channel,
            cx.config.time_zone_of(&p.to_agency),
            r.created,
        );
        r.standard_id = standard;
        r.due_base = due;
    }
    r.owner_agency = case.owner().to_owned();
    r.needs_attention = case.needs_attention();
    r.withdrawn = case.withdrawn;
    r.status = case.status();
    r.ended = (r.status != RequestStatus::Open).then_some(now);
    r.updated = now;
    r.version += 1;
    request_sql::update_request(tx, r).await?;
    if before.request.status == RequestStatus::Open && r.status != RequestStatus::Open {
        feedback::subjects::request_ended(tx, &cx.config, r, &after.handoffs, now).await?;
    }
    let r = &after.request;
    let owner = r.owner_agency.clone();
    if let Some(last) = events.last().cloned()
        && !events.iter().any(|e| e.agency == owner)
    {
        events.push(event(
            &owner,
            &id,
            last.handoff_number,
            "changed",
            last.state,
            now,
        ));
    }
    for e in &events {
        request_sql::insert_event(tx, e).await?;
    }
    if let Some(parent) = &before.request.parent_id
        && before.request.status != after.request.status
    {
        update_parent(tx, &cx.config, parent, now).await?;
    }
    Ok(after)
}

/// Brings a life-event parent's status up to date with its children's. The parent is written
/// (its version bumped) even when its status stays, so that two children ending at once
/// conflict on it and the second sees the first (otherwise both could see the other open).
async fn update_parent(
    tx: &mut Tx,
    config: &RequestsConfig,
    parent: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let Some(loaded) = load(tx, parent).await? else {
        return Ok(());
    };
    let status = loaded.case().status();
    let mut r = loaded.request;
    let ended_now = r.status == RequestStatus::Open && status != RequestStatus::Open;
    if status != r.status {
        r.status = status;
        r.ended = (status != RequestStatus::Open).then_some(now);
    }
    r.updated = now;
    r.version += 1;
    request_sql::update_request(tx, &r).await?;
    if ended_now {
        feedback::subjects::request_ended(tx, config, &r, &loaded.handoffs, now).await?;
    }
    Ok(())
}

/// Input of [`abandon_overdue`].
pub struct Sweep {
    pub cx: Context,
    pub now: Timestamp,
    /// Most legs to end in one run.
    pub limit: i64,
}

/// Ends as abandoned every leg that has waited on the citizen longer than the configured limit;
/// how many.
pub async fn abandon_overdue(tx: &mut Tx, input: &Sweep) -> StoreResult<u64> {
    let limit_ms = i64::try_from(input.cx.config.wait_limit.as_millis()).unwrap_or(i64::MAX);
    let before = Timestamp::from_unix_millis(input.now.unix_millis().saturating_sub(limit_ms));
    let overdue = request_sql::waiting_since_before(tx, before, input.limit).await?;
    let days = input.cx.config.wait_limit.as_secs() / 86_400;
    let text = format!("The citizen did not answer within {days} days.");
    let mut done = 0;
    for (request_id, number) in overdue {
        let Some(loaded) = load(tx, &request_id).await? else {
            continue;
        };
        let mut case = loaded.case();
        if case.step(number, Step::Abandon, input.now).is_err() {
            continue;
        }
        let actor = Actor {
            name: SERVER_ACTOR,
            officer: "",
            text: &text,
        };
        let change = Change::Leg {
            step: Step::Abandon,
            text: text.clone(),
            decline: None,
            outcome: None,
        };
        save(
            tx,
            &input.cx,
            &loaded,
            &mut case,
            &[],
            &change,
            actor,
            input.now,
        )
        .await?;
        done += 1;
    }
    Ok(done)
}
