//! The production backend: PostgreSQL, shared by many replicas. The server never migrates it
//! itself: `single-window migrate` does (a deployment's migration job), and `serve` refuses to run
//! on a schema it does not know.

use std::str::FromStr;

use sqlx::{
    AssertSqlSafe, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    CatalogStore, ImportMode, ImportOutcome, PoolSettings, SchemaStatus, SchemaStore, StoreError,
    StoreResult,
    catalog_sql::{self, Param},
    sqlite::now_unix_ms,
};
use crate::domain::catalog::Catalog;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Key of the advisory lock that serialises catalogue imports across replicas.
const CATALOG_IMPORT_LOCK: i64 = 0x5357_4341_5441_4c47; // "SWCATALG"

/// A store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`).
    pub async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // A broken connection fails its query and is dropped; pinging on every acquire would
            // add a round trip to every call.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl SchemaStore for PgStore {
    async fn migrate(&self) -> StoreResult<()> {
        match self.schema_status().await? {
            status @ (SchemaStatus::Ahead { .. } | SchemaStatus::Dirty { .. }) => {
                Err(StoreError::Schema(status.to_string()))
            }
            _ => MIGRATOR
                .run(&self.pool)
                .await
                .map_err(|e| StoreError::Schema(format!("migration failed: {e}"))),
        }
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        let applied: Vec<(i64, bool)> = if exists {
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        Ok(SchemaStatus::compare(&MIGRATOR, &applied))
    }
}

impl CatalogStore for PgStore {
    async fn catalog_generation(&self) -> StoreResult<i64> {
        let generation: Option<i64> = sqlx::query_scalar(catalog_sql::SELECT_GENERATION)
            .fetch_optional(&self.pool)
            .await?;
        Ok(generation.unwrap_or(0))
    }

    async fn load_catalog(&self) -> StoreResult<(i64, Catalog)> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let generation: Option<i64> = sqlx::query_scalar(catalog_sql::SELECT_GENERATION)
            .fetch_optional(&mut *tx)
            .await?;
        let agencies: Vec<String> = sqlx::query_scalar(catalog_sql::SELECT_AGENCIES)
            .fetch_all(&mut *tx)
            .await?;
        let services: Vec<(String, bool)> = sqlx::query_as(catalog_sql::SELECT_SERVICES)
            .fetch_all(&mut *tx)
            .await?;
        let standards: Vec<(String, bool)> = sqlx::query_as(catalog_sql::SELECT_STANDARDS)
            .fetch_all(&mut *tx)
            .await?;
        let events: Vec<String> = sqlx::query_scalar(catalog_sql::SELECT_LIFE_EVENTS)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let catalog = catalog_sql::decode_catalog(&agencies, &services, &standards, &events)?;
        Ok((generation.unwrap_or(0), catalog))
    }

    async fn import_catalog(
        &self,
        catalog: &Catalog,
        mode: ImportMode,
    ) -> StoreResult<ImportOutcome> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CATALOG_IMPORT_LOCK)
            .execute(&mut *tx)
            .await?;
        let state: Option<(i64, String)> = sqlx::query_as(catalog_sql::SELECT_STATE)
            .fetch_optional(&mut *tx)
            .await?;
        let active: Vec<String> = sqlx::query_scalar(catalog_sql::SELECT_ACTIVE_SERVICE_IDS)
            .fetch_all(&mut *tx)
            .await?;
        let plan = catalog_sql::plan_import(state, &active, catalog, mode, now_unix_ms())?;
        for statement in plan.statements {
            let mut query = sqlx::query(AssertSqlSafe(statement.sql));
            for param in statement.params {
                query = match param {
                    Param::Text(v) => query.bind(v),
                    Param::Int(v) => query.bind(v),
                };
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(plan.outcome)
    }
}
