//! What routing knows of a citizen (the context) and the structured eligibility rules it checks
//! against it. A rule the context cannot decide is unknown, never failed.

use std::collections::BTreeSet;

use super::{
    catalog::{Channel, Text},
    citizen::{
        Province,
        record::{AccessibilityNeed, Circumstance, Language},
    },
};

/// Age from which a person counts as a senior.
pub const SENIOR_AGE: u32 = 65;

/// Where the citizen lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residence {
    InCanada,
    Abroad,
}

/// Who a need is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientKind {
    Person,
    Business,
    NonProfit,
    Government,
}

/// Who a service is for, as the routing knowledge records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Audience {
    Persons,
    Businesses,
    NonProfits,
    Governments,
    PublicServants,
}

impl Audience {
    /// Parses `persons`, `businesses`, `non_profits`, `governments`, `public_servants`.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "persons" => Audience::Persons,
            "businesses" => Audience::Businesses,
            "non_profits" => Audience::NonProfits,
            "governments" => Audience::Governments,
            "public_servants" => Audience::PublicServants,
            _ => return None,
        })
    }

    /// Whether a service for this audience serves `client`.
    pub fn serves(self, client: ClientKind) -> bool {
        matches!(
            (self, client),
            (Audience::Persons, ClientKind::Person)
                | (Audience::Businesses, ClientKind::Business)
                | (Audience::NonProfits, ClientKind::NonProfit)
                | (Audience::Governments, ClientKind::Government)
                | (Audience::PublicServants, ClientKind::Government)
        )
    }
}

/// What is known of the citizen; everything optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub province: Option<Province>,
    pub residence: Option<Residence>,
    pub age: Option<u32>,
    pub client: Option<ClientKind>,
    pub language: Option<Language>,
    pub preferred_channel: Option<Channel>,
    pub accessibility: BTreeSet<AccessibilityNeed>,
    pub circumstances: BTreeSet<Circumstance>,
}

impl Context {
    /// `self` with what it does not know taken from `fallback`; sets are joined.
    pub fn or(mut self, fallback: Context) -> Context {
        self.province = self.province.or(fallback.province);
        self.residence = self.residence.or(fallback.residence);
        self.age = self.age.or(fallback.age);
        self.client = self.client.or(fallback.client);
        self.language = self.language.or(fallback.language);
        self.preferred_channel = self.preferred_channel.or(fallback.preferred_channel);
        self.accessibility.extend(fallback.accessibility);
        self.circumstances.extend(fallback.circumstances);
        self
    }

    /// Whether the citizen has `circumstance`: declared, or (for seniors) implied by the age.
    /// `None` when the context cannot say.
    fn has(&self, circumstance: Circumstance) -> Option<bool> {
        if self.circumstances.contains(&circumstance) {
            return Some(true);
        }
        match (circumstance, self.age) {
            (Circumstance::Senior, Some(age)) => Some(age >= SENIOR_AGE),
            _ => None,
        }
    }
}

/// Age in whole years on `today` of someone born on `born` (both `YYYY-MM-DD`).
pub fn age_on(born: &str, today: &str) -> Option<u32> {
    let parts = |d: &str| -> Option<(u32, u32, u32)> {
        Some((
            d.get(0..4)?.parse().ok()?,
            d.get(5..7)?.parse().ok()?,
            d.get(8..10)?.parse().ok()?,
        ))
    };
    let (by, bm, bd) = parts(born)?;
    let (ty, tm, td) = parts(today)?;
    let years = ty.checked_sub(by)?;
    Some(if (tm, td) < (bm, bd) {
        years.checked_sub(1)?
    } else {
        years
    })
}

/// Structured eligibility of a service where the program is public knowledge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eligibility {
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    /// Only residents of these (empty: no restriction).
    pub provinces: Vec<Province>,
    /// Not residents of these.
    pub not_provinces: Vec<Province>,
    /// At least one of these (empty: no restriction).
    pub circumstances: Vec<Circumstance>,
    pub residence: Option<Residence>,
    /// The rule in one sentence.
    pub rule: Text,
}

/// Outcome of one check, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Met,
    Unknown,
    Failed,
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub rule: Text,
    pub status: Status,
    pub explanation: Text,
}

fn text(en: String, fr: String) -> Text {
    Text { en, fr }
}

fn provinces(list: &[Province]) -> String {
    list.iter().map(|p| p.code()).collect::<Vec<_>>().join(", ")
}

impl Eligibility {
    /// Each structured rule checked against `context`, in a fixed order (age, province,
    /// residence, circumstances).
    pub fn check(&self, context: &Context) -> Vec<Check> {
        let mut checks = Vec::new();
        if self.min_age.is_some() || self.max_age.is_some() {
            checks.push(self.check_age(context.age));
        }
        if !self.provinces.is_empty() || !self.not_provinces.is_empty() {
            checks.push(self.check_province(context.province));
        }
        if let Some(residence) = self.residence {
            checks.push(check_residence(residence, context.residence));
        }
        if !self.circumstances.is_empty() {
            checks.push(self.check_circumstances(context));
        }
        checks
    }

    fn check_age(&self, age: Option<u32>) -> Check {
        let (rule_en, rule_fr) = match (self.min_age, self.max_age) {
            (Some(min), Some(max)) => (
                format!("For people aged {min} to {max}"),
                format!("Pour les personnes de {min} à {max} ans"),
            ),
            (Some(min), None) => (
                format!("For people aged {min} and over"),
                format!("Pour les personnes de {min} ans et plus"),
            ),
            (None, Some(max)) => (
                format!("For people aged {max} and under"),
                format!("Pour les personnes de {max} ans et moins"),
            ),
            (None, None) => (String::new(), String::new()),
        };
        let (status, explanation) = match age {
            None => (
                Status::Unknown,
                text(
                    "Your age is not known".to_owned(),
                    "Votre âge n'est pas connu".to_owned(),
                ),
            ),
            Some(age) => {
                let fits =
                    self.min_age.is_none_or(|m| age >= m) && self.max_age.is_none_or(|m| age <= m);
                let status = if fits { Status::Met } else { Status::Failed };
                let (en, fr) = if fits {
                    ("which you meet", "ce qui vous correspond")
                } else {
                    ("which you do not meet", "ce qui ne vous correspond pas")
                };
                (
                    status,
                    text(
                        format!("You are {age}: {}, {en}", rule_en.to_lowercase()),
                        format!("Vous avez {age} ans : {}, {fr}", rule_fr.to_lowercase()),
                    ),
                )
            }
        };
        Check {
            rule: text(rule_en, rule_fr),
            status,
            explanation,
        }
    }

    fn check_province(&self, province: Option<Province>) -> Check {
        let rule = if self.provinces.is_empty() {
            let list = provinces(&self.not_provinces);
            text(
                format!("Not for residents of {list}"),
                format!("Pas pour les résidents de {list}"),
            )
        } else {
            let list = provinces(&self.provinces);
            text(
                format!("Only for residents of {list}"),
                format!("Seulement pour les résidents de {list}"),
            )
        };
        let (status, explanation) = match province {
            None => (
                Status::Unknown,
                text(
                    "Your province or territory is not known".to_owned(),
                    "Votre province ou territoire n'est pas connu".to_owned(),
                ),
            ),
            Some(p) => {
                let fits = (self.provinces.is_empty() || self.provinces.contains(&p))
                    && !self.not_provinces.contains(&p);
                let code = p.code();
                if fits {
                    (
                        Status::Met,
                        text(
                            format!("You live in {code}, which it serves"),
                            format!("Vous habitez {code}, où le service est offert"),
                        ),
                    )
                } else {
                    (
                        Status::Failed,
                        text(
                            format!("You live in {code}, which it does not serve"),
                            format!("Vous habitez {code}, où le service n'est pas offert"),
                        ),
                    )
                }
            }
        };
        Check {
            rule,
            status,
            explanation,
        }
    }

    fn check_circumstances(&self, context: &Context) -> Check {
        let list = self
            .circumstances
            .iter()
            .map(|c| c.code())
            .collect::<Vec<_>>()
            .join(", ");
        let rule = text(
            format!("For people who are: {list}"),
            format!("Pour les personnes dans l'une de ces situations : {list}"),
        );
        let answers: Vec<Option<bool>> =
            self.circumstances.iter().map(|c| context.has(*c)).collect();
        let (status, explanation) = if answers.contains(&Some(true)) {
            (
                Status::Met,
                text(
                    "Your circumstances match".to_owned(),
                    "Votre situation correspond".to_owned(),
                ),
            )
        } else if answers.iter().all(|a| *a == Some(false)) {
            (
                Status::Failed,
                text(
                    "Your circumstances do not match".to_owned(),
                    "Votre situation ne correspond pas".to_owned(),
                ),
            )
        } else {
            (
                Status::Unknown,
                text(
                    format!("Not known whether you are: {list}"),
                    format!("On ne sait pas si vous êtes dans l'une de ces situations : {list}"),
                ),
            )
        };
        Check {
            rule,
            status,
            explanation,
        }
    }
}

fn check_residence(wanted: Residence, known: Option<Residence>) -> Check {
    let rule = match wanted {
        Residence::InCanada => text(
            "For people living in Canada".to_owned(),
            "Pour les personnes qui vivent au Canada".to_owned(),
        ),
        Residence::Abroad => text(
            "For people living outside Canada".to_owned(),
            "Pour les personnes qui vivent à l'extérieur du Canada".to_owned(),
        ),
    };
    let (status, explanation) = match known {
        None => (
            Status::Unknown,
            text(
                "Where you live is not known".to_owned(),
                "Votre lieu de résidence n'est pas connu".to_owned(),
            ),
        ),
        Some(r) if r == wanted => (
            Status::Met,
            text(
                "Where you live matches".to_owned(),
                "Votre lieu de résidence correspond".to_owned(),
            ),
        ),
        Some(_) => (
            Status::Failed,
            text(
                "Where you live does not match".to_owned(),
                "Votre lieu de résidence ne correspond pas".to_owned(),
            ),
        ),
    };
    Check {
        rule,
        status,
        explanation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oas() -> Eligibility {
        Eligibility {
            min_age: Some(65),
            ..Eligibility::default()
        }
    }

    #[test]
    fn age_is_counted_in_whole_years() {
        assert_eq!(age_on("1960-06-15", "2026-06-14"), Some(65));
        assert_eq!(age_on("1960-06-15", "2026-06-15"), Some(66));
        assert_eq!(age_on("2030-01-01", "2026-06-15"), None);
    }

    #[test]
    fn an_unknown_age_is_unknown_and_a_young_one_fails() {
        assert_eq!(oas().check(&Context::default())[0].status, Status::Unknown);
        let young = Context {
            age: Some(40),
            ..Context::default()
        };
        let check = &oas().check(&young)[0];
        assert_eq!(check.status, Status::Failed);
        assert!(
            check.explanation.en.contains("40"),
            "{:?}",
            check.explanation
        );
    }

    #[test]
    fn provinces_excluded_fail_and_others_pass() {
        let cpp = Eligibility {
            not_provinces: vec![Province::Qc],
            ..Eligibility::default()
        };
        let at = |p| Context {
            province: Some(p),
            ..Context::default()
        };
        assert_eq!(cpp.check(&at(Province::Qc))[0].status, Status::Failed);
        assert_eq!(cpp.check(&at(Province::On))[0].status, Status::Met);
    }

    #[test]
    fn seniors_follow_from_age_and_other_circumstances_are_unknown_unless_declared() {
        let rule = Eligibility {
            circumstances: vec![Circumstance::Senior, Circumstance::Veteran],
            ..Eligibility::default()
        };
        let young = Context {
            age: Some(30),
            ..Context::default()
        };
        assert_eq!(rule.check(&young)[0].status, Status::Unknown);
        let veteran = Context {
            circumstances: [Circumstance::Veteran].into(),
            ..young.clone()
        };
        assert_eq!(rule.check(&veteran)[0].status, Status::Met);
        let only_seniors = Eligibility {
            circumstances: vec![Circumstance::Senior],
            ..Eligibility::default()
        };
        assert_eq!(only_seniors.check(&young)[0].status, Status::Failed);
    }
}
