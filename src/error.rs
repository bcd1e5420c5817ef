//! Errors of the application layer: what a call can fail with, before it becomes a gRPC status
//! (in `grpc::status`, the only place that does that).

use crate::store::StoreError;

/// One invalid request field, named as the client sent it (`page_size`, `agencies[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Request fields are invalid.
    #[error("invalid request: {0:?}")]
    InvalidArgument(Vec<FieldViolation>),
    /// The page token is malformed or belongs to another request.
    #[error("invalid page token: {0}")]
    InvalidPageToken(&'static str),
    /// The named resource does not exist.
    #[error("{name} not found")]
    NotFound { name: String },
    /// The service cannot answer now (starting, draining, database down).
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Any other unexpected failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A single invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        AppError::InvalidArgument(vec![FieldViolation::new(field, description)])
    }
}
