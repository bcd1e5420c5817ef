//! Satisfaction reports: the tallies of a grouping read in two aggregate queries (responses, and
//! ended subjects), suppressed over the whole table ([`crate::domain::report`]), then cut to the
//! caller's groups. An auditor's unsuppressed read is written to the service's audit trail in the
//! same transaction.

use std::collections::BTreeMap;

use crate::{
    domain::{
        access::{Action, Outcome},
        feedback::{Quarter, SubjectKind},
        report::{self, Cell, Dimension, Grouping, Suppressed, Tally},
        time::Timestamp,
    },
    records::{Caller, new_id},
    store::{
        StoreResult, Tx, access_sql,
        feedback_sql::{self, TallyQuery},
    },
};

/// Input of [`get`].
#[derive(Debug, Clone)]
pub struct Get {
    pub caller: Caller,
    pub grouping: Grouping,
    pub kind: SubjectKind,
    pub quarter: Option<Quarter>,
    /// Only the groups of this agency (for pairs: either side); `None`: every agency.
    pub agency: Option<String>,
    pub unsuppressed: bool,
    pub minimum: i64,
    pub now: Timestamp,
}

/// A report: the dimensions its keys hold, the groups shown, and their total.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub dimensions: Vec<Dimension>,
    pub groups: Vec<Cell>,
    pub total: Tally,
    pub total_suppressed: Option<Suppressed>,
}

/// The dimensions a report of `grouping` is computed over: the grouping's, and the quarter when
/// one quarter is asked for (so that it agrees with the grouping by quarter).
pub fn dimensions(grouping: Grouping, quarter: Option<Quarter>) -> Vec<Dimension> {
    let mut dims = grouping.dimensions().to_vec();
    if quarter.is_some() && !dims.contains(&Dimension::Quarter) {
        dims.push(Dimension::Quarter);
    }
    dims
}

/// Reads the whole table of `input.grouping` (one agency's part when no slice can span agencies),
/// suppresses it unless unsuppressed figures are asked for, and picks the caller's groups.
pub async fn get(tx: &mut Tx, input: &Get) -> StoreResult<Report> {
    let dims = dimensions(input.grouping, input.quarter);
    let query = TallyQuery {
        kind: input.kind,
        dimensions: &dims,
        agency: input
            .agency
            .as_deref()
            .filter(|_| !input.grouping.is_pair()),
    };
    let mut table: BTreeMap<Vec<String>, Tally> = BTreeMap::new();
    for (key, tally) in feedback_sql::response_tallies(tx, &query).await? {
        table.entry(key).or_default().add(&tally);
    }
    if !input.grouping.is_segmented() {
        for (key, tally) in feedback_sql::subject_tallies(tx, &query).await? {
            table.entry(key).or_default().add(&tally);
        }
    }
    let mut cells: Vec<Cell> = table
        .into_iter()
        .map(|(key, tally)| Cell {
            key,
            tally,
            suppressed: None,
        })
        .collect();
    if !input.unsuppressed {
        report::suppress(&dims, &mut cells, input.minimum);
    }
    let at = |d: Dimension| dims.iter().position(|x| *x == d);
    let (agency_at, from_at, quarter_at) = (
        at(Dimension::Agency),
        at(Dimension::FromAgency),
        at(Dimension::Quarter),
    );
    let quarter = input.quarter.map(|q| q.to_string());
    cells.retain(|c| {
        let in_quarter = match (&quarter, quarter_at) {
            (Some(q), Some(i)) => c.key[i] == *q,
            _ => true,
        };
        let in_scope = match &input.agency {
            None => true,
            Some(a) => {
                agency_at.is_some_and(|i| c.key[i] == *a) || from_at.is_some_and(|i| c.key[i] == *a)
            }
        };
        in_quarter && in_scope
    });
    let shown: Vec<&Cell> = cells.iter().collect();
    let (total, total_suppressed) = if input.unsuppressed {
        let (sum, _) = report::total(&shown, 0);
        (sum, None)
    } else {
        report::total(&shown, input.minimum)
    };
    if input.unsuppressed {
        let target = format!(
            "satisfactionReports/{}?subject={}&quarter={}&agency={}",
            input.grouping.code(),
            input.kind.code(),
            quarter.as_deref().unwrap_or(""),
            input.agency.as_deref().unwrap_or("")
        );
        let actor = input.caller.actor();
        access_sql::audit(
            tx,
            &new_id(),
            (&actor, Action::ReadUnsuppressedReport, Outcome::Allowed),
            &target,
            input.now,
            &input.caller.request_id,
        )
        .await?;
    }
    Ok(Report {
        dimensions: dims,
        groups: cells,
        total,
        total_suppressed,
    })
}
