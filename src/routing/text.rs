//! Normalised text for phrase matching, and which language a need is written in.

/// Lower case, accents folded, apostrophes and punctuation turned into spaces, single spaces,
/// padded with one space at each end so that ` phrase ` matches whole words only.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = fold(c);
        if c.is_alphanumeric() {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if !space {
        out.push(' ');
    }
    out
}

/// The unaccented letter of a Latin accented one.
fn fold(c: char) -> char {
    match c {
        'à' | 'â' | 'ä' | 'á' | 'ã' => 'a',
        'ç' => 'c',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'î' | 'ï' | 'í' | 'ì' => 'i',
        'ô' | 'ö' | 'ó' | 'ò' | 'õ' => 'o',
        'û' | 'ü' | 'ù' | 'ú' => 'u',
        'ÿ' => 'y',
        'ñ' => 'n',
        'œ' => 'o',
        'æ' => 'a',
        _ => c,
    }
}

/// The language a need is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedLanguage {
    English,
    French,
    Mixed,
}

/// Words that only occur in running English text.
const ENGLISH: &[&str] = &[
    "the", "and", "my", "i", "is", "are", "to", "of", "for", "with", "what", "how", "where", "who",
    "can", "do", "does", "need", "want", "have", "has", "was", "it", "this", "that", "our", "we",
    "me", "am", "get", "from", "about", "if", "or", "not", "be", "an", "in", "on", "at", "you",
    "your", "they", "them", "his", "her", "she", "he", "there", "when", "which", "would", "should",
];

/// Words that only occur in running French text.
const FRENCH: &[&str] = &[
    "le", "la", "les", "des", "du", "un", "une", "et", "est", "mon", "ma", "mes", "je", "j",
    "pour", "avec", "dans", "sur", "qui", "que", "quoi", "comment", "ou", "où", "pas", "ne",
    "nous", "vous", "il", "elle", "ils", "au", "aux", "ce", "cette", "mais", "suis", "ai", "avoir",
    "faire", "veux", "besoin", "quel", "quelle", "notre", "votre", "leur", "son", "sa", "ses", "d",
    "l", "qu", "c", "pis", "chez", "aussi", "fait", "peux", "dois", "puis", "moi",
];

/// Reads the need's function words: clearly one language, or both.
pub fn detect(text: &str) -> NeedLanguage {
    let lower = text.to_lowercase();
    let words = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty());
    let (mut en, mut fr) = (0usize, 0usize);
    for word in words {
        // `a`, `on`, `in`... exist in both; only count words of one language.
        let is_en = ENGLISH.contains(&word);
        let is_fr = FRENCH.contains(&word);
        en += usize::from(is_en && !is_fr);
        fr += usize::from(is_fr && !is_en);
    }
    fr += lower
        .chars()
        .filter(|c| "éèêàçùûôîœ".contains(*c))
        .count()
        .min(3);
    if en >= 2 && fr >= 2 && en.min(fr) * 3 >= en.max(fr) {
        NeedLanguage::Mixed
    } else if fr > en {
        NeedLanguage::French
    } else {
        NeedLanguage::English
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_folds_case_accents_and_punctuation() {
        assert_eq!(normalize("Mon PÈRE est décédé!"), " mon pere est decede ");
        assert_eq!(normalize("l'assurance-emploi"), " l assurance emploi ");
        assert_eq!(normalize("  "), " ");
    }

    #[test]
    fn languages_are_told_apart_by_their_function_words() {
        assert_eq!(
            detect("I lost my job and need money"),
            NeedLanguage::English
        );
        assert_eq!(
            detect("J'ai perdu mon emploi, comment faire une demande?"),
            NeedLanguage::French
        );
        assert_eq!(
            detect("I need help with my demande de passeport pour mon fils"),
            NeedLanguage::Mixed
        );
    }
}
