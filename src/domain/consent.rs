//! Consent: what a citizen lets an agency see, for which purpose, and when.
//!
//! A grant is live on `[valid_from, valid_until)`, until it is revoked: refused at `valid_until`
//! and afterwards, accepted one millisecond before, refused from the instant of its revocation.
//! An agency sees, for a purpose, the union of the categories of its live grants for that purpose,
//! and nothing for another purpose.

use super::time::Timestamp;

/// Why data is shared (a closed list: a read declares one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    ServiceDelivery,
    EligibilityAssessment,
    Referral,
    Prefill,
    RecordMaintenance,
    NotifyOfChanges,
    DeidentifiedStatistics,
}

/// A category of the record's fields, granted as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Identity,
    Contact,
    Address,
    Preferences,
    Accessibility,
    Circumstances,
    Identifiers,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 7] = [
        Purpose::ServiceDelivery,
        Purpose::EligibilityAssessment,
        Purpose::Referral,
        Purpose::Prefill,
        Purpose::RecordMaintenance,
        Purpose::NotifyOfChanges,
        Purpose::DeidentifiedStatistics,
    ];

    /// The stable text code (rows and log leaves hold it).
    pub fn code(self) -> &'static str {
        match self {
            Purpose::ServiceDelivery => "service-delivery",
            Purpose::EligibilityAssessment => "eligibility-assessment",
            Purpose::Referral => "referral",
            Purpose::Prefill => "prefill",
            Purpose::RecordMaintenance => "record-maintenance",
            Purpose::NotifyOfChanges => "notify-of-changes",
            Purpose::DeidentifiedStatistics => "deidentified-statistics",
        }
    }

    /// The purpose with text code `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }
}

impl Category {
    /// The stable text code (rows and log leaves hold it).
    pub fn code(self) -> &'static str {
        match self {
            Category::Identity => "identity",
            Category::Contact => "contact",
            Category::Address => "address",
            Category::Preferences => "preferences",
            Category::Accessibility => "accessibility",
            Category::Circumstances => "circumstances",
            Category::Identifiers => "identifiers",
        }
    }

    /// The category with text code `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Every category.
    pub const ALL: [Category; 7] = [
        Category::Identity,
        Category::Contact,
        Category::Address,
        Category::Preferences,
        Category::Accessibility,
        Category::Circumstances,
        Category::Identifiers,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Categories(u8);

impl Categories {
    /// No category.
    pub const NONE: Categories = Categories(0);

    /// Whether `category` is in the set.
    pub fn contains(self, category: Category) -> bool {
        self.0 & category.bit() != 0
    }

    /// The union with `other`.
    pub fn union(self, other: Categories) -> Categories {
        Categories(self.0 | other.0)
    }

    /// Whether every category of `other` is in the set.
    pub fn covers(self, other: Categories) -> bool {
        other.0 & !self.0 == 0
    }

    /// The categories, in order.
    pub fn iter(self) -> impl Iterator<Item = Category> {
        Category::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every category.
    pub fn all() -> Categories {
        Category::ALL.into_iter().collect()
    }

    /// Space-separated codes, in order (`identity contact`).
    pub fn codes(self) -> String {
        self.iter()
            .map(Category::code)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The set of space-separated `codes`; `None` if one is unknown.
    pub fn from_codes(codes: &str) -> Option<Categories> {
        codes.split_whitespace().map(Category::from_code).collect()
    }
}

impl FromIterator<Category> for Categories {
    fn from_iter<I: IntoIterator<Item = Category>>(iter: I) -> Self {
        Categories(iter.into_iter().fold(0, |bits, c| bits | c.bit()))
    }
}

/// One grant of consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The agency it is given to.
    pub grantee: String,
    pub purpose: Purpose,
    pub categories: Categories,
    pub valid_from: Timestamp,
    /// `None`: until revoked.
    pub valid_until: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl Grant {
    /// Whether the grant is in force at `at`.
    pub fn is_live(&self, at: Timestamp) -> bool {
        at >= self.valid_from
            && self.valid_until.is_none_or(|until| at < until)
            && self.revoked_at.is_none_or(|revoked| at < revoked)
    }
}

/// The categories that `grants` let `agency` see for `purpose` at `at`. A revoked grant counts for
/// nothing, whatever the time its revocation records: a revocation takes effect for every call
/// that starts after it, even on a replica whose clock is behind.
pub fn covered(grants: &[Grant], agency: &str, purpose: Purpose, at: Timestamp) -> Categories {
    grants
        .iter()
        .filter(|g| {
            g.grantee == agency && g.purpose == purpose && g.revoked_at.is_none() && g.is_live(at)
        })
        .fold(Categories::NONE, |all, g| all.union(g.categories))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ms(t: i64) -> Timestamp {
        Timestamp::from_unix_millis(t)
    }

    fn grant(from: i64, until: Option<i64>, revoked: Option<i64>) -> Grant {
        Grant {
            grantee: "cra-arc".to_owned(),
            purpose: Purpose::EligibilityAssessment,
            categories: [Category::Identity, Category::Address]
                .into_iter()
                .collect(),
            valid_from: ms(from),
            valid_until: until.map(ms),
            revoked_at: revoked.map(ms),
        }
    }

    #[test]
    fn a_grant_is_live_on_its_half_open_interval_until_revoked() {
        let g = grant(1_000, Some(2_000), None);
        assert!(!g.is_live(ms(999)));
        assert!(g.is_live(ms(1_000)));
        assert!(g.is_live(ms(1_999)));
        assert!(!g.is_live(ms(2_000)));
        let revoked = grant(1_000, None, Some(1_500));
        assert!(revoked.is_live(ms(1_499)) && !revoked.is_live(ms(1_500)));
    }

    #[test]
    fn an_agency_sees_only_its_live_grants_for_the_purpose_it_declares() {
        let mut contact = grant(0, None, None);
        contact.categories = [Category::Contact].into_iter().collect();
        let grants = [grant(0, Some(10), None), contact];
        let seen = covered(&grants, "cra-arc", Purpose::EligibilityAssessment, ms(5));
        assert_eq!(
            seen.iter().collect::<Vec<_>>(),
            [Category::Identity, Category::Contact, Category::Address]
        );
        let later = covered(&grants, "cra-arc", Purpose::EligibilityAssessment, ms(10));
        assert_eq!(later.iter().collect::<Vec<_>>(), [Category::Contact]);
        assert!(covered(&grants, "cra-arc", Purpose::Prefill, ms(5)).is_empty());
        assert!(covered(&grants, "cic", Purpose::EligibilityAssessment, ms(5)).is_empty());
        assert!(seen.covers([Category::Address].into_iter().collect()));
        let mut revoked_later = grant(0, None, Some(1_000_000));
        revoked_later.categories = [Category::Identifiers].into_iter().collect();
        assert!(
            covered(
                &[revoked_later],
                "cra-arc",
                Purpose::EligibilityAssessment,
                ms(5)
            )
            .is_empty(),
            "a revocation stamped by a clock ahead of ours is in force at once"
        );
        assert!(!later.covers([Category::Address].into_iter().collect()));
    }

    proptest! {
        #[test]
        fn liveness_matches_the_interval_definition(from in -1_000i64..1_000, len in 1i64..1_000, at in -2_000i64..3_000, revoke in proptest::option::of(-2_000i64..3_000)) {
            let g = grant(from, Some(from + len), revoke);
            let expected = at >= from && at < from + len && revoke.is_none_or(|r| at < r);
            prop_assert_eq!(g.is_live(ms(at)), expected);
        }
    }
}
