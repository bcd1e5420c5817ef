//! Storage: one [`Store`] over SQLite (the embedded default) or PostgreSQL (production), chosen by
//! the database URL's scheme, and the contract every backend meets (`conformance`, run by the
//! tests on both).
//!
//! # How work reaches the database
//! Every read and write is a *unit of work* (a function over a [`Tx`]) run by [`Store::read`] or
//! [`Store::write`], which own BEGIN, locks, the call's deadline, COMMIT and retries (see `tx`).
//! A write that spans aggregates is one unit of work, so it commits together. The per-aggregate
//! traits ([`CatalogStore`]...) are conveniences that run one unit each.
//!
//! # What is shared and what belongs to one backend
//! - Shared, written once: the aggregate SQL (`catalog_sql`...), which uses `$N` binds,
//!   `ON CONFLICT` upserts, `BIGINT` integers (timestamps are Unix milliseconds, booleans are
//!   `BOOLEAN`), and runs on either connection through `tx::on_conn!`; the error classification
//!   (`error`); the retry loop and its backoff (`tx`).
//! - SQLite only (`sqlite`, `sqlite_writer`): pragmas (WAL, `synchronous=FULL`, busy timeout,
//!   foreign keys), one writer task that group-commits callers' units under savepoints with the
//!   write lock taken at `BEGIN IMMEDIATE`, reads stopped at the deadline by a progress handler
//!   that interrupts statements, busy errors (not retried: the busy timeout already waited).
//! - PostgreSQL only (`postgres`): `SERIALIZABLE` writes ([`Store::write`]) retried on
//!   serialization failure and deadlock; `READ COMMITTED` writes ([`Store::write_committed`]) for
//!   the many-caller aggregates, whose units catch their own conflicts (conditional updates,
//!   unique keys with `ON CONFLICT`) and report them as `Conflict`, retried the same way; the
//!   same holding an advisory lock ([`Store::write_locked`], the sequencers); `REPEATABLE READ
//!   READ ONLY` reads; the deadline as `SET LOCAL statement_timeout`; and, when later parts need
//!   them, LISTEN/NOTIFY and native JSON or time types.
//!
//! # Row formats
//! Catalogue rows keep key columns plus the domain struct as a JSON `doc`: the catalogue is
//! rebuilt from its source files by every import, so a renamed field is repaired by the next
//! import, and `load_catalog` fails with `Corrupt` (never a panic) until then. Every other
//! aggregate stores explicit columns with their own row types, changed only by migrations.

pub mod access_sql;
mod availability;
mod catalog_sql;
pub mod citizen_sql;
pub mod conformance;
pub mod consent_sql;
mod error;
pub mod feedback_sql;
pub mod form_sql;
pub mod idempotency_sql;
pub mod notice_sql;
mod postgres;
pub mod representation_sql;
pub mod request_sql;
mod schema;
mod sqlite;
mod sqlite_writer;
pub mod submission_sql;
mod tx;
pub mod warning_sql;

use std::time::Duration;

use tracing::Instrument as _;

pub use error::{StoreError, StoreResult};
pub use schema::SchemaStatus;
pub use tx::{BoxFuture, Lock, Mode, Tx};

use crate::{
    clock::{SharedClock, SystemClock},
    domain::catalog::Catalog,
};
use postgres::PgStore;
use sqlite::SqliteStore;

/// The storage backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:PATH` or `sqlite://PATH`: an embedded file.
    Sqlite,
    /// `postgres://...` or `postgresql://...`.
    Postgres,
}

impl Backend {
    /// The backend the URL's scheme names; `InvalidUrl` for any other scheme.
    pub fn from_url(url: &str) -> StoreResult<Self> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(StoreError::InvalidUrl(format!(
                "unsupported scheme `{other}`: use sqlite://PATH (embedded) or postgres://USER@HOST/DB"
            ))),
        }
    }
}

/// Connection settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Maximum open connections.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing as unavailable (less when the
    /// call's deadline is nearer).
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a lock held by another writer (below the request deadline).
    pub busy_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL notification channel on which sequencers tell every replica that a feed has
/// new positions (the payload names the feed's table).
pub const FEEDS_CHANNEL: &str = "single_window_feeds";

/// How an import treats a catalogue already in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Import only when the store has never held a catalogue (what `serve` does at start).
    IfEmpty,
    /// Replace the stored catalogue (what `catalog import` does).
    Replace,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The catalogue generation after the import.
    pub generation: i64,
    /// Whether anything changed; when false the generation was not bumped.
    pub changed: bool,
    /// Services stored by this import (0 when unchanged).
    pub services: usize,
    /// Services that were active before and are missing from this import, now retired.
    pub retired_services: usize,
}

/// Schema management.
pub trait SchemaStore: Send + Sync {
    /// Applies the migrations this binary embeds that the database lacks. Fails with `Schema` when
    /// the database holds a migration this binary does not know (it is newer).
    fn migrate(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Compares the database's applied migrations with the ones this binary embeds.
    fn schema_status(&self) -> impl Future<Output = StoreResult<SchemaStatus>> + Send;
}

/// The catalogue aggregate.
pub trait CatalogStore: Send + Sync {
    /// The catalogue generation: 0 until a catalogue is first imported, then bumped by every import
    /// that changed something. Cheap: servers poll it to know when to reload.
    fn catalog_generation(&self) -> impl Future<Output = StoreResult<i64>> + Send;

    /// The whole stored catalogue with its generation, retired services and standards included,
    /// every list in order of id. A catalogue never imported is empty at generation 0.
    fn load_catalog(&self) -> impl Future<Output = StoreResult<(i64, Catalog)>> + Send;

    /// Stores `catalog` in one transaction, serialised against concurrent imports from other
    /// processes. With `IfEmpty`, does nothing when a catalogue was ever imported. Otherwise stores
    /// every agency, service, standard and life event of `catalog`, retires services and standards
    /// it lacks (never deletes them), and bumps the generation, unless the content is identical to
    /// the stored one, in which case nothing changes.
    fn import_catalog(
        &self,
        catalog: &Catalog,
        mode: ImportMode,
    ) -> impl Future<Output = StoreResult<ImportOutcome>> + Send;
}

/// A store on one of the supported backends. Cheap to clone: clones share one pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backends,
    clock: SharedClock,
}

#[derive(Debug, Clone)]
enum Backends {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// A store for `url` whose connections open on first use: fails only when the URL is unusable
    /// (`InvalidUrl`), never because the database is down. What `serve` uses, so that it can own
    /// the store from the start and wait for the database while NOT_SERVING. Call it inside a
    /// Tokio runtime: a SQLite store starts its writer task there.
    pub fn open(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        let backend = match Backend::from_url(url)? {
            Backend::Sqlite => Backends::Sqlite(SqliteStore::open(url, settings)?),
            Backend::Postgres => Backends::Postgres(PgStore::open(url, settings)?),
        };
        Ok(Self {
            backend,
            clock: std::sync::Arc::new(SystemClock),
        })
    }

    /// Opens a store for `url` and checks that the database answers. `InvalidUrl` for an unknown
    /// scheme or a malformed URL; `Unavailable` when the database cannot be reached.
    pub async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        let store = Self::open(url, settings)?;
        store.ping().await?;
        Ok(store)
    }

    /// This store, telling time by `clock` (import timestamps, and later every domain time).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock the store tells time by.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.backend {
            Backends::Sqlite(_) => Backend::Sqlite,
            Backends::Postgres(_) => Backend::Postgres,
        }
    }

    /// The span of one transaction, a child of the call's span; none for background work (the
    /// sequencers, feeds and jobs run every few hundred milliseconds: traces of their own would
    /// drown the calls').
    fn span(&self, operation: &'static str) -> tracing::Span {
        if tracing::Span::current().is_none() {
            return tracing::Span::none();
        }
        let system = match self.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        };
        tracing::info_span!(
            "db",
            otel.name = format_args!("{operation} {system}"),
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = operation,
        )
    }

    /// Checks that the database answers (`Unavailable` otherwise).
    pub async fn ping(&self) -> StoreResult<()> {
        self.read((), |tx, ()| {
            Box::pin(async move {
                tx::on_conn!(tx, conn, DB => sqlx::query("SELECT 1").execute(conn).await.map(drop))?;
                Ok(())
            })
        })
        .await
    }

    /// The server's periodic check that the database answers, on a connection of its own for
    /// PostgreSQL, within a second. While it fails, PostgreSQL calls fail at once with
    /// `Unavailable` instead of each waiting for a connection; its first success ends that, and
    /// the connections kept from before the outage are not used again. On SQLite, [`Store::ping`].
    pub async fn probe(&self) -> StoreResult<()> {
        match &self.backend {
            Backends::Sqlite(_) => self.ping().await,
            Backends::Postgres(s) => s.probe().await,
        }
    }

    /// Runs `work` in a read-only transaction (one consistent snapshot) and returns its result.
    /// Honours the current call's deadline ([`crate::deadline`]): `DeadlineExceeded` once it
    /// passes, with the statements in flight stopped.
    pub async fn read<I, T, F>(&self, input: I, work: F) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>> + Send + Sync + 'static,
    {
        if crate::deadline::remaining() == Some(Duration::ZERO) {
            return Err(StoreError::DeadlineExceeded);
        }
        let span = self.span("read");
        match &self.backend {
            Backends::Sqlite(s) => s.read(input, work).instrument(span).await,
            Backends::Postgres(s) => s.run(Mode::Read, input, work).instrument(span).await,
        }
    }

    /// Runs `work` in a serialisable read-write transaction and commits it; on a serialization
    /// failure or deadlock the whole of `work` runs again (up to 5 attempts, with backoff, within
    /// the deadline), so `work` must have no effect outside the transaction. Everything `work`
    /// writes commits together or not at all. On SQLite, `work` runs in the single writer's next
    /// batch under its own savepoint (group commit): its failure undoes only its own work, and it
    /// is answered after the batch commits. `Conflict` when the attempts are used up, `Busy`
    /// (SQLite) when another writer held the lock past the busy timeout, `DeadlineExceeded` when
    /// the call's deadline passes first.
    pub async fn write<I, T, F>(&self, input: I, work: F) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>> + Send + Sync + 'static,
    {
        self.write_in(Mode::Write, input, work).await
    }

    /// Like [`Store::write`], at READ COMMITTED on PostgreSQL ([`Mode::Committed`]): for units
    /// whose conflicts are caught by conditional updates and unique keys (reported as `Conflict`,
    /// which the entry point retries), so that many concurrent callers do not abort each other
    /// on serialisable false conflicts.
    pub async fn write_committed<I, T, F>(&self, input: I, work: F) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>> + Send + Sync + 'static,
    {
        self.write_in(Mode::Committed, input, work).await
    }

    /// Like [`Store::write_committed`], holding `lock` for the whole transaction: work that one
    /// process at a time may do.
    pub async fn write_locked<I, T, F>(&self, lock: Lock, input: I, work: F) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>> + Send + Sync + 'static,
    {
        self.write_in(Mode::Locked(lock), input, work).await
    }

    async fn write_in<I, T, F>(&self, mode: Mode, input: I, work: F) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>> + Send + Sync + 'static,
    {
        if crate::deadline::remaining() == Some(Duration::ZERO) {
            return Err(StoreError::DeadlineExceeded);
        }
        let span = self.span("write");
        match &self.backend {
            Backends::Sqlite(s) => s.write(input, work).instrument(span).await,
            Backends::Postgres(s) => s.run(mode, input, work).instrument(span).await,
        }
    }

    /// A listener for the notifications of `channel` (PostgreSQL), or `None` on SQLite, where
    /// every writer is in this process.
    pub async fn listen(&self, channel: &str) -> StoreResult<Option<sqlx::postgres::PgListener>> {
        match &self.backend {
            Backends::Sqlite(_) => Ok(None),
            Backends::Postgres(s) => s.listen(channel).await.map(Some),
        }
    }

    /// Closes every connection, waiting for queries in flight (a SQLite file is checkpointed).
    pub async fn close(&self) {
        match &self.backend {
            Backends::Sqlite(s) => s.close().await,
            Backends::Postgres(s) => s.close().await,
        }
    }
}

impl SchemaStore for Store {
    async fn migrate(&self) -> StoreResult<()> {
        match self.schema_status().await? {
            status @ (SchemaStatus::Ahead { .. } | SchemaStatus::Dirty { .. }) => {
                Err(StoreError::Schema(status.to_string()))
            }
            _ => match &self.backend {
                Backends::Sqlite(s) => s.migrate().await,
                Backends::Postgres(s) => s.migrate().await,
            },
        }
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        match &self.backend {
            Backends::Sqlite(s) => s.schema_status().await,
            Backends::Postgres(s) => s.schema_status().await,
        }
    }
}

impl CatalogStore for Store {
    async fn catalog_generation(&self) -> StoreResult<i64> {
        self.read((), |tx, ()| Box::pin(catalog_sql::generation(tx)))
            .await
    }

    async fn load_catalog(&self) -> StoreResult<(i64, Catalog)> {
        self.read((), |tx, ()| Box::pin(catalog_sql::read(tx)))
            .await
    }

    async fn import_catalog(
        &self,
        catalog: &Catalog,
        mode: ImportMode,
    ) -> StoreResult<ImportOutcome> {
        let now = self.clock.now();
        self.write((catalog.clone(), mode), move |tx, (catalog, mode)| {
            Box::pin(catalog_sql::import(tx, catalog, *mode, now))
        })
        .await
    }
}
