//! No-wrong-door routing: from a need (the citizen's words, a service or a life event) and what is
//! known of the citizen to ranked services, the agency to hand each to, and reasons a person can
//! read.
//!
//! Four signals are fused (see [`rank`]): lexical search over the catalogue and how people ask
//! for each service, with the need rewritten through a lexicon of everyday words; the semantic
//! signal of a sentence encoder against shipped service vectors; life events the words reveal; and
//! audience and eligibility priors from the context. Everything but the encoding of the need is
//! data built with the catalogue snapshot, so a query does no I/O.

pub mod encoder;
pub mod knowledge;
pub mod rank;
mod reasons;
pub mod text;
pub mod vectors;

use std::sync::{Arc, OnceLock};

pub use rank::{Weights, route};
pub use text::NeedLanguage;

use crate::domain::{
    catalog::{Channel, Service, Text},
    routing::{ClientKind, Context, Status},
};
use knowledge::Knowledge;
use vectors::{Quantized, VectorTable};

/// Longest need text, in characters.
pub const MAX_NEED_CHARS: usize = 2_000;
/// Candidates returned when the caller does not say.
pub const DEFAULT_CANDIDATES: usize = 5;
/// Most candidates returned.
pub const MAX_CANDIDATES: usize = 20;

/// What the citizen needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Text(String),
    Service(String),
    LifeEvent(String),
}

/// Where the citizen reached government.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPoint {
    pub agency: Option<String>,
    pub channel: Option<Channel>,
}

/// One routing question, validated.
#[derive(Debug, Clone)]
pub struct Query {
    pub need: Need,
    pub context: Context,
    pub entry: EntryPoint,
    pub max_candidates: usize,
}

/// Why a candidate goes to the agency it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandTo {
    Owner,
    DeliveryPartner,
    EntryAgency,
}

/// Kind of a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonKind {
    MatchedWords,
    SimilarMeaning,
    LifeEvent,
    Audience,
    Eligibility,
    Channel,
    Standard,
    Delivery,
    Named,
}

/// A reason a person can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub kind: ReasonKind,
    pub text: Text,
    /// For matched words: (words of the need, catalogue term).
    pub matches: Vec<(String, String)>,
}

/// How a service's channels fit the citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFit {
    pub offered: Vec<Channel>,
    pub preferred_offered: bool,
    pub explanation: Text,
}

/// One ranked answer.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub service: String,
    pub owner: String,
    pub hand_to: String,
    pub hand_to_reason: HandTo,
    /// 0 to 1, the best candidate 1.
    pub score: f64,
    /// `None`: no structured rules.
    pub eligibility: Option<Status>,
    pub checks: Vec<crate::domain::routing::Check>,
    pub life_events: Vec<String>,
    pub channel_fit: ChannelFit,
    pub reasons: Vec<Reason>,
}

/// A life event the need reveals, with the words that revealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedEvent {
    pub id: String,
    pub evidence: String,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone)]
pub struct Routed {
    pub candidates: Vec<Candidate>,
    /// `None` when the need was not text.
    pub language: Option<NeedLanguage>,
    pub life_events: Vec<DetectedEvent>,
    pub client: ClientKind,
}

/// The vectors built into the binary, read on first use.
pub fn builtin_vectors() -> Arc<VectorTable> {
    static BUILTIN: OnceLock<Arc<VectorTable>> = OnceLock::new();
    BUILTIN
        .get_or_init(|| match VectorTable::parse(vectors::BUILTIN) {
            Ok(table) => Arc::new(table),
            Err(error) => {
                tracing::error!(%error, "the shipped service vectors are unreadable; routing runs without the semantic signal");
                Arc::new(VectorTable::default())
            }
        })
        .clone()
}

/// The routing data of one catalogue snapshot: the knowledge and the vectors of its active
/// services, in rows the semantic signal scans.
#[derive(Debug, Default)]
pub struct RoutingIndex {
    pub(crate) knowledge: Arc<Knowledge>,
    /// Each row's service position, text index (0: name and description; then phrasings) and
    /// whether the text is French ([`vectors::texts_in`]).
    rows: Vec<(u32, u16, bool)>,
    /// Row after row, `dimensions` quantised components each, and each row's scale.
    components: Vec<i8>,
    scales: Vec<f32>,
    dimensions: usize,
    /// Service ids by position.
    services: Vec<String>,
    /// Texts that found no vector (changed since the vectors were made, or another encoder).
    pub missing_vectors: usize,
}

impl RoutingIndex {
    /// Lines up `knowledge` and `table` with the active services.
    pub fn build<'a>(
        services: impl IntoIterator<Item = &'a Service>,
        knowledge: Arc<Knowledge>,
        table: &VectorTable,
    ) -> Self {
        let usable = table.identity == vectors::model_identity();
        let mut index = RoutingIndex {
            knowledge,
            dimensions: table.dimensions,
            ..RoutingIndex::default()
        };
        for service in services {
            let position = u32::try_from(index.services.len()).unwrap_or(u32::MAX);
            index.services.push(service.id.clone());
            for french in [false, true] {
                let texts =
                    vectors::texts_in(service, index.knowledge.service(&service.id), french);
                for (i, text) in texts.iter().enumerate() {
                    match table.vectors.get(&vectors::key(text)).filter(|_| usable) {
                        Some(vector) if vector.components.len() == index.dimensions => {
                            let i = u16::try_from(i).unwrap_or(u16::MAX);
                            index.rows.push((position, i, french));
                            index.components.extend_from_slice(&vector.components);
                            index.scales.push(vector.scale);
                        }
                        _ => index.missing_vectors += 1,
                    }
                }
            }
        }
        index
    }

    /// The `depth` services closest in meaning to `need` (a unit vector), closest first, each with
    /// the index of its closest text, among the texts in French (`french`) or English. The need is
    /// quantised like the rows, so each row costs one integer dot product.
    pub fn nearest(&self, need: &[f32], depth: usize, french: bool) -> Vec<(&str, u16)> {
        if self.dimensions == 0 || need.len() != self.dimensions {
            return Vec::new();
        }
        let query = Quantized::of(need);
        let mut best = vec![(f32::MIN, 0u16); self.services.len()];
        for (row, ((position, text, in_french), scale)) in
            self.rows.iter().zip(&self.scales).enumerate()
        {
            if *in_french != french {
                continue;
            }
            let components = &self.components[row * self.dimensions..(row + 1) * self.dimensions];
            let dot: i32 = components
                .iter()
                .zip(&query.components)
                .map(|(a, b)| i32::from(*a) * i32::from(*b))
                .sum();
            let similarity = dot as f32 * scale * query.scale;
            let slot = &mut best[*position as usize];
            if similarity > slot.0 {
                *slot = (similarity, *text);
            }
        }
        let mut ranked: Vec<(usize, f32, u16)> = best
            .into_iter()
            .enumerate()
            .filter(|(_, (s, _))| *s > f32::MIN)
            .map(|(p, (s, t))| (p, s, t))
            .collect();
        let order = |a: &(usize, f32, u16), b: &(usize, f32, u16)| {
            b.1.total_cmp(&a.1)
                .then(self.services[a.0].cmp(&self.services[b.0]))
        };
        if ranked.len() > depth && depth > 0 {
            ranked.select_nth_unstable_by(depth - 1, order);
            ranked.truncate(depth);
        }
        ranked.sort_by(order);
        ranked
            .into_iter()
            .map(|(p, _, t)| (self.services[p].as_str(), t))
            .collect()
    }

    /// Number of vectors in use.
    pub fn vector_count(&self) -> usize {
        self.rows.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::catalog::import;

    fn builtin() -> (crate::domain::catalog::Catalog, Arc<Knowledge>) {
        let (catalog, _) = import::build(import::BUILTIN).expect("the built-in catalogue");
        (
            catalog,
            Knowledge::builtin().expect("the built-in knowledge parses"),
        )
    }

    #[test]
    fn the_knowledge_names_only_services_agencies_and_events_of_the_catalogue() {
        let (catalog, knowledge) = builtin();
        let service = |id: &str| catalog.services.iter().find(|s| s.id == id);
        for id in knowledge.services.keys() {
            assert!(
                service(id).is_some(),
                "services.jsonl names unknown service {id}"
            );
        }
        for p in &knowledge.partners {
            let s = service(&p.service).expect("a partner's service exists");
            assert!(
                s.delivery_partners.contains(&p.partner),
                "{} is not a delivery partner of {} in the overlay",
                p.partner,
                p.service
            );
        }
        let events: BTreeSet<&str> = catalog.life_events.iter().map(|e| e.id.as_str()).collect();
        let phrased: BTreeSet<&str> = knowledge.life_events.keys().map(String::as_str).collect();
        assert_eq!(
            events, phrased,
            "every life event has detection phrases, and only those"
        );
        assert!(
            knowledge
                .lexicon
                .iter()
                .all(|e| !e.phrases.is_empty() && !e.terms.is_empty())
        );
    }

    #[test]
    fn the_shipped_vectors_match_the_shipped_data_and_this_encoder() {
        let (catalog, knowledge) = builtin();
        let table = builtin_vectors();
        assert_eq!(
            table.identity,
            vectors::model_identity(),
            "vectors made by another encoder: run `single-window catalog vectors`"
        );
        let wanted: BTreeSet<u64> = catalog
            .services
            .iter()
            .filter(|s| !s.retired)
            .flat_map(|s| vectors::texts(s, knowledge.service(&s.id)))
            .map(|t| vectors::key(&t))
            .collect();
        let have: BTreeSet<u64> = table.vectors.keys().copied().collect();
        assert_eq!(
            wanted.difference(&have).count(),
            0,
            "texts without a vector: run `single-window catalog vectors`"
        );
        assert_eq!(have.difference(&wanted).count(), 0, "vectors of no text");
    }

    #[test]
    fn a_shipped_vector_is_what_the_encoder_computes_for_its_text() {
        let (catalog, knowledge) = builtin();
        let table = builtin_vectors();
        let encoders = encoder::Encoders::load(1);
        for service in catalog
            .services
            .iter()
            .filter(|s| ["1003", "SRV03049", "1001"].contains(&s.id.as_str()))
        {
            for text in vectors::texts(service, knowledge.service(&service.id))
                .iter()
                .take(2)
            {
                let fresh = encoders.encode_blocking(text).expect("encoded");
                let shipped = &table.vectors[&vectors::key(text)];
                let similarity = shipped.dot(&fresh);
                assert!(similarity > 0.99, "{text}: {similarity}");
            }
        }
    }
}
