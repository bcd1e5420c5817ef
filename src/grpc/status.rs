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

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt as _;

    use super::*;
    use crate::error::FieldViolation;

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
