//! Graded matching of a person to citizen records, as FindCitizen answers it (after FHIR
//! `Patient/$match`): an identifier match is certain; agreement on both names and the date of
//! birth is probable; weaker agreement is possible; anything less is no match. Names are compared
//! folded: case, accents, spaces, hyphens and apostrophes do not count ("Côté-Lévesque" is
//! "cote levesque").

use super::PostalCode;

/// How sure a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    Possible,
    Probable,
    Certain,
}

/// What is known of a person (a query) or held in a record (a candidate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traits {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub postal_code: Option<PostalCode>,
    /// Blind indexes of the identifiers (scheme-separated, so equal means same scheme and value).
    pub identifier_indexes: Vec<[u8; 32]>,
}

/// `name` folded for comparison: lower case, accents removed, only letters, single spaces.
pub fn fold_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut space = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            'œ' => {
                out.push('o');
                'e'
            }
            'æ' => {
                out.push('a');
                'e'
            }
            other => other,
        };
        if c.is_alphabetic() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            out.push(c);
            space = false;
        } else {
            space = true;
        }
    }
    out
}

fn same_name(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            let (a, b) = (fold_name(a), fold_name(b));
            !a.is_empty() && a == b
        }
        _ => false,
    }
}

fn same<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a == b)
}

/// How well `candidate` matches `query`, if at all.
pub fn grade(query: &Traits, candidate: &Traits) -> Option<Grade> {
    if query
        .identifier_indexes
        .iter()
        .any(|i| candidate.identifier_indexes.contains(i))
    {
        return Some(Grade::Certain);
    }
    let given = same_name(&query.given_name, &candidate.given_name);
    let family = same_name(&query.family_name, &candidate.family_name);
    let born = same(&query.date_of_birth, &candidate.date_of_birth);
    let postal = same(&query.postal_code, &candidate.postal_code);
    match (given, family, born, postal) {
        (true, true, true, _) | (_, true, true, true) => Some(Grade::Probable),
        (_, true, true, false) | (_, _, true, true) | (true, true, false, true) => {
            Some(Grade::Possible)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(given: &str, family: &str, born: &str, postal: &str) -> Traits {
        Traits {
            given_name: Some(given.to_owned()),
            family_name: Some(family.to_owned()),
            date_of_birth: Some(born.to_owned()),
            postal_code: PostalCode::parse(postal).ok(),
            identifier_indexes: Vec::new(),
        }
    }

    #[test]
    fn names_fold_case_accents_and_punctuation() {
        assert_eq!(fold_name("  Côté-Lévesque "), "cote levesque");
        assert_eq!(fold_name("O'Brien"), "o brien");
        assert_eq!(fold_name("ŒUVRE"), "oeuvre");
        assert_eq!(fold_name("123"), "");
    }

    #[test]
    fn grades_follow_the_evidence() {
        let record = person("Marie-Ève", "Tremblay", "1985-03-14", "G1R 4P5");
        let mut by_sin = Traits::default();
        by_sin.identifier_indexes.push([3; 32]);
        let mut held = record.clone();
        held.identifier_indexes.push([3; 32]);
        assert_eq!(grade(&by_sin, &held), Some(Grade::Certain));
        assert_eq!(
            grade(
                &person("marie eve", "TREMBLAY", "1985-03-14", "H2X 1Y4"),
                &record
            ),
            Some(Grade::Probable)
        );
        assert_eq!(
            grade(
                &person("Marie", "Tremblay", "1985-03-14", "H2X 1Y4"),
                &record
            ),
            Some(Grade::Possible)
        );
        assert_eq!(
            grade(&person("Jean", "Roy", "1985-03-14", "G1R4P5"), &record),
            Some(Grade::Possible),
            "same birth date and postal code"
        );
        assert_eq!(
            grade(&person("Jean", "Roy", "1990-01-01", "G1R 4P5"), &record),
            None
        );
        assert_eq!(
            grade(&Traits::default(), &record),
            None,
            "nothing known matches nothing"
        );
    }
}
