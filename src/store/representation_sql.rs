//! Representations' SQL, identical on both backends.

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::domain::{
    citizen::representation::{Representation, RepresentationKind},
    consent::Categories,
    time::Timestamp,
};

#[derive(sqlx::FromRow)]
struct Row {
    citizen_id: String,
    id: String,
    representative_id: String,
    kind: String,
    categories: String,
    manage_consents: bool,
    valid_from_unix_ms: i64,
    valid_until_unix_ms: Option<i64>,
    recorded_by: String,
    officer: String,
    created_at_unix_ms: i64,
    revoked_at_unix_ms: Option<i64>,
    revoked_by: String,
}

const COLUMNS: &str = "citizen_id, id, representative_id, kind, categories, manage_consents, \
     valid_from_unix_ms, valid_until_unix_ms, recorded_by, officer, created_at_unix_ms, \
     revoked_at_unix_ms, revoked_by";

fn decode(row: Row) -> StoreResult<Representation> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!(
            "representation `{}` of `{}`: unreadable {what}",
            row.id, row.citizen_id
        ))
    };
    Ok(Representation {
        kind: RepresentationKind::from_code(&row.kind).ok_or_else(|| corrupt("kind"))?,
        categories: Categories::from_codes(&row.categories).ok_or_else(|| corrupt("categories"))?,
        citizen_id: row.citizen_id,
        id: row.id,
        representative_id: row.representative_id,
        manage_consents: row.manage_consents,
        valid_from: Timestamp::from_unix_millis(row.valid_from_unix_ms),
        valid_until: row.valid_until_unix_ms.map(Timestamp::from_unix_millis),
        revoked_at: row.revoked_at_unix_ms.map(Timestamp::from_unix_millis),
        recorded_by: row.recorded_by,
        officer: row.officer,
        created: Timestamp::from_unix_millis(row.created_at_unix_ms),
        revoked_by: row.revoked_by,
    })
}

/// Stores a new representation.
pub async fn insert(tx: &mut Tx, r: &Representation) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO representations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, '')"
        )))
        .bind(&r.citizen_id).bind(&r.id).bind(&r.representative_id).bind(r.kind.code())
        .bind(r.categories.codes()).bind(r.manage_consents).bind(r.valid_from.unix_millis())
        .bind(r.valid_until.map(Timestamp::unix_millis)).bind(&r.recorded_by).bind(&r.officer)
        .bind(r.created.unix_millis())
        .execute(conn).await?;
    });
    Ok(())
}

/// One representation of a citizen.
pub async fn get(tx: &mut Tx, citizen_id: &str, id: &str) -> StoreResult<Option<Representation>> {
    let row: Option<Row> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM representations WHERE citizen_id = $1 AND id = $2")))
            .bind(citizen_id).bind(id).fetch_optional(conn).await?
    });
    row.map(decode).transpose()
}

/// A citizen's representations, in order of creation (then id).
pub async fn list(tx: &mut Tx, citizen_id: &str) -> StoreResult<Vec<Representation>> {
    let rows: Vec<Row> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM representations WHERE citizen_id = $1 ORDER BY created_at_unix_ms, id"
        )))
        .bind(citizen_id).fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}

/// The representations by which `representative_id` may act for `citizen_id`, live or not.
pub async fn between(
    tx: &mut Tx,
    citizen_id: &str,
    representative_id: &str,
) -> StoreResult<Vec<Representation>> {
    let rows: Vec<Row> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM representations WHERE representative_id = $1 AND citizen_id = $2"
        )))
        .bind(representative_id).bind(citizen_id).fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}

/// Marks a representation revoked, unless it already is.
pub async fn revoke(
    tx: &mut Tx,
    citizen_id: &str,
    id: &str,
    at: Timestamp,
    by: &str,
) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query("UPDATE representations SET revoked_at_unix_ms = $3, revoked_by = $4 WHERE citizen_id = $1 AND id = $2 AND revoked_at_unix_ms IS NULL")
            .bind(citizen_id).bind(id).bind(at.unix_millis()).bind(by).execute(conn).await?;
    });
    Ok(())
}
