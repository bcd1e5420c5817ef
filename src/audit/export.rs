//! The access log's export file and its offline verification (`single-window audit export` and
//! `audit verify`).
//!
//! An export holds the signed checkpoint, the verifier key, every leaf hash of the checkpoint's
//! tree, and the events (of one citizen, or of the whole log) with their fields. The verifier
//! trusts nothing but the key: it checks the checkpoint's signature, that the leaf hashes make its
//! root, that each event's recomputed leaf is the leaf at its index, that a citizen's events are
//! numbered 1, 2, 3... without gaps or repeats in the order of their leaves, and, given a
//! checkpoint the reader kept earlier, that the tree extends it. It names the first problem:
//! an altered, removed, inserted or reordered event, or history rewritten since the kept
//! checkpoint.

use std::collections::{BTreeMap, HashMap};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use super::{
    checkpoint::{Checkpoint, parse_verifier_key},
    merkle::{self, Hash},
};
use crate::domain::{
    access::{AccessEvent, Action, Actor, Outcome},
    consent::{Categories, Purpose},
    time::Timestamp,
};

/// The first line of the format.
pub const FORMAT: &str = "single-window access log export v1";

/// One exported event: its fields as stored (the leaf is recomputed from them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedEvent {
    pub citizen: String,
    pub number: i64,
    pub leaf_index: Option<i64>,
    pub actor: String,
    pub officer: String,
    pub representative: String,
    pub action: String,
    pub purpose: String,
    pub categories: String,
    pub outcome: String,
    pub time_unix_ms: i64,
    pub request_id: String,
}

/// An export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub format: String,
    /// `citizens/{id}` for one citizen's events, empty for the whole log.
    pub citizen: String,
    pub verifier_key: String,
    pub checkpoint: String,
    /// Base64 of every leaf hash of the checkpoint's tree, in order.
    pub leaf_hashes: Vec<String>,
    pub events: Vec<ExportedEvent>,
}

impl ExportedEvent {
    /// The exported form of `event`.
    pub fn of(event: &AccessEvent) -> Self {
        Self {
            citizen: format!("citizens/{}", event.citizen_id),
            number: event.number,
            leaf_index: event.leaf_index,
            actor: event.actor.principal.clone(),
            officer: event.actor.officer.clone(),
            representative: event.actor.representative.clone(),
            action: event.action.code().to_owned(),
            purpose: event.purpose.map_or("", Purpose::code).to_owned(),
            categories: event.categories.codes(),
            outcome: event.outcome.code().to_owned(),
            time_unix_ms: event.at.unix_millis(),
            request_id: event.request_id.clone(),
        }
    }

    /// The event these fields describe, if they are well-formed.
    fn event(&self) -> Option<AccessEvent> {
        Some(AccessEvent {
            id: String::new(),
            citizen_id: self.citizen.strip_prefix("citizens/")?.to_owned(),
            number: self.number,
            leaf_index: self.leaf_index,
            actor: Actor {
                principal: self.actor.clone(),
                officer: self.officer.clone(),
                representative: self.representative.clone(),
            },
            action: Action::from_code(&self.action)?,
            purpose: match self.purpose.as_str() {
                "" => None,
                code => Some(Purpose::from_code(code)?),
            },
            categories: Categories::from_codes(&self.categories)?,
            outcome: Outcome::from_code(&self.outcome)?,
            at: Timestamp::from_unix_millis(self.time_unix_ms),
            request_id: self.request_id.clone(),
        })
    }

    fn name(&self) -> String {
        format!("{}/accessEvents/{}", self.citizen, self.number)
    }
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub tree_size: u64,
    /// Events proven to be in the signed tree.
    pub proven: usize,
    /// Events not yet in the checkpoint's tree (appended after it; not proven either way).
    pub pending: usize,
}

/// The first problem verification found, in words that name the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Problem(pub String);

fn problem(text: impl Into<String>) -> Problem {
    Problem(text.into())
}

fn decode_hash(text: &str) -> Option<Hash> {
    STANDARD
        .decode(text)
        .ok()
        .and_then(|b| Hash::try_from(b.as_slice()).ok())
}

/// Verifies `export` against the verifier key `key` and, when given, a checkpoint note `kept`
/// from earlier.
pub fn verify(export: &Export, key: &str, kept: Option<&str>) -> Result<Verified, Problem> {
    if export.format != FORMAT {
        return Err(problem(format!(
            "not an export of this format (`{FORMAT}`)"
        )));
    }
    let (name, key) = parse_verifier_key(key).map_err(|e| problem(format!("verifier key: {e}")))?;
    let checkpoint = Checkpoint::verify(&export.checkpoint, &name, &key)
        .map_err(|e| problem(format!("the checkpoint does not verify: {e}")))?;
    let leaves: Vec<Hash> = export
        .leaf_hashes
        .iter()
        .map(|h| decode_hash(h))
        .collect::<Option<_>>()
        .ok_or_else(|| problem("a leaf hash is not 32 bytes of base64"))?;
    if leaves.len() as u64 != checkpoint.size || merkle::root(&leaves) != checkpoint.root {
        return Err(problem(format!(
            "the leaf hashes do not make the signed tree of {} leaves",
            checkpoint.size
        )));
    }
    if let Some(kept) = kept {
        let earlier = Checkpoint::verify(kept, &name, &key)
            .map_err(|e| problem(format!("the kept checkpoint does not verify: {e}")))?;
        if earlier.size > checkpoint.size
            || merkle::root(&leaves[..earlier.size as usize]) != earlier.root
        {
            return Err(problem(format!(
                "the log was rewritten since the kept checkpoint of {} leaves: events were removed or altered",
                earlier.size
            )));
        }
    }
    check_events(export, &leaves)
}

fn check_events(export: &Export, leaves: &[Hash]) -> Result<Verified, Problem> {
    let size = leaves.len() as i64;
    let index_of: HashMap<Hash, usize> = leaves.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let mut next_number: BTreeMap<&str, i64> = BTreeMap::new();
    let mut last_leaf: BTreeMap<&str, i64> = BTreeMap::new();
    let mut seen_leaves: BTreeMap<i64, String> = BTreeMap::new();
    let (mut proven, mut pending) = (0, 0);
    for exported in &export.events {
        let name = exported.name();
        if !export.citizen.is_empty() && exported.citizen != export.citizen {
            return Err(problem(format!(
                "{name} was inserted: it belongs to another citizen"
            )));
        }
        let event = exported.event().ok_or_else(|| {
            problem(format!(
                "{name} was altered: its fields are not well-formed"
            ))
        })?;
        let expected = next_number.entry(exported.citizen.as_str()).or_insert(1);
        if exported.number > *expected {
            return Err(problem(format!(
                "{}/accessEvents/{} was removed (the events go from {} to {})",
                exported.citizen,
                *expected,
                *expected - 1,
                exported.number
            )));
        }
        if exported.number < *expected {
            return Err(problem(format!(
                "{name} was inserted: its number repeats an earlier event's"
            )));
        }
        *expected += 1;
        let Some(index) = event.leaf_index else {
            pending += 1;
            continue;
        };
        let hash = merkle::leaf_hash(event.leaf().as_bytes());
        if !(0..size).contains(&index) {
            return Err(problem(format!(
                "{name} was inserted: it claims leaf {index}, which is not in the signed tree"
            )));
        }
        if leaves[index as usize] != hash {
            return Err(match index_of.get(&hash) {
                Some(actual) => problem(format!(
                    "{name} was reordered: it is leaf {actual} of the tree, not leaf {index}"
                )),
                None => problem(format!(
                    "{name} was altered: it does not match leaf {index} of the signed tree"
                )),
            });
        }
        if let Some(other) = seen_leaves.insert(index, name.clone()) {
            return Err(problem(format!(
                "{name} was inserted: leaf {index} is already {other}"
            )));
        }
        if last_leaf
            .insert(exported.citizen.as_str(), index)
            .is_some_and(|before| before > index)
        {
            return Err(problem(format!(
                "{name} was reordered: its leaf comes before its predecessor's"
            )));
        }
        proven += 1;
    }
    if export.citizen.is_empty() {
        // The whole log: every leaf of the tree has its event.
        if let Some(missing) = (0..size).find(|i| !seen_leaves.contains_key(i)) {
            return Err(problem(format!("the event at leaf {missing} was removed")));
        }
    }
    Ok(Verified {
        tree_size: size as u64,
        proven,
        pending,
    })
}
