//! Repairs of published text: double-encoded UTF-8 (`MÃ©tis` read back as `Métis`) and the
//! quoted program-name lists of the inventory.

use std::borrow::Cow;

/// Undoes UTF-8 that was decoded as Windows-1252 and encoded again (`MÃ©tis`, `â€“`), sequence by
/// sequence, leaving correct text untouched. Returns whether anything changed with the text.
pub fn repair_double_encoding(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| matches!(c, '\u{C2}'..='\u{F4}')) {
        return Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some((decoded, used)) = decode_sequence(&chars[i..]) {
            out.push(decoded);
            i += used;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    if out == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(out)
    }
}

fn decode_sequence(chars: &[char]) -> Option<(char, usize)> {
    let lead = cp1252_byte(*chars.first()?)?;
    let len = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let mut bytes = vec![lead];
    for c in chars.get(1..len)? {
        let b = cp1252_byte(*c)?;
        if !(0x80..=0xBF).contains(&b) {
            return None;
        }
        bytes.push(b);
    }
    let decoded = std::str::from_utf8(&bytes).ok()?.chars().next()?;
    Some((decoded, len))
}

/// The Windows-1252 byte that decodes to `c`, if any.
fn cp1252_byte(c: char) -> Option<u8> {
    const HIGH: [(char, u8); 27] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('ƒ', 0x83),
        ('„', 0x84),
        ('…', 0x85),
        ('†', 0x86),
        ('‡', 0x87),
        ('ˆ', 0x88),
        ('‰', 0x89),
        ('Š', 0x8A),
        ('‹', 0x8B),
        ('Œ', 0x8C),
        ('Ž', 0x8E),
        ('‘', 0x91),
        ('’', 0x92),
        ('“', 0x93),
        ('”', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('˜', 0x98),
        ('™', 0x99),
        ('š', 0x9A),
        ('›', 0x9B),
        ('œ', 0x9C),
        ('ž', 0x9E),
        ('Ÿ', 0x9F),
    ];
    let code = u32::from(c);
    if code < 0x80
        || (0xA0..=0xFF).contains(&code)
        || matches!(code, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D)
    {
        return u8::try_from(code).ok();
    }
    HIGH.iter().find(|(ch, _)| *ch == c).map(|(_, b)| *b)
}

/// Splits a published list of quoted names (`'A', 'B'` or `"A", "B"`) into its names. Text without
/// quotes is one name.
pub fn quoted_list(s: &str) -> Vec<String> {
    let s = s.trim();
    if !s.starts_with(['\'', '"']) {
        return if s.is_empty() {
            Vec::new()
        } else {
            vec![s.to_owned()]
        };
    }
    let mut names = Vec::new();
    let mut rest = s;
    while let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let body = &rest[1..];
        // The closing quote is the one followed by a comma or the end.
        let end = body
            .match_indices(quote)
            .map(|(i, _)| i)
            .find(|&i| {
                body[i + 1..].trim_start().is_empty() || body[i + 1..].trim_start().starts_with(',')
            })
            .unwrap_or(body.len());
        names.push(body[..end].trim().to_owned());
        rest = body.get(end + 1..).unwrap_or("").trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_double_encoded_sequences_only() {
        assert_eq!(repair_double_encoding("MÃ©tis artists"), "Métis artists");
        assert_eq!(repair_double_encoding("changed â€“ as"), "changed – as");
        assert_eq!(repair_double_encoding("CIRNACâ€™s"), "CIRNAC’s");
        assert_eq!(
            repair_double_encoding("reÃ§us Ã\u{a0} tous"),
            "reçus à tous"
        );
        assert_eq!(repair_double_encoding("Métis déjà reçu"), "Métis déjà reçu");
    }

    #[test]
    fn splits_quoted_program_lists() {
        assert_eq!(
            quoted_list("'Information Management Services'"),
            ["Information Management Services"]
        );
        assert_eq!(quoted_list("'A', 'B'"), ["A", "B"]);
        assert_eq!(
            quoted_list("\"Services de gestion de l'information\""),
            ["Services de gestion de l'information"]
        );
        assert_eq!(quoted_list("\"l'un\", 'B'"), ["l'un", "B"]);
        assert!(quoted_list("").is_empty());
    }
}
