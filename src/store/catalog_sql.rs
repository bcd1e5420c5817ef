//! The catalogue's SQL, identical on both backends (`$N` binds, `ON CONFLICT` upserts), and the one
//! place that decides how catalogue rows are encoded: key columns plus a JSON `doc` (see the store
//! module's note on row formats).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use super::{
    ImportMode, ImportOutcome, StoreError, StoreResult,
    tx::{Lock, Tx, on_conn},
};
use crate::domain::{
    catalog::{Agency, Catalog, LifeEvent, Service, ServiceStandard},
    time::Timestamp,
};

const SELECT_GENERATION: &str = "SELECT generation FROM catalog_state WHERE id = 1";
const SELECT_STATE: &str = "SELECT generation, content_hash FROM catalog_state WHERE id = 1";
const SELECT_ACTIVE_SERVICE_IDS: &str = "SELECT service_id FROM services WHERE retired = FALSE";
const SELECT_AGENCIES: &str = "SELECT doc FROM agencies";
const SELECT_SERVICES: &str = "SELECT doc, retired FROM services";
const SELECT_STANDARDS: &str = "SELECT doc, retired FROM service_standards";
const SELECT_LIFE_EVENTS: &str = "SELECT doc FROM life_events";

/// A bind parameter.
#[derive(Debug)]
pub(super) enum Param {
    Text(String),
    Int(i64),
}

/// One SQL statement with its binds.
#[derive(Debug)]
pub(super) struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

/// Rows per multi-row INSERT.
const CHUNK: usize = 200;

/// What an import must execute, given the stored state, and what it will have done.
pub(super) struct Plan {
    pub statements: Vec<Statement>,
    pub outcome: ImportOutcome,
}

/// Plans an import of `catalog` over the stored `state` (generation, content hash) whose active
/// services are `active_ids`. `None` statements when nothing is to be written.
pub(super) fn plan_import(
    state: Option<(i64, String)>,
    active_ids: &[String],
    catalog: &Catalog,
    mode: ImportMode,
    now_unix_ms: i64,
) -> StoreResult<Plan> {
    let (generation, stored_hash) = state.unwrap_or((0, String::new()));
    let hash = content_hash(catalog)?;
    let unchanged = ImportOutcome {
        generation,
        changed: false,
        services: 0,
        retired_services: 0,
    };
    if (mode == ImportMode::IfEmpty && generation > 0) || hash == stored_hash {
        return Ok(Plan {
            statements: Vec::new(),
            outcome: unchanged,
        });
    }
    let retired_services = active_ids
        .iter()
        .filter(|id| !catalog.services.iter().any(|s| &s.id == *id))
        .count();
    let mut statements = vec![
        plain("UPDATE services SET retired = TRUE"),
        plain("UPDATE service_standards SET retired = TRUE"),
        plain("DELETE FROM life_events"),
    ];
    upserts(
        &mut statements,
        "agencies (agency_id, doc)",
        "agency_id",
        "doc = excluded.doc",
        &catalog.agencies,
        |a| Ok(vec![Param::Text(a.id.clone()), Param::Text(encode(a)?)]),
    )?;
    upserts(
        &mut statements,
        "services (service_id, agency_id, doc)",
        "service_id",
        "agency_id = excluded.agency_id, doc = excluded.doc, retired = FALSE",
        &catalog.services,
        |s| {
            Ok(vec![
                Param::Text(s.id.clone()),
                Param::Text(s.agency.clone()),
                Param::Text(encode(s)?),
            ])
        },
    )?;
    let standards: Vec<&ServiceStandard> =
        catalog.services.iter().flat_map(|s| &s.standards).collect();
    upserts(
        &mut statements,
        "service_standards (service_id, standard_id, doc)",
        "service_id, standard_id",
        "doc = excluded.doc, retired = FALSE",
        &standards,
        |s| {
            Ok(vec![
                Param::Text(s.service_id.clone()),
                Param::Text(s.id.clone()),
                Param::Text(encode(s)?),
            ])
        },
    )?;
    upserts(
        &mut statements,
        "life_events (life_event_id, doc)",
        "life_event_id",
        "doc = excluded.doc",
        &catalog.life_events,
        |e| Ok(vec![Param::Text(e.id.clone()), Param::Text(encode(e)?)]),
    )?;
    let generation = generation + 1;
    statements.push(Statement {
        sql: "INSERT INTO catalog_state (id, generation, content_hash, updated_at_unix_ms) VALUES (1, $1, $2, $3) \
              ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, \
              content_hash = excluded.content_hash, updated_at_unix_ms = excluded.updated_at_unix_ms"
            .to_owned(),
        params: vec![Param::Int(generation), Param::Text(hash), Param::Int(now_unix_ms)],
    });
    let outcome = ImportOutcome {
        generation,
        changed: true,
        services: catalog.services.len(),
        retired_services,
    };
    Ok(Plan {
        statements,
        outcome,
    })
}

fn plain(sql: &str) -> Statement {
    Statement {
        sql: sql.to_owned(),
        params: Vec::new(),
    }
}

/// Multi-row `INSERT ... ON CONFLICT DO UPDATE` statements for `rows`, `CHUNK` rows each.
fn upserts<T>(
    out: &mut Vec<Statement>,
    table_columns: &str,
    key: &str,
    update: &str,
    rows: &[T],
    params: impl Fn(&T) -> StoreResult<Vec<Param>>,
) -> StoreResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut sql = format!("INSERT INTO {table_columns} VALUES ");
        let mut binds = Vec::new();
        for (i, row) in chunk.iter().enumerate() {
            let row_params = params(row)?;
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row_params.len() {
                let _ = write!(
                    sql,
                    "{}${}",
                    if j == 0 { "" } else { ", " },
                    binds.len() + j + 1
                );
            }
            sql.push(')');
            binds.extend(row_params);
        }
        let _ = write!(sql, " ON CONFLICT ({key}) DO UPDATE SET {update}");
        out.push(Statement { sql, params: binds });
    }
    Ok(())
}

fn encode<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(doc: &str) -> StoreResult<T> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stable digest of everything an import would store.
fn content_hash(catalog: &Catalog) -> StoreResult<String> {
    let mut hasher = Sha256::new();
    for agency in &catalog.agencies {
        hasher.update(encode(agency)?);
    }
    for service in &catalog.services {
        hasher.update(encode(service)?);
        for standard in &service.standards {
            hasher.update(encode(standard)?);
        }
    }
    for event in &catalog.life_events {
        hasher.update(encode(event)?);
    }
    Ok(hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
}

/// Rebuilds a catalogue from its stored rows: `(doc, retired)` for services and standards. A
/// retired standard is kept only under a retired service (the one it was retired with).
pub(super) fn decode_catalog(
    agencies: &[String],
    services: &[(String, bool)],
    standards: &[(String, bool)],
    life_events: &[String],
) -> StoreResult<Catalog> {
    let mut agencies: Vec<Agency> = agencies
        .iter()
        .map(|d| decode(d))
        .collect::<StoreResult<_>>()?;
    agencies.sort_by(|a, b| a.id.cmp(&b.id));
    let mut by_id: BTreeMap<String, Service> = BTreeMap::new();
    for (doc, retired) in services {
        let mut service: Service = decode(doc)?;
        service.retired = *retired;
        by_id.insert(service.id.clone(), service);
    }
    for (doc, retired) in standards {
        let standard: ServiceStandard = decode(doc)?;
        if let Some(service) = by_id.get_mut(&standard.service_id)
            && (!*retired || service.retired)
        {
            service.standards.push(standard);
        }
    }
    for service in by_id.values_mut() {
        service.standards.sort_by(|a, b| a.id.cmp(&b.id));
    }
    let mut life_events: Vec<LifeEvent> = life_events
        .iter()
        .map(|d| decode(d))
        .collect::<StoreResult<_>>()?;
    life_events.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Catalog {
        agencies,
        services: by_id.into_values().collect(),
        life_events,
    })
}

/// Reads the whole stored catalogue on `conn`, inside the caller's read transaction.
async fn read_catalog<DB>(conn: &mut DB::Connection) -> StoreResult<(i64, Catalog)>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
    (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
    (String, bool): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let generation: Option<i64> = sqlx::query_scalar(SELECT_GENERATION)
        .fetch_optional(&mut *conn)
        .await?;
    let agencies: Vec<String> = sqlx::query_scalar(SELECT_AGENCIES)
        .fetch_all(&mut *conn)
        .await?;
    let services: Vec<(String, bool)> = sqlx::query_as(SELECT_SERVICES)
        .fetch_all(&mut *conn)
        .await?;
    let standards: Vec<(String, bool)> = sqlx::query_as(SELECT_STANDARDS)
        .fetch_all(&mut *conn)
        .await?;
    let events: Vec<String> = sqlx::query_scalar(SELECT_LIFE_EVENTS)
        .fetch_all(&mut *conn)
        .await?;
    let catalog = decode_catalog(&agencies, &services, &standards, &events)?;
    Ok((generation.unwrap_or(0), catalog))
}

/// Plans and executes an import on `conn`, inside the caller's transaction, which must already
/// hold [`Lock::CatalogImport`].
async fn import_in<DB>(
    conn: &mut DB::Connection,
    catalog: &Catalog,
    mode: ImportMode,
    now_unix_ms: i64,
) -> StoreResult<ImportOutcome>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64, String): for<'r> sqlx::FromRow<'r, DB::Row>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let state: Option<(i64, String)> = sqlx::query_as(SELECT_STATE)
        .fetch_optional(&mut *conn)
        .await?;
    let active: Vec<String> = sqlx::query_scalar(SELECT_ACTIVE_SERVICE_IDS)
        .fetch_all(&mut *conn)
        .await?;
    let plan = plan_import(state, &active, catalog, mode, now_unix_ms)?;
    for statement in plan.statements {
        let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(statement.sql));
        for param in statement.params {
            query = match param {
                Param::Text(v) => query.bind(v),
                Param::Int(v) => query.bind(v),
            };
        }
        query.execute(&mut *conn).await?;
    }
    Ok(plan.outcome)
}

/// The stored catalogue generation (0 before the first import).
pub(super) async fn generation(tx: &mut Tx) -> StoreResult<i64> {
    let generation: Option<i64> = on_conn!(tx, conn, DB => {
        sqlx::query_scalar(SELECT_GENERATION).fetch_optional(conn).await?
    });
    Ok(generation.unwrap_or(0))
}

/// The whole stored catalogue and its generation.
pub(super) async fn read(tx: &mut Tx) -> StoreResult<(i64, Catalog)> {
    on_conn!(tx, conn, DB => read_catalog::<DB>(conn).await)
}

/// Imports `catalog` (see `CatalogStore::import_catalog`), serialised by the import lock.
pub(super) async fn import(
    tx: &mut Tx,
    catalog: &Catalog,
    mode: ImportMode,
    now: Timestamp,
) -> StoreResult<ImportOutcome> {
    tx.lock(Lock::CatalogImport).await?;
    on_conn!(tx, conn, DB => import_in::<DB>(conn, catalog, mode, now.unix_millis()).await)
}
