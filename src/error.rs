//! Errors of the application layer: what a call can fail with, before it becomes a gRPC status
//! (in `grpc::status`, the only place that does that).

use crate::store::StoreError;

/// One invalid request field, named as the client sent it (`page_size`, `agencies[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
    /// The rule broken (`REQUIRED`, `TOO_LONG`), for violations that name one; empty otherwise.
    pub reason: &'static str,
    /// The description in the language the caller asked for: (BCP 47 locale, message).
    pub localized: Option<(&'static str, String)>,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
            reason: "",
            localized: None,
        }
    }

    /// A violation of `field` that names the rule broken and says why in a caller's language.
    pub fn localized(
        field: impl Into<String>,
        description: impl Into<String>,
        reason: &'static str,
        localized: (&'static str, String),
    ) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
            reason,
            localized: Some(localized),
        }
    }
}

/// Which part of a request could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedPart {
    /// The message bytes are not a valid message of the method's request type.
    Message,
    /// The gRPC framing (length prefix, body) or gRPC-Web encoding is broken or empty.
    Framing,
    /// The `grpc-timeout` header.
    GrpcTimeout,
}

impl MalformedPart {
    /// The name clients see in `ErrorInfo.metadata["part"]`.
    pub fn as_str(self) -> &'static str {
        match self {
            MalformedPart::Message => "message",
            MalformedPart::Framing => "framing",
            MalformedPart::GrpcTimeout => "grpc-timeout",
        }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Request fields are invalid.
    #[error("invalid request: {0:?}")]
    InvalidArgument(Vec<FieldViolation>),
    /// The request cannot be read at all; `description` is safe to show.
    #[error("malformed request ({}): {description}", part.as_str())]
    Malformed {
        part: MalformedPart,
        description: &'static str,
    },
    /// The request message is larger than the method accepts.
    #[error("request message over {limit_bytes} bytes")]
    MessageTooLarge { limit_bytes: usize },
    /// The page token is malformed, altered or belongs to another request or caller.
    #[error("invalid page token: {0}")]
    InvalidPageToken(&'static str),
    /// The named resource does not exist.
    #[error("{name} not found")]
    NotFound { name: String },
    /// The resource to create exists already.
    #[error("{name} already exists")]
    AlreadyExists { name: String },
    /// The `request_id` was used before by the same caller for a different request.
    #[error("request_id reused for a different request")]
    RequestIdReused,
    /// The caller presented no usable credential.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// The caller may not do this (said the same way whether or not the resource exists).
    #[error("permission denied")]
    PermissionDenied,
    /// The `etag` sent is stale.
    #[error("etag mismatch on {name}")]
    EtagMismatch { name: String },
    /// The resource's state does not allow the call: `subject` failed `condition`.
    #[error("failed precondition: {subject}: {description}")]
    FailedPrecondition {
        /// Machine-readable kind of the condition (for `PreconditionFailure.type`).
        condition: &'static str,
        /// The resource or field it is about.
        subject: String,
        /// Why, safe to show.
        description: String,
    },
    /// A form submission names a retired form version; `replacement` is the version to use.
    #[error("{name} is retired; use {replacement}")]
    FormVersionRetired { name: String, replacement: String },
    /// The call's deadline passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// No such method.
    #[error("unknown method {0}")]
    UnknownMethod(String),
    /// Too many calls in flight; this one was not run.
    #[error("overloaded")]
    Overloaded,
    /// The caller used up its quota; it may call again after `retry_after`.
    #[error("quota of {subject} exceeded")]
    QuotaExceeded {
        /// The quota's subject (a principal name, or `anonymous`).
        subject: String,
        /// The quota, safe to show.
        description: String,
        retry_after: std::time::Duration,
    },
    /// The connection holds too many bytes of requests arriving and answers unread.
    #[error("connection buffer full")]
    ConnectionBufferFull,
    /// The service cannot answer now (starting, draining, database down).
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// A stream's subscriber fell behind; it may resume after `position`.
    #[error("stream subscriber behind at position {position}")]
    StreamBehind { position: i64 },
    /// The server is shutting down; the stream may resume after `position`.
    #[error("stream ended at position {position}")]
    StreamEnded { position: i64 },
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
