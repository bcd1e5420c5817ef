//! Where citizens come from: per service, the requests' entry channels per quarter (by the first
//! leg's service and the opening time), beside satisfaction per channel as the `SERVICE_CHANNEL`
//! report suppresses it.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    domain::{
        catalog::Channel,
        feedback::{Quarter, SubjectKind},
        report::{Cell, Grouping},
        time::Timestamp,
    },
    records::Caller,
    store::{StoreResult, Tx, feedback_sql},
};

use super::report;

/// Most quarters a channel report holds (the latest).
pub const MAX_QUARTERS: usize = 12;

/// Input of [`get`].
#[derive(Debug, Clone)]
pub struct Get {
    pub caller: Caller,
    /// The services to report (their ids).
    pub services: BTreeSet<String>,
    /// Only one service (lets the query filter).
    pub service: Option<String>,
    /// The agencies that deliver them (owners and delivery partners): satisfaction is read per
    /// agency, suppressed as that agency's `SERVICE_CHANNEL` report is.
    pub agencies: BTreeSet<String>,
    pub minimum: i64,
    pub time_zone: String,
    pub now: Timestamp,
}

/// One service's channels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceChannels {
    /// Requests per channel, per quarter (oldest first).
    pub quarters: Vec<(String, BTreeMap<Channel, i64>)>,
    /// Requests per channel over every quarter.
    pub overall: BTreeMap<Channel, i64>,
    /// Satisfaction per (delivering agency, channel), suppressed.
    pub satisfaction: Vec<Cell>,
}

/// Reads the channel mix of `input.services`.
pub async fn get(tx: &mut Tx, input: &Get) -> StoreResult<BTreeMap<String, ServiceChannels>> {
    let zone = crate::domain::due::time_zone(&input.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let mut out: BTreeMap<String, ServiceChannels> = input
        .services
        .iter()
        .map(|s| (s.clone(), ServiceChannels::default()))
        .collect();
    if let Some((first, last)) = feedback_sql::request_span(tx, input.service.as_deref()).await? {
        let end = Quarter::of(Timestamp::from_unix_millis(last), &zone);
        let mut q = Quarter::of(Timestamp::from_unix_millis(first), &zone);
        let mut quarters = Vec::new();
        while q <= end {
            quarters.push((
                q.to_string(),
                q.start(&zone).unix_millis(),
                q.next().start(&zone).unix_millis(),
            ));
            q = q.next();
        }
        let skip = quarters.len().saturating_sub(MAX_QUARTERS);
        let quarters: Vec<_> = quarters.into_iter().skip(skip).collect();
        let rows = feedback_sql::request_channels(tx, input.service.as_deref(), &quarters).await?;
        for (service, channel, quarter, count) in rows {
            let (Some(entry), Some(channel)) =
                (out.get_mut(&service), Channel::from_code(&channel))
            else {
                continue;
            };
            *entry.overall.entry(channel).or_default() += count;
            if quarter.is_empty() {
                continue;
            }
            match entry.quarters.iter_mut().find(|(q, _)| *q == quarter) {
                Some((_, mix)) => *mix.entry(channel).or_default() += count,
                None => entry
                    .quarters
                    .push((quarter, BTreeMap::from([(channel, count)]))),
            }
        }
        for entry in out.values_mut() {
            entry.quarters.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
    for agency in &input.agencies {
        let rated = report::get(
            tx,
            &report::Get {
                caller: input.caller.clone(),
                grouping: Grouping::ServiceChannel,
                kind: SubjectKind::Handoff,
                quarter: None,
                agency: Some(agency.clone()),
                unsuppressed: false,
                minimum: input.minimum,
                now: input.now,
            },
        )
        .await?;
        for cell in rated.groups {
            if let Some(entry) = out.get_mut(&cell.key[1]) {
                entry.satisfaction.push(cell);
            }
        }
    }
    Ok(out)
}
