//! API tests: the real server on port 0, on every backend (see `helpers`).

mod access_log;
mod auth;
mod bad_input;
mod binary;
mod catalog;
mod citizen_matrix;
mod citizens;
mod faults;
mod feedback;
mod forms;
mod helpers;
mod lifecycle;
mod limits;
mod outages;
mod process;
mod quotas;
mod raw;
mod requests;
mod routing;
mod store;
mod streams;
mod telemetry;
mod tls;
mod web;

use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// Asserts `status` has `code`, the `ErrorInfo` reason and, when given, a `BadRequest` naming
/// `field`.
pub fn assert_error(status: &Status, code: Code, reason: &str, field: Option<&str>) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "singlewindow.v1");
    if let Some(field) = field {
        let bad = details
            .bad_request()
            .unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
        assert!(
            bad.field_violations.iter().any(|v| v.field == field),
            "BadRequest does not name `{field}`: {:?}",
            bad.field_violations
        );
    }
}
