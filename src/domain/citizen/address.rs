//! Canadian provinces and territories, and postal codes (`A1A 1A1`).

use std::fmt;

use super::ValueError;

/// A province or territory, by its Canada Post code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Province {
    Ab,
    Bc,
    Mb,
    Nb,
    Nl,
    Ns,
    Nt,
    Nu,
    On,
    Pe,
    Qc,
    Sk,
    Yt,
}

impl Province {
    /// Every province and territory.
    pub const ALL: [Province; 13] = [
        Province::Ab,
        Province::Bc,
        Province::Mb,
        Province::Nb,
        Province::Nl,
        Province::Ns,
        Province::Nt,
        Province::Nu,
        Province::On,
        Province::Pe,
        Province::Qc,
        Province::Sk,
        Province::Yt,
    ];

    /// The two-letter code (`ON`).
    pub fn code(self) -> &'static str {
        match self {
            Province::Ab => "AB",
            Province::Bc => "BC",
            Province::Mb => "MB",
            Province::Nb => "NB",
            Province::Nl => "NL",
            Province::Ns => "NS",
            Province::Nt => "NT",
            Province::Nu => "NU",
            Province::On => "ON",
            Province::Pe => "PE",
            Province::Qc => "QC",
            Province::Sk => "SK",
            Province::Yt => "YT",
        }
    }

    /// The province of a two-letter code, in any case.
    pub fn parse(code: &str) -> Result<Self, ValueError> {
        let upper = code.trim().to_ascii_uppercase();
        Province::ALL
            .into_iter()
            .find(|p| p.code() == upper)
            .ok_or_else(|| {
                ValueError("must be a province or territory code such as ON, QC or BC".to_owned())
            })
    }

    /// The provinces whose postal codes start with `letter` (X is shared by NT and NU).
    fn of_first_letter(letter: char) -> &'static [Province] {
        match letter {
            'A' => &[Province::Nl],
            'B' => &[Province::Ns],
            'C' => &[Province::Pe],
            'E' => &[Province::Nb],
            'G' | 'H' | 'J' => &[Province::Qc],
            'K' | 'L' | 'M' | 'N' | 'P' => &[Province::On],
            'R' => &[Province::Mb],
            'S' => &[Province::Sk],
            'T' => &[Province::Ab],
            'V' => &[Province::Bc],
            'X' => &[Province::Nt, Province::Nu],
            'Y' => &[Province::Yt],
            _ => &[],
        }
    }
}

/// A Canadian postal code, kept as `A1A 1A1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostalCode(String);

/// Letters Canada Post never uses in postal codes (D, F, I, O, Q, U; W and Z never first).
const NEVER: &[char] = &['D', 'F', 'I', 'O', 'Q', 'U'];

impl PostalCode {
    /// Parses `K1A 0B1`, `k1a0b1` or `K1A-0B1`.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let compact: Vec<char> = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bad = || ValueError("must be a Canadian postal code such as K1A 0B1".to_owned());
        if compact.len() != 6 {
            return Err(bad());
        }
        let shape_ok = compact.iter().enumerate().all(|(i, c)| {
            if i % 2 == 0 {
                c.is_ascii_uppercase() && !NEVER.contains(c)
            } else {
                c.is_ascii_digit()
            }
        });
        if !shape_ok || matches!(compact[0], 'W' | 'Z') {
            return Err(bad());
        }
        let code: String = compact[..3]
            .iter()
            .chain([&' '])
            .chain(&compact[3..])
            .collect();
        Ok(Self(code))
    }

    /// The code as `A1A 1A1`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The forward sortation area (the first three characters).
    pub fn area(&self) -> &str {
        &self.0[..3]
    }

    /// Whether the code belongs to `province` (by its first letter).
    pub fn is_in(&self, province: Province) -> bool {
        self.0
            .chars()
            .next()
            .is_some_and(|c| Province::of_first_letter(c).contains(&province))
    }
}

impl fmt::Display for PostalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_are_normalised_and_checked_against_their_province() {
        let code = PostalCode::parse(" k1a0b1 ").expect("Parliament Hill");
        assert_eq!(code.as_str(), "K1A 0B1");
        assert_eq!(code.area(), "K1A");
        assert!(code.is_in(Province::On) && !code.is_in(Province::Qc));
        assert!(
            PostalCode::parse("X0A-0H0")
                .expect("Iqaluit")
                .is_in(Province::Nu)
        );
        assert_eq!(
            PostalCode::parse("H2X 1Y4").expect("Montréal").as_str(),
            "H2X 1Y4"
        );
        for bad in [
            "", "K1A 0B", "K1A 0B11", "11A 0B1", "D1A 0B1", "K1O 0B1", "W1A 0B1", "Z1A 0B1",
            "K1A OB1",
        ] {
            assert!(PostalCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn provinces_parse_by_code_in_any_case() {
        for province in Province::ALL {
            assert_eq!(
                Province::parse(&province.code().to_lowercase()),
                Ok(province)
            );
        }
        assert!(Province::parse("QB").is_err());
        assert!(Province::parse("").is_err());
    }
}
