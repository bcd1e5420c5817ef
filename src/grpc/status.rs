//! The one mapping from [`AppError`] to a gRPC status: `google.rpc.Status` with an `ErrorInfo`
//! (domain `singlewindow.v1`, reason from `ErrorReason`) and, for bad input, `BadRequest`.
//! Internal causes are logged here and never sent to the client.

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::{error::AppError, proto::v1::ErrorReason, store::StoreError};

/// The `ErrorInfo.domain` of every error.
pub const ERROR_DOMAIN: &str = "singlewindow.v1";

/// The reason string: the enum value name without its `ERROR_REASON_` prefix.
pub fn reason_name(reason: ErrorReason) -> &'static str {
    let name = reason.as_str_name();
    name.strip_prefix("ERROR_REASON_").unwrap_or(name)
}

/// How long a client should wait before retrying a shed or busy call.
const RETRY_AFTER: Duration = Duration::from_millis(250);

fn status(
    code: Code,
    message: &str,
    reason: ErrorReason,
    configure: impl FnOnce(&mut ErrorDetails),
) -> Status {
    status_with(code, message, reason, HashMap::new(), configure)
}

fn status_with(
    code: Code,
    message: &str,
    reason: ErrorReason,
    metadata: HashMap<String, String>,
    configure: impl FnOnce(&mut ErrorDetails),
) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason_name(reason), ERROR_DOMAIN, metadata);
    configure(&mut details);
    Status::with_error_details(code, message, details)
}

fn one(key: &str, value: impl Into<String>) -> HashMap<String, String> {
    HashMap::from([(key.to_owned(), value.into())])
}

fn retry_after(d: &mut ErrorDetails) {
    d.set_retry_info(Some(RETRY_AFTER));
}

/// Most field violations one status carries: the details travel in a trailer, which clients
/// refuse past their header-list limit (16 KiB by default in many stacks).
pub const MAX_VIOLATIONS: usize = 40;

/// The first violations, and one more saying how many were left out.
fn bounded(mut violations: Vec<crate::error::FieldViolation>) -> Vec<crate::error::FieldViolation> {
    if violations.len() > MAX_VIOLATIONS {
        let left = violations.len() - (MAX_VIOLATIONS - 1);
        violations.truncate(MAX_VIOLATIONS - 1);
        let field = violations
            .last()
            .map(|v| v.field.clone())
            .unwrap_or_default();
        violations.push(crate::error::FieldViolation {
            field,
            description: format!("and {left} more violations not listed; fix these and try again"),
            reason: "TOO_MANY_VIOLATIONS",
            localized: None,
        });
    }
    violations
}

impl From<AppError> for Status {
    fn from(error: AppError) -> Self {
        match error {
            AppError::InvalidArgument(violations) => {
                let violations = bounded(violations);
                let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                let message = format!("invalid {}", fields.join(", "));
                status(
                    Code::InvalidArgument,
                    &message,
                    ErrorReason::InvalidArgument,
                    |d| {
                        d.set_bad_request(
                            violations
                                .iter()
                                .map(|v| tonic_types::FieldViolation {
                                    field: v.field.clone(),
                                    description: v.description.clone(),
                                    reason: v.reason.to_owned(),
                                    localized_message: v.localized.as_ref().map(
                                        |(locale, message)| tonic_types::LocalizedMessage {
                                            locale: (*locale).to_owned(),
                                            message: message.clone(),
                                        },
                                    ),
                                })
                                .collect::<Vec<_>>(),
                        );
                    },
                )
            }
            AppError::Malformed { part, description } => status_with(
                Code::InvalidArgument,
                &format!("malformed request: {description}"),
                ErrorReason::MalformedRequest,
                one("part", part.as_str()),
                |_| {},
            ),
            AppError::MessageTooLarge { limit_bytes } => status_with(
                Code::ResourceExhausted,
                &format!(
                    "the request message is larger than this method accepts ({limit_bytes} bytes)"
                ),
                ErrorReason::MessageTooLarge,
                one("limit_bytes", limit_bytes.to_string()),
                |_| {},
            ),
            AppError::InvalidPageToken(description) => status(
                Code::InvalidArgument,
                "invalid page_token",
                ErrorReason::InvalidPageToken,
                |d| {
                    d.add_bad_request_violation("page_token", description);
                },
            ),
            AppError::NotFound { name } => {
                let message = format!("{name} not found");
                let kind = name.split('/').next().unwrap_or_default().to_owned();
                status_with(
                    Code::NotFound,
                    &message,
                    ErrorReason::ResourceNotFound,
                    one("resource_name", name.clone()),
                    |d| {
                        d.set_resource_info(kind, name, "", "");
                    },
                )
            }
            AppError::AlreadyExists { name } => status_with(
                Code::AlreadyExists,
                &format!("{name} already exists"),
                ErrorReason::AlreadyExists,
                one("resource_name", name),
                |_| {},
            ),
            AppError::RequestIdReused => status_with(
                Code::AlreadyExists,
                "request_id was already used for a different request; use a new request_id",
                ErrorReason::AlreadyExists,
                one("field", "request_id"),
                |_| {},
            ),
            AppError::Unauthenticated(why) => status(
                Code::Unauthenticated,
                why,
                ErrorReason::Unauthenticated,
                |_| {},
            ),
            AppError::PermissionDenied => status(
                Code::PermissionDenied,
                "the caller may not do this",
                ErrorReason::PermissionDenied,
                |_| {},
            ),
            AppError::EtagMismatch { name } => status_with(
                Code::Aborted,
                &format!("{name} changed since it was read; read it again and retry with its etag"),
                ErrorReason::EtagMismatch,
                one("resource_name", name),
                |_| {},
            ),
            AppError::FailedPrecondition {
                condition,
                subject,
                description,
            } => status(
                Code::FailedPrecondition,
                &format!("{subject}: {description}"),
                ErrorReason::FailedPrecondition,
                |d| {
                    d.add_precondition_failure_violation(
                        condition,
                        subject.clone(),
                        description.clone(),
                    );
                },
            ),
            AppError::FormVersionRetired { name, replacement } => status_with(
                Code::FailedPrecondition,
                &format!("{name} is retired; fill in {replacement} instead"),
                ErrorReason::FormVersionRetired,
                HashMap::from([
                    ("resource_name".to_owned(), name.clone()),
                    ("replacement".to_owned(), replacement.clone()),
                ]),
                |d| {
                    d.add_precondition_failure_violation(
                        "FORM_VERSION_RETIRED",
                        name.clone(),
                        format!("retired; use {replacement}"),
                    );
                },
            ),
            AppError::DeadlineExceeded | AppError::Store(StoreError::DeadlineExceeded) => status(
                Code::DeadlineExceeded,
                "the deadline passed before the call completed",
                ErrorReason::DeadlineExceeded,
                |_| {},
            ),
            AppError::UnknownMethod(path) => status_with(
                Code::Unimplemented,
                "no such method on this server",
                ErrorReason::UnknownMethod,
                one("method", path),
                |_| {},
            ),
            AppError::Overloaded => status(
                Code::Unavailable,
                "the server is at its limit of calls in flight; retry shortly",
                ErrorReason::Overloaded,
                retry_after,
            ),
            AppError::QuotaExceeded {
                subject,
                description,
                retry_after,
            } => status(
                Code::ResourceExhausted,
                "the caller's quota of calls is used up; retry after the pause given",
                ErrorReason::QuotaExceeded,
                |d| {
                    d.add_quota_failure_violation(subject.clone(), description.clone());
                    d.set_retry_info(Some(retry_after));
                },
            ),
            AppError::ConnectionBufferFull => status(
                Code::ResourceExhausted,
                "this connection holds too many bytes of unread answers and arriving requests; read the answers or use another connection",
                ErrorReason::ConnectionBufferFull,
                |_| {},
            ),
            AppError::StreamBehind { position } => status_with(
                Code::ResourceExhausted,
                "the stream's buffer filled because its events were not read in time; watch again after the position given",
                ErrorReason::StreamBehind,
                one("resume_after_position", position.to_string()),
                |_| {},
            ),
            AppError::StreamEnded { position } => status_with(
                Code::Unavailable,
                "the server is shutting down; watch again after the position given",
                ErrorReason::StreamEnded,
                one("resume_after_position", position.to_string()),
                retry_after,
            ),
            AppError::Unavailable(why) => status(
                Code::Unavailable,
                why,
                ErrorReason::ServiceUnavailable,
                retry_after,
            ),
            AppError::Store(StoreError::Unavailable(source)) => {
                // While the database is known to be down, every call says so: logged once by the
                // check that found it, not once per call.
                if matches!(&source, sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::NotConnected)
                {
                    tracing::debug!(error = %source, "database unavailable");
                } else {
                    tracing::warn!(error = %source, "database unavailable");
                }
                status(
                    Code::Unavailable,
                    "the database is unavailable; retry later",
                    ErrorReason::ServiceUnavailable,
                    retry_after,
                )
            }
            AppError::Store(StoreError::Full(source)) => {
                tracing::error!(error = %source, "the database is full; writes are refused");
                status(
                    Code::ResourceExhausted,
                    "the database has no space left for this write; nothing was written; retry later",
                    ErrorReason::StorageFull,
                    |_| {},
                )
            }
            AppError::Store(StoreError::Busy(source)) => {
                tracing::warn!(error = %source, "database busy");
                status(
                    Code::Unavailable,
                    "the database is busy; retry shortly",
                    ErrorReason::ServiceUnavailable,
                    retry_after,
                )
            }
            AppError::Store(StoreError::Conflict(source)) => {
                tracing::info!(error = %source, "transaction conflict after retries");
                status(
                    Code::Aborted,
                    "the call conflicted with concurrent changes; nothing was written; retry it",
                    ErrorReason::ConcurrentConflict,
                    |_| {},
                )
            }
            AppError::Store(StoreError::UniqueViolation { constraint }) => {
                // Handlers that know which resource exists say so with `AlreadyExists`.
                tracing::debug!(?constraint, "unique violation");
                status(
                    Code::AlreadyExists,
                    "the resource exists already",
                    ErrorReason::AlreadyExists,
                    |_| {},
                )
            }
            AppError::Store(
                error @ (StoreError::InvalidUrl(_)
                | StoreError::NotFound
                | StoreError::Schema(_)
                | StoreError::Corrupt(_)
                | StoreError::Database(_)),
            ) => internal(&error),
            AppError::Internal(error) => internal(error.as_ref()),
        }
    }
}

fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "internal error");
    status(
        Code::Internal,
        "internal error",
        ErrorReason::Internal,
        |_| {},
    )
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt as _;

    use super::*;
    use crate::error::{FieldViolation, MalformedPart};

    #[test]
    fn every_error_has_its_documented_code_and_reason() {
        let conflict = || sqlx::Error::Protocol("40001".to_owned());
        let cases: Vec<(AppError, Code, &str)> = vec![
            (
                AppError::invalid("x", "bad"),
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
            ),
            (
                AppError::Malformed {
                    part: MalformedPart::Framing,
                    description: "empty",
                },
                Code::InvalidArgument,
                "MALFORMED_REQUEST",
            ),
            (
                AppError::MessageTooLarge { limit_bytes: 1 },
                Code::ResourceExhausted,
                "MESSAGE_TOO_LARGE",
            ),
            (
                AppError::InvalidPageToken("x"),
                Code::InvalidArgument,
                "INVALID_PAGE_TOKEN",
            ),
            (
                AppError::NotFound {
                    name: "services/1".into(),
                },
                Code::NotFound,
                "RESOURCE_NOT_FOUND",
            ),
            (
                AppError::AlreadyExists { name: "a/b".into() },
                Code::AlreadyExists,
                "ALREADY_EXISTS",
            ),
            (
                AppError::RequestIdReused,
                Code::AlreadyExists,
                "ALREADY_EXISTS",
            ),
            (
                AppError::Unauthenticated("no credential"),
                Code::Unauthenticated,
                "UNAUTHENTICATED",
            ),
            (
                AppError::PermissionDenied,
                Code::PermissionDenied,
                "PERMISSION_DENIED",
            ),
            (
                AppError::EtagMismatch { name: "a/b".into() },
                Code::Aborted,
                "ETAG_MISMATCH",
            ),
            (
                AppError::FailedPrecondition {
                    condition: "STATE",
                    subject: "a/b".into(),
                    description: "closed".into(),
                },
                Code::FailedPrecondition,
                "FAILED_PRECONDITION",
            ),
            (
                AppError::DeadlineExceeded,
                Code::DeadlineExceeded,
                "DEADLINE_EXCEEDED",
            ),
            (
                AppError::Store(StoreError::DeadlineExceeded),
                Code::DeadlineExceeded,
                "DEADLINE_EXCEEDED",
            ),
            (
                AppError::UnknownMethod("/x/y".into()),
                Code::Unimplemented,
                "UNKNOWN_METHOD",
            ),
            (AppError::Overloaded, Code::Unavailable, "OVERLOADED"),
            (
                AppError::QuotaExceeded {
                    subject: "agencies/cic".into(),
                    description: "at most 1 call per second".into(),
                    retry_after: Duration::from_millis(300),
                },
                Code::ResourceExhausted,
                "QUOTA_EXCEEDED",
            ),
            (
                AppError::ConnectionBufferFull,
                Code::ResourceExhausted,
                "CONNECTION_BUFFER_FULL",
            ),
            (
                AppError::Unavailable("starting"),
                Code::Unavailable,
                "SERVICE_UNAVAILABLE",
            ),
            (
                AppError::Store(StoreError::Busy(conflict())),
                Code::Unavailable,
                "SERVICE_UNAVAILABLE",
            ),
            (
                AppError::Store(StoreError::Conflict(conflict())),
                Code::Aborted,
                "CONCURRENT_CONFLICT",
            ),
            (
                AppError::Store(StoreError::UniqueViolation { constraint: None }),
                Code::AlreadyExists,
                "ALREADY_EXISTS",
            ),
            (
                AppError::Store(StoreError::NotFound),
                Code::Internal,
                "INTERNAL",
            ),
        ];
        for (error, code, reason) in cases {
            let text = format!("{error:?}");
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{text}");
            let details = status.get_error_details();
            let info = details
                .error_info()
                .unwrap_or_else(|| panic!("ErrorInfo for {text}"));
            assert_eq!(
                (info.reason.as_str(), info.domain.as_str()),
                (reason, ERROR_DOMAIN),
                "{text}"
            );
            assert!(info.reason.len() <= 63);
            assert!(
                !status.message().contains("40001"),
                "{text}: {}",
                status.message()
            );
            if code == Code::Unavailable {
                assert!(details.retry_info().is_some(), "RetryInfo for {text}");
            }
        }
    }

    #[test]
    fn driver_errors_become_a_fixed_internal_message() {
        let driver = sqlx::Error::Protocol(
            "relation \"services\" does not exist (SQLSTATE 42P01)".to_owned(),
        );
        let status = Status::from(AppError::Store(StoreError::Database(driver)));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert_eq!(
            status
                .get_error_details()
                .error_info()
                .map(|i| i.reason.as_str()),
            Some("INTERNAL")
        );
        let unavailable = Status::from(AppError::Store(StoreError::Unavailable(
            sqlx::Error::PoolTimedOut,
        )));
        assert_eq!(unavailable.code(), Code::Unavailable);
        assert!(
            !unavailable.message().contains("pool"),
            "{}",
            unavailable.message()
        );
    }

    #[test]
    fn bad_input_names_every_field() {
        let status = Status::from(AppError::InvalidArgument(vec![
            FieldViolation::new("page_size", "must not be negative"),
            FieldViolation::new("channels[0]", "0 is not a valid value"),
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .expect("BadRequest")
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["page_size", "channels[0]"]);
        assert_eq!(
            details.error_info().expect("ErrorInfo").domain,
            ERROR_DOMAIN
        );
    }
}
