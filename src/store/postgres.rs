//! The production backend: PostgreSQL, shared by many replicas. The server never migrates it
//! itself: `single-window migrate` does (a deployment's migration job), and `serve` refuses to run
//! on a schema it does not know.

use std::str::FromStr;

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    CatalogStore, ImportMode, ImportOutcome, PoolSettings, SchemaStatus, SchemaStore, StoreError,
    StoreResult, catalog_sql, sqlite::now_unix_ms,
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
        // One read transaction: a consistent view even while an import commits.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let loaded = catalog_sql::read_catalog::<sqlx::Postgres>(&mut tx).await?;
        tx.commit().await?;
        Ok(loaded)
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
        let outcome =
            catalog_sql::import_in::<sqlx::Postgres>(&mut tx, catalog, mode, now_unix_ms()).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}
