//! Decoding the fields of RequestService's messages into valid values.

use sha2::{Digest as _, Sha256};

use super::super::request::Violations;
use crate::{
    domain::request::{DeclineReason, Outcome, RequestStatus},
    proto::v1 as pb,
    store::request_sql::AttachmentRecord,
};

/// Most files a request carries.
pub const MAX_ATTACHMENTS: usize = 10;
/// Largest file, in bytes.
pub const MAX_ATTACHMENT_BYTES: usize = 64 * 1024;
/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4_000;
/// Longest text of a step, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;

/// Free text of at most `max` characters, without control characters other than line breaks and
/// tabs; `required` refuses an empty one.
pub fn text(v: &mut Violations, field: &str, value: &str, max: usize, required: bool) -> String {
    if value.trim().is_empty() {
        if required {
            v.add(field, "is required");
        }
        return String::new();
    }
    if value.chars().count() > max {
        v.add(field, format!("at most {max} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        v.add(field, "must not contain control characters");
    }
    value.to_owned()
}

/// The files of an OpenRequest.
pub fn attachments(v: &mut Violations, files: &[pb::Attachment]) -> Vec<AttachmentRecord> {
    if files.len() > MAX_ATTACHMENTS {
        v.add("attachments", format!("at most {MAX_ATTACHMENTS} files"));
        return Vec::new();
    }
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let field = |part: &str| format!("attachments[{i}].{part}");
            let name = &f.filename;
            if name.is_empty() {
                v.add(field("filename"), "is required");
            } else if name.chars().count() > 255 {
                v.add(field("filename"), "at most 255 characters");
            } else if name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
                || name.trim() != name
                || name == "."
                || name == ".."
            {
                v.add(
                    field("filename"),
                    "must be a plain file name (no `/`, `\\`, control characters or surrounding spaces)",
                );
            }
            if !media_type(&f.media_type) {
                v.add(
                    field("media_type"),
                    "must be a media type such as `application/pdf` (at most 127 characters)",
                );
            }
            if f.content.is_empty() {
                v.add(field("content"), "is required");
            } else if f.content.len() > MAX_ATTACHMENT_BYTES {
                v.add(
                    field("content"),
                    format!("at most {MAX_ATTACHMENT_BYTES} bytes"),
                );
            }
            AttachmentRecord {
                filename: name.clone(),
                media_type: f.media_type.to_ascii_lowercase(),
                sha256: Sha256::digest(&f.content)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                content: f.content.to_vec(),
            }
        })
        .collect()
}

fn media_type(value: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    value.len() <= 127
        && value
            .split_once('/')
            .is_some_and(|(kind, sub)| token(kind) && token(sub))
}

/// The request id in a required `requests/{request}`.
pub fn request_name(v: &mut Violations, field: &str, name: &str) -> String {
    v.name(field, name, "requests")
}

/// The (request id, leg number) in a required `requests/{request}/handoffs/{handoff}`.
pub fn handoff_name(v: &mut Violations, field: &str, name: &str) -> (String, i64) {
    if name.is_empty() {
        v.add(field, "is required");
        return (String::new(), 0);
    }
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["requests", id, "handoffs", n]
            if crate::domain::names::valid_id(id) && n.parse::<i64>().is_ok_and(|n| n > 0) =>
        {
            ((*id).to_owned(), n.parse().unwrap_or_default())
        }
        _ => {
            v.add(
                field,
                "must be of the form `requests/{request}/handoffs/{handoff}`",
            );
            (String::new(), 0)
        }
    }
}

/// A required decline reason.
pub fn decline_reason(v: &mut Violations, value: i32) -> Option<DeclineReason> {
    let reason = match pb::DeclineReason::try_from(value) {
        Ok(pb::DeclineReason::NotOurMandate) => DeclineReason::NotOurMandate,
        Ok(pb::DeclineReason::NotEligible) => DeclineReason::NotEligible,
        Ok(pb::DeclineReason::OutsideJurisdiction) => DeclineReason::OutsideJurisdiction,
        Ok(pb::DeclineReason::Duplicate) => DeclineReason::Duplicate,
        Ok(pb::DeclineReason::InsufficientInformation) => DeclineReason::InsufficientInformation,
        Ok(pb::DeclineReason::Other) => DeclineReason::Other,
        Ok(pb::DeclineReason::Unspecified) => {
            v.add("reason", "is required: a DeclineReason value");
            return None;
        }
        Err(_) => {
            v.add("reason", format!("{value} is not a valid value"));
            return None;
        }
    };
    Some(reason)
}

/// A required outcome.
pub fn outcome(v: &mut Violations, value: i32) -> Option<Outcome> {
    let outcome = match pb::HandoffOutcome::try_from(value) {
        Ok(pb::HandoffOutcome::Delivered) => Outcome::Delivered,
        Ok(pb::HandoffOutcome::Refused) => Outcome::Refused,
        Ok(pb::HandoffOutcome::InformationProvided) => Outcome::InformationProvided,
        Ok(pb::HandoffOutcome::CitizenDeclined) => Outcome::CitizenDeclined,
        Ok(pb::HandoffOutcome::Unspecified) => {
            v.add("outcome", "is required: a HandoffOutcome value");
            return None;
        }
        Err(_) => {
            v.add("outcome", format!("{value} is not a valid value"));
            return None;
        }
    };
    Some(outcome)
}

/// A request status filter value.
pub fn status(s: pb::RequestStatus) -> Option<RequestStatus> {
    match s {
        pb::RequestStatus::Unspecified => None,
        pb::RequestStatus::Open => Some(RequestStatus::Open),
        pb::RequestStatus::Completed => Some(RequestStatus::Completed),
        pb::RequestStatus::Withdrawn => Some(RequestStatus::Withdrawn),
        pb::RequestStatus::Abandoned => Some(RequestStatus::Abandoned),
    }
}
