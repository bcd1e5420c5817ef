//! Dates, email addresses and telephone numbers of the record, parsed into valid values.

use std::fmt;

use super::ValueError;
use crate::domain::calendar::CivilDate;

/// A calendar date, `YYYY-MM-DD`, between 1850 and 2200.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(String);

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        _ => 28,
    }
}

impl Date {
    /// The date `text` names.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let bad = || ValueError("must be a date `YYYY-MM-DD`".to_owned());
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let number = |range: std::ops::Range<usize>| -> Result<u32, ValueError> {
            let part = &text[range];
            if part.bytes().all(|b| b.is_ascii_digit()) {
                part.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        if !(1850..=2200).contains(&year)
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
        {
            return Err(bad());
        }
        Ok(Self(text.to_owned()))
    }

    /// `YYYY-MM-DD`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The UTC calendar date of `unix_millis`.
pub fn date_of(unix_millis: i64) -> Date {
    let d = CivilDate::from_days(unix_millis.div_euclid(86_400_000));
    Date(format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
}

/// An email address: `local@domain`, at most 254 characters, no spaces, a dot in the domain.
pub fn parse_email(text: &str) -> Result<String, ValueError> {
    let text = text.trim();
    let bad = || ValueError("must be an email address such as name@example.ca".to_owned());
    let (local, domain) = text.rsplit_once('@').ok_or_else(bad)?;
    let ok = text.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(text.to_owned()) } else { Err(bad()) }
}

/// A North American telephone number, returned as `+1XXXXXXXXXX`.
pub fn parse_phone(text: &str) -> Result<String, ValueError> {
    let bad = || ValueError("must be a 10-digit telephone number such as 613-555-0199".to_owned());
    if text
        .chars()
        .any(|c| !(c.is_ascii_digit() || " +-.()".contains(c)))
    {
        return Err(bad());
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let national = match digits.len() {
        10 => digits.as_str(),
        11 if digits.starts_with('1') => &digits[1..],
        _ => return Err(bad()),
    };
    // Area codes and exchanges never start with 0 or 1.
    if national.starts_with(['0', '1']) || national[3..].starts_with(['0', '1']) {
        return Err(bad());
    }
    Ok(format!("+1{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked_against_the_calendar() {
        assert_eq!(
            Date::parse("2024-02-29").expect("leap").as_str(),
            "2024-02-29"
        );
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "24-01-01",
            "2024-01-32",
            "1849-12-31",
            "2024/01/01",
            "２０２４-01-01",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(date_of(0).as_str(), "1970-01-01");
        assert_eq!(date_of(951_782_400_000).as_str(), "2000-02-29");
        assert_eq!(date_of(-86_400_000).as_str(), "1969-12-31");
    }

    #[test]
    fn emails_and_phones_are_normalised_or_refused() {
        assert_eq!(
            parse_email(" marie@example.ca ").expect("email"),
            "marie@example.ca"
        );
        for bad in [
            "",
            "marie",
            "marie@",
            "@example.ca",
            "marie@example",
            "ma rie@example.ca",
            "marie@.ca",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_phone("(613) 555-0199").expect("phone"),
            "+16135550199"
        );
        assert_eq!(
            parse_phone("+1 613.555.0199").expect("phone"),
            "+16135550199"
        );
        for bad in [
            "",
            "555-0199",
            "013-555-0199",
            "613-055-0199",
            "613-555-01999",
            "613-555-O199",
        ] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }
}
