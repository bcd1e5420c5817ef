//! The rules an answer can break, each with a stable reason (`BadRequest.field_violations[].reason`)
//! and a message in both official languages.

/// A language of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    /// The language an `accept-language` header asks for: French when it prefers `fr` (by quality,
    /// then order) over `en`; English otherwise.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("fr") => Lang::Fr,
                Some("en") => Lang::En,
                _ => continue,
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// The BCP 47 tag of `LocalizedMessage.locale`.
    pub fn locale(self) -> &'static str {
        match self {
            Lang::En => "en-CA",
            Lang::Fr => "fr-CA",
        }
    }
}

/// A rule an answer broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// No field has this key (or path).
    UnknownField,
    /// The field is answered twice.
    Duplicate,
    /// The field is hidden by its condition.
    Hidden,
    /// A required field is not answered.
    Required,
    /// The value member does not fit the field's type (`expected` names it).
    WrongType {
        expected: &'static str,
    },
    TooShort {
        min: u32,
    },
    TooLong {
        max: u32,
    },
    /// Text with control characters (other than line breaks in long text).
    ControlCharacters,
    BelowMinimum {
        min: String,
    },
    AboveMaximum {
        max: String,
    },
    NotADecimal,
    Pattern,
    NotAChoice {
        value: String,
    },
    /// A single choice answered with other than one value, or a value listed twice.
    ChoiceCount,
    TooFewChoices {
        min: u32,
    },
    TooManyChoices {
        max: u32,
    },
    Email,
    Phone,
    PostalCode,
    Date,
    TooEarly {
        earliest: String,
    },
    TooLate {
        latest: String,
    },
    /// An address part is missing or invalid (`part` names it).
    Address {
        part: &'static str,
    },
    /// The postal code is not of the address's province.
    PostalCodeProvince,
    /// An identifier of another scheme, or one whose format is wrong.
    Identifier,
    BankAccount {
        part: &'static str,
    },
    /// A group item is missing before this one (items are numbered from 0 without gaps).
    ItemGap,
    TooManyItems {
        max: u32,
    },
    /// A group is answered through its fields, never directly.
    GroupValue,
    /// Too many answers in one call.
    TooManyAnswers {
        max: usize,
    },
}

impl Rule {
    /// The stable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Rule::UnknownField => "UNKNOWN_FIELD",
            Rule::Duplicate => "DUPLICATE_ANSWER",
            Rule::Hidden => "HIDDEN_FIELD",
            Rule::Required => "REQUIRED",
            Rule::WrongType { .. } => "WRONG_TYPE",
            Rule::TooShort { .. } => "TOO_SHORT",
            Rule::TooLong { .. } => "TOO_LONG",
            Rule::ControlCharacters => "CONTROL_CHARACTERS",
            Rule::BelowMinimum { .. } => "BELOW_MINIMUM",
            Rule::AboveMaximum { .. } => "ABOVE_MAXIMUM",
            Rule::NotADecimal => "NOT_A_DECIMAL",
            Rule::Pattern => "PATTERN",
            Rule::NotAChoice { .. } => "NOT_A_CHOICE",
            Rule::ChoiceCount => "CHOICE_COUNT",
            Rule::TooFewChoices { .. } => "TOO_FEW_CHOICES",
            Rule::TooManyChoices { .. } => "TOO_MANY_CHOICES",
            Rule::Email => "INVALID_EMAIL",
            Rule::Phone => "INVALID_PHONE",
            Rule::PostalCode => "INVALID_POSTAL_CODE",
            Rule::Date => "INVALID_DATE",
            Rule::TooEarly { .. } => "TOO_EARLY",
            Rule::TooLate { .. } => "TOO_LATE",
            Rule::Address { .. } => "INVALID_ADDRESS",
            Rule::PostalCodeProvince => "POSTAL_CODE_PROVINCE",
            Rule::Identifier => "INVALID_IDENTIFIER",
            Rule::BankAccount { .. } => "INVALID_BANK_ACCOUNT",
            Rule::ItemGap => "ITEM_GAP",
            Rule::TooManyItems { .. } => "TOO_MANY_ITEMS",
            Rule::GroupValue => "GROUP_VALUE",
            Rule::TooManyAnswers { .. } => "TOO_MANY_ANSWERS",
        }
    }

    /// The message in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        let (en, fr) = self.texts();
        match lang {
            Lang::En => en,
            Lang::Fr => fr,
        }
    }

    fn texts(&self) -> (String, String) {
        let s = |en: &str, fr: &str| (en.to_owned(), fr.to_owned());
        match self {
            Rule::UnknownField => s(
                "no field of this form has this key",
                "aucun champ de ce formulaire ne porte cette clé",
            ),
            Rule::Duplicate => s("is answered more than once", "a reçu plus d'une réponse"),
            Rule::Hidden => s(
                "is not shown for these answers, so it must not be answered",
                "n'est pas affiché pour ces réponses et ne doit donc pas recevoir de réponse",
            ),
            Rule::Required => s("is required", "est obligatoire"),
            Rule::WrongType { expected } => (
                format!("must be answered with `{expected}`"),
                format!("doit recevoir une réponse de type `{expected}`"),
            ),
            Rule::TooShort { min } => (
                format!("must be at least {min} characters"),
                format!("doit compter au moins {min} caractères"),
            ),
            Rule::TooLong { max } => (
                format!("must be at most {max} characters"),
                format!("doit compter au plus {max} caractères"),
            ),
            Rule::ControlCharacters => s(
                "must not contain control characters",
                "ne doit pas contenir de caractères de contrôle",
            ),
            Rule::BelowMinimum { min } => (
                format!("must be at least {min}"),
                format!("doit être au moins {min}"),
            ),
            Rule::AboveMaximum { max } => (
                format!("must be at most {max}"),
                format!("doit être au plus {max}"),
            ),
            Rule::NotADecimal => s(
                "must be a decimal number such as 12.50 (at most 6 decimal places)",
                "doit être un nombre décimal tel que 12.50 (au plus 6 décimales)",
            ),
            Rule::Pattern => s(
                "is not in the expected format",
                "n'est pas dans le format attendu",
            ),
            Rule::NotAChoice { value } => (
                format!("`{value}` is not one of the choices"),
                format!("« {value} » ne fait pas partie des choix"),
            ),
            Rule::ChoiceCount => s(
                "must be exactly one of the choices, each chosen once",
                "doit être un seul des choix, chacun choisi une fois",
            ),
            Rule::TooFewChoices { min } => (
                format!("must have at least {min} choices"),
                format!("doit compter au moins {min} choix"),
            ),
            Rule::TooManyChoices { max } => (
                format!("must have at most {max} choices"),
                format!("doit compter au plus {max} choix"),
            ),
            Rule::Email => s(
                "must be an email address such as name@example.ca",
                "doit être une adresse courriel telle que nom@exemple.ca",
            ),
            Rule::Phone => s(
                "must be a 10-digit telephone number such as 613-555-0199",
                "doit être un numéro de téléphone à 10 chiffres tel que 613-555-0199",
            ),
            Rule::PostalCode => s(
                "must be a Canadian postal code such as K1A 0B1",
                "doit être un code postal canadien tel que K1A 0B1",
            ),
            Rule::Date => s("must be a date YYYY-MM-DD", "doit être une date AAAA-MM-JJ"),
            Rule::TooEarly { earliest } => (
                format!("must be on or after {earliest}"),
                format!("doit être le {earliest} ou après"),
            ),
            Rule::TooLate { latest } => (
                format!("must be on or before {latest}"),
                format!("doit être le {latest} ou avant"),
            ),
            Rule::Address { part } => (
                format!("the address's {part} is missing or invalid"),
                format!("l'élément « {part} » de l'adresse est manquant ou invalide"),
            ),
            Rule::PostalCodeProvince => s(
                "the postal code is not of the address's province",
                "le code postal ne correspond pas à la province de l'adresse",
            ),
            Rule::Identifier => s(
                "is not a valid identifier of the field's scheme",
                "n'est pas un identifiant valide du type demandé",
            ),
            Rule::BankAccount { part } => (
                format!(
                    "the bank account's {part} is invalid (institution: 3 digits, transit: 5 digits, account: 7 to 12 digits)"
                ),
                format!(
                    "l'élément « {part} » du compte bancaire est invalide (institution : 3 chiffres, transit : 5 chiffres, compte : 7 à 12 chiffres)"
                ),
            ),
            Rule::ItemGap => s(
                "items are numbered from 0 without gaps, and an earlier item is missing",
                "les éléments sont numérotés à partir de 0 sans saut, et un élément précédent manque",
            ),
            Rule::TooManyItems { max } => (
                format!("may have at most {max} items"),
                format!("peut compter au plus {max} éléments"),
            ),
            Rule::GroupValue => s(
                "is a group: answer its fields (`group[0].field`) instead",
                "est un groupe : répondez plutôt à ses champs (`groupe[0].champ`)",
            ),
            Rule::TooManyAnswers { max } => (
                format!("at most {max} answers"),
                format!("au plus {max} réponses"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_french_only_when_preferred() {
        for (header, lang) in [
            ("", Lang::En),
            ("fr", Lang::Fr),
            ("fr-CA,fr;q=0.9,en;q=0.8", Lang::Fr),
            ("en-CA,fr;q=0.5", Lang::En),
            ("de, fr;q=0.4", Lang::Fr),
            ("fr;q=0, en", Lang::En),
            ("*", Lang::En),
        ] {
            assert_eq!(Lang::from_accept_language(header), lang, "{header}");
        }
    }

    #[test]
    fn every_rule_has_a_reason_and_two_messages() {
        let rule = Rule::TooLong { max: 5 };
        assert_eq!(rule.reason(), "TOO_LONG");
        assert_eq!(rule.message(Lang::En), "must be at most 5 characters");
        assert_eq!(rule.message(Lang::Fr), "doit compter au plus 5 caractères");
    }
}
