//! Early warnings as units of work: the job that raises, refreshes and resolves them from stored
//! data (one process at a time, under its lock), reads by their owners, and acknowledgement with
//! the action taken. The rules are [`crate::domain::warnings`]'s.

use std::{collections::BTreeMap, sync::Arc};

use crate::{
    catalog::Snapshot,
    domain::{
        due::{self, ClockStatus},
        feedback::{Driver, Quarter},
        time::Timestamp,
        warnings::{self, Moments, WarningKind, WarningSettings, WarningState},
    },
    error::AppError,
    records::{Caller, Idempotency, new_id, recall, remember},
    requests::{Answer, RequestsConfig},
    store::{
        StoreResult, Tx, feedback_sql, request_sql,
        warning_sql::{self, Figures, WarningKey, WarningRecord},
    },
};

use super::subjects::quarter_of;

/// Input of [`evaluate`].
#[derive(Clone)]
pub struct Evaluate {
    pub snapshot: Arc<Snapshot>,
    pub settings: WarningSettings,
    pub config: Arc<RequestsConfig>,
    pub now: Timestamp,
}

/// The local day of `at` (`2026-11-30`) in the configured zone.
fn day_of(config: &RequestsConfig, at: Timestamp) -> String {
    let zone = due::time_zone(&config.default_time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(at.unix_millis())
        .unwrap_or_default()
        .to_zoned_datetime(zone)
        .date()
        .to_string()
}

/// Evaluates every rule at `input.now`; how many warnings it raised, changed or resolved.
pub async fn evaluate(tx: &mut Tx, input: &Evaluate) -> StoreResult<usize> {
    let current = quarter_of(&input.config, input.now);
    let today = day_of(&input.config, input.now);
    let mut found: BTreeMap<WarningKey, Figures> = BTreeMap::new();
    score_drops(tx, input, current, &mut found).await?;
    declines(tx, input, current, &mut found).await?;
    standards(tx, input, current, &mut found).await?;
    backlogs(tx, input, &today, &mut found).await?;
    let stored = warning_sql::of_periods(tx, &[current.to_string(), today]).await?;
    let mut changed = 0;
    let mut known: BTreeMap<WarningKey, WarningRecord> =
        stored.into_iter().map(|w| (w.key.clone(), w)).collect();
    for (key, figures) in found {
        match known.remove(&key) {
            Some(mut w) => {
                if w.figures == figures && w.state != WarningState::Resolved {
                    continue;
                }
                if w.state == WarningState::Resolved {
                    w.state = if w.action.is_empty() {
                        WarningState::Open
                    } else {
                        WarningState::Acknowledged
                    };
                    w.resolved = None;
                }
                w.figures = figures;
                w.updated = input.now;
                w.version += 1;
                warning_sql::update(tx, &w).await?;
            }
            None => {
                let w = WarningRecord {
                    id: new_id(),
                    key,
                    figures,
                    state: WarningState::Open,
                    action: String::new(),
                    acknowledged_by: String::new(),
                    acknowledged: None,
                    raised: input.now,
                    updated: input.now,
                    resolved: None,
                    version: 1,
                };
                warning_sql::insert(tx, &w).await?;
            }
        }
        changed += 1;
    }
    for (_, mut w) in known {
        if w.state != WarningState::Resolved {
            w.state = WarningState::Resolved;
            w.resolved = Some(input.now);
            w.updated = input.now;
            w.version += 1;
            warning_sql::update(tx, &w).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

fn key(kind: WarningKind, agency: &str, period: String) -> WarningKey {
    WarningKey {
        kind,
        agency: agency.to_owned(),
        service_id: String::new(),
        from_agency: String::new(),
        standard_id: String::new(),
        driver: None,
        period,
    }
}

/// Score drops per agency and per service, every driver, this quarter against the last.
async fn score_drops(
    tx: &mut Tx,
    input: &Evaluate,
    current: Quarter,
    found: &mut BTreeMap<WarningKey, Figures>,
) -> StoreResult<()> {
    let (now, before) = (current.to_string(), current.previous().to_string());
    let rows = feedback_sql::driver_moments(tx, [&before, &now]).await?;
    // (agency, service or '' for the whole agency, quarter) -> moments per driver
    let mut table: BTreeMap<(String, String, String), Vec<Moments>> = BTreeMap::new();
    for ((agency, service, quarter), moments) in rows {
        for scope in [service, String::new()] {
            let sums = table
                .entry((agency.clone(), scope, quarter.clone()))
                .or_insert_with(|| vec![Moments::default(); Driver::ALL.len()]);
            for (sum, m) in sums.iter_mut().zip(&moments) {
                sum.add(*m);
            }
        }
    }
    for ((agency, service, quarter), after) in &table {
        if *quarter != now {
            continue;
        }
        let Some(prior) = table.get(&(agency.clone(), service.clone(), before.clone())) else {
            continue;
        };
        for (i, driver) in Driver::ALL.iter().enumerate() {
            let Some(p) = warnings::score_drop(prior[i], after[i], &input.settings) else {
                continue;
            };
            let mut k = key(WarningKind::ScoreDrop, agency, now.clone());
            k.service_id = service.clone();
            k.driver = Some(*driver);
            found.insert(
                k,
                Figures {
                    current: after[i].mean(),
                    baseline: prior[i].mean(),
                    threshold: input.settings.drop,
                    current_count: after[i].n,
                    baseline_count: prior[i].n,
                    p_value: Some(p),
                },
            );
        }
    }
    Ok(())
}

/// Decline rates per agency pair this quarter.
async fn declines(
    tx: &mut Tx,
    input: &Evaluate,
    current: Quarter,
    found: &mut BTreeMap<WarningKey, Figures>,
) -> StoreResult<()> {
    let period = current.to_string();
    for (from, to, answered, declined) in feedback_sql::pair_declines(tx, &period).await? {
        if !warnings::decline_rate(declined, answered, &input.settings) {
            continue;
        }
        let mut k = key(WarningKind::DeclineRate, &to, period.clone());
        k.from_agency = from;
        found.insert(
            k,
            Figures {
                current: declined as f64 / answered as f64,
                baseline: input.settings.decline_rate,
                threshold: input.settings.decline_rate,
                current_count: answered,
                baseline_count: declined,
                p_value: None,
            },
        );
    }
    Ok(())
}

/// Standards whose legs ended this quarter met them less often than their published target.
async fn standards(
    tx: &mut Tx,
    input: &Evaluate,
    current: Quarter,
    found: &mut BTreeMap<WarningKey, Figures>,
) -> StoreResult<()> {
    let zone = due::time_zone(&input.config.default_time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let since = current.start(&zone);
    for (service_id, standard_id, perf) in
        request_sql::standard_performance_since(tx, since).await?
    {
        let Some(service) = input.snapshot.service(&service_id) else {
            continue;
        };
        let target = service
            .standards
            .iter()
            .find(|s| s.id == standard_id)
            .and_then(|s| s.target)
            .filter(|t| *t > 0.0 && *t <= 1.0);
        let Some(target) = target else { continue };
        if !warnings::below_target(perf.met, perf.completed, target, &input.settings) {
            continue;
        }
        let mut k = key(
            WarningKind::StandardBelowTarget,
            &service.agency,
            current.to_string(),
        );
        k.service_id = service_id;
        k.standard_id = standard_id;
        found.insert(
            k,
            Figures {
                current: perf.met as f64 / perf.completed as f64,
                baseline: target,
                threshold: target,
                current_count: perf.completed,
                baseline_count: perf.met,
                p_value: None,
            },
        );
    }
    Ok(())
}

/// Samples each agency's at-risk backlog today, and compares it with a week before.
async fn backlogs(
    tx: &mut Tx,
    input: &Evaluate,
    today: &str,
    found: &mut BTreeMap<WarningKey, Figures>,
) -> StoreResult<()> {
    let mut counts: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for h in request_sql::open_handoffs(tx).await? {
        let reading = due::read(&h.clock, h.due_base, input.now, input.config.at_risk_share);
        let entry = counts.entry(h.to_agency.clone()).or_default();
        match reading.status {
            ClockStatus::AtRisk => entry.0 += 1,
            ClockStatus::Breached => entry.1 += 1,
            _ => {}
        }
        entry.2 += 1;
    }
    for (agency, figures) in &counts {
        warning_sql::sample_backlog(tx, agency, today, *figures, input.now).await?;
        let (at_risk, breached, open) = *figures;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        crate::telemetry::metrics::open_handoffs(
            agency,
            count(open - at_risk - breached),
            count(at_risk),
            count(breached),
        );
    }
    let a_week_ago = day_of(
        &input.config,
        Timestamp::from_unix_millis(input.now.unix_millis() - 7 * 86_400_000),
    );
    let baselines = warning_sql::backlog_on_or_before(tx, &a_week_ago).await?;
    for (agency, _day, before) in baselines {
        let Some((at_risk, breached, open)) = counts.get(&agency).copied() else {
            continue;
        };
        let now = at_risk + breached;
        if !warnings::backlog_growing(now, before, &input.settings) {
            continue;
        }
        found.insert(
            key(WarningKind::AtRiskBackLog, &agency, today.to_owned()),
            Figures {
                current: now as f64,
                baseline: before as f64,
                threshold: input.settings.backlog_growth,
                current_count: open,
                baseline_count: before,
                p_value: None,
            },
        );
    }
    Ok(())
}

/// Who may see a warning: its owner, the from-agency of a decline rate, and auditors.
pub fn visible_to(w: &WarningRecord, agency: Option<&str>) -> bool {
    match agency {
        None => true,
        Some(a) => {
            w.key.agency == a || (w.key.kind == WarningKind::DeclineRate && w.key.from_agency == a)
        }
    }
}

/// Encodes a warning for the answer (the API layer's encoder).
pub type Respond = Arc<dyn Fn(&WarningRecord) -> Vec<u8> + Send + Sync>;

/// Input of [`acknowledge`].
pub struct Acknowledge {
    pub caller: Caller,
    pub agency: String,
    pub keys: Arc<crate::secrets::Keyring>,
    pub idempotency: Idempotency,
    pub id: String,
    pub expected_version: i64,
    pub action: String,
    pub now: Timestamp,
    pub respond: Respond,
}

/// The owning agency acknowledges a warning with its action; answers the encoded warning.
pub async fn acknowledge(tx: &mut Tx, input: &Acknowledge) -> Answer<Vec<u8>> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => return Ok(Ok(bytes)),
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    let Some(mut w) = warning_sql::get(tx, &input.id).await? else {
        return Ok(Err(AppError::PermissionDenied));
    };
    if w.key.agency != input.agency {
        return Ok(Err(AppError::PermissionDenied));
    }
    if w.version != input.expected_version {
        return Ok(Err(AppError::EtagMismatch {
            name: format!("earlyWarnings/{}", w.id),
        }));
    }
    if w.state == WarningState::Open {
        w.state = WarningState::Acknowledged;
    }
    w.action = input.action.clone();
    w.acknowledged_by = input.caller.actor().principal;
    w.acknowledged = Some(input.now);
    w.updated = input.now;
    w.version += 1;
    warning_sql::update(tx, &w).await?;
    let bytes = (input.respond)(&w);
    remember(tx, &input.keys, &input.idempotency, &bytes, input.now).await?;
    Ok(Ok(bytes))
}
