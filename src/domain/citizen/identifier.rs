//! Identifiers a citizen is known by in other systems, per scheme, with the format checks each
//! scheme allows. Values are normalised (upper case, no spaces or dashes) and never printed by
//! `Debug`: they are encrypted at rest and found only through a keyed blind index.

use std::fmt;

use super::{Province, ValueError};

/// What an identifier identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentifierScheme {
    /// Social Insurance Number: 9 digits, Luhn check digit, never starting with 0 or 8.
    Sin,
    /// A provincial or territorial health card number.
    HealthCard(Province),
    /// A Canadian passport number: 2 letters and 6 digits.
    Passport,
}

/// An identifier of a citizen under one scheme.
impl IdentifierScheme {
    /// The stable text code: `sin`, `passport`, `health-card:ON`.
    pub fn code(self) -> String {
        match self {
            IdentifierScheme::Sin => "sin".to_owned(),
            IdentifierScheme::Passport => "passport".to_owned(),
            IdentifierScheme::HealthCard(province) => format!("health-card:{}", province.code()),
        }
    }

    /// The scheme with text code `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "sin" => Some(IdentifierScheme::Sin),
            "passport" => Some(IdentifierScheme::Passport),
            _ => code
                .strip_prefix("health-card:")
                .and_then(|p| Province::parse(p).ok())
                .map(IdentifierScheme::HealthCard),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identifier {
    scheme: IdentifierScheme,
    value: String,
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identifier")
            .field("scheme", &self.scheme)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// Whether `digits` (ASCII digits) pass the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl Identifier {
    /// Parses `value` under `scheme`.
    pub fn parse(scheme: IdentifierScheme, value: &str) -> Result<Self, ValueError> {
        let value: String = value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ok = match scheme {
            IdentifierScheme::Sin => {
                value.len() == 9
                    && all_digits(&value)
                    && !value.starts_with(['0', '8'])
                    && luhn_valid(&value)
            }
            IdentifierScheme::HealthCard(province) => health_card_valid(province, &value),
            IdentifierScheme::Passport => {
                value.len() == 8
                    && value[..2].bytes().all(|b| b.is_ascii_uppercase())
                    && all_digits(&value[2..])
            }
        };
        if ok {
            Ok(Self { scheme, value })
        } else {
            Err(ValueError(rule(scheme).to_owned()))
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> IdentifierScheme {
        self.scheme
    }

    /// The normalised value (for encryption and the blind index only).
    pub fn value(&self) -> &str {
        &self.value
    }
}

fn health_card_valid(province: Province, value: &str) -> bool {
    match province {
        // 10 digits (Luhn) and an optional two-letter version code.
        Province::On => {
            let (number, version) = value.split_at(value.len().min(10));
            number.len() == 10
                && all_digits(number)
                && luhn_valid(number)
                && (version.is_empty()
                    || (version.len() == 2 && version.bytes().all(|b| b.is_ascii_uppercase())))
        }
        // RAMQ: 4 letters, 8 digits.
        Province::Qc => {
            value.len() == 12
                && value[..4].bytes().all(|b| b.is_ascii_uppercase())
                && all_digits(&value[4..])
        }
        // Personal Health Number: 10 digits starting with 9.
        Province::Bc => value.len() == 10 && all_digits(value) && value.starts_with('9'),
        // Elsewhere: 6 to 12 letters and digits (formats vary and are checked by the issuer).
        _ => (6..=12).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric()),
    }
}

fn rule(scheme: IdentifierScheme) -> &'static str {
    match scheme {
        IdentifierScheme::Sin => "must be a valid 9-digit Social Insurance Number",
        IdentifierScheme::HealthCard(Province::On) => {
            "must be an Ontario health number: 10 digits and an optional 2-letter version code"
        }
        IdentifierScheme::HealthCard(Province::Qc) => {
            "must be a RAMQ number: 4 letters and 8 digits"
        }
        IdentifierScheme::HealthCard(Province::Bc) => {
            "must be a BC Personal Health Number: 10 digits starting with 9"
        }
        IdentifierScheme::HealthCard(_) => {
            "must be a health card number of 6 to 12 letters and digits"
        }
        IdentifierScheme::Passport => "must be a Canadian passport number: 2 letters and 6 digits",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn sins_need_nine_digits_a_luhn_check_and_a_used_first_digit() {
        // Luhn-valid, but no SIN is issued starting with 0.
        assert!(Identifier::parse(IdentifierScheme::Sin, "046 454 286").is_err());
        assert!(luhn_valid("046454286"));
        let sin = Identifier::parse(IdentifierScheme::Sin, "130-692-544").expect("valid");
        assert_eq!(sin.value(), "130692544");
        assert!(!format!("{sin:?}").contains("130692544"), "redacted");
        for bad in [
            "130692545",
            "13069254",
            "1306925440",
            "830692541",
            "13069254A",
            "",
        ] {
            assert!(
                Identifier::parse(IdentifierScheme::Sin, bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn health_cards_and_passports_follow_their_formats() {
        let on = IdentifierScheme::HealthCard(Province::On);
        assert!(Identifier::parse(on, "1234 567 897 ab").is_ok());
        assert!(Identifier::parse(on, "1234567897").is_ok());
        assert!(Identifier::parse(on, "1234567890").is_err(), "Luhn");
        let qc = IdentifierScheme::HealthCard(Province::Qc);
        assert!(Identifier::parse(qc, "TREM 1234 5678").is_ok());
        assert!(Identifier::parse(qc, "TRE1 1234 5678").is_err());
        let bc = IdentifierScheme::HealthCard(Province::Bc);
        assert!(Identifier::parse(bc, "9123456789").is_ok());
        assert!(Identifier::parse(bc, "1123456789").is_err());
        assert!(Identifier::parse(IdentifierScheme::Passport, "ab123456").is_ok());
        assert!(Identifier::parse(IdentifierScheme::Passport, "A1234567").is_err());
    }

    proptest! {
        #[test]
        fn changing_one_digit_of_a_valid_sin_breaks_its_check(first in 1u8..8, body in 0u32..10_000_000, pos in 0usize..9, delta in 1u8..10) {
            // Build a valid SIN: first digit, 7 digits, then the Luhn check digit.
            let stem = format!("{first}{body:07}");
            let check = (0..10).find(|d| luhn_valid(&format!("{stem}{d}"))).expect("a check digit");
            let sin = format!("{stem}{check}");
            prop_assert!(Identifier::parse(IdentifierScheme::Sin, &sin).is_ok());
            let mut digits: Vec<u8> = sin.bytes().collect();
            digits[pos] = b'0' + (digits[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(digits).expect("ascii");
            prop_assert!(!luhn_valid(&changed));
        }
    }
}
