//! Common forms: a definition of typed fields with constraints and conditions, checked whole when
//! it is written ([`check`]), and the answers checked against it the same way for every channel
//! ([`validate`]), with messages in both official languages ([`rules`]). Fields may name the part
//! of the citizen's record that prefills them ([`record_field`]); the FHIR R4 shapes of a
//! definition and of answers are in [`fhir`].

pub mod check;
pub mod record_field;
pub mod rules;
pub mod validate;
pub mod value;

use crate::domain::{catalog::Text, codes::coded_enum, time::Timestamp};

pub use record_field::RecordField;
pub use value::{BankAccount, Decimal, Value};

coded_enum! {
    /// The type of a field's answer.
    pub enum FieldType {
        ShortText => "short-text",
        LongText => "long-text",
        Integer => "integer",
        Decimal => "decimal",
        Boolean => "boolean",
        Date => "date",
        SingleChoice => "single-choice",
        MultipleChoice => "multiple-choice",
        Email => "email",
        Phone => "phone",
        PostalCode => "postal-code",
        Address => "address",
        Identifier => "identifier",
        BankAccount => "bank-account",
        Group => "group",
    }
}

impl FieldType {
    /// Whether answers are free text (length and pattern limits apply).
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::ShortText | FieldType::LongText)
    }

    /// Whether answers are numbers (range limits apply).
    pub fn is_number(self) -> bool {
        matches!(self, FieldType::Integer | FieldType::Decimal)
    }

    /// Whether answers pick among choices.
    pub fn is_choice(self) -> bool {
        matches!(self, FieldType::SingleChoice | FieldType::MultipleChoice)
    }

    /// Whether answers are ordered (greater-than and less-than clauses apply).
    pub fn is_ordered(self) -> bool {
        self.is_number() || self == FieldType::Date
    }

    /// Whether answers are sealed at rest (identifiers and bank accounts).
    pub fn is_sealed(self) -> bool {
        matches!(self, FieldType::Identifier | FieldType::BankAccount)
    }
}

coded_enum! {
    /// The scheme an identifier field takes.
    pub enum SchemeKind { Sin => "sin", HealthCard => "health-card", Passport => "passport" }
}

/// A choice of a choice field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub label: Text,
}

/// A date bound: a fixed date, or today moved by an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateBound {
    /// A date.
    Fixed(jiff::civil::Date),
    /// Today plus `amount` of `unit` (negative: before).
    Today { amount: i32, unit: DateUnit },
}

impl DateBound {
    /// The bound `text` writes: `YYYY-MM-DD`, `today`, or `today` with a signed offset in days,
    /// months or years (`today-18y`, `today+30d`, at most 4 digits).
    pub fn parse(text: &str) -> Option<Self> {
        let Some(rest) = text.strip_prefix("today") else {
            crate::domain::citizen::values::Date::parse(text).ok()?;
            return text.parse().ok().map(DateBound::Fixed);
        };
        if rest.is_empty() {
            return Some(DateBound::Today {
                amount: 0,
                unit: DateUnit::Days,
            });
        }
        let sign = match rest.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (digits, unit) = rest[1..].split_at(rest.len().saturating_sub(2));
        let unit = match unit {
            "d" => DateUnit::Days,
            "m" => DateUnit::Months,
            "y" => DateUnit::Years,
            _ => return None,
        };
        if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(DateBound::Today {
            amount: sign * digits.parse::<i32>().ok()?,
            unit,
        })
    }
}

/// The unit of a relative date bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateUnit {
    Days,
    Months,
    Years,
}

/// Limits on an answer; each applies to the types the proto says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    pub min_length: Option<u32>,
    pub max_length: Option<u32>,
    pub minimum: Option<Decimal>,
    pub maximum: Option<Decimal>,
    /// The pattern as written (compiled by [`check`]).
    pub pattern: Option<String>,
    /// The bounds as written (`today-18y`) and parsed.
    pub earliest: Option<(String, DateBound)>,
    pub latest: Option<(String, DateBound)>,
    pub min_choices: Option<u32>,
    pub max_choices: Option<u32>,
}

impl Constraints {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }
}

coded_enum! {
    /// How a condition's clauses combine.
    pub enum Combine { All => "all", Any => "any" }
}

coded_enum! {
    /// How a clause compares another field's answer.
    pub enum Operator {
        Equals => "equals",
        NotEquals => "not-equals",
        In => "in",
        GreaterThan => "greater-than",
        LessThan => "less-than",
        Exists => "exists",
        NotExists => "not-exists",
    }
}

/// A test on another field's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub field: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// A condition on other answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub combine: Combine,
    pub clauses: Vec<Clause>,
}

/// A field of a form, as its owner wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub key: String,
    pub kind: FieldType,
    pub label: Text,
    pub help: Text,
    pub required: bool,
    pub constraints: Constraints,
    pub choices: Vec<Choice>,
    /// For identifier fields.
    pub scheme: Option<SchemeKind>,
    /// For groups.
    pub fields: Vec<Field>,
    pub repeatable: bool,
    /// For repeatable groups: the most items (0: the default).
    pub max_items: u32,
    pub show_when: Option<Condition>,
    pub require_when: Option<Condition>,
    pub prefill: Option<RecordField>,
    pub write_back: bool,
}

/// The most items of a repeatable group when it does not say.
pub const DEFAULT_MAX_ITEMS: u32 = 10;

impl Field {
    /// A field of `kind` with nothing else set (for building definitions in code).
    pub fn new(key: &str, kind: FieldType, label: Text) -> Self {
        Self {
            key: key.to_owned(),
            kind,
            label,
            help: Text::default(),
            required: false,
            constraints: Constraints::default(),
            choices: Vec::new(),
            scheme: None,
            fields: Vec::new(),
            repeatable: false,
            max_items: 0,
            show_when: None,
            require_when: None,
            prefill: None,
            write_back: false,
        }
    }

    /// How many items a group's answers may hold.
    pub fn item_limit(&self) -> u32 {
        match (self.repeatable, self.max_items) {
            (false, _) => 1,
            (true, 0) => DEFAULT_MAX_ITEMS,
            (true, n) => n,
        }
    }
}

/// A form's text and fields: what a version holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Definition {
    pub title: Text,
    pub description: Text,
    pub fields: Vec<Field>,
}

impl Definition {
    /// Every field, depth first, with its path of keys from the top.
    pub fn walk(&self) -> Vec<(Vec<&str>, &Field)> {
        fn go<'a>(
            fields: &'a [Field],
            at: &mut Vec<&'a str>,
            out: &mut Vec<(Vec<&'a str>, &'a Field)>,
        ) {
            for f in fields {
                at.push(&f.key);
                out.push((at.clone(), f));
                go(&f.fields, at, out);
                at.pop();
            }
        }
        let mut out = Vec::new();
        go(&self.fields, &mut Vec::new(), &mut out);
        out
    }

    /// The field with `key`, anywhere in the form.
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.walk()
            .into_iter()
            .find(|(_, f)| f.key == key)
            .map(|(_, f)| f)
    }
}

coded_enum! {
    /// Where a version stands.
    pub enum VersionState { Draft => "draft", Published => "published", Retired => "retired" }
}

/// A stored version of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormVersion {
    pub form_id: String,
    pub number: i64,
    pub owner: String,
    pub definition: Definition,
    pub state: VersionState,
    /// For a retired version: the version to use.
    pub replacement: Option<i64>,
    /// Bumped by every change of this version; the etag is derived from it.
    pub revision: i64,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub published: Option<Timestamp>,
}

impl FormVersion {
    /// `forms/{form}/versions/{n}`.
    pub fn name(&self) -> String {
        version_name(&self.form_id, self.number)
    }

    /// `"{n}-{revision}"` quoted: what clients send back to change this version.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.number, self.revision)
    }
}

/// `forms/{form}/versions/{n}`.
pub fn version_name(form_id: &str, number: i64) -> String {
    format!("forms/{form_id}/versions/{number}")
}

/// A service a form is linked to, and who linked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub service: String,
    pub agency: String,
    pub at: Timestamp,
}

/// Whether `id` is a form id: 3 to 63 of `a-z`, `0-9` and `-`, starting with a letter, not ending
/// with `-`.
pub fn valid_form_id(id: &str) -> bool {
    (3..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `key` is a field key: 1 to 64 of `a-z`, `0-9` and `_`, starting with a letter.
pub fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `value` is a choice value: 1 to 64 of `a-z`, `0-9`, `-` and `_`.
pub fn valid_choice_value(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;
