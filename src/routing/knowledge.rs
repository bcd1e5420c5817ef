//! The routing knowledge that ships with the binary (`data/routing/`): how people ask for each
//! service, a lexicon of everyday words to catalogue terms, each service's audience and
//! structured eligibility, the phrases that reveal life events, the situations delivery partners
//! serve and the words that say a need is a business's. It is data, read once; nothing here runs
//! per query.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, OnceLock},
};

use serde::Deserialize;

use super::text::normalize;
use crate::domain::{
    catalog::Text,
    citizen::{Province, record::Circumstance},
    routing::{Audience, ClientKind, Eligibility, Residence},
};

const SERVICES: &str = include_str!("../../data/routing/services.jsonl");
const LEXICON: &str = include_str!("../../data/routing/lexicon.json");
const LIFE_EVENTS: &str = include_str!("../../data/routing/life_events.json");
const PARTNERS: &str = include_str!("../../data/routing/partners.json");
const CUES: &str = include_str!("../../data/routing/cues.json");

/// Why the knowledge could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("routing knowledge {file}: {source}")]
    Json {
        file: &'static str,
        source: serde_json::Error,
    },
    #[error("routing knowledge {file}: {message}")]
    Invalid { file: &'static str, message: String },
}

/// Words in English and in French.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Words {
    #[serde(default)]
    pub en: Vec<String>,
    #[serde(default)]
    pub fr: Vec<String>,
}

/// What routing knows of one service beyond the catalogue.
#[derive(Debug, Clone, Default)]
pub struct ServiceKnowledge {
    pub audience: Vec<Audience>,
    /// How people ask for it, in their own words.
    pub phrasings: Words,
    /// Everyday words for it that its official name lacks.
    pub keywords: Words,
    pub eligibility: Option<Eligibility>,
}

/// One lexicon entry: everyday phrases (normalised) and the catalogue terms they stand for.
#[derive(Debug, Clone)]
pub struct LexiconEntry {
    pub french: bool,
    pub phrases: Vec<String>,
    pub terms: Vec<String>,
}

/// A delivery partner and the situation in which it, not the owner, takes the request.
#[derive(Debug, Clone)]
pub struct PartnerSituation {
    pub service: String,
    pub partner: String,
    pub serves: Residence,
    pub reason: Text,
}

/// The phrases that say a need is for a kind of client other than a person.
#[derive(Debug, Clone)]
pub struct ClientCue {
    pub client: ClientKind,
    /// Normalised phrases.
    pub phrases: Vec<String>,
}

/// All the routing knowledge.
#[derive(Debug, Default)]
pub struct Knowledge {
    pub services: HashMap<String, ServiceKnowledge>,
    pub lexicon: Vec<LexiconEntry>,
    /// Life event id to normalised phrases that reveal it.
    pub life_events: BTreeMap<String, Vec<String>>,
    pub partners: Vec<PartnerSituation>,
    pub cues: Vec<ClientCue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceRow {
    service: String,
    audience: Vec<String>,
    phrasings: Words,
    keywords: Words,
    eligibility: Option<EligibilityRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EligibilityRow {
    min_age: Option<u32>,
    max_age: Option<u32>,
    provinces: Option<Vec<String>>,
    not_provinces: Option<Vec<String>>,
    circumstances: Option<Vec<String>>,
    residence: Option<String>,
    rule: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconRow {
    lang: String,
    phrases: Vec<String>,
    terms: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerRow {
    service: String,
    partner: String,
    serves: String,
    reason: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CueRow {
    client: String,
    phrases: Words,
}

fn json<T: for<'de> Deserialize<'de>>(file: &'static str, text: &str) -> Result<T, KnowledgeError> {
    serde_json::from_str(text).map_err(|source| KnowledgeError::Json { file, source })
}

fn invalid(file: &'static str, message: String) -> KnowledgeError {
    KnowledgeError::Invalid { file, message }
}

fn residence(code: &str) -> Option<Residence> {
    match code {
        "in_canada" => Some(Residence::InCanada),
        "abroad" => Some(Residence::Abroad),
        _ => None,
    }
}

fn client(code: &str) -> Option<ClientKind> {
    match code {
        "person" => Some(ClientKind::Person),
        "business" => Some(ClientKind::Business),
        "non_profit" => Some(ClientKind::NonProfit),
        "government" => Some(ClientKind::Government),
        _ => None,
    }
}

impl EligibilityRow {
    fn parse(self, service: &str) -> Result<Eligibility, KnowledgeError> {
        const FILE: &str = "services.jsonl";
        let bad = |what: &str| invalid(FILE, format!("service {service}: bad {what}"));
        let provinces = |list: Option<Vec<String>>| -> Result<Vec<Province>, KnowledgeError> {
            list.unwrap_or_default()
                .iter()
                .map(|p| Province::parse(p).map_err(|_| bad("province")))
                .collect()
        };
        Ok(Eligibility {
            min_age: self.min_age,
            max_age: self.max_age,
            provinces: provinces(self.provinces)?,
            not_provinces: provinces(self.not_provinces)?,
            circumstances: self
                .circumstances
                .unwrap_or_default()
                .iter()
                .map(|c| Circumstance::from_code(c).ok_or_else(|| bad("circumstance")))
                .collect::<Result<_, _>>()?,
            residence: match self.residence {
                None => None,
                Some(r) => Some(residence(&r).ok_or_else(|| bad("residence"))?),
            },
            rule: self.rule,
        })
    }
}

impl Knowledge {
    /// The knowledge built into the binary, parsed on first use.
    pub fn builtin() -> Result<Arc<Knowledge>, Arc<KnowledgeError>> {
        static BUILTIN: OnceLock<Result<Arc<Knowledge>, Arc<KnowledgeError>>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| Knowledge::parse().map(Arc::new).map_err(Arc::new))
            .clone()
    }

    fn parse() -> Result<Self, KnowledgeError> {
        let mut services = HashMap::new();
        for (i, line) in SERVICES.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row: ServiceRow = serde_json::from_str(line)
                .map_err(|e| invalid("services.jsonl", format!("line {}: {e}", i + 1)))?;
            let audience = row
                .audience
                .iter()
                .map(|a| {
                    Audience::from_code(a).ok_or_else(|| {
                        invalid(
                            "services.jsonl",
                            format!("service {}: audience {a}", row.service),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            let eligibility = row.eligibility.map(|e| e.parse(&row.service)).transpose()?;
            let knowledge = ServiceKnowledge {
                audience,
                phrasings: row.phrasings,
                keywords: row.keywords,
                eligibility,
            };
            if services.insert(row.service.clone(), knowledge).is_some() {
                return Err(invalid(
                    "services.jsonl",
                    format!("service {} repeated", row.service),
                ));
            }
        }
        let lexicon = json::<Vec<LexiconRow>>("lexicon.json", LEXICON)?
            .into_iter()
            .map(|row| LexiconEntry {
                french: row.lang == "fr",
                phrases: row.phrases.iter().map(|p| normalize(p)).collect(),
                terms: row.terms,
            })
            .collect();
        let life_events = json::<BTreeMap<String, Words>>("life_events.json", LIFE_EVENTS)?
            .into_iter()
            .map(|(id, words)| {
                let phrases = words
                    .en
                    .iter()
                    .chain(&words.fr)
                    .map(|p| normalize(p))
                    .collect();
                (id, phrases)
            })
            .collect();
        let partners = json::<Vec<PartnerRow>>("partners.json", PARTNERS)?
            .into_iter()
            .map(|row| {
                Ok(PartnerSituation {
                    serves: residence(&row.serves).ok_or_else(|| {
                        invalid("partners.json", format!("serves {}", row.serves))
                    })?,
                    service: row.service,
                    partner: row.partner,
                    reason: row.reason,
                })
            })
            .collect::<Result<_, KnowledgeError>>()?;
        let cues = json::<Vec<CueRow>>("cues.json", CUES)?
            .into_iter()
            .map(|row| {
                Ok(ClientCue {
                    client: client(&row.client)
                        .ok_or_else(|| invalid("cues.json", format!("client {}", row.client)))?,
                    phrases: row
                        .phrases
                        .en
                        .iter()
                        .chain(&row.phrases.fr)
                        .map(|p| normalize(p))
                        .collect(),
                })
            })
            .collect::<Result<_, KnowledgeError>>()?;
        Ok(Knowledge {
            services,
            lexicon,
            life_events,
            partners,
            cues,
        })
    }

    /// What is known of the service `id`.
    pub fn service(&self, id: &str) -> Option<&ServiceKnowledge> {
        self.services.get(id)
    }
}
