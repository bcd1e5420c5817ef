//! Representatives: who may act for a citizen through a portal, and within what scope.

use crate::domain::{codes::coded_enum, consent::Categories, time::Timestamp};

coded_enum! {
    /// On what grounds a representative acts.
    pub enum RepresentationKind {
        /// A parent or guardian of a minor.
        Parent => "parent",
        /// A power of attorney.
        PowerOfAttorney => "power-of-attorney",
        /// The executor of the estate of a citizen who has died.
        Executor => "executor",
    }
}

/// One authorisation of a representative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    /// The citizen represented.
    pub citizen_id: String,
    pub id: String,
    /// The citizen who may act for them.
    pub representative_id: String,
    pub kind: RepresentationKind,
    /// What the representative may read and change.
    pub categories: Categories,
    /// Whether the representative may grant, revoke and list the citizen's consents.
    pub manage_consents: bool,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub recorded_by: String,
    pub officer: String,
    pub created: Timestamp,
    pub revoked_by: String,
}

impl Representation {
    /// Whether it is in force at `at` (a revoked one never is, whatever its revocation time).
    pub fn is_live(&self, at: Timestamp) -> bool {
        self.revoked_at.is_none()
            && at >= self.valid_from
            && self.valid_until.is_none_or(|until| at < until)
    }
}
