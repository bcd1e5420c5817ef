//! The one mapping from [`AppError`] to a gRPC status: `google.rpc.Status` with an `ErrorInfo`
//! (domain `singlewindow.v1`, reason from `ErrorReason`) and, for bad input, `BadRequest`.
//! Internal causes are logged here and never sent to the client.

use std::collections::HashMap;

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

fn status(
    code: Code,
    message: &str,
    reason: ErrorReason,
    configure: impl FnOnce(&mut ErrorDetails),
) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(
        reason_name(reason),
        ERROR_DOMAIN,
        HashMap::<String, String>::new(),
    );
    configure(&mut details);
    Status::with_error_details(code, message, details)
}

impl From<AppError> for Status {
    fn from(error: AppError) -> Self {
        match error {
            AppError::InvalidArgument(violations) => {
                let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                let message = format!("invalid {}", fields.join(", "));
                status(
                    Code::InvalidArgument,
                    &message,
                    ErrorReason::InvalidArgument,
                    |d| {
                        for v in &violations {
                            d.add_bad_request_violation(v.field.clone(), v.description.clone());
                        }
                    },
                )
            }
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
                let mut details = ErrorDetails::new();
                details.set_error_info(
                    reason_name(ErrorReason::ResourceNotFound),
                    ERROR_DOMAIN,
                    HashMap::from([("resource_name".to_owned(), name.clone())]),
                );
                let kind = name.split('/').next().unwrap_or_default().to_owned();
                details.set_resource_info(kind, name, "", "");
                Status::with_error_details(Code::NotFound, message, details)
            }
            AppError::Unavailable(why) => status(
                Code::Unavailable,
                why,
                ErrorReason::ServiceUnavailable,
                |_| {},
            ),
            AppError::Store(StoreError::Unavailable(source)) => {
                tracing::warn!(error = %source, "database unavailable");
                status(
                    Code::Unavailable,
                    "the database is unavailable; retry later",
                    ErrorReason::ServiceUnavailable,
                    |_| {},
                )
            }
            AppError::Store(
                error @ (StoreError::InvalidUrl(_)
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
