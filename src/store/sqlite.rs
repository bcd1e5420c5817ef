//! The embedded backend: one SQLite file in WAL mode with durable (`synchronous=FULL`) commits,
//! a busy timeout, foreign keys, and writes that take the write lock up front (`BEGIN IMMEDIATE`).

use std::str::FromStr;

use sqlx::{
    SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    CatalogStore, ImportMode, ImportOutcome, PoolSettings, SchemaStatus, SchemaStore, StoreError,
    StoreResult, catalog_sql,
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
        let loaded = catalog_sql::read_catalog::<sqlx::Sqlite>(&mut tx).await?;
        tx.commit().await?;
        Ok(loaded)
    }

    async fn import_catalog(
        &self,
        catalog: &Catalog,
        mode: ImportMode,
    ) -> StoreResult<ImportOutcome> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let outcome =
            catalog_sql::import_in::<sqlx::Sqlite>(&mut tx, catalog, mode, now_unix_ms()).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

pub(super) fn now_unix_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_are_durable_wal_with_foreign_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("pragmas.db").display());
        let store = SqliteStore::connect(&url, &PoolSettings::default())
            .await
            .expect("connect");
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .expect("journal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.pool)
            .await
            .expect("sync");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await
            .expect("fk");
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&store.pool)
            .await
            .expect("busy");
        assert_eq!(journal, "wal");
        assert_eq!(
            synchronous, 2,
            "synchronous=FULL: an acknowledged commit survives a power loss"
        );
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy, 5000);
        store.close().await;
    }

    #[tokio::test]
    async fn in_memory_databases_are_refused() {
        for url in ["sqlite::memory:", "sqlite://file?mode=memory"] {
            let error = SqliteStore::connect(url, &PoolSettings::default())
                .await
                .expect_err("refused");
            assert!(
                matches!(error, StoreError::InvalidUrl(_)),
                "{url}: {error:?}"
            );
        }
    }
}
