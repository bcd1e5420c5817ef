//! `singlewindow.v1.RoutingService`: RouteNeed. Decodes the need and the context (inline, or
//! read from a citizen's record under an eligibility consent and logged), routes on a blocking
//! thread with the encoder's bounded permits, and encodes the candidates with their reasons.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    citizens::{caller, decode},
    convert,
    request::Violations,
};
use crate::{
    catalog::{Catalogue, Snapshot},
    domain::{
        citizen::{
            Province,
            record::{AddressKind, Details, Language},
            values::{Date, date_of},
        },
        consent::Purpose,
        names::{AGENCIES, LIFE_EVENTS, SERVICES},
        principal::{Principal, PrincipalKind},
        routing::{ClientKind, Context, Residence, Status as Eligibility, age_on},
    },
    error::AppError,
    proto::v1::{self as pb, routing_service_server::RoutingService},
    records::{Caller, citizens},
    routing::{
        self, Candidate, DEFAULT_CANDIDATES, EntryPoint, HandTo, MAX_CANDIDATES, MAX_NEED_CHARS,
        Need, NeedLanguage, Query, ReasonKind, Routed, Weights, encoder::Encoders,
        rank::RouteError,
    },
    store::Store,
};

const CITIZENS: &str = "citizens";

type Reply<T> = Result<Response<T>, Status>;

/// The routing service.
#[derive(Debug, Clone)]
pub struct RoutingApi {
    store: Store,
    catalogue: Arc<Catalogue>,
    encoders: Encoders,
    keys: Arc<crate::secrets::Keyring>,
}

impl RoutingApi {
    /// Routes over `catalogue`, encoding with `encoders`; reads citizens' records from `store`.
    pub fn new(
        store: Store,
        catalogue: Arc<Catalogue>,
        encoders: Encoders,
        keys: Arc<crate::secrets::Keyring>,
    ) -> Self {
        Self {
            store,
            catalogue,
            encoders,
            keys,
        }
    }

    pub(super) fn snapshot(&self) -> Result<Arc<Snapshot>, AppError> {
        self.catalogue.current().ok_or(AppError::Unavailable(
            "the catalogue is loading; retry shortly",
        ))
    }

    /// Routes `query` on a blocking thread with the encoder's permits; NOT_FOUND for a named
    /// service or life event the catalogue lacks.
    pub(super) async fn route(
        &self,
        snapshot: Arc<Snapshot>,
        query: Query,
    ) -> Result<Routed, AppError> {
        // The resource a named need names, for a NOT_FOUND.
        let name = match &query.need {
            Need::Service(id) => format!("{SERVICES}/{id}"),
            Need::LifeEvent(id) => format!("{LIFE_EVENTS}/{id}"),
            Need::Text(_) => String::new(),
        };
        let routed = self
            .encoders
            .run(move |encoders| {
                let vector = routing::rank::text_to_encode(&query, &Weights::default())
                    .and_then(|t| encoders.encode_blocking(t));
                routing::route(&snapshot, &query, vector.as_deref(), &Weights::default())
            })
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        routed.map_err(|e| match e {
            RouteError::UnknownService | RouteError::UnknownLifeEvent => {
                AppError::NotFound { name }
            }
            RouteError::Search(e) => AppError::Internal(e.into()),
        })
    }

    /// The citizen's context from the record, read under an eligibility consent (or as the
    /// citizen herself) with an access event.
    async fn citizen_context(&self, caller: Caller, id: String) -> Result<Context, AppError> {
        let kind = caller.principal.kind();
        if !matches!(kind, PrincipalKind::Agency | PrincipalKind::Portal) {
            return Err(AppError::PermissionDenied);
        }
        let now = self.store.clock().now();
        let input = citizens::Get {
            caller,
            keys: self.keys.clone(),
            id,
            purpose: (kind == PrincipalKind::Agency).then_some(Purpose::EligibilityAssessment),
            wanted: None,
            now,
        };
        let outcome = self
            .store
            .write_committed(input, |tx, input| Box::pin(citizens::get(tx, input)))
            .await;
        let (citizen, _) = outcome??;
        Ok(context_of(
            &citizen.details,
            date_of(now.unix_millis()).as_str(),
        ))
    }
}

/// What a record tells routing.
fn context_of(details: &Details, today: &str) -> Context {
    let address = details
        .addresses
        .iter()
        .find(|a| a.kind == AddressKind::Residential)
        .or(details.addresses.first());
    Context {
        province: address.map(|a| a.province),
        residence: address.map(|_| Residence::InCanada),
        age: details
            .identity
            .date_of_birth
            .as_ref()
            .and_then(|d| age_on(d.as_str(), today)),
        client: Some(ClientKind::Person),
        language: details.preferences.language,
        preferred_channel: details.preferences.preferred_channel,
        accessibility: details.accessibility.needs.clone(),
        circumstances: details.circumstances.clone(),
    }
}

pub(super) fn need(v: &mut Violations, need: Option<&pb::Need>) -> Option<Need> {
    let Some(need) = need.and_then(|n| n.need.as_ref()) else {
        v.add("need", "is required: text, service or life_event");
        return None;
    };
    match need {
        pb::need::Need::Text(text) => {
            if text.trim().is_empty() {
                v.add("need.text", "must not be empty");
                None
            } else if text.chars().count() > MAX_NEED_CHARS {
                v.add("need.text", format!("at most {MAX_NEED_CHARS} characters"));
                None
            } else if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
                v.add("need.text", "must not contain control characters");
                None
            } else {
                Some(Need::Text(text.clone()))
            }
        }
        pb::need::Need::Service(name) => {
            let id = v.name("need.service", name, SERVICES);
            (!id.is_empty()).then_some(Need::Service(id))
        }
        pb::need::Need::LifeEvent(name) => {
            let id = v.name("need.life_event", name, LIFE_EVENTS);
            (!id.is_empty()).then_some(Need::LifeEvent(id))
        }
    }
}

pub(super) fn context(v: &mut Violations, c: Option<&pb::RoutingContext>, today: &Date) -> Context {
    let Some(c) = c else {
        return Context::default();
    };
    let province = if c.province.trim().is_empty() {
        None
    } else {
        match Province::parse(&c.province) {
            Ok(p) => Some(p),
            Err(e) => {
                v.add("context.province", e.0);
                None
            }
        }
    };
    let residence = match pb::Residence::try_from(c.residence) {
        Ok(pb::Residence::Unspecified) => None,
        Ok(pb::Residence::InCanada) => Some(Residence::InCanada),
        Ok(pb::Residence::Abroad) => Some(Residence::Abroad),
        Err(_) => {
            v.add(
                "context.residence",
                format!("{} is not a valid value", c.residence),
            );
            None
        }
    };
    let born = c.date_of_birth.trim();
    let age = if born.is_empty() {
        match c.age {
            Some(age) if (0..=130).contains(&age) => u32::try_from(age).ok(),
            Some(_) => {
                v.add("context.age", "must be 0 to 130");
                None
            }
            None => None,
        }
    } else {
        decode::date(v, "context.date_of_birth", born, today)
            .and_then(|d| age_on(d.as_str(), today.as_str()))
    };
    let client = match pb::ClientKind::try_from(c.client_kind) {
        Ok(pb::ClientKind::Unspecified) => None,
        Ok(pb::ClientKind::Person) => Some(ClientKind::Person),
        Ok(pb::ClientKind::Business) => Some(ClientKind::Business),
        Ok(pb::ClientKind::NonProfit) => Some(ClientKind::NonProfit),
        Ok(pb::ClientKind::Government) => Some(ClientKind::Government),
        Err(_) => {
            v.add(
                "context.client_kind",
                format!("{} is not a valid value", c.client_kind),
            );
            None
        }
    };
    let language = match pb::Language::try_from(c.language) {
        Ok(pb::Language::Unspecified) => None,
        Ok(pb::Language::English) => Some(Language::English),
        Ok(pb::Language::French) => Some(Language::French),
        Err(_) => {
            v.add(
                "context.language",
                format!("{} is not a valid value", c.language),
            );
            None
        }
    };
    Context {
        province,
        residence,
        age,
        client,
        language,
        preferred_channel: decode::channel(v, "context.preferred_channel", c.preferred_channel),
        accessibility: decode::unique_enums(
            v,
            "context.accessibility_needs",
            &c.accessibility_needs,
            decode::need,
        ),
        circumstances: decode::unique_enums(
            v,
            "context.circumstances",
            &c.circumstances,
            decode::circumstance,
        ),
    }
}

fn entry_point(
    v: &mut Violations,
    e: Option<&pb::EntryPoint>,
    caller: &Caller,
    snapshot: &Snapshot,
) -> EntryPoint {
    let own = match &caller.principal {
        Principal::Agency { agency, .. } => Some(agency.clone()),
        _ => None,
    };
    let Some(e) = e else {
        return EntryPoint {
            agency: own,
            channel: None,
        };
    };
    let agency = if e.agency.is_empty() {
        own
    } else {
        let id = v.name("entry_point.agency", &e.agency, AGENCIES);
        if !id.is_empty() && snapshot.agency(&id).is_none() {
            v.add("entry_point.agency", "is not an agency of the catalogue");
        }
        Some(id)
    };
    EntryPoint {
        agency,
        channel: decode::channel(v, "entry_point.channel", e.channel),
    }
}

fn max_candidates(v: &mut Violations, value: i32) -> usize {
    match value {
        0 => DEFAULT_CANDIDATES,
        n if n < 0 => {
            v.add("max_candidates", "must not be negative");
            DEFAULT_CANDIDATES
        }
        n => usize::try_from(n)
            .unwrap_or(MAX_CANDIDATES)
            .min(MAX_CANDIDATES),
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    async fn route_need(
        &self,
        request: Request<pb::RouteNeedRequest>,
    ) -> Reply<pb::RouteNeedResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let today = date_of(self.store.clock().now().unix_millis());
        let mut v = Violations::default();
        let need = need(&mut v, req.need.as_ref());
        let inline = context(&mut v, req.context.as_ref(), &today);
        let entry = entry_point(&mut v, req.entry_point.as_ref(), &caller, &snapshot);
        let max_candidates = max_candidates(&mut v, req.max_candidates);
        let citizen = (!req.citizen.is_empty()).then(|| v.name("citizen", &req.citizen, CITIZENS));
        v.finish()?;
        let Some(need) = need else {
            return Err(
                AppError::Internal(anyhow::anyhow!("need decoded without a violation")).into(),
            );
        };
        let context = match citizen {
            Some(id) => inline.or(self.citizen_context(caller, id).await?),
            None => inline,
        };
        let query = Query {
            need,
            context,
            entry,
            max_candidates,
        };
        let routed = self.route(snapshot.clone(), query).await?;
        Ok(Response::new(encode(&routed, &snapshot)))
    }
}

fn encode(routed: &Routed, snapshot: &Snapshot) -> pb::RouteNeedResponse {
    pb::RouteNeedResponse {
        candidates: routed
            .candidates
            .iter()
            .map(|c| candidate(c, snapshot))
            .collect(),
        language: match routed.language {
            None => pb::NeedLanguage::Unspecified,
            Some(NeedLanguage::English) => pb::NeedLanguage::English,
            Some(NeedLanguage::French) => pb::NeedLanguage::French,
            Some(NeedLanguage::Mixed) => pb::NeedLanguage::Mixed,
        } as i32,
        life_events: routed
            .life_events
            .iter()
            .map(|e| pb::DetectedLifeEvent {
                life_event: format!("{LIFE_EVENTS}/{}", e.id),
                name: snapshot
                    .life_event(&e.id)
                    .and_then(|l| convert::text(&l.name)),
                evidence: e.evidence.clone(),
            })
            .collect(),
        client_kind: match routed.client {
            ClientKind::Person => pb::ClientKind::Person,
            ClientKind::Business => pb::ClientKind::Business,
            ClientKind::NonProfit => pb::ClientKind::NonProfit,
            ClientKind::Government => pb::ClientKind::Government,
        } as i32,
    }
}

fn eligibility(status: Option<Eligibility>) -> pb::EligibilityStatus {
    match status {
        None => pb::EligibilityStatus::NoRules,
        Some(Eligibility::Met) => pb::EligibilityStatus::Met,
        Some(Eligibility::Unknown) => pb::EligibilityStatus::Unknown,
        Some(Eligibility::Failed) => pb::EligibilityStatus::Failed,
    }
}

fn reason_kind(kind: ReasonKind) -> pb::ReasonKind {
    match kind {
        ReasonKind::MatchedWords => pb::ReasonKind::MatchedWords,
        ReasonKind::SimilarMeaning => pb::ReasonKind::SimilarMeaning,
        ReasonKind::LifeEvent => pb::ReasonKind::LifeEvent,
        ReasonKind::Audience => pb::ReasonKind::Audience,
        ReasonKind::Eligibility => pb::ReasonKind::Eligibility,
        ReasonKind::Channel => pb::ReasonKind::Channel,
        ReasonKind::Standard => pb::ReasonKind::Standard,
        ReasonKind::Delivery => pb::ReasonKind::Delivery,
        ReasonKind::Named => pb::ReasonKind::Named,
    }
}

fn candidate(c: &Candidate, snapshot: &Snapshot) -> pb::RouteCandidate {
    let service = snapshot.service(&c.service);
    pb::RouteCandidate {
        service: format!("{SERVICES}/{}", c.service),
        service_name: service.and_then(|s| convert::text(&s.name)),
        owner_agency: format!("{AGENCIES}/{}", c.owner),
        hand_to_agency: format!("{AGENCIES}/{}", c.hand_to),
        hand_to_reason: match c.hand_to_reason {
            HandTo::Owner => pb::HandToReason::Owner,
            HandTo::DeliveryPartner => pb::HandToReason::DeliveryPartner,
            HandTo::EntryAgency => pb::HandToReason::EntryAgency,
        } as i32,
        score: c.score,
        eligibility: eligibility(c.eligibility) as i32,
        eligibility_checks: c
            .checks
            .iter()
            .map(|check| pb::EligibilityCheck {
                rule: convert::text(&check.rule),
                status: eligibility(Some(check.status)) as i32,
                explanation: convert::text(&check.explanation),
            })
            .collect(),
        life_events: c
            .life_events
            .iter()
            .map(|e| format!("{LIFE_EVENTS}/{e}"))
            .collect(),
        channel_fit: Some(pb::ChannelFit {
            offered: c
                .channel_fit
                .offered
                .iter()
                .map(|ch| convert::channel(*ch) as i32)
                .collect(),
            preferred_offered: c.channel_fit.preferred_offered,
            explanation: convert::text(&c.channel_fit.explanation),
        }),
        standards: service
            .map(|s| s.standards.iter().map(convert::standard).collect())
            .unwrap_or_default(),
        reasons: c
            .reasons
            .iter()
            .map(|r| pb::RouteReason {
                kind: reason_kind(r.kind) as i32,
                text: convert::text(&r.text),
                matches: r
                    .matches
                    .iter()
                    .map(|(need_words, catalogue_term)| pb::TermMatch {
                        need_words: need_words.clone(),
                        catalogue_term: catalogue_term.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}
