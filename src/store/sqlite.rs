//! The embedded backend: one SQLite file in WAL mode with durable (`synchronous=FULL`) commits,
//! a busy timeout and foreign keys. Reads run concurrently on the pool, each stopped at its
//! call's deadline by a progress handler; writes go through one writer task that commits many
//! callers' units of work together (`sqlite_writer`), taking the write lock up front
//! (`BEGIN IMMEDIATE`).

use std::str::FromStr;

use sqlx::{
    Connection as _, SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::time::Instant;

use super::{
    BoxFuture, PoolSettings, SchemaStatus, StoreError, StoreResult,
    sqlite_writer::Writer,
    tx::{Tx, TxConn},
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Virtual-machine steps between two deadline checks of a running statement.
const DEADLINE_CHECK_STEPS: i32 = 1_000;

/// A store in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    acquire_timeout: std::time::Duration,
    writer: Writer,
}

impl SqliteStore {
    /// A pool over the file named by `url` (`sqlite://PATH` or `sqlite:PATH`), created on first
    /// use if missing. In-memory databases are refused: each pooled connection would get its own
    /// empty database.
    pub fn open(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
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
            // A unit of work cancelled mid-statement leaves its deadline check installed: clear
            // it before the connection serves anyone else. A connection still in a transaction
            // is one whose unit was dropped (its rollback is queued: the ping waits for it) or
            // whose COMMIT failed (a full disk: SQLite may have rolled back on its own, the
            // driver's ROLLBACK then fails and it would refuse every later BEGIN): the latter is
            // closed rather than handed to the next caller.
            .after_release(|conn, _| {
                Box::pin(async move {
                    conn.lock_handle().await?.remove_progress_handler();
                    if conn.is_in_transaction() {
                        conn.ping().await?;
                    }
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_lazy_with(options);
        Ok(Self {
            writer: Writer::start(pool.clone()),
            pool,
            acquire_timeout: settings.acquire_timeout,
        })
    }

    /// Runs `work` through the single writer (group commit; see `sqlite_writer`).
    pub(super) async fn write<I, T, F>(&self, input: I, work: F) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>> + Send + Sync + 'static,
    {
        self.writer.write(input, work).await
    }

    /// Runs `work` in a read transaction (one snapshot) on a pooled connection, its statements
    /// stopped at the call's deadline. Reads run concurrently with each other and the writer.
    pub(super) async fn read<I, T, F>(&self, input: I, work: F) -> StoreResult<T>
    where
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>>,
    {
        let mut tx = Tx {
            conn: self.begin_read(crate::deadline::current()).await?,
        };
        let value = work(&mut tx, &input).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// Begins a read transaction, stopping its statements at `deadline`.
    async fn begin_read(&self, deadline: Option<Instant>) -> StoreResult<TxConn> {
        let statement = "BEGIN";
        let wait = deadline.map_or(self.acquire_timeout, |d| {
            d.saturating_duration_since(Instant::now())
                .min(self.acquire_timeout)
        });
        let mut tx = match tokio::time::timeout(wait, self.pool.begin_with(statement)).await {
            Ok(tx) => tx?,
            Err(_) if deadline.is_some_and(|d| d <= Instant::now()) => {
                return Err(StoreError::DeadlineExceeded);
            }
            Err(_) => return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
        };
        if let Some(deadline) = deadline {
            let deadline = deadline.into_std();
            tx.lock_handle()
                .await?
                .set_progress_handler(DEADLINE_CHECK_STEPS, move || {
                    std::time::Instant::now() < deadline
                });
        }
        Ok(TxConn::Sqlite(tx))
    }

    /// Applies the migrations the file lacks.
    pub(super) async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Schema(format!("migration failed: {e}")))
    }

    /// The file's applied migrations compared with the embedded ones.
    pub(super) async fn schema_status(&self) -> StoreResult<SchemaStatus> {
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

    /// Closes the pool.
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_are_durable_wal_with_foreign_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("pragmas.db").display());
        let store = SqliteStore::open(&url, &PoolSettings::default()).expect("open");
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
            let error = SqliteStore::open(url, &PoolSettings::default()).expect_err("refused");
            assert!(
                matches!(error, StoreError::InvalidUrl(_)),
                "{url}: {error:?}"
            );
        }
    }
}
