//! The shared citizen record's values, each parsed from raw input into a valid value or refused
//! with a reason safe to show (`parse` functions; no storage, no transport).

pub mod address;
pub mod identifier;
pub mod matching;
pub mod record;
pub mod representation;
pub mod values;

pub use address::{PostalCode, Province};
pub use identifier::{Identifier, IdentifierScheme};

/// Why a value was refused; the text names the rule, never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub String);

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}
