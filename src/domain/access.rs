//! Access events: who did what with a citizen's data, why, and whether it was allowed; and the
//! exact text of each event's leaf in the access log's Merkle tree.

use super::{
    codes::coded_enum,
    consent::{Categories, Purpose},
    time::Timestamp,
};

coded_enum! {
    /// What was done with a citizen's data.
    pub enum Action {
        Create => "create",
        Read => "read",
        Update => "update",
        Find => "find",
        GrantConsent => "grant-consent",
        RevokeConsent => "revoke-consent",
        ListConsents => "list-consents",
        ListAccessEvents => "list-access-events",
        AuthorizeRepresentative => "authorize-representative",
        RevokeRepresentative => "revoke-representative",
        ListRepresentatives => "list-representatives",
        IssueClaimCode => "issue-claim-code",
        ClaimCitizen => "claim-citizen",
        OpenRequest => "open-request",
        ReadRequest => "read-request",
        ChangeRequest => "change-request",
        RecordFeedback => "record-feedback",
        ListSurveyInvitations => "list-survey-invitations",
        ReadUnsuppressedReport => "read-unsuppressed-report",
        PrefillForm => "prefill-form",
        SubmitForm => "submit-form",
        WriteBack => "write-back",
        ReadSubmission => "read-submission",
    }
}

coded_enum! {
    /// Whether an access was allowed.
    pub enum Outcome { Allowed => "allowed", Denied => "denied" }
}

impl Outcome {
    /// `Allowed` when `allowed`, else `Denied`.
    pub fn of(allowed: bool) -> Self {
        if allowed {
            Outcome::Allowed
        } else {
            Outcome::Denied
        }
    }
}

/// Who acted, as the log records it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// The principal's name (`agencies/cra-arc/teams/benefits-credits`, `portals/x`).
    pub principal: String,
    /// The officer, when the credential names one; empty otherwise.
    pub officer: String,
    /// The citizen id of a representative acting for the citizen; empty otherwise.
    pub representative: String,
}

/// One access to a citizen's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEvent {
    /// A random id, from the call that wrote it.
    pub id: String,
    pub citizen_id: String,
    /// The citizen's events are numbered 1, 2, 3... by the sequencer, in the order it adds them
    /// to the log; 0 until then.
    pub number: i64,
    /// Its place in the log's tree, once sequenced.
    pub leaf_index: Option<i64>,
    pub actor: Actor,
    pub action: Action,
    pub purpose: Option<Purpose>,
    pub categories: Categories,
    pub outcome: Outcome,
    pub at: Timestamp,
    pub request_id: String,
}

/// The first line of every leaf: names the format.
pub const LEAF_FORMAT: &str = "single-window access event v1";

impl AccessEvent {
    /// The leaf text: the format line, then one `key: value` line per field in this order, each
    /// ending in a newline. Values never hold newlines (they are names, codes, numbers and request
    /// ids, whose control characters are replaced by `?`).
    pub fn leaf(&self) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        };
        format!(
            "{LEAF_FORMAT}\ncitizen: citizens/{}\nnumber: {}\nactor: {}\nofficer: {}\nrepresentative: {}\naction: {}\npurpose: {}\ncategories: {}\noutcome: {}\ntime_unix_ms: {}\nrequest_id: {}\n",
            clean(&self.citizen_id),
            self.number,
            clean(&self.actor.principal),
            clean(&self.actor.officer),
            if self.actor.representative.is_empty() {
                String::new()
            } else {
                format!("citizens/{}", clean(&self.actor.representative))
            },
            self.action.code(),
            self.purpose.map_or("", Purpose::code),
            self.categories.codes(),
            self.outcome.code(),
            self.at.unix_millis(),
            clean(&self.request_id),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::consent::Category;

    #[test]
    fn a_leaf_names_every_field_in_a_fixed_order() {
        let event = AccessEvent {
            id: "e1".to_owned(),
            citizen_id: "c1".to_owned(),
            number: 3,
            leaf_index: Some(9),
            actor: Actor {
                principal: "agencies/cra-arc".to_owned(),
                officer: String::new(),
                representative: String::new(),
            },
            action: Action::Read,
            purpose: Some(Purpose::EligibilityAssessment),
            categories: [Category::Identity, Category::Address]
                .into_iter()
                .collect(),
            outcome: Outcome::Allowed,
            at: Timestamp::from_unix_millis(1_700_000_000_000),
            request_id: "r\n1".to_owned(),
        };
        assert_eq!(
            event.leaf(),
            "single-window access event v1\ncitizen: citizens/c1\nnumber: 3\nactor: agencies/cra-arc\nofficer: \nrepresentative: \naction: read\npurpose: eligibility-assessment\ncategories: identity address\noutcome: allowed\ntime_unix_ms: 1700000000000\nrequest_id: r?1\n"
        );
    }
}
