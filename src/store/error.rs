//! Storage errors. Driver errors stay inside: callers see a kind and, for logs, a source.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is unusable (unknown scheme, malformed). Not worth retrying.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database cannot be reached or has no free connection. Worth retrying.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
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

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            sqlx::Error::Configuration(ref e) => StoreError::InvalidUrl(e.to_string()),
            other => StoreError::Database(other),
        }
    }
}
