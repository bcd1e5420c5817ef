//! Early warnings' SQL, identical on both backends: warnings with their state (one per kind,
//! subject and period), and the at-risk backlog samples the warnings job compares.

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::domain::{
    feedback::Driver,
    time::Timestamp,
    warnings::{WarningKind, WarningState},
};

/// What a warning is about: its kind, owner and subject, and period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WarningKey {
    pub kind: WarningKind,
    pub agency: String,
    pub service_id: String,
    pub from_agency: String,
    pub standard_id: String,
    pub driver: Option<Driver>,
    pub period: String,
}

/// The figures behind a warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub current: f64,
    pub baseline: f64,
    pub threshold: f64,
    pub current_count: i64,
    pub baseline_count: i64,
    pub p_value: Option<f64>,
}

/// A stored warning.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningRecord {
    pub id: String,
    pub key: WarningKey,
    pub figures: Figures,
    pub state: WarningState,
    pub action: String,
    pub acknowledged_by: String,
    pub acknowledged: Option<Timestamp>,
    pub raised: Timestamp,
    pub updated: Timestamp,
    pub resolved: Option<Timestamp>,
    pub version: i64,
}

#[derive(sqlx::FromRow)]
struct WarningRow {
    id: String,
    kind: String,
    agency: String,
    service_id: String,
    from_agency: String,
    standard_id: String,
    driver: String,
    period: String,
    current_value: f64,
    baseline_value: f64,
    threshold: f64,
    current_count: i64,
    baseline_count: i64,
    p_value: Option<f64>,
    state: String,
    action: String,
    acknowledged_by: String,
    acknowledged_at_unix_ms: Option<i64>,
    raised_at_unix_ms: i64,
    updated_at_unix_ms: i64,
    resolved_at_unix_ms: Option<i64>,
    version: i64,
}

const COLUMNS: &str = "id, kind, agency, service_id, from_agency, standard_id, driver, period, \
     current_value, baseline_value, threshold, current_count, baseline_count, p_value, state, \
     action, acknowledged_by, acknowledged_at_unix_ms, raised_at_unix_ms, updated_at_unix_ms, \
     resolved_at_unix_ms, version";

fn decode(row: WarningRow) -> StoreResult<WarningRecord> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("warning `{}`: unreadable {what}", row.id));
    let driver = match row.driver.as_str() {
        "" => None,
        code => Some(Driver::from_code(code).ok_or_else(|| corrupt("driver"))?),
    };
    let at = Timestamp::from_unix_millis;
    Ok(WarningRecord {
        key: WarningKey {
            kind: WarningKind::from_code(&row.kind).ok_or_else(|| corrupt("kind"))?,
            agency: row.agency,
            service_id: row.service_id,
            from_agency: row.from_agency,
            standard_id: row.standard_id,
            driver,
            period: row.period,
        },
        figures: Figures {
            current: row.current_value,
            baseline: row.baseline_value,
            threshold: row.threshold,
            current_count: row.current_count,
            baseline_count: row.baseline_count,
            p_value: row.p_value,
        },
        state: WarningState::from_code(&row.state).ok_or_else(|| corrupt("state"))?,
        action: row.action,
        acknowledged_by: row.acknowledged_by,
        acknowledged: row.acknowledged_at_unix_ms.map(at),
        raised: at(row.raised_at_unix_ms),
        updated: at(row.updated_at_unix_ms),
        resolved: row.resolved_at_unix_ms.map(at),
        version: row.version,
        id: row.id,
    })
}

/// Stores a new warning; one already stored with the same key is left as it is.
pub async fn insert(tx: &mut Tx, w: &WarningRecord) -> StoreResult<()> {
    let k = &w.key;
    let f = &w.figures;
    on_conn!(tx, conn, DB => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO early_warnings ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
             ON CONFLICT (kind, agency, service_id, from_agency, standard_id, driver, period) DO NOTHING"
        )))
        .bind(&w.id).bind(k.kind.code()).bind(&k.agency).bind(&k.service_id).bind(&k.from_agency)
        .bind(&k.standard_id).bind(k.driver.map_or("", Driver::code)).bind(&k.period)
        .bind(f.current).bind(f.baseline).bind(f.threshold).bind(f.current_count)
        .bind(f.baseline_count).bind(f.p_value).bind(w.state.code()).bind(&w.action)
        .bind(&w.acknowledged_by).bind(w.acknowledged.map(|t| t.unix_millis()))
        .bind(w.raised.unix_millis()).bind(w.updated.unix_millis())
        .bind(w.resolved.map(|t| t.unix_millis())).bind(w.version)
        .execute(conn).await?;
    });
    Ok(())
}

/// Saves `w` if the stored warning is still at `w.version - 1`; `Conflict` otherwise.
pub async fn update(tx: &mut Tx, w: &WarningRecord) -> StoreResult<()> {
    let f = &w.figures;
    let done = on_conn!(tx, conn, DB => {
        sqlx::query(
            "UPDATE early_warnings SET current_value = $2, baseline_value = $3, threshold = $4, \
             current_count = $5, baseline_count = $6, p_value = $7, state = $8, action = $9, \
             acknowledged_by = $10, acknowledged_at_unix_ms = $11, updated_at_unix_ms = $12, \
             resolved_at_unix_ms = $13, version = $14 WHERE id = $1 AND version = $15",
        )
        .bind(&w.id).bind(f.current).bind(f.baseline).bind(f.threshold).bind(f.current_count)
        .bind(f.baseline_count).bind(f.p_value).bind(w.state.code()).bind(&w.action)
        .bind(&w.acknowledged_by).bind(w.acknowledged.map(|t| t.unix_millis()))
        .bind(w.updated.unix_millis()).bind(w.resolved.map(|t| t.unix_millis()))
        .bind(w.version).bind(w.version - 1)
        .execute(conn).await?.rows_affected()
    });
    if done == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(sqlx::Error::Protocol(
            "the warning changed since it was read".to_owned(),
        )))
    }
}

/// Warning `id`, if it exists.
pub async fn get(tx: &mut Tx, id: &str) -> StoreResult<Option<WarningRecord>> {
    let row: Option<WarningRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM early_warnings WHERE id = $1")))
            .bind(id).fetch_optional(conn).await?
    });
    row.map(decode).transpose()
}

/// Every warning of `periods` (the ones the job re-evaluates).
pub async fn of_periods(tx: &mut Tx, periods: &[String]) -> StoreResult<Vec<WarningRecord>> {
    let mut out = Vec::new();
    for period in periods {
        let rows: Vec<WarningRow> = on_conn!(tx, conn, DB => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM early_warnings WHERE period = $1"
            )))
            .bind(period).fetch_all(conn).await?
        });
        for row in rows {
            out.push(decode(row)?);
        }
    }
    Ok(out)
}

/// Which warnings to list.
#[derive(Debug, Clone)]
pub struct ListQuery<'a> {
    /// Only those this agency owns, or is the from-agency of (decline rates).
    pub agency: Option<&'a str>,
    /// States and kinds (codes), each empty for all.
    pub states: Vec<&'static str>,
    pub kinds: Vec<&'static str>,
    /// After this (raised time, id), newest first.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// A page of warnings, newest first.
pub async fn list(tx: &mut Tx, q: &ListQuery<'_>) -> StoreResult<Vec<WarningRecord>> {
    let (after_at, after_id) = q.after.clone().unwrap_or((i64::MAX, String::new()));
    let states = q.states.join(" ");
    let kinds = q.kinds.join(" ");
    let rows: Vec<WarningRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM early_warnings \
             WHERE ($1 = '' OR agency = $1 OR (kind = 'decline-rate' AND from_agency = $1)) \
             AND ($2 = '' OR (' ' || $2 || ' ') LIKE ('% ' || state || ' %')) \
             AND ($3 = '' OR (' ' || $3 || ' ') LIKE ('% ' || kind || ' %')) \
             AND (raised_at_unix_ms < $4 OR (raised_at_unix_ms = $4 AND id < $5)) \
             ORDER BY raised_at_unix_ms DESC, id DESC LIMIT $6"
        )))
        .bind(q.agency.unwrap_or("")).bind(&states).bind(&kinds).bind(after_at)
        .bind(after_id).bind(q.limit)
        .fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}

/// Stores (or replaces) the backlog sample of `agency` on `day`.
pub async fn sample_backlog(
    tx: &mut Tx,
    agency: &str,
    day: &str,
    (at_risk, breached, open): (i64, i64, i64),
    at: Timestamp,
) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(
            "INSERT INTO backlog_samples (agency, day, at_risk, breached, open_legs, sampled_at_unix_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agency, day) DO UPDATE SET \
             at_risk = excluded.at_risk, breached = excluded.breached, open_legs = excluded.open_legs, \
             sampled_at_unix_ms = excluded.sampled_at_unix_ms",
        )
        .bind(agency).bind(day).bind(at_risk).bind(breached).bind(open).bind(at.unix_millis())
        .execute(conn).await?;
    });
    Ok(())
}

/// Each agency's latest backlog sample (at risk plus breached) on or before `day`, with its day.
pub async fn backlog_on_or_before(
    tx: &mut Tx,
    day: &str,
) -> StoreResult<Vec<(String, String, i64)>> {
    let rows: Vec<(String, String, i64)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT s.agency, s.day, s.at_risk + s.breached FROM backlog_samples s \
             WHERE s.day = (SELECT MAX(t.day) FROM backlog_samples t WHERE t.agency = s.agency AND t.day <= $1)",
        )
        .bind(day).fetch_all(conn).await?
    });
    Ok(rows)
}

/// Warnings acknowledged with an action in `[from, to)`, of `agency` when given, newest first.
pub async fn acknowledged_between(
    tx: &mut Tx,
    (from, to): (Timestamp, Timestamp),
    agency: Option<&str>,
) -> StoreResult<Vec<WarningRecord>> {
    let rows: Vec<WarningRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM early_warnings WHERE action <> '' \
             AND acknowledged_at_unix_ms >= $1 AND acknowledged_at_unix_ms < $2 \
             AND ($3 = '' OR agency = $3) ORDER BY acknowledged_at_unix_ms DESC, id DESC"
        )))
        .bind(from.unix_millis()).bind(to.unix_millis()).bind(agency.unwrap_or(""))
        .fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}
