//! Scores routing against a labelled file of citizens' needs (JSON lines:
//! `{"id", "need", "accept_service_ids": [...], "accept_orgs": [...]}`).
//!
//! Three figures: `top1_agency` (the first answer's agency is accepted), `top3_service` (an accepted
//! service is among the first 3) and `mrr5` (reciprocal rank of the first accepted service within 5).

use std::fmt;

use anyhow::Context as _;
use serde::Deserialize;

use super::{ServiceFilter, Snapshot};
use crate::routing::{
    self, DEFAULT_CANDIDATES, EntryPoint, Need, NeedLanguage, Query, Weights, encoder::Encoders,
    rank::text_to_encode, text::detect,
};

/// One labelled need.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalItem {
    pub id: String,
    pub need: String,
    pub accept_service_ids: Vec<String>,
    pub accept_orgs: Vec<String>,
}

/// The three figures over `n` items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalScores {
    pub n: usize,
    pub top1_agency: f64,
    pub top3_service: f64,
    pub mrr5: f64,
}

impl fmt::Display for EvalScores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} top1_agency={:.3} top3_service={:.3} mrr5={:.3}",
            self.n, self.top1_agency, self.top3_service, self.mrr5
        )
    }
}

/// Parses the JSON-lines file; blank lines are skipped, and a bad line is an error naming it.
pub fn parse_items(text: &str) -> anyhow::Result<Vec<EvalItem>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).with_context(|| format!("line {}", i + 1)))
        .collect()
}

/// The first five answers to one item: (service id, owner agency id).
pub type Answers = Vec<(String, String)>;

/// Scores answered items.
pub fn score(answered: &[(&EvalItem, Answers)]) -> EvalScores {
    let (mut top1, mut top3, mut rr) = (0.0, 0.0, 0.0);
    for (item, answers) in answered {
        if answers
            .first()
            .is_some_and(|(_, agency)| item.accept_orgs.contains(agency))
        {
            top1 += 1.0;
        }
        if let Some(rank) = answers
            .iter()
            .take(5)
            .position(|(id, _)| item.accept_service_ids.contains(id))
        {
            top3 += if rank < 3 { 1.0 } else { 0.0 };
            rr += 1.0 / (rank as f64 + 1.0);
        }
    }
    let n = answered.len();
    let share = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
    EvalScores {
        n,
        top1_agency: share(top1),
        top3_service: share(top3),
        mrr5: share(rr),
    }
}

/// Whether an item counts as missed: its first agency is wrong or no accepted service is in the
/// first three.
pub fn missed(item: &EvalItem, answers: &Answers) -> bool {
    let agency = answers
        .first()
        .is_some_and(|(_, a)| item.accept_orgs.contains(a));
    let service = answers
        .iter()
        .take(3)
        .any(|(id, _)| item.accept_service_ids.contains(id));
    !(agency && service)
}

/// Answers with the snapshot's search (what `SearchServices` returns).
pub fn answer_by_search(snapshot: &Snapshot, item: &EvalItem) -> anyhow::Result<Answers> {
    Ok(snapshot
        .search(&item.need, &ServiceFilter::default())?
        .into_iter()
        .take(5)
        .map(|(s, _)| (s.id.clone(), s.agency.clone()))
        .collect())
}

/// Answers with RouteNeed, without context, as an anonymous caller would.
pub fn answer_by_routing(
    snapshot: &Snapshot,
    encoders: &Encoders,
    weights: &Weights,
    item: &EvalItem,
) -> anyhow::Result<Answers> {
    let query = Query {
        need: Need::Text(item.need.clone()),
        context: Default::default(),
        entry: EntryPoint::default(),
        max_candidates: DEFAULT_CANDIDATES,
    };
    let vector = text_to_encode(&query, weights).and_then(|t| encoders.encode_blocking(t));
    let routed = routing::route(snapshot, &query, vector.as_deref(), weights)?;
    Ok(routed
        .candidates
        .into_iter()
        .map(|c| (c.service, c.owner))
        .collect())
}

/// Whether an item's need is read as French.
pub fn is_french(item: &EvalItem) -> bool {
    detect(&item.need) == NeedLanguage::French
}

/// Answers every item with the snapshot's search and scores it.
pub fn evaluate(snapshot: &Snapshot, items: &[EvalItem]) -> anyhow::Result<EvalScores> {
    let answered = items
        .iter()
        .map(|item| Ok((item, answer_by_search(snapshot, item)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(score(&answered))
}
