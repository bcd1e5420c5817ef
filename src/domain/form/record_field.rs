//! The parts of the citizen's record a form field can be prefilled from and write back to, with
//! the consent category each belongs to and the field type that fits it.

use super::{FieldType, SchemeKind, Value};
use crate::domain::{
    citizen::{
        IdentifierScheme,
        record::{Address, AddressKind, Details, Language},
        values::Date,
    },
    codes::coded_enum,
    consent::Category,
};

coded_enum! {
    /// A part of the record, by the path a field's `prefill` names.
    pub enum RecordField {
        GivenName => "identity.given_name",
        FamilyName => "identity.family_name",
        PreferredName => "identity.preferred_name",
        DateOfBirth => "identity.date_of_birth",
        Email => "contact.email",
        Phone => "contact.phone",
        ResidentialAddress => "addresses.residential",
        MailingAddress => "addresses.mailing",
        ResidentialPostalCode => "addresses.residential.postal_code",
        Language => "preferences.language",
        Sin => "identifiers.sin",
        Passport => "identifiers.passport",
    }
}

impl RecordField {
    /// The consent category it belongs to.
    pub fn category(self) -> Category {
        use RecordField as F;
        match self {
            F::GivenName | F::FamilyName | F::PreferredName | F::DateOfBirth => Category::Identity,
            F::Email | F::Phone => Category::Contact,
            F::ResidentialAddress | F::MailingAddress | F::ResidentialPostalCode => {
                Category::Address
            }
            F::Language => Category::Preferences,
            F::Sin | F::Passport => Category::Identifiers,
        }
    }

    /// Whether a field of `kind` (with `scheme`, for identifiers) fits it.
    pub fn fits(self, kind: FieldType, scheme: Option<SchemeKind>) -> bool {
        use RecordField as F;
        match self {
            F::GivenName | F::FamilyName | F::PreferredName => kind == FieldType::ShortText,
            F::DateOfBirth => kind == FieldType::Date,
            F::Email => kind == FieldType::Email,
            F::Phone => kind == FieldType::Phone,
            F::ResidentialAddress | F::MailingAddress => kind == FieldType::Address,
            F::ResidentialPostalCode => kind == FieldType::PostalCode,
            F::Language => kind == FieldType::SingleChoice,
            F::Sin => kind == FieldType::Identifier && scheme == Some(SchemeKind::Sin),
            F::Passport => kind == FieldType::Identifier && scheme == Some(SchemeKind::Passport),
        }
    }

    /// What a field that names it must be, for messages.
    pub fn fitting(self) -> &'static str {
        use RecordField as F;
        match self {
            F::GivenName | F::FamilyName | F::PreferredName => "FIELD_TYPE_SHORT_TEXT",
            F::DateOfBirth => "FIELD_TYPE_DATE",
            F::Email => "FIELD_TYPE_EMAIL",
            F::Phone => "FIELD_TYPE_PHONE",
            F::ResidentialAddress | F::MailingAddress => "FIELD_TYPE_ADDRESS",
            F::ResidentialPostalCode => "FIELD_TYPE_POSTAL_CODE",
            F::Language => "FIELD_TYPE_SINGLE_CHOICE with the choices `en` and `fr`",
            F::Sin => "FIELD_TYPE_IDENTIFIER of IDENTIFIER_SCHEME_SIN",
            F::Passport => "FIELD_TYPE_IDENTIFIER of IDENTIFIER_SCHEME_PASSPORT",
        }
    }

    /// The most characters the record keeps in it, for text parts.
    pub fn max_chars(self) -> Option<u32> {
        match self {
            RecordField::GivenName | RecordField::FamilyName | RecordField::PreferredName => {
                Some(100)
            }
            _ => None,
        }
    }

    /// Whether an answer may be written back to it.
    pub fn writable(self) -> bool {
        self != RecordField::ResidentialPostalCode
    }

    fn address_kind(self) -> Option<AddressKind> {
        match self {
            RecordField::ResidentialAddress | RecordField::ResidentialPostalCode => {
                Some(AddressKind::Residential)
            }
            RecordField::MailingAddress => Some(AddressKind::Mailing),
            _ => None,
        }
    }

    fn scheme(self) -> Option<IdentifierScheme> {
        match self {
            RecordField::Sin => Some(IdentifierScheme::Sin),
            RecordField::Passport => Some(IdentifierScheme::Passport),
            _ => None,
        }
    }

    /// The record's value of it, if the record holds one.
    pub fn read(self, details: &Details) -> Option<Value> {
        use RecordField as F;
        let text = |s: &str| (!s.is_empty()).then(|| Value::Text(s.to_owned()));
        let (identity, contact) = (&details.identity, &details.contact);
        let address = |kind| details.addresses.iter().find(|a: &&Address| a.kind == kind);
        match self {
            F::GivenName => text(&identity.given_name),
            F::FamilyName => text(&identity.family_name),
            F::PreferredName => text(&identity.preferred_name),
            F::DateOfBirth => identity.date_of_birth.clone().map(Value::Date),
            F::Email => text(&contact.email),
            F::Phone => text(&contact.phone),
            F::ResidentialAddress | F::MailingAddress => {
                address(self.address_kind()?).cloned().map(Value::Address)
            }
            F::ResidentialPostalCode => address(AddressKind::Residential)
                .map(|a| Value::Text(a.postal_code.as_str().to_owned())),
            F::Language => details
                .preferences
                .language
                .map(|l| Value::Choices(vec![l.code().to_owned()])),
            F::Sin | F::Passport => {
                let scheme = self.scheme()?;
                details
                    .identifiers
                    .iter()
                    .find(|i| i.scheme() == scheme)
                    .cloned()
                    .map(Value::Identifier)
            }
        }
    }

    /// Writes `value` into `details`; whether it changed anything. Values of another shape are
    /// ignored (the definition check makes them impossible).
    pub fn write(self, details: &mut Details, value: &Value) -> bool {
        use RecordField as F;
        let before = details.clone();
        let identity = &mut details.identity;
        match (self, value) {
            (F::GivenName, Value::Text(t)) => identity.given_name = t.clone(),
            (F::FamilyName, Value::Text(t)) => identity.family_name = t.clone(),
            (F::PreferredName, Value::Text(t)) => identity.preferred_name = t.clone(),
            (F::DateOfBirth, Value::Date(d)) => identity.date_of_birth = Some(Date::clone(d)),
            (F::Email, Value::Text(t)) => details.contact.email = t.clone(),
            (F::Phone, Value::Text(t)) => details.contact.phone = t.clone(),
            (F::ResidentialAddress | F::MailingAddress, Value::Address(a)) => {
                let Some(kind) = self.address_kind() else {
                    return false;
                };
                let address = Address { kind, ..a.clone() };
                match details.addresses.iter_mut().find(|x| x.kind == kind) {
                    Some(slot) => *slot = address,
                    None => details.addresses.push(address),
                }
            }
            (F::Language, Value::Choices(values)) => {
                if let Some(language) = values.first().and_then(|v| Language::from_code(v)) {
                    details.preferences.language = Some(language);
                }
            }
            (F::Sin | F::Passport, Value::Identifier(i)) => {
                match details
                    .identifiers
                    .iter_mut()
                    .find(|x| x.scheme() == i.scheme())
                {
                    Some(slot) => *slot = i.clone(),
                    None => details.identifiers.push(i.clone()),
                }
            }
            _ => {}
        }
        *details != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::citizen::{PostalCode, Province};

    #[test]
    fn a_written_value_reads_back_and_a_second_write_changes_nothing() {
        let mut details = Details::default();
        let address = Address {
            kind: AddressKind::Residential,
            line1: "24 Sussex Dr".into(),
            line2: String::new(),
            city: "Ottawa".into(),
            province: Province::parse("ON").unwrap(),
            postal_code: PostalCode::parse("K1M 1M4").unwrap(),
        };
        let mailing = Value::Address(address.clone());
        assert!(RecordField::MailingAddress.write(&mut details, &mailing));
        assert!(!RecordField::MailingAddress.write(&mut details, &mailing));
        let Some(Value::Address(read)) = RecordField::MailingAddress.read(&details) else {
            panic!("no mailing address");
        };
        assert_eq!(read.kind, AddressKind::Mailing, "the path decides the kind");
        assert_eq!(RecordField::ResidentialAddress.read(&details), None);
        assert!(RecordField::Email.write(&mut details, &Value::Text("a@b.ca".into())));
        assert_eq!(
            RecordField::Email.read(&details),
            Some(Value::Text("a@b.ca".into()))
        );
        for field in RecordField::ALL {
            assert_eq!(RecordField::from_code(field.code()), Some(*field));
        }
    }
}
