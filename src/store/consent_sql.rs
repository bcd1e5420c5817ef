//! Consents' SQL, identical on both backends: purposes, categories and channels as their text
//! codes; an open validity end and a live consent as NULL times.

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::domain::{
    catalog::Channel,
    consent::{Categories, Grant, Purpose},
    time::Timestamp,
};

/// A stored consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub citizen_id: String,
    pub id: String,
    /// Order of creation within the citizen, from 1.
    pub number: i64,
    pub grant: Grant,
    pub channel: Channel,
    pub recorded_by: String,
    pub officer: String,
    pub created: Timestamp,
    pub revoked_by: String,
}

#[derive(sqlx::FromRow)]
struct ConsentRow {
    citizen_id: String,
    id: String,
    number: i64,
    grantee: String,
    purpose: String,
    categories: String,
    valid_from_unix_ms: i64,
    valid_until_unix_ms: Option<i64>,
    channel: String,
    recorded_by: String,
    officer: String,
    created_at_unix_ms: i64,
    revoked_at_unix_ms: Option<i64>,
    revoked_by: String,
}

const COLUMNS: &str = "citizen_id, id, number, grantee, purpose, categories, valid_from_unix_ms, \
     valid_until_unix_ms, channel, recorded_by, officer, created_at_unix_ms, revoked_at_unix_ms, \
     revoked_by";

fn decode(row: ConsentRow) -> StoreResult<ConsentRecord> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!(
            "consent `{}` of `{}`: unreadable {what}",
            row.id, row.citizen_id
        ))
    };
    let purpose = Purpose::from_code(&row.purpose).ok_or_else(|| corrupt("purpose"))?;
    let categories =
        Categories::from_codes(&row.categories).ok_or_else(|| corrupt("categories"))?;
    let channel = Channel::from_code(&row.channel).ok_or_else(|| corrupt("channel"))?;
    Ok(ConsentRecord {
        grant: Grant {
            grantee: row.grantee,
            purpose,
            categories,
            valid_from: Timestamp::from_unix_millis(row.valid_from_unix_ms),
            valid_until: row.valid_until_unix_ms.map(Timestamp::from_unix_millis),
            revoked_at: row.revoked_at_unix_ms.map(Timestamp::from_unix_millis),
        },
        citizen_id: row.citizen_id,
        id: row.id,
        number: row.number,
        channel,
        recorded_by: row.recorded_by,
        officer: row.officer,
        created: Timestamp::from_unix_millis(row.created_at_unix_ms),
        revoked_by: row.revoked_by,
    })
}

/// Stores a new consent; its `number` is assigned here (the citizen's next) and returned.
/// `Conflict` (retried by the entry point) when a concurrent grant took that number first.
pub async fn insert(tx: &mut Tx, consent: &ConsentRecord) -> StoreResult<i64> {
    let g = &consent.grant;
    let number: Option<(i64,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO consents ({COLUMNS}) \
             SELECT $1, $2, COALESCE(MAX(number), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, '' \
             FROM consents WHERE citizen_id = $1 \
             ON CONFLICT (citizen_id, number) DO NOTHING RETURNING number"
        )))
        .bind(&consent.citizen_id)
        .bind(&consent.id)
        .bind(&g.grantee)
        .bind(g.purpose.code())
        .bind(g.categories.codes())
        .bind(g.valid_from.unix_millis())
        .bind(g.valid_until.map(Timestamp::unix_millis))
        .bind(consent.channel.code())
        .bind(&consent.recorded_by)
        .bind(&consent.officer)
        .bind(consent.created.unix_millis())
        .fetch_optional(conn)
        .await?
    });
    number.map(|(n,)| n).ok_or_else(|| {
        StoreError::Conflict(sqlx::Error::Protocol(
            "a concurrent grant took the consent's number".to_owned(),
        ))
    })
}

/// One consent of a citizen.
pub async fn get(tx: &mut Tx, citizen_id: &str, id: &str) -> StoreResult<Option<ConsentRecord>> {
    let row: Option<ConsentRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM consents WHERE citizen_id = $1 AND id = $2")))
            .bind(citizen_id).bind(id).fetch_optional(conn).await?
    });
    row.map(decode).transpose()
}

/// Marks a consent revoked at `at` by `by`, unless it already is.
pub async fn revoke(
    tx: &mut Tx,
    citizen_id: &str,
    id: &str,
    at: Timestamp,
    by: &str,
) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(
            "UPDATE consents SET revoked_at_unix_ms = $3, revoked_by = $4 \
             WHERE citizen_id = $1 AND id = $2 AND revoked_at_unix_ms IS NULL",
        )
        .bind(citizen_id).bind(id).bind(at.unix_millis()).bind(by)
        .execute(conn).await?;
    });
    Ok(())
}

/// A citizen's consents after `after_number` in order of creation, at most `limit`; only those
/// granted to `grantee` when given.
pub async fn list(
    tx: &mut Tx,
    citizen_id: &str,
    grantee: Option<&str>,
    after_number: i64,
    limit: i64,
) -> StoreResult<Vec<ConsentRecord>> {
    let rows: Vec<ConsentRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consents WHERE citizen_id = $1 AND ($2 = '' OR grantee = $2) \
             AND number > $3 ORDER BY number LIMIT $4"
        )))
        .bind(citizen_id).bind(grantee.unwrap_or("")).bind(after_number).bind(limit)
        .fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}

/// The grants a citizen gave `grantee` for `purpose`, live or not.
pub async fn grants(
    tx: &mut Tx,
    citizen_id: &str,
    grantee: &str,
    purpose: Purpose,
) -> StoreResult<Vec<Grant>> {
    let rows: Vec<ConsentRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consents WHERE citizen_id = $1 AND grantee = $2 AND purpose = $3"
        )))
        .bind(citizen_id).bind(grantee).bind(purpose.code())
        .fetch_all(conn).await?
    });
    rows.into_iter()
        .map(|r| decode(r).map(|c| c.grant))
        .collect()
}

/// Every grant the citizen gave `grantee`, for any purpose, live or not.
pub async fn grants_to(tx: &mut Tx, citizen_id: &str, grantee: &str) -> StoreResult<Vec<Grant>> {
    let rows: Vec<ConsentRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consents WHERE citizen_id = $1 AND grantee = $2"
        )))
        .bind(citizen_id).bind(grantee)
        .fetch_all(conn).await?
    });
    rows.into_iter()
        .map(|r| decode(r).map(|c| c.grant))
        .collect()
}

/// Every grant the citizen gave for `purpose`, to any agency, live or not.
pub async fn grants_for(
    tx: &mut Tx,
    citizen_id: &str,
    purpose: Purpose,
) -> StoreResult<Vec<Grant>> {
    let rows: Vec<ConsentRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consents WHERE citizen_id = $1 AND purpose = $2"
        )))
        .bind(citizen_id).bind(purpose.code())
        .fetch_all(conn).await?
    });
    rows.into_iter()
        .map(|r| decode(r).map(|c| c.grant))
        .collect()
}
