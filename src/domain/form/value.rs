//! Answer values: what a caller sends ([`Raw`]), what a checked answer holds ([`Value`]), and the
//! one text form a value is stored in.

use std::fmt;

use crate::domain::citizen::{
    Identifier, IdentifierScheme, PostalCode, Province,
    record::{Address, AddressKind},
    values::Date,
};

/// An exact decimal: at most 18 digits before the point and 6 after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(i128);

const SCALE: i128 = 1_000_000;

impl Decimal {
    /// The decimal `text` writes (`-12.50`, `3`, `0.125`); `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > 18
            || fraction.len() > 6
            || !all_digits(whole)
            || !all_digits(fraction)
            || (digits.contains('.') && fraction.is_empty())
        {
            return None;
        }
        let whole: i128 = whole.parse().ok()?;
        let mut scaled = format!("{fraction:0<6}").parse::<i128>().ok()?;
        scaled += whole * SCALE;
        Some(Self(if negative { -scaled } else { scaled }))
    }

    /// The decimal of an integer.
    pub fn from_integer(n: i64) -> Self {
        Self(i128::from(n) * SCALE)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, fraction) = (abs / SCALE as u128, abs % SCALE as u128);
        if fraction == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let fraction = format!("{fraction:06}");
            write!(f, "{sign}{whole}.{}", fraction.trim_end_matches('0'))
        }
    }
}

/// A Canadian bank account for direct deposit. `Debug` never shows the numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct BankAccount {
    pub institution: String,
    pub transit: String,
    pub account: String,
}

impl fmt::Debug for BankAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BankAccount([redacted])")
    }
}

/// An answer as a caller sent it, before it is checked against its field.
#[derive(Clone, PartialEq, Eq)]
pub enum Raw {
    /// No value member was set.
    Missing,
    Text(String),
    Integer(i64),
    Decimal(String),
    Boolean(bool),
    Choices(Vec<String>),
    Address {
        line1: String,
        line2: String,
        city: String,
        province: String,
        postal_code: String,
    },
    Identifier {
        /// The scheme as sent (`None`: unspecified), with the province for health cards.
        scheme: Option<super::SchemeKind>,
        province: String,
        value: String,
    },
    BankAccount(BankAccount),
}

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Answers are citizens' data: only their shape is printed.
        f.write_str(match self {
            Raw::Missing => "Missing",
            Raw::Text(_) => "Text(..)",
            Raw::Integer(_) => "Integer(..)",
            Raw::Decimal(_) => "Decimal(..)",
            Raw::Boolean(_) => "Boolean(..)",
            Raw::Choices(_) => "Choices(..)",
            Raw::Address { .. } => "Address(..)",
            Raw::Identifier { .. } => "Identifier(..)",
            Raw::BankAccount(_) => "BankAccount(..)",
        })
    }
}

/// A checked answer, normalised.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// Short and long text, and the normalised email, phone and postal code.
    Text(String),
    Integer(i64),
    Decimal(Decimal),
    Boolean(bool),
    Date(Date),
    /// The chosen values, in the field's order.
    Choices(Vec<String>),
    /// An address (its kind is residential unless the record field it prefills says mailing).
    Address(Address),
    Identifier(Identifier),
    BankAccount(BankAccount),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Value::Text(_) => "Text(..)",
            Value::Integer(_) => "Integer(..)",
            Value::Decimal(_) => "Decimal(..)",
            Value::Boolean(_) => "Boolean(..)",
            Value::Date(_) => "Date(..)",
            Value::Choices(_) => "Choices(..)",
            Value::Address(_) => "Address(..)",
            Value::Identifier(_) => "Identifier(..)",
            Value::BankAccount(_) => "BankAccount(..)",
        })
    }
}

/// Why a stored value could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable;

impl Value {
    /// The one text form a value is stored in (sealed for identifiers and bank accounts).
    pub fn stored(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Integer(n) => n.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Date(d) => d.as_str().to_owned(),
            Value::Choices(values) => values.join(" "),
            Value::Address(a) => [
                a.kind.code(),
                &a.line1,
                &a.line2,
                &a.city,
                a.province.code(),
                a.postal_code.as_str(),
            ]
            .join("\n"),
            Value::Identifier(i) => format!("{}\n{}", i.scheme().code(), i.value()),
            Value::BankAccount(b) => format!("{}-{}-{}", b.institution, b.transit, b.account),
        }
    }

    /// The value of `kind` stored as `text` by [`Value::stored`].
    pub fn from_stored(kind: super::FieldType, text: &str) -> Result<Self, Unreadable> {
        use super::FieldType as T;
        Ok(match kind {
            T::ShortText | T::LongText | T::Email | T::Phone | T::PostalCode => {
                Value::Text(text.to_owned())
            }
            T::Integer => Value::Integer(text.parse().map_err(|_| Unreadable)?),
            T::Decimal => Value::Decimal(Decimal::parse(text).ok_or(Unreadable)?),
            T::Boolean => Value::Boolean(text.parse().map_err(|_| Unreadable)?),
            T::Date => Value::Date(Date::parse(text).map_err(|_| Unreadable)?),
            T::SingleChoice | T::MultipleChoice => Value::Choices(
                text.split(' ')
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            T::Address => {
                let parts: Vec<&str> = text.split('\n').collect();
                let [kind, line1, line2, city, province, postal] = parts[..] else {
                    return Err(Unreadable);
                };
                Value::Address(Address {
                    kind: AddressKind::from_code(kind).ok_or(Unreadable)?,
                    line1: line1.to_owned(),
                    line2: line2.to_owned(),
                    city: city.to_owned(),
                    province: Province::parse(province).map_err(|_| Unreadable)?,
                    postal_code: PostalCode::parse(postal).map_err(|_| Unreadable)?,
                })
            }
            T::Identifier => {
                let (scheme, value) = text.split_once('\n').ok_or(Unreadable)?;
                let scheme = IdentifierScheme::from_code(scheme).ok_or(Unreadable)?;
                Value::Identifier(Identifier::parse(scheme, value).map_err(|_| Unreadable)?)
            }
            T::BankAccount => {
                let mut parts = text.split('-');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some(i), Some(t), Some(a), None) => Value::BankAccount(BankAccount {
                        institution: i.to_owned(),
                        transit: t.to_owned(),
                        account: a.to_owned(),
                    }),
                    _ => return Err(Unreadable),
                }
            }
            T::Group => return Err(Unreadable),
        })
    }

    /// The value as condition values are written: text, a number, `true`/`false`, a date.
    pub fn as_condition_text(&self) -> Option<String> {
        match self {
            Value::Text(t) => Some(t.clone()),
            Value::Integer(n) => Some(n.to_string()),
            Value::Decimal(d) => Some(d.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            Value::Date(d) => Some(d.as_str().to_owned()),
            Value::Choices(_)
            | Value::Address(_)
            | Value::Identifier(_)
            | Value::BankAccount(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly_and_print_without_trailing_zeros() {
        for (text, shown) in [
            ("12.50", "12.5"),
            ("-0.5", "-0.5"),
            ("3", "3"),
            ("0.000001", "0.000001"),
            ("007", "7"),
        ] {
            assert_eq!(
                Decimal::parse(text).map(|d| d.to_string()).as_deref(),
                Some(shown)
            );
        }
        for bad in [
            "",
            "-",
            "1.",
            ".5",
            "1.2.3",
            "1e3",
            "0.0000001",
            "1,5",
            " 1",
            "+1",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
        assert!(Decimal::parse("-2").unwrap() < Decimal::parse("1.5").unwrap());
        assert_eq!(Decimal::from_integer(4), Decimal::parse("4.000").unwrap());
    }

    #[test]
    fn a_stored_value_reads_back_as_itself() {
        use super::super::FieldType as T;
        let values = [
            (T::ShortText, Value::Text("Marie".into())),
            (T::Integer, Value::Integer(-4)),
            (T::Decimal, Value::Decimal(Decimal::parse("2.25").unwrap())),
            (T::Boolean, Value::Boolean(true)),
            (T::Date, Value::Date(Date::parse("2026-02-28").unwrap())),
            (
                T::MultipleChoice,
                Value::Choices(vec!["a".into(), "b-c".into()]),
            ),
            (
                T::Address,
                Value::Address(Address {
                    kind: AddressKind::Mailing,
                    line1: "1 Main St".into(),
                    line2: String::new(),
                    city: "Ottawa".into(),
                    province: Province::parse("ON").unwrap(),
                    postal_code: PostalCode::parse("K1A 0B1").unwrap(),
                }),
            ),
            (
                T::Identifier,
                Value::Identifier(Identifier::parse(IdentifierScheme::Sin, "130 692 544").unwrap()),
            ),
            (
                T::BankAccount,
                Value::BankAccount(BankAccount {
                    institution: "004".into(),
                    transit: "12345".into(),
                    account: "1234567".into(),
                }),
            ),
        ];
        for (kind, value) in values {
            assert_eq!(
                Value::from_stored(kind, &value.stored()),
                Ok(value.clone()),
                "{kind:?}"
            );
        }
        assert_eq!(format!("{:?}", Raw::Text("secret".into())), "Text(..)");
    }
}
