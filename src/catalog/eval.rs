//! Scores routing against a labelled file of citizens' needs (JSON lines:
//! `{"id", "need", "accept_service_ids": [...], "accept_orgs": [...]}`).
//!
//! Three figures: `top1_agency` (the first answer's agency is accepted), `top3_service` (an accepted
//! service is among the first 3) and `mrr5` (reciprocal rank of the first accepted service within 5).

use std::fmt;

use anyhow::Context as _;
use serde::Deserialize;

use super::{ServiceFilter, Snapshot};

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

/// Answers every item with the snapshot's search (what `SearchServices` returns) and scores it.
pub fn evaluate(snapshot: &Snapshot, items: &[EvalItem]) -> anyhow::Result<EvalScores> {
    let (mut top1, mut top3, mut rr) = (0.0, 0.0, 0.0);
    let filter = ServiceFilter::default();
    for item in items {
        let results = snapshot.search(&item.need, &filter)?;
        let ids: Vec<&str> = results.iter().take(5).map(|(s, _)| s.id.as_str()).collect();
        if results
            .first()
            .is_some_and(|(s, _)| item.accept_orgs.contains(&s.agency))
        {
            top1 += 1.0;
        }
        if let Some(rank) = ids
            .iter()
            .position(|id| item.accept_service_ids.iter().any(|a| a == id))
        {
            top3 += if rank < 3 { 1.0 } else { 0.0 };
            rr += 1.0 / (rank as f64 + 1.0);
        }
    }
    let n = items.len();
    let share = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
    Ok(EvalScores {
        n,
        top1_agency: share(top1),
        top3_service: share(top3),
        mrr5: share(rr),
    })
}
