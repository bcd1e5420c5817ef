//! The production backend: PostgreSQL, shared by many replicas. Writes are `SERIALIZABLE` (the
//! entry point retries serialization failures), reads `REPEATABLE READ READ ONLY`, and a call's
//! deadline becomes the transaction's `statement_timeout`, set in the same round trip as BEGIN.
//! The server never migrates PostgreSQL itself: `single-window migrate` does (a deployment's
//! migration job), and `serve` refuses to run on a schema it does not know.

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    Connection as _, PgConnection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::time::Instant;

use super::{
    BoxFuture, Mode, PoolSettings, SchemaStatus, StoreError, StoreResult,
    availability::{Availability, down_error},
    tx::{Tx, TxConn},
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    acquire_timeout: Duration,
    availability: Arc<Availability>,
    /// The server's check of the database runs on a connection of its own: busy calls holding
    /// every pooled connection must not look like an outage.
    probe: Arc<Probe>,
}

#[derive(Debug)]
struct Probe {
    conn: tokio::sync::Mutex<Option<PgConnection>>,
    options: PgConnectOptions,
}

/// How long the check of the database waits for its answer (connecting included).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Attempts of a unit of work before a conflict is returned to the caller.
const MAX_ATTEMPTS: u32 = 5;

/// The pause before attempt `attempt` (1-based, the first retry is 2): exponential from 4 ms with
/// jitter, never beyond the call's deadline.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(4) * 2u32.saturating_pow(attempt.saturating_sub(2));
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    let delay = base + base * u32::from(jitter[0]) / 255;
    match crate::deadline::remaining() {
        Some(left) => delay.min(left),
        None => delay,
    }
}

impl PgStore {
    /// A pool for `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`) that connects on
    /// first use.
    pub fn open(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let availability = Arc::new(Availability::new());
        let stale = availability.clone();
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // A broken connection fails its query and is dropped; pinging on every acquire would
            // add a round trip to every call. After an outage, the connections opened before it
            // are discarded instead (no round trip: their age says it).
            .test_before_acquire(false)
            .before_acquire(move |_, meta| {
                let fresh = !stale.predates_outage(meta.age);
                Box::pin(async move { Ok(fresh) })
            })
            .connect_lazy_with(options.clone());
        Ok(Self {
            pool,
            acquire_timeout: settings.acquire_timeout,
            availability,
            probe: Arc::new(Probe {
                conn: tokio::sync::Mutex::new(None),
                options,
            }),
        })
    }

    /// Checks that the database answers, on the check's own connection (opened again when it
    /// broke), within [`PROBE_TIMEOUT`]; marks the database down or up accordingly.
    pub(super) async fn probe(&self) -> StoreResult<()> {
        let mut slot = self.probe.conn.lock().await;
        let answered = tokio::time::timeout(PROBE_TIMEOUT, async {
            if slot.is_none() {
                *slot = Some(PgConnection::connect_with(&self.probe.options).await?);
            }
            match slot.as_mut() {
                Some(conn) => sqlx::query("SELECT 1").execute(conn).await.map(drop),
                None => Err(down_error()),
            }
        })
        .await;
        match answered {
            Ok(Ok(())) => {
                self.availability.mark_up();
                Ok(())
            }
            Ok(Err(error)) => {
                *slot = None;
                self.availability.mark_down();
                Err(StoreError::Unavailable(error))
            }
            Err(_) => {
                *slot = None;
                self.availability.mark_down();
                Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut))
            }
        }
    }

    /// Runs `work` in a transaction for `mode` and commits it; after a serialization failure or
    /// deadlock the whole of `work` runs again, up to [`MAX_ATTEMPTS`] times with backoff, within
    /// the call's deadline.
    pub(super) async fn run<I, T, F>(&self, mode: Mode, input: I, work: F) -> StoreResult<T>
    where
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>>,
    {
        if self.availability.is_down() {
            return Err(StoreError::Unavailable(down_error()));
        }
        let mut attempt = 1;
        loop {
            let mut tx = Tx {
                conn: self
                    .begin(mode, crate::deadline::current())
                    .await
                    .inspect_err(|e| self.note_failure(e))?,
            };
            let result = match work(&mut tx, &input).await {
                Ok(value) => tx.commit().await.map(|()| value),
                Err(error) => Err(error), // dropping `tx` rolls it back
            };
            match result {
                Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other.inspect_err(|e| self.note_failure(e)),
            }
        }
    }

    /// A call that lost its connection (the server closed it, refused a new one) marks the
    /// database down at once, before the next check: the calls after it then fail without
    /// waiting. Waiting for a free connection (pool exhaustion) is not an outage.
    fn note_failure(&self, error: &StoreError) {
        if let StoreError::Unavailable(source) = error
            && !matches!(source, sqlx::Error::PoolTimedOut)
        {
            self.availability.mark_down();
        }
    }

    /// Begins a transaction for `mode` whose statements stop at `deadline`, in one round trip.
    async fn begin(&self, mode: Mode, deadline: Option<Instant>) -> StoreResult<TxConn> {
        let isolation = match mode {
            Mode::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_owned(),
            Mode::Write => "BEGIN ISOLATION LEVEL SERIALIZABLE".to_owned(),
            Mode::Committed => "BEGIN ISOLATION LEVEL READ COMMITTED".to_owned(),
            Mode::Locked(lock) => format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({})",
                lock.key()
            ),
        };
        let (statement, wait) = match deadline {
            None => (isolation, self.acquire_timeout),
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

    /// A listener on `channel`, with its own connection from the pool's settings.
    pub async fn listen(&self, channel: &str) -> StoreResult<sqlx::postgres::PgListener> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(channel).await?;
        Ok(listener)
    }

    /// Closes the pool.
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}
