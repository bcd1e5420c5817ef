//! Storage: a [`Store`] made of per-aggregate traits, with a SQLite (embedded default) and a
//! PostgreSQL (production) implementation chosen by the database URL's scheme.
//!
//! Every backend passes the same conformance suite (`conformance`), run by the tests on both.

mod catalog_sql;
pub mod conformance;
mod error;
mod postgres;
mod schema;
mod sqlite;

use std::{future::Future, time::Duration};

pub use error::{StoreError, StoreResult};
pub use postgres::PgStore;
pub use schema::SchemaStatus;
pub use sqlite::SqliteStore;

use crate::domain::catalog::Catalog;

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
    /// How long a query waits for a free connection before failing as unavailable.
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

/// A store on one of the supported backends.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens a connection pool for `url`. `InvalidUrl` for an unknown scheme or a malformed URL;
    /// `Unavailable` when the database cannot be reached (worth retrying).
    pub async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        Ok(match Backend::from_url(url)? {
            Backend::Sqlite => Store::Sqlite(SqliteStore::connect(url, settings).await?),
            Backend::Postgres => Store::Postgres(PgStore::connect(url, settings).await?),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection, waiting for queries in flight (a SQLite file is checkpointed).
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}

impl SchemaStore for Store {
    async fn migrate(&self) -> StoreResult<()> {
        match self {
            Store::Sqlite(s) => s.migrate().await,
            Store::Postgres(s) => s.migrate().await,
        }
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        match self {
            Store::Sqlite(s) => s.schema_status().await,
            Store::Postgres(s) => s.schema_status().await,
        }
    }
}

impl CatalogStore for Store {
    async fn catalog_generation(&self) -> StoreResult<i64> {
        match self {
            Store::Sqlite(s) => s.catalog_generation().await,
            Store::Postgres(s) => s.catalog_generation().await,
        }
    }

    async fn load_catalog(&self) -> StoreResult<(i64, Catalog)> {
        match self {
            Store::Sqlite(s) => s.load_catalog().await,
            Store::Postgres(s) => s.load_catalog().await,
        }
    }

    async fn import_catalog(
        &self,
        catalog: &Catalog,
        mode: ImportMode,
    ) -> StoreResult<ImportOutcome> {
        match self {
            Store::Sqlite(s) => s.import_catalog(catalog, mode).await,
            Store::Postgres(s) => s.import_catalog(catalog, mode).await,
        }
    }
}
