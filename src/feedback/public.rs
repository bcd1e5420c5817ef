//! The public report of a quarter: the `SERVICE_CHANNEL` report of that quarter over every agency
//! (or one), suppressed as every report is, and the actions agencies took on their warnings in
//! it. `GetPublicReport` and `report export` both read it here, so they agree.

use crate::{
    domain::{
        feedback::{Quarter, SubjectKind},
        report::Grouping,
        time::Timestamp,
    },
    records::Caller,
    store::{
        StoreResult, Tx, feedback_sql,
        warning_sql::{self, WarningRecord},
    },
};

use super::report::{self, Report};

/// Input of [`get`].
#[derive(Debug, Clone)]
pub struct Get {
    pub caller: Caller,
    pub quarter: Quarter,
    pub agency: Option<String>,
    pub minimum: i64,
    /// The time zone quarters are counted in.
    pub time_zone: String,
    pub now: Timestamp,
}

/// The public report: its rows (groups keyed by agency, service, channel and quarter), the wrong
/// doors between agencies, and the actions taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Public {
    pub report: Report,
    pub wrong_doors: Vec<WrongDoor>,
    pub actions: Vec<WarningRecord>,
}

/// Legs handed from one agency to another in the quarter, as the receiver answered them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongDoor {
    /// The agency id that handed them on; empty for a portal that named none.
    pub from_agency: String,
    pub to_agency: String,
    /// Completed or declined.
    pub answered: i64,
    pub declined: i64,
    /// Fewer answered legs than the minimum: every figure withheld.
    pub suppressed: bool,
}

/// Reads the public report of `input.quarter`.
pub async fn get(tx: &mut Tx, input: &Get) -> StoreResult<Public> {
    let rows = report::Get {
        caller: input.caller.clone(),
        grouping: Grouping::ServiceChannel,
        kind: SubjectKind::Handoff,
        quarter: Some(input.quarter),
        agency: input.agency.clone(),
        unsuppressed: false,
        minimum: input.minimum,
        now: input.now,
    };
    let report = report::get(tx, &rows).await?;
    let zone = crate::domain::due::time_zone(&input.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let span = (
        input.quarter.start(&zone),
        input.quarter.next().start(&zone),
    );
    let actions = warning_sql::acknowledged_between(tx, span, input.agency.as_deref()).await?;
    let wrong_doors = feedback_sql::pair_declines(tx, &input.quarter.to_string())
        .await?
        .into_iter()
        .filter(|(from, to, _, _)| from != to)
        .filter(|(from, to, _, _)| input.agency.as_deref().is_none_or(|a| a == from || a == to))
        .map(|(from_agency, to_agency, answered, declined)| {
            let suppressed = answered < input.minimum;
            WrongDoor {
                from_agency,
                to_agency,
                answered: if suppressed { 0 } else { answered },
                declined: if suppressed { 0 } else { declined },
                suppressed,
            }
        })
        .collect();
    Ok(Public {
        report,
        wrong_doors,
        actions,
    })
}
