//! Storage errors. Driver errors stay inside: callers see a kind they can act on and, for logs, a
//! source. This is the one place that reads driver error codes.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is unusable (unknown scheme, malformed). Not worth retrying.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database cannot be reached or has no free connection. Worth retrying.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// SQLite: another writer held the database lock for longer than the busy timeout. Nothing
    /// was written; worth retrying after a pause.
    #[error("database busy")]
    Busy(#[source] sqlx::Error),
    /// Two transactions conflicted (PostgreSQL serialization failure or deadlock) and the retries
    /// the transaction entry point makes were used up. Nothing was written; retry the whole call.
    #[error("transaction conflict")]
    Conflict(#[source] sqlx::Error),
    /// The database has no space left for the write (SQLite `SQLITE_FULL`, PostgreSQL
    /// `disk_full`). Nothing was written; worth retrying once space is freed.
    #[error("database full")]
    Full(#[source] sqlx::Error),
    /// The call's deadline passed before the work finished; its statements were stopped and its
    /// transaction rolled back.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A row with the same unique key exists (`constraint` names the index when the driver says).
    #[error("unique key exists")]
    UniqueViolation { constraint: Option<String> },
    /// A row the work required does not exist.
    #[error("row not found")]
    NotFound,
    /// The database schema is not the one this binary expects.
    #[error("{0}")]
    Schema(String),
    /// Stored data cannot be decoded.
    #[error("stored data cannot be decoded: {0}")]
    Corrupt(String),
    /// Any other database failure.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Whether the transaction entry point retries the whole unit of work after this error.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

/// PostgreSQL SQLSTATEs and SQLite extended result codes the store acts on.
mod codes {
    pub const PG_SERIALIZATION_FAILURE: &str = "40001";
    pub const PG_DEADLOCK_DETECTED: &str = "40P01";
    pub const PG_QUERY_CANCELED: &str = "57014";
    pub const PG_ADMIN_SHUTDOWN: &str = "57P01";
    pub const PG_CANNOT_CONNECT_NOW: &str = "57P03";
    pub const PG_TOO_MANY_CONNECTIONS: &str = "53300";
    pub const PG_DISK_FULL: &str = "53100";
    pub const SQLITE_FULL: &str = "13";
    pub const SQLITE_BUSY: &str = "5";
    pub const SQLITE_LOCKED: &str = "6";
    pub const SQLITE_INTERRUPT: &str = "9";
    pub const SQLITE_BUSY_RECOVERY: &str = "261";
    pub const SQLITE_BUSY_SNAPSHOT: &str = "517";
}

fn classify_database(error: sqlx::Error) -> StoreError {
    use codes::*;
    let sqlx::Error::Database(db) = &error else {
        return StoreError::Database(error);
    };
    let code = db.code().map(|c| c.into_owned());
    match code.as_deref() {
        Some(PG_SERIALIZATION_FAILURE | PG_DEADLOCK_DETECTED | SQLITE_BUSY_SNAPSHOT) => {
            StoreError::Conflict(error)
        }
        Some(PG_QUERY_CANCELED | SQLITE_INTERRUPT) => StoreError::DeadlineExceeded,
        Some(SQLITE_BUSY | SQLITE_LOCKED | SQLITE_BUSY_RECOVERY) => StoreError::Busy(error),
        Some(PG_DISK_FULL | SQLITE_FULL) => StoreError::Full(error),
        Some(PG_ADMIN_SHUTDOWN | PG_CANNOT_CONNECT_NOW | PG_TOO_MANY_CONNECTIONS) => {
            StoreError::Unavailable(error)
        }
        Some(pg) if pg.starts_with("08") => StoreError::Unavailable(error),
        _ if db.is_unique_violation() => StoreError::UniqueViolation {
            constraint: db.constraint().map(str::to_owned),
        },
        _ => StoreError::Database(error),
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            sqlx::Error::Configuration(ref e) => StoreError::InvalidUrl(e.to_string()),
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(_) => classify_database(error),
            other => StoreError::Database(other),
        }
    }
}
