//! AIP-style resource names: `agencies/{agency}`, `services/{service}`,
//! `services/{service}/standards/{standard}`, `lifeEvents/{life_event}`.
//!
//! Ids are kept as published and are case-sensitive: 1 to 128 characters, no `/`, no control
//! characters, no leading or trailing space (the inventory has standard ids such as `Not Available`).

use std::fmt;

/// Why a resource name was refused; the message is safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError(pub String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collections of the catalogue.
pub const AGENCIES: &str = "agencies";
pub const SERVICES: &str = "services";
pub const STANDARDS: &str = "standards";
pub const LIFE_EVENTS: &str = "lifeEvents";

/// Whether `id` is a valid id.
pub fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.chars().count())
        && id.trim() == id
        && !id.chars().any(|c| c == '/' || c.is_control())
}

/// The id in `{collection}/{id}`.
pub fn parse(name: &str, collection: &str) -> Result<String, NameError> {
    let expected = || NameError(format!("must be of the form `{collection}/{{id}}`"));
    let id = name
        .strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(expected)?;
    if valid_id(id) {
        Ok(id.to_owned())
    } else {
        Err(expected())
    }
}

/// The (service id, standard id) in `services/{service}/standards/{standard}`.
pub fn parse_standard(name: &str) -> Result<(String, String), NameError> {
    let expected =
        || NameError("must be of the form `services/{service}/standards/{standard}`".to_owned());
    let mut parts = name.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(SERVICES), Some(service), Some(STANDARDS), Some(standard), None)
            if valid_id(service) && valid_id(standard) =>
        {
            Ok((service.to_owned(), standard.to_owned()))
        }
        _ => Err(expected()),
    }
}

/// `{collection}/{id}`.
pub fn format(collection: &str, id: &str) -> String {
    format!("{collection}/{id}")
}

/// `services/{service}/standards/{standard}`.
pub fn format_standard(service_id: &str, standard_id: &str) -> String {
    format!("{SERVICES}/{service_id}/{STANDARDS}/{standard_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_well_formed_names_and_keeps_case() {
        assert_eq!(parse("services/SRV03054", SERVICES).unwrap(), "SRV03054");
        assert_eq!(parse("agencies/esdc-edsc", AGENCIES).unwrap(), "esdc-edsc");
        assert_eq!(
            parse_standard("services/975/standards/Not Available").unwrap(),
            ("975".to_owned(), "Not Available".to_owned())
        );
        assert_eq!(
            parse_standard("services/1003/standards/42").unwrap(),
            ("1003".to_owned(), "42".to_owned())
        );
    }

    #[test]
    fn refuses_malformed_names() {
        for bad in [
            "",
            "services/",
            "services",
            "agencies/1003",
            "services/a/b",
            "services/ a",
            "services/a ",
            "services/a\nb",
            "Services/1",
        ] {
            assert!(parse(bad, SERVICES).is_err(), "{bad:?} was accepted");
        }
        for bad in [
            "services/1/standards",
            "services/1/standards/",
            "services/1/x/2",
            "services/1/standards/2/3",
        ] {
            assert!(parse_standard(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
