//! Requests of `CitizenService` into domain values: every bad field collected, named by its path
//! (`citizen.addresses[0].postal_code`), with a description that never echoes an identifier.

use std::collections::BTreeSet;

use prost_types::FieldMask;

use crate::{
    domain::{
        catalog::Channel,
        citizen::{
            Identifier, IdentifierScheme, PostalCode, Province,
            record::{
                AccessibilityNeed, Address, AddressKind, Circumstance, Details, Language,
                MAX_ADDRESSES, SUBFIELDS, category_of,
            },
            values::{Date, parse_email, parse_phone},
        },
        consent::{Categories, Category, Purpose},
        time::Timestamp,
    },
    grpc::request::Violations,
    proto::v1 as pb,
};

/// Longest name (given, family, preferred), in characters.
const MAX_NAME: usize = 100;
/// Longest address line.
const MAX_LINE: usize = 200;
/// Longest free-text note.
const MAX_NOTE: usize = 500;
/// Longest `request_id`.
pub const MAX_REQUEST_ID: usize = 64;

fn text(v: &mut Violations, field: &str, value: &str, max: usize, required: bool) -> String {
    let value = value.trim();
    if required && value.is_empty() {
        v.add(field, "is required");
    } else if value.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    } else if value.chars().any(char::is_control) {
        v.add(field, "must not contain control characters");
    }
    value.to_owned()
}

pub(crate) fn date(v: &mut Violations, field: &str, value: &str, today: &Date) -> Option<Date> {
    if value.trim().is_empty() {
        return None;
    }
    match Date::parse(value.trim()) {
        Ok(d) if d <= *today => Some(d),
        Ok(_) => {
            v.add(field, "must not be in the future");
            None
        }
        Err(e) => {
            v.add(field, e.to_string());
            None
        }
    }
}

/// Decodes one field of the record (a whole category when `sub` is `None`) from `c` into `out`.
pub fn part(
    v: &mut Violations,
    prefix: &str,
    c: &pb::Citizen,
    category: Category,
    sub: Option<&str>,
    today: &Date,
    out: &mut Details,
) {
    let wants = |name: &str| sub.is_none_or(|s| s == name);
    match category {
        Category::Identity => {
            let p = format!("{prefix}.identity");
            let i = c.identity.clone().unwrap_or_default();
            let o = &mut out.identity;
            if wants("given_name") {
                o.given_name = text(v, &format!("{p}.given_name"), &i.given_name, MAX_NAME, true);
            }
            if wants("family_name") {
                o.family_name = text(
                    v,
                    &format!("{p}.family_name"),
                    &i.family_name,
                    MAX_NAME,
                    true,
                );
            }
            if wants("preferred_name") {
                o.preferred_name = text(
                    v,
                    &format!("{p}.preferred_name"),
                    &i.preferred_name,
                    MAX_NAME,
                    false,
                );
            }
            if wants("date_of_birth") {
                o.date_of_birth = date(v, &format!("{p}.date_of_birth"), &i.date_of_birth, today);
            }
            if wants("deceased_date") {
                o.deceased_date = date(v, &format!("{p}.deceased_date"), &i.deceased_date, today);
            }
        }
        Category::Contact => {
            let k = c.contact.clone().unwrap_or_default();
            if wants("email") && !k.email.trim().is_empty() {
                match parse_email(&k.email) {
                    Ok(email) => out.contact.email = email,
                    Err(e) => v.add(format!("{prefix}.contact.email"), e.to_string()),
                }
            } else if wants("email") {
                out.contact.email.clear();
            }
            if wants("phone") && !k.phone.trim().is_empty() {
                match parse_phone(&k.phone) {
                    Ok(phone) => out.contact.phone = phone,
                    Err(e) => v.add(format!("{prefix}.contact.phone"), e.to_string()),
                }
            } else if wants("phone") {
                out.contact.phone.clear();
            }
        }
        Category::Address => out.addresses = addresses(v, prefix, &c.addresses),
        Category::Preferences => {
            let p = c.preferences.unwrap_or_default();
            if wants("language") {
                out.preferences.language = match pb::Language::try_from(p.language) {
                    Ok(pb::Language::Unspecified) => None,
                    Ok(pb::Language::English) => Some(Language::English),
                    Ok(pb::Language::French) => Some(Language::French),
                    Err(_) => {
                        v.add(
                            format!("{prefix}.preferences.language"),
                            "is not a valid value",
                        );
                        None
                    }
                };
            }
            if wants("preferred_channel") {
                out.preferences.preferred_channel = match pb::Channel::try_from(p.preferred_channel)
                {
                    Ok(pb::Channel::Unspecified) => None,
                    Ok(channel) => super::super::convert::channel_filter(channel),
                    Err(_) => {
                        v.add(
                            format!("{prefix}.preferences.preferred_channel"),
                            "is not a valid value",
                        );
                        None
                    }
                };
            }
        }
        Category::Accessibility => {
            let a = c.accessibility.clone().unwrap_or_default();
            if wants("needs") {
                out.accessibility.needs =
                    unique_enums(v, &format!("{prefix}.accessibility.needs"), &a.needs, need);
            }
            if wants("note") {
                out.accessibility.note = text(
                    v,
                    &format!("{prefix}.accessibility.note"),
                    &a.note,
                    MAX_NOTE,
                    false,
                );
            }
        }
        Category::Circumstances => {
            let declared = c.circumstances.clone().unwrap_or_default().declared;
            out.circumstances = unique_enums(
                v,
                &format!("{prefix}.circumstances.declared"),
                &declared,
                circumstance,
            );
        }
        Category::Identifiers => out.identifiers = identifiers(v, prefix, &c.identifiers),
    }
}

/// Every part of the record, as CreateCitizen takes it.
pub fn details(v: &mut Violations, prefix: &str, c: &pb::Citizen, today: &Date) -> Details {
    let mut out = Details::default();
    for category in Category::ALL {
        part(v, prefix, c, category, None, today, &mut out);
    }
    out
}

pub(crate) fn need(value: pb::AccessibilityNeed) -> Option<AccessibilityNeed> {
    use pb::AccessibilityNeed as P;
    Some(match value {
        P::Unspecified => return None,
        P::ScreenReader => AccessibilityNeed::ScreenReader,
        P::LargePrint => AccessibilityNeed::LargePrint,
        P::Braille => AccessibilityNeed::Braille,
        P::SignLanguage => AccessibilityNeed::SignLanguage,
        P::HearingAssistance => AccessibilityNeed::HearingAssistance,
        P::Mobility => AccessibilityNeed::Mobility,
        P::PlainLanguage => AccessibilityNeed::PlainLanguage,
        P::Interpreter => AccessibilityNeed::Interpreter,
    })
}

pub(crate) fn circumstance(value: pb::Circumstance) -> Option<Circumstance> {
    use pb::Circumstance as P;
    Some(match value {
        P::Unspecified => return None,
        P::Veteran => Circumstance::Veteran,
        P::Student => Circumstance::Student,
        P::Newcomer => Circumstance::Newcomer,
        P::Indigenous => Circumstance::Indigenous,
        P::Disability => Circumstance::Disability,
        P::Caregiver => Circumstance::Caregiver,
        P::Senior => Circumstance::Senior,
    })
}

/// A repeated enum whose values must be valid and distinct.
pub(crate) fn unique_enums<P: TryFrom<i32>, D: Ord + Copy>(
    v: &mut Violations,
    field: &str,
    values: &[i32],
    convert: impl Fn(P) -> Option<D>,
) -> BTreeSet<D> {
    let mut set = BTreeSet::new();
    for (i, value) in values.iter().enumerate() {
        match P::try_from(*value).ok().and_then(&convert) {
            Some(d) if set.insert(d) => {}
            Some(_) => v.add(format!("{field}[{i}]"), "is listed twice"),
            None => v.add(
                format!("{field}[{i}]"),
                format!("{value} is not a valid value"),
            ),
        }
    }
    set
}

fn addresses(v: &mut Violations, prefix: &str, list: &[pb::Address]) -> Vec<Address> {
    if list.len() > MAX_ADDRESSES {
        v.add(
            format!("{prefix}.addresses"),
            format!("at most {MAX_ADDRESSES} addresses"),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let p = format!("{prefix}.addresses[{i}]");
        let kind = match pb::AddressKind::try_from(a.kind) {
            Ok(pb::AddressKind::Residential) => Some(AddressKind::Residential),
            Ok(pb::AddressKind::Mailing) => Some(AddressKind::Mailing),
            _ => {
                v.add(
                    format!("{p}.kind"),
                    "must be ADDRESS_KIND_RESIDENTIAL or ADDRESS_KIND_MAILING",
                );
                None
            }
        };
        let line1 = text(v, &format!("{p}.line1"), &a.line1, MAX_LINE, true);
        let line2 = text(v, &format!("{p}.line2"), &a.line2, MAX_LINE, false);
        let city = text(v, &format!("{p}.city"), &a.city, MAX_NAME, true);
        let province = match Province::parse(&a.province) {
            Ok(p) => Some(p),
            Err(e) => {
                v.add(format!("{p}.province"), e.to_string());
                None
            }
        };
        let postal = match PostalCode::parse(&a.postal_code) {
            Ok(code) => Some(code),
            Err(e) => {
                v.add(format!("{p}.postal_code"), e.to_string());
                None
            }
        };
        if let (Some(province), Some(code)) = (province, &postal)
            && !code.is_in(province)
        {
            v.add(
                format!("{p}.postal_code"),
                format!("is not a postal code of {}", province.code()),
            );
        }
        if let (Some(kind), Some(province), Some(postal_code)) = (kind, province, postal) {
            out.push(Address {
                kind,
                line1,
                line2,
                city,
                province,
                postal_code,
            });
        }
    }
    out
}

/// An identifier's scheme and value (`field` names the message).
pub fn identifier(v: &mut Violations, field: &str, i: &pb::Identifier) -> Option<Identifier> {
    let scheme = match (pb::IdentifierScheme::try_from(i.scheme), i.province.trim()) {
        (Ok(pb::IdentifierScheme::Sin), "") => Some(IdentifierScheme::Sin),
        (Ok(pb::IdentifierScheme::Passport), "") => Some(IdentifierScheme::Passport),
        (Ok(pb::IdentifierScheme::HealthCard), province) => match Province::parse(province) {
            Ok(p) => Some(IdentifierScheme::HealthCard(p)),
            Err(e) => {
                v.add(
                    format!("{field}.province"),
                    format!("health cards need a province: {e}"),
                );
                None
            }
        },
        (Ok(pb::IdentifierScheme::Sin | pb::IdentifierScheme::Passport), _) => {
            v.add(
                format!("{field}.province"),
                "only health cards have a province",
            );
            None
        }
        _ => {
            v.add(
                format!("{field}.scheme"),
                "must be a scheme (SIN, HEALTH_CARD or PASSPORT)",
            );
            None
        }
    }?;
    match Identifier::parse(scheme, &i.value) {
        Ok(identifier) => Some(identifier),
        Err(e) => {
            v.add(format!("{field}.value"), e.to_string());
            None
        }
    }
}

fn identifiers(v: &mut Violations, prefix: &str, list: &[pb::Identifier]) -> Vec<Identifier> {
    let mut out: Vec<Identifier> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let field = format!("{prefix}.identifiers[{i}]");
        if let Some(identifier) = identifier(v, &field, item) {
            if out.iter().any(|o| o.scheme() == identifier.scheme()) {
                v.add(field, "at most one identifier per scheme");
            } else {
                out.push(identifier);
            }
        }
    }
    out
}

/// The paths of an update mask: unknown paths, `name` and output-only fields are violations.
pub fn update_paths(
    v: &mut Violations,
    mask: Option<&FieldMask>,
) -> Vec<(Category, Option<&'static str>)> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        v.add("update_mask", "is required: name the fields to change");
    }
    let mut out = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let field = format!("update_mask.paths[{i}]");
        let (top, sub) = match path.split_once('.') {
            Some((top, sub)) => (top, Some(sub)),
            None => (path.as_str(), None),
        };
        match (category_of(top), sub) {
            (Some(category), None) => out.push((category, None)),
            (Some(category), Some(sub)) => {
                let known = SUBFIELDS
                    .iter()
                    .find(|(c, _)| *c == category)
                    .and_then(|(_, fields)| fields.iter().find(|f| **f == sub));
                match known {
                    Some(f) => out.push((category, Some(*f))),
                    None => v.add(
                        field,
                        format!("`{path}` is not a field that can be changed"),
                    ),
                }
            }
            (None, _)
                if matches!(
                    top,
                    "name" | "etag" | "create_time" | "update_time" | "categories"
                ) =>
            {
                v.add(field, format!("`{path}` cannot be changed"))
            }
            (None, _) => v.add(field, format!("`{path}` is not a field of Citizen")),
        }
    }
    out
}

/// The categories a read mask asks for (`None` when it is empty).
pub fn read_mask(v: &mut Violations, mask: Option<&FieldMask>) -> Option<Categories> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return None;
    }
    let mut categories = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        match category_of(path) {
            Some(c) => categories.push(c),
            None if matches!(
                path.as_str(),
                "name" | "etag" | "create_time" | "update_time" | "categories"
            ) => {}
            None => v.add(
                format!("read_mask.paths[{i}]"),
                format!(
                    "`{path}` is not a top-level field of Citizen (identity, contact, addresses...)"
                ),
            ),
        }
    }
    Some(categories.into_iter().collect())
}

/// A purpose; `None` and a violation when required and unset.
pub fn purpose(v: &mut Violations, field: &str, value: i32, required: bool) -> Option<Purpose> {
    use pb::ConsentPurpose as P;
    let purpose = match P::try_from(value) {
        Ok(P::Unspecified) => None,
        Ok(P::ServiceDelivery) => Some(Purpose::ServiceDelivery),
        Ok(P::EligibilityAssessment) => Some(Purpose::EligibilityAssessment),
        Ok(P::Referral) => Some(Purpose::Referral),
        Ok(P::Prefill) => Some(Purpose::Prefill),
        Ok(P::RecordMaintenance) => Some(Purpose::RecordMaintenance),
        Ok(P::NotifyOfChanges) => Some(Purpose::NotifyOfChanges),
        Ok(P::DeidentifiedStatistics) => Some(Purpose::DeidentifiedStatistics),
        Err(_) => {
            v.add(field, format!("{value} is not a valid purpose"));
            return None;
        }
    };
    if purpose.is_none() && required {
        v.add(field, "is required: say why the data is used");
    }
    purpose
}

/// The category of a consent enum value.
pub fn category(value: pb::ConsentCategory) -> Option<Category> {
    use pb::ConsentCategory as P;
    Some(match value {
        P::Unspecified => return None,
        P::Identity => Category::Identity,
        P::Contact => Category::Contact,
        P::Address => Category::Address,
        P::Preferences => Category::Preferences,
        P::Accessibility => Category::Accessibility,
        P::Circumstances => Category::Circumstances,
        P::Identifiers => Category::Identifiers,
    })
}

/// A non-empty set of distinct categories.
pub fn categories(v: &mut Violations, field: &str, values: &[i32]) -> Categories {
    if values.is_empty() {
        v.add(field, "is required: name at least one category");
    }
    unique_enums(v, field, values, category)
        .into_iter()
        .collect()
}

/// A channel a consent can be given through.
pub fn channel(v: &mut Violations, field: &str, value: i32) -> Option<Channel> {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::Unspecified) => None,
        Ok(channel) => super::super::convert::channel_filter(channel),
        Err(_) => {
            v.add(field, format!("{value} is not a valid channel"));
            None
        }
    }
}

/// A `request_id`: empty (no idempotency) or at most 64 printable ASCII characters.
pub fn request_id(v: &mut Violations, value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if value.len() > MAX_REQUEST_ID || !value.bytes().all(|b| b.is_ascii_graphic()) {
        v.add(
            "request_id",
            format!("must be at most {MAX_REQUEST_ID} printable ASCII characters (a UUID)"),
        );
        return None;
    }
    Some(value.to_owned())
}

/// A timestamp, if set and valid.
pub fn timestamp(
    v: &mut Violations,
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Option<Timestamp> {
    let t = t?;
    if !(0..1_000_000_000).contains(&t.nanos) || !(0..=253_402_300_799).contains(&t.seconds) {
        v.add(field, "is not a valid timestamp");
        return None;
    }
    Some(Timestamp::from_unix_millis(
        t.seconds * 1000 + i64::from(t.nanos / 1_000_000),
    ))
}

/// The etag's version (`"v7"`, quotes optional).
pub fn etag(v: &mut Violations, field: &str, value: &str) -> i64 {
    let bare = value.trim().trim_matches('"');
    match bare.strip_prefix('v').and_then(|n| n.parse::<i64>().ok()) {
        Some(n) if n > 0 => n,
        _ if value.is_empty() => {
            v.add(field, "is required: send the etag of the record you read");
            0
        }
        _ => {
            v.add(field, "is not an etag of this service");
            0
        }
    }
}
