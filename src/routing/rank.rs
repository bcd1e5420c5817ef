//! The ranking: each signal ranks services on its own, and a weighted reciprocal-rank fusion
//! combines them, so no signal's raw score scale has to agree with another's.
//!
//! ```text
//! fused = lexical / (k + catalogue rank)        the need (and its lexicon rewrite) against the
//!       + plain / (k + plain rank)              catalogue's text, then against how people ask
//!       + semantic / (k + semantic rank)        closeness in meaning (English; less for French)
//!       + lexical_gap * catalogue score / best  keeps a clear lexical winner clear
//!       + life_event                            when the service is in a revealed life event
//! score = fused * audience prior                (`audience_prior`)
//! ```
//!
//! The best `max_candidates` are kept and those whose eligibility fails move below the others.
//!
//! How the weights were set (`Weights::default`), on the two shared development sets together
//! (145 needs), changing one at a time and keeping a change only when it helped both sets: the
//! plain-language signal is the strongest single lever (its curated phrasings are written the way
//! people ask), so it weighs most; the catalogue's own text weighs less because official names
//! attract needs that share a common word; a small `k` lets each signal's first answers count; the
//! lexicon rewrite weighs less than the need's own words; and the audience prior is strong only
//! when the client is known (an assumed person barely demotes a business service), because a
//! wrong guess there sends a citizen to the wrong door.

use std::collections::{BTreeSet, HashMap};

use super::{
    Candidate, DetectedEvent, HandTo, Need, Query, Routed,
    knowledge::Knowledge,
    reasons,
    text::{NeedLanguage, detect, normalize},
};
use crate::{
    catalog::{
        Snapshot,
        search::{Fields, SearchError},
    },
    domain::{
        catalog::{ClientGroup, Service},
        routing::{Audience, ClientKind, Context, Status},
    },
};

/// Why a need could not be routed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("unknown service")]
    UnknownService,
    #[error("unknown life event")]
    UnknownLifeEvent,
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// The few weights of the fusion.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// Reciprocal-rank constant: smaller favours the first ranks of each signal.
    pub k: f64,
    pub lexical: f64,
    /// Weight of the lexical signal over how people ask for each service alone.
    pub plain: f64,
    pub semantic: f64,
    /// Weight of the semantic signal for a need read as French (the encoder is English-only).
    pub semantic_french: f64,
    /// Weight of the lexical score relative to the best one (keeps a clear winner clear).
    pub lexical_gap: f64,
    /// Added when the service belongs to a life event the need reveals.
    pub life_event: f64,
    /// Factor for a service that is not for the need's kind of client, when that is known.
    pub audience_miss: f64,
    /// Factor for the same when the client is only assumed to be a person.
    pub audience_guess: f64,
    /// Factor for a service only for governments or public servants, for a need that is not a
    /// government's.
    pub audience_internal: f64,
    /// Weight of lexicon expansions against the need's own words in the lexical query.
    pub expansion: f32,
    /// How many of each signal's best enter the fusion.
    pub depth: usize,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            k: 3.0,
            lexical: 0.7,
            plain: 1.5,
            semantic: 1.3,
            semantic_french: 0.5,
            lexical_gap: 0.05,
            life_event: 0.05,
            audience_miss: 0.5,
            audience_guess: 0.9,
            audience_internal: 0.5,
            expansion: 0.4,
            depth: 100,
        }
    }
}

/// Words of a need that say nothing about which service it is.
const NOISE: &[&str] = &[
    "federal",
    "government",
    "canada",
    "canadian",
    "service",
    "services",
    "claim",
    "record",
    "records",
    "help",
    "need",
    "want",
    "apply",
    "application",
    "information",
    "please",
    "office",
    "program",
    "programs",
    "get",
    "find",
    "know",
    "like",
    "would",
    "could",
    "also",
    "someone",
    "thing",
    "things",
    "really",
    "just",
    "now",
    "still",
    "time",
    "question",
    "questions",
    "hi",
    "hello",
    "thanks",
    "gouvernement",
    "federal",
    "aide",
    "besoin",
    "demande",
    "programme",
    "bonjour",
    "merci",
    "savoir",
    "trouver",
    "info",
    "dossier",
];

/// The need's words without the noise words.
pub(super) fn without_noise(normalized: &str) -> String {
    normalized
        .split_whitespace()
        .filter(|w| !NOISE.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text the semantic signal should encode for `query`: free text, unless it is read as
/// French and the semantic signal has no weight for French.
pub fn text_to_encode<'a>(query: &'a Query, weights: &Weights) -> Option<&'a str> {
    match &query.need {
        Need::Text(text)
            if weights.semantic_french > 0.0 || detect(text) != NeedLanguage::French =>
        {
            Some(text)
        }
        _ => None,
    }
}

/// Who a service is for: the knowledge's audience, or the source's client groups.
pub(super) fn audience(service: &Service, knowledge: &Knowledge) -> Vec<Audience> {
    if let Some(k) = knowledge
        .service(&service.id)
        .filter(|k| !k.audience.is_empty())
    {
        return k.audience.clone();
    }
    service
        .client_groups
        .iter()
        .map(|g| match g {
            ClientGroup::Person | ClientGroup::Foreign => Audience::Persons,
            ClientGroup::Business => Audience::Businesses,
            ClientGroup::NonProfit => Audience::NonProfits,
            ClientGroup::ProvinceTerritoryCommunity | ClientGroup::Government => {
                Audience::Governments
            }
        })
        .collect()
}

/// Who the need is for, and whether that is known (stated, or said by the words) rather than
/// assumed (a person, when nothing says otherwise).
fn client_of(normalized: &str, context: &Context, knowledge: &Knowledge) -> (ClientKind, bool) {
    if let Some(client) = context.client {
        return (client, true);
    }
    knowledge
        .cues
        .iter()
        .find(|cue| cue.phrases.iter().any(|p| normalized.contains(p.as_str())))
        .map_or((ClientKind::Person, false), |cue| (cue.client, true))
}

fn detect_events(normalized: &str, knowledge: &Knowledge) -> Vec<DetectedEvent> {
    knowledge
        .life_events
        .iter()
        .filter_map(|(id, phrases)| {
            let phrase = phrases.iter().find(|p| normalized.contains(p.as_str()))?;
            Some(DetectedEvent {
                id: id.clone(),
                evidence: phrase.trim().to_owned(),
            })
        })
        .collect()
}

/// What each signal said of one service.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Evidence {
    pub lexical_rank: Option<usize>,
    pub lexical_share: f64,
    pub plain_rank: Option<usize>,
    pub semantic_rank: Option<usize>,
    /// Which of the service's texts was closest (0: name and description).
    pub semantic_text: u16,
    /// Whether that text is French.
    pub semantic_french: bool,
    pub in_event: bool,
}

/// Routes `query` on `snapshot`. `need_vector` is the encoded need ([`text_to_encode`]), when the
/// encoder ran.
pub fn route(
    snapshot: &Snapshot,
    query: &Query,
    need_vector: Option<&[f32]>,
    weights: &Weights,
) -> Result<Routed, RouteError> {
    let knowledge = &snapshot.routing().knowledge;
    match &query.need {
        Need::Service(id) => {
            let service = snapshot
                .service(id)
                .filter(|s| !s.retired)
                .ok_or(RouteError::UnknownService)?;
            let client = query.context.client.unwrap_or(ClientKind::Person);
            let candidate = candidate(snapshot, query, service, client, 1.0, &[], None);
            Ok(Routed {
                candidates: vec![reasons::named(candidate)],
                language: None,
                life_events: Vec::new(),
                client,
            })
        }
        Need::LifeEvent(id) => {
            let event = snapshot
                .life_event(id)
                .ok_or(RouteError::UnknownLifeEvent)?;
            let client = query.context.client.unwrap_or(ClientKind::Person);
            let detected = vec![DetectedEvent {
                id: id.clone(),
                evidence: String::new(),
            }];
            let mut candidates: Vec<Candidate> = event
                .services
                .iter()
                .filter_map(|s| snapshot.service(&s.service_id).filter(|s| !s.retired))
                .enumerate()
                .map(|(i, service)| {
                    let score = 1.0 / (1.0 + i as f64 * 0.05);
                    candidate(snapshot, query, service, client, score, &detected, None)
                })
                .collect();
            order(&mut candidates, usize::MAX);
            candidates.truncate(query.max_candidates);
            Ok(Routed {
                candidates,
                language: None,
                life_events: detected,
                client,
            })
        }
        Need::Text(text) => route_text(snapshot, query, text, need_vector, weights, knowledge),
    }
}

fn route_text(
    snapshot: &Snapshot,
    query: &Query,
    text: &str,
    need_vector: Option<&[f32]>,
    weights: &Weights,
    knowledge: &Knowledge,
) -> Result<Routed, RouteError> {
    let normalized = normalize(text);
    let language = detect(text);
    let (client, known) = client_of(&normalized, &query.context, knowledge);
    let events = detect_events(&normalized, knowledge);
    let lexicon: Vec<(String, String)> = knowledge
        .lexicon
        .iter()
        .flat_map(|entry| {
            let phrase = entry
                .phrases
                .iter()
                .find(|p| normalized.contains(p.as_str()));
            phrase
                .into_iter()
                .flat_map(|p| entry.terms.iter().map(|t| (p.trim().to_owned(), t.clone())))
        })
        .collect();
    let expansions = lexicon
        .iter()
        .map(|(_, term)| without_noise(&normalize(term)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(" ");
    let words = without_noise(&normalized);
    let texts = [
        (words.as_str(), 1.0),
        (expansions.as_str(), weights.expansion),
    ];
    let hits = snapshot.search_fields(&texts, Fields::Catalogue, weights.depth)?;
    let mut evidence: HashMap<&str, Evidence> = HashMap::new();
    let best_lexical = hits
        .first()
        .map_or(1.0, |(_, s)| f64::from(*s).max(f64::MIN_POSITIVE));
    for (rank, (service, score)) in hits.iter().enumerate() {
        let e = evidence.entry(service.id.as_str()).or_default();
        e.lexical_rank = Some(rank);
        e.lexical_share = f64::from(*score) / best_lexical;
    }
    if weights.plain > 0.0 {
        let plain = snapshot.search_fields(&texts, Fields::Plain, weights.depth)?;
        for (rank, (service, _)) in plain.iter().enumerate() {
            evidence.entry(service.id.as_str()).or_default().plain_rank = Some(rank);
        }
    }
    if let Some(vector) = need_vector {
        let french = language == NeedLanguage::French;
        let nearest = snapshot.routing().nearest(vector, weights.depth, french);
        for (rank, (id, text_index)) in nearest.into_iter().enumerate() {
            let e = evidence.entry(id).or_default();
            e.semantic_rank = Some(rank);
            e.semantic_text = text_index;
            e.semantic_french = french;
        }
    }
    for event in &events {
        if let Some(life_event) = snapshot.life_event(&event.id) {
            for s in &life_event.services {
                if let Some(service) = snapshot.service(&s.service_id) {
                    evidence.entry(service.id.as_str()).or_default().in_event = true;
                }
            }
        }
    }
    let mut scored: Vec<(&Service, f64, Evidence)> = evidence
        .into_iter()
        .filter_map(|(id, e)| {
            let service = snapshot.service(id).filter(|s| !s.retired)?;
            let prior = audience_prior(weights, service, knowledge, client, known);
            Some((service, fuse(&e, weights, language) * prior, e))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.id.cmp(&b.0.id)));
    scored.truncate(query.max_candidates);
    let top = scored.first().map_or(1.0, |s| s.1.max(f64::MIN_POSITIVE));
    let mut candidates: Vec<Candidate> = scored
        .into_iter()
        .map(|(service, score, e)| {
            let c = candidate(
                snapshot,
                query,
                service,
                client,
                score / top,
                &events,
                Some(e),
            );
            reasons::matched(c, service, &normalized, &lexicon, snapshot, e)
        })
        .collect();
    order(&mut candidates, query.max_candidates);
    Ok(Routed {
        candidates,
        language: Some(language),
        life_events: events,
        client,
    })
}

/// The factor for a service's audience: 1 when it serves the need's client; `audience_internal`
/// when it serves only governments or public servants and the need is not a government's;
/// otherwise `audience_miss` when the client is known and `audience_guess` when it is assumed.
fn audience_prior(
    w: &Weights,
    service: &Service,
    knowledge: &Knowledge,
    client: ClientKind,
    known: bool,
) -> f64 {
    let audience = audience(service, knowledge);
    if audience.is_empty() || audience.iter().any(|a| a.serves(client)) {
        1.0
    } else if audience
        .iter()
        .all(|a| matches!(a, Audience::Governments | Audience::PublicServants))
    {
        w.audience_internal
    } else if known {
        w.audience_miss
    } else {
        w.audience_guess
    }
}

fn fuse(e: &Evidence, w: &Weights, language: NeedLanguage) -> f64 {
    let rrf = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / (w.k + r as f64 + 1.0));
    let semantic = if language == NeedLanguage::French {
        w.semantic_french
    } else {
        w.semantic
    };
    w.lexical * rrf(e.lexical_rank)
        + w.plain * rrf(e.plain_rank)
        + semantic * rrf(e.semantic_rank)
        + w.lexical_gap * e.lexical_share
        + if e.in_event { w.life_event } else { 0.0 }
}

/// The best `max` by score, then those whose eligibility fails moved below the others: a
/// candidate that ranks is kept and marked, never dropped for its eligibility.
fn order(candidates: &mut Vec<Candidate>, max: usize) {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.service.cmp(&b.service)));
    candidates.truncate(max);
    candidates.sort_by(|a, b| {
        let failed = |c: &Candidate| c.eligibility == Some(Status::Failed);
        failed(a)
            .cmp(&failed(b))
            .then(b.score.total_cmp(&a.score))
            .then(a.service.cmp(&b.service))
    });
    candidates.truncate(max);
}

/// A candidate with everything but the word-level reasons.
fn candidate(
    snapshot: &Snapshot,
    query: &Query,
    service: &Service,
    client: ClientKind,
    score: f64,
    events: &[DetectedEvent],
    evidence: Option<Evidence>,
) -> Candidate {
    let knowledge = &snapshot.routing().knowledge;
    let rules = knowledge
        .service(&service.id)
        .and_then(|k| k.eligibility.as_ref());
    let checks = rules.map(|e| e.check(&query.context)).unwrap_or_default();
    // The worst check; a rule known only as text decides nothing: unknown, never met.
    let eligibility = rules.map(|_| {
        checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Unknown)
    });
    let (hand_to, hand_to_reason, delivery) = reasons::hand_to(service, query, knowledge);
    let life_events: Vec<String> = events
        .iter()
        .filter(|e| service.life_events.contains(&e.id))
        .map(|e| e.id.clone())
        .collect();
    let mut candidate = Candidate {
        service: service.id.clone(),
        owner: service.agency.clone(),
        hand_to,
        hand_to_reason,
        score,
        eligibility,
        checks,
        life_events,
        channel_fit: reasons::channel_fit(service, &query.context),
        reasons: Vec::new(),
    };
    reasons::describe(
        &mut candidate,
        service,
        snapshot,
        client,
        delivery,
        evidence,
    );
    candidate
}

/// The hand-to agency for `service`: the entry agency when it delivers it, else the partner
/// serving the citizen's residence, else the owner.
pub(super) fn hand_to_agency(
    service: &Service,
    query: &Query,
    knowledge: &Knowledge,
) -> (String, HandTo, Option<usize>) {
    if let Some(entry) = &query.entry.agency
        && (service.agency == *entry || service.delivery_partners.contains(entry))
    {
        return (entry.clone(), HandTo::EntryAgency, None);
    }
    if let Some(residence) = query.context.residence
        && let Some((i, partner)) = knowledge.partners.iter().enumerate().find(|(_, p)| {
            p.service == service.id
                && p.serves == residence
                && service.delivery_partners.contains(&p.partner)
        })
    {
        return (partner.partner.clone(), HandTo::DeliveryPartner, Some(i));
    }
    (service.agency.clone(), HandTo::Owner, None)
}
