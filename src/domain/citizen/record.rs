//! The shared citizen record: its parts, which consent category each belongs to, and the view of
//! it a caller may see.

use std::collections::BTreeSet;

use super::{Identifier, PostalCode, Province, values::Date};
use crate::domain::{
    catalog::Channel,
    codes::coded_enum,
    consent::{Categories, Category},
    time::Timestamp,
};

/// Most addresses a record holds.
pub const MAX_ADDRESSES: usize = 5;

coded_enum! {
    /// What an address is for.
    pub enum AddressKind { Residential => "residential", Mailing => "mailing" }
}

coded_enum! {
    /// An official language.
    pub enum Language { English => "en", French => "fr" }
}

coded_enum! {
    /// An accessibility need.
    pub enum AccessibilityNeed {
        ScreenReader => "screen-reader",
        LargePrint => "large-print",
        Braille => "braille",
        SignLanguage => "sign-language",
        HearingAssistance => "hearing-assistance",
        Mobility => "mobility",
        PlainLanguage => "plain-language",
        Interpreter => "interpreter",
    }
}

coded_enum! {
    /// A self-declared circumstance used for eligibility.
    pub enum Circumstance {
        Veteran => "veteran",
        Student => "student",
        Newcomer => "newcomer",
        Indigenous => "indigenous",
        Disability => "disability",
        Caregiver => "caregiver",
        Senior => "senior",
    }
}

/// Names and dates (IDENTITY).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub given_name: String,
    pub family_name: String,
    pub preferred_name: String,
    pub date_of_birth: Option<Date>,
    pub deceased_date: Option<Date>,
}

/// How to reach the citizen (CONTACT). Values are normalised; empty when not known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    pub email: String,
    pub phone: String,
}

/// A Canadian postal address (ADDRESS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub kind: AddressKind,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub province: Province,
    pub postal_code: PostalCode,
}

/// How the citizen prefers to be served (PREFERENCES).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preferences {
    pub language: Option<Language>,
    pub preferred_channel: Option<Channel>,
}

/// Accessibility needs (ACCESSIBILITY).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accessibility {
    pub needs: BTreeSet<AccessibilityNeed>,
    pub note: String,
}

/// The record's content: every part a caller may write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Details {
    pub identity: Identity,
    pub contact: Contact,
    pub addresses: Vec<Address>,
    pub preferences: Preferences,
    pub accessibility: Accessibility,
    pub circumstances: BTreeSet<Circumstance>,
    /// At most one per scheme, in the order given.
    pub identifiers: Vec<Identifier>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citizen {
    pub id: String,
    pub details: Details,
    /// Bumped by every change; the etag is derived from it.
    pub version: i64,
    pub created: Timestamp,
    pub updated: Timestamp,
}

impl Citizen {
    /// `"v{version}"`: what clients send back to update.
    pub fn etag(&self) -> String {
        format!("\"v{}\"", self.version)
    }
}

/// Which category each top-level field of the record belongs to, by its proto field name.
pub const FIELDS: [(&str, Category); 7] = [
    ("identity", Category::Identity),
    ("contact", Category::Contact),
    ("addresses", Category::Address),
    ("preferences", Category::Preferences),
    ("accessibility", Category::Accessibility),
    ("circumstances", Category::Circumstances),
    ("identifiers", Category::Identifiers),
];

/// The category of the top-level field `name`, if it is one.
pub fn category_of(name: &str) -> Option<Category> {
    FIELDS.iter().find(|(f, _)| *f == name).map(|(_, c)| *c)
}

impl Details {
    /// The record with only the parts of `categories` (the others empty).
    pub fn only(&self, categories: Categories) -> Details {
        let keep = |c: Category| categories.contains(c);
        Details {
            identity: if keep(Category::Identity) {
                self.identity.clone()
            } else {
                Identity::default()
            },
            contact: if keep(Category::Contact) {
                self.contact.clone()
            } else {
                Contact::default()
            },
            addresses: if keep(Category::Address) {
                self.addresses.clone()
            } else {
                Vec::new()
            },
            preferences: if keep(Category::Preferences) {
                self.preferences.clone()
            } else {
                Preferences::default()
            },
            accessibility: if keep(Category::Accessibility) {
                self.accessibility.clone()
            } else {
                Accessibility::default()
            },
            circumstances: if keep(Category::Circumstances) {
                self.circumstances.clone()
            } else {
                BTreeSet::new()
            },
            identifiers: if keep(Category::Identifiers) {
                self.identifiers.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Copies the parts of `categories` from `other`.
    pub fn take(&mut self, other: &Details, categories: Categories) {
        for category in categories.iter() {
            match category {
                Category::Identity => self.identity = other.identity.clone(),
                Category::Contact => self.contact = other.contact.clone(),
                Category::Address => self.addresses = other.addresses.clone(),
                Category::Preferences => self.preferences = other.preferences.clone(),
                Category::Accessibility => self.accessibility = other.accessibility.clone(),
                Category::Circumstances => self.circumstances = other.circumstances.clone(),
                Category::Identifiers => self.identifiers = other.identifiers.clone(),
            }
        }
    }
}

/// The fields inside each category that an update mask may name on their own
/// (`contact.email`); the other categories change only as a whole.
pub const SUBFIELDS: [(Category, &[&str]); 4] = [
    (
        Category::Identity,
        &[
            "given_name",
            "family_name",
            "preferred_name",
            "date_of_birth",
            "deceased_date",
        ],
    ),
    (Category::Contact, &["email", "phone"]),
    (Category::Preferences, &["language", "preferred_channel"]),
    (Category::Accessibility, &["needs", "note"]),
];

impl Details {
    /// Copies one field of `other` (a whole category when `field` is `None`).
    pub fn take_field(&mut self, other: &Details, category: Category, field: Option<&str>) {
        let (i, o) = (&mut self.identity, &other.identity);
        match (category, field) {
            (_, None) => self.take(other, [category].into_iter().collect()),
            (Category::Identity, Some("given_name")) => i.given_name = o.given_name.clone(),
            (Category::Identity, Some("family_name")) => i.family_name = o.family_name.clone(),
            (Category::Identity, Some("preferred_name")) => {
                i.preferred_name = o.preferred_name.clone()
            }
            (Category::Identity, Some("date_of_birth")) => {
                i.date_of_birth = o.date_of_birth.clone()
            }
            (Category::Identity, Some("deceased_date")) => {
                i.deceased_date = o.deceased_date.clone()
            }
            (Category::Contact, Some("email")) => self.contact.email = other.contact.email.clone(),
            (Category::Contact, Some("phone")) => self.contact.phone = other.contact.phone.clone(),
            (Category::Preferences, Some("language")) => {
                self.preferences.language = other.preferences.language
            }
            (Category::Preferences, Some("preferred_channel")) => {
                self.preferences.preferred_channel = other.preferences.preferred_channel
            }
            (Category::Accessibility, Some("needs")) => {
                self.accessibility.needs = other.accessibility.needs.clone()
            }
            (Category::Accessibility, Some("note")) => {
                self.accessibility.note = other.accessibility.note.clone()
            }
            (_, Some(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_holds_only_the_categories_it_is_for() {
        let mut details = Details::default();
        details.identity.given_name = "Marie".to_owned();
        details.contact.email = "marie@example.ca".to_owned();
        details.circumstances.insert(Circumstance::Student);
        let view = details.only([Category::Contact].into_iter().collect());
        assert_eq!(view.contact, details.contact);
        assert_eq!(view.identity, Identity::default());
        assert!(view.circumstances.is_empty());
        let mut merged = Details::default();
        merged.take(&details, [Category::Identity].into_iter().collect());
        assert_eq!(merged.identity.given_name, "Marie");
        assert!(merged.contact.email.is_empty());
        for (field, category) in FIELDS {
            assert_eq!(category_of(field), Some(category));
        }
        assert_eq!(category_of("name"), None);
        assert_eq!(
            Circumstance::from_code("veteran"),
            Some(Circumstance::Veteran)
        );
        assert!(
            AccessibilityNeed::ALL
                .iter()
                .all(|n| AccessibilityNeed::from_code(n.code()) == Some(*n))
        );
    }
}
