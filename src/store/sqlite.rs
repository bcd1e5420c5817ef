//! The embedded backend: one SQLite file in WAL mode with durable (`synchronous=FULL`) commits,
//! a busy timeout, foreign keys, and writes that take the write lock up front (`BEGIN IMMEDIATE`).

use std::str::FromStr;

use sqlx::{
    AssertSqlSafe, SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    CatalogStore, ImportMode, ImportOutcome, PoolSettings, SchemaStatus, SchemaStore, StoreError,
    StoreResult,
    catalog_sql::{self, Param},
};
use crate::domain::catalog::Catalog;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the file named by `url` (`sqlite://PATH` or `sqlite:PATH`).
    /// In-memory databases are refused: each pooled connection would get its own empty database.
    pub async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::InvalidUrl(
                "in-memory SQLite is not supported: name a file, for example sqlite://single-window.db".to_owned(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(settings.busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl SchemaStore for SqliteStore {
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
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        let applied: Vec<(i64, bool)> = if exists.is_some() {
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        Ok(SchemaStatus::compare(&MIGRATOR, &applied))
    }
}

impl CatalogStore for SqliteStore {
    async fn catalog_generation(&self) -> StoreResult<i64> {
        let generation: Option<i64> = sqlx::query_scalar(catalog_sql::SELECT_GENERATION)
            .fetch_optional(&self.pool)
            .await?;
        Ok(generation.unwrap_or(0))
    }

    async fn load_catalog(&self) -> StoreResult<(i64, Catalog)> {
        // One read transaction: a consistent view even while an import commits.
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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

pub(super) fn now_unix_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
