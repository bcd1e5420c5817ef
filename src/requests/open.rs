//! Opening a request: the plan (ranking, first leg, a life event's children) decided before the
//! unit runs, so that a retry of the unit stores and answers the same; and the unit, which checks
//! the caller may open it, then stores it whole with its outbox events and access event.

use std::sync::Arc;

use super::{Context, Loaded, Party, event, log, new_handoff, step_record};
use crate::{
    domain::{
        access::Action,
        catalog::{Channel, Text},
        consent::{self, Categories, Purpose},
        handoff::LegState,
        request::{HandoffReason, NewLeg, Ranked, RequestStatus},
        routing::{Residence, Status as Eligibility},
        time::Timestamp,
    },
    error::AppError,
    records::{
        Acting, Caller, Idempotency, Toward, Written, acting, citizens::Answer, new_id, recall,
        record, remember, toward,
    },
    routing::{Candidate, HandTo},
    secrets::Keyring,
    store::{
        Tx, citizen_sql, consent_sql,
        request_sql::{self, AttachmentRecord, NotOpenedRecord, RequestRecord, StoredNeed},
    },
};

/// What the caller asked for, validated.
#[derive(Debug, Clone)]
pub struct Ask {
    pub citizen_id: String,
    pub need: StoredNeed,
    pub entry_agency: Option<String>,
    pub channel: Channel,
    pub note: String,
    pub attachments: Vec<AttachmentRecord>,
    pub shared: Categories,
    pub residence: Option<Residence>,
}

/// A request id: the opening time then random digits, so that names sort by opening time.
pub fn request_id(now: Timestamp) -> String {
    let random = new_id();
    format!("{:012x}{}", now.unix_millis().max(0), &random[..12])
}

/// The ranking to store from the routed candidates: each candidate's hand-to agency, then its
/// owner when another agency would hand it, without repeats.
pub fn ranking(candidates: &[Candidate]) -> Vec<Ranked> {
    let mut out: Vec<Ranked> = Vec::new();
    for c in candidates {
        for agency in [&c.hand_to, &c.owner] {
            if !out
                .iter()
                .any(|r| r.service == c.service && r.agency == *agency)
            {
                out.push(Ranked {
                    service: c.service.clone(),
                    agency: agency.clone(),
                    score: c.score,
                    eligibility: c.eligibility,
                });
            }
        }
    }
    out
}

fn first_reason(c: &Candidate, entry: Option<&str>, named: bool) -> HandoffReason {
    if entry == Some(c.hand_to.as_str()) {
        HandoffReason::Direct
    } else if c.hand_to_reason == HandTo::DeliveryPartner {
        HandoffReason::DeliveryPartner
    } else if named {
        HandoffReason::Referral
    } else {
        HandoffReason::WrongDoor
    }
}

/// The requests an opening stores: the request (a life event's parent) and its children.
#[derive(Debug, Clone)]
pub struct Opening {
    pub request: Loaded,
    pub children: Vec<Loaded>,
}

impl Opening {
    /// Every request it stores, the parent first.
    pub fn all(&self) -> impl Iterator<Item = &Loaded> {
        std::iter::once(&self.request).chain(&self.children)
    }
}

/// Decides what opening `ask` stores, from the routed `candidates` (best first; for a life
/// event, every service of the event). `NotFound`-free: the caller routed already.
pub fn plan(
    cx: &Context,
    caller: &Caller,
    ask: &Ask,
    candidates: &[Candidate],
    now: Timestamp,
) -> Result<Opening, AppError> {
    let first = candidates.first().ok_or_else(|| {
        AppError::invalid(
            "need",
            "matches no service of the catalogue; say more, or name a service",
        )
    })?;
    let (actor, officer) = super::actor_of(caller);
    let escalation = ask
        .entry_agency
        .clone()
        .unwrap_or_else(|| first.owner.clone());
    let id = request_id(now);
    let base = RequestRecord {
        id: id.clone(),
        citizen_id: ask.citizen_id.clone(),
        parent_id: None,
        need: ask.need.clone(),
        entry_agency: ask.entry_agency.clone(),
        entry_channel: ask.channel,
        opened_by: actor.clone(),
        officer: officer.clone(),
        note: ask.note.clone(),
        shared: ask.shared,
        residence: ask.residence,
        owner_agency: escalation.clone(),
        escalation_agency: escalation,
        withdrawn: false,
        status: RequestStatus::Open,
        needs_attention: false,
        standard_id: None,
        due_base: None,
        version: 1,
        created: now,
        updated: now,
        ended: None,
    };
    let single = |record: RequestRecord, c: &Candidate, reason: HandoffReason| {
        let leg = NewLeg {
            from: record.entry_agency.clone(),
            to: c.hand_to.clone(),
            service: c.service.clone(),
            reason,
            primary: true,
            referred_from: None,
        };
        let handoff = new_handoff(
            &cx.snapshot,
            &cx.config,
            &record.id,
            1,
            &leg,
            record.entry_channel,
            &record.note,
            record.shared,
            now,
        );
        let (standard_id, due_base) = (handoff.standard_id.clone(), handoff.due_base);
        let step = step_record(
            &[],
            &record.id,
            1,
            LegState::Offered,
            (&actor, &officer),
            "",
            now,
        );
        Loaded {
            request: RequestRecord {
                owner_agency: leg.to.clone(),
                standard_id,
                due_base,
                ..record
            },
            handoffs: vec![handoff],
            steps: vec![step],
            ranking: Vec::new(),
            attachments: Vec::new(),
            not_opened: Vec::new(),
            children: Vec::new(),
        }
    };
    let entry = ask.entry_agency.as_deref();
    match &ask.need {
        StoredNeed::LifeEvent(_) => {
            let mut children = Vec::new();
            let mut not_opened = Vec::new();
            for c in candidates {
                if c.eligibility == Some(Eligibility::Failed) {
                    not_opened.push(NotOpenedRecord {
                        service_id: c.service.clone(),
                        reason: failed_checks(c),
                    });
                    continue;
                }
                let record = RequestRecord {
                    id: format!("{id}-{}", children.len() + 1),
                    parent_id: Some(id.clone()),
                    need: StoredNeed::Service(c.service.clone()),
                    ..base.clone()
                };
                let reason = match first_reason(c, entry, true) {
                    HandoffReason::Direct => HandoffReason::Direct,
                    _ => HandoffReason::LifeEvent,
                };
                let mut child = single(record, c, reason);
                child.ranking = ranking(std::slice::from_ref(c));
                children.push(child);
            }
            if children.is_empty() {
                return Err(AppError::FailedPrecondition {
                    condition: "ELIGIBILITY",
                    subject: "need.life_event".to_owned(),
                    description:
                        "the context fails the conditions of every service of this life event"
                            .to_owned(),
                });
            }
            let request = Loaded {
                request: RequestRecord {
                    owner_agency: base.escalation_agency.clone(),
                    ..base
                },
                handoffs: Vec::new(),
                steps: Vec::new(),
                ranking: ranking(candidates),
                attachments: ask.attachments.clone(),
                not_opened,
                children: children.iter().map(|c| c.request.clone()).collect(),
            };
            Ok(Opening { request, children })
        }
        StoredNeed::Text(_) | StoredNeed::Service(_) => {
            let named = matches!(ask.need, StoredNeed::Service(_));
            let mut request = single(base, first, first_reason(first, entry, named));
            request.ranking = ranking(candidates);
            request.attachments = ask.attachments.clone();
            Ok(Opening {
                request,
                children: Vec::new(),
            })
        }
    }
}

fn failed_checks(c: &Candidate) -> Text {
    let failed: Vec<_> = c
        .checks
        .iter()
        .filter(|k| k.status == Eligibility::Failed)
        .collect();
    Text {
        en: failed
            .iter()
            .map(|k| k.explanation.en.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        fr: failed
            .iter()
            .map(|k| k.explanation.fr.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Input of [`open`].
pub struct Open {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub opening: Opening,
    pub response: Vec<u8>,
    pub idempotency: Idempotency,
    pub now: Timestamp,
}

/// Opens the planned request: an agency with a live referral or service-delivery consent from the
/// citizen (and a referral consent covering the categories shared), or the citizen's own portal
/// (or a representative's). Stores the requests, legs, ranking and files, an outbox event per
/// leg for its agency, and an access event.
pub async fn open(tx: &mut Tx, input: &Open) -> Answer<Written> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => return Ok(Ok(Written::Replay(bytes))),
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let request = &input.opening.request.request;
    let citizen = request.citizen_id.as_str();
    let to = toward(tx, &who, citizen, input.now).await?;
    let (party, allowed, referral, exists) = match (&who, &to) {
        (Acting::Agency(agency), _) => {
            let grants = consent_sql::grants_to(tx, citizen, agency).await?;
            let referral = consent::covered(&grants, agency, Purpose::Referral, input.now);
            let delivery = consent::covered(&grants, agency, Purpose::ServiceDelivery, input.now);
            let live = !referral.is_empty() || !delivery.is_empty();
            // A grant references an existing record (records are never deleted).
            let exists = live || citizen_sql::exists(tx, citizen).await?;
            (Party::Agency(agency.clone()), live, Some(referral), exists)
        }
        (_, Toward::Herself) => (
            Party::Citizen {
                representative: None,
            },
            true,
            None,
            true,
        ),
        // A representative shares only what their scope covers.
        (_, Toward::Representative(scope)) => (
            Party::Citizen {
                representative: Some(scope.representative_id.clone()),
            },
            scope.categories.covers(request.shared),
            None,
            true,
        ),
        _ => {
            let exists = citizen_sql::exists(tx, citizen).await?;
            (
                Party::Citizen {
                    representative: None,
                },
                false,
                None,
                exists,
            )
        }
    };
    if !allowed {
        let access = crate::records::Access {
            caller: &input.caller,
            representative: to.representative(),
            citizen_id: citizen,
            action: Action::OpenRequest,
            purpose: matches!(who, Acting::Agency(_)).then_some(Purpose::Referral),
            categories: request.shared,
            outcome: crate::domain::access::Outcome::Denied,
            at: input.now,
        };
        record(tx, access, exists).await?;
        return Ok(Err(AppError::PermissionDenied));
    }
    if let Some(referral) = referral
        && !referral.covers(request.shared)
    {
        return Ok(Err(AppError::FailedPrecondition {
            condition: "REFERRAL_CONSENT",
            subject: "shared_categories".to_owned(),
            description: "the citizen's live referral consent to the calling agency does not cover every category to share; record her consent first (GrantConsent with purpose REFERRAL)".to_owned(),
        }));
    }
    log(
        tx,
        &input.caller,
        &party,
        citizen,
        Action::OpenRequest,
        request.shared,
        input.now,
    )
    .await?;
    for loaded in input.opening.all() {
        store_new(tx, loaded).await?;
    }
    remember(
        tx,
        &input.keys,
        &input.idempotency,
        &input.response,
        input.now,
    )
    .await?;
    Ok(Ok(Written::New))
}

/// Stores a new request whole, with an `offered` event per leg.
async fn store_new(tx: &mut Tx, loaded: &Loaded) -> crate::store::StoreResult<()> {
    let id = &loaded.request.id;
    request_sql::insert_request(tx, &loaded.request).await?;
    request_sql::insert_ranking(tx, id, &loaded.ranking).await?;
    request_sql::insert_attachments(tx, id, &loaded.attachments).await?;
    request_sql::insert_not_opened(tx, id, &loaded.not_opened).await?;
    for h in &loaded.handoffs {
        request_sql::insert_handoff(tx, h).await?;
        request_sql::insert_event(
            tx,
            &event(
                &h.to_agency,
                id,
                h.number,
                "offered",
                h.state,
                h.clock.offered,
            ),
        )
        .await?;
    }
    for s in &loaded.steps {
        request_sql::insert_step(tx, s).await?;
    }
    Ok(())
}
