//! The production backend: PostgreSQL, shared by many replicas. Writes are `SERIALIZABLE` (the
//! entry point retries serialization failures), reads `REPEATABLE READ READ ONLY`, and a call's
//! deadline becomes the transaction's `statement_timeout`, set in the same round trip as BEGIN.
//! The server never migrates PostgreSQL itself: `single-window migrate` does (a deployment's
//! migration job), and `serve` refuses to run on a schema it does not know.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::time::Instant;

use super::{Mode, PoolSettings, SchemaStatus, StoreError, StoreResult, tx::TxConn};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    acquire_timeout: Duration,
}

impl PgStore {
    /// A pool for `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`) that connects on
    /// first use.
    pub fn open(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // A broken connection fails its query and is dropped; pinging on every acquire would
            // add a round trip to every call.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            acquire_timeout: settings.acquire_timeout,
        })
    }

    /// Begins a transaction for `mode` whose statements stop at `deadline`, in one round trip.
    pub(super) async fn begin(&self, mode: Mode, deadline: Option<Instant>) -> StoreResult<TxConn> {
        let isolation = match mode {
            Mode::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            Mode::Write => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        };
        let (statement, wait) = match deadline {
            None => (isolation.to_owned(), self.acquire_timeout),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(StoreError::DeadlineExceeded);
                }
                let millis = left.as_millis().max(1);
                (
                    format!("{isolation}; SET LOCAL statement_timeout = {millis}"),
                    left.min(self.acquire_timeout),
                )
            }
        };
        let begin = self.pool.begin_with(sqlx::AssertSqlSafe(statement));
        match tokio::time::timeout(wait, begin).await {
            Ok(tx) => Ok(TxConn::Postgres(tx?)),
            Err(_) if deadline.is_some_and(|d| d <= Instant::now()) => {
                Err(StoreError::DeadlineExceeded)
            }
            Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Applies the migrations the database lacks.
    pub(super) async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Schema(format!("migration failed: {e}")))
    }

    /// The database's applied migrations compared with the embedded ones.
    pub(super) async fn schema_status(&self) -> StoreResult<SchemaStatus> {
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

    /// Closes the pool.
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}
