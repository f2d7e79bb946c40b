//! Text helpers the readers share: keyword forms, words, letters.

/// Upper-cased, with the OCR slips that matter for keywords mended
/// (`T0TAL`, `TOTA1`, `ToTAL:`).
pub(crate) fn keyword_form(line: &str) -> String {
    let up: String = line.to_uppercase().chars().map(fold).collect();
    let mut words: Vec<String> = Vec::new();
    for w in up.split(|c: char| c.is_whitespace() || c == ':') {
        if w.is_empty() {
            continue;
        }
        let letters = w.chars().filter(|c| c.is_ascii_alphabetic()).count();
        // Mend digits inside words that are mostly letters.
        let mended: String = if letters * 2 >= w.len() {
            w.chars()
                .map(|c| match c {
                    '0' => 'O',
                    '1' => 'L',
                    '5' => 'S',
                    _ => c,
                })
                .collect()
        } else {
            w.to_owned()
        };
        // A lower-case l read for a capital I where no word begins `LN`
        // (`lnclusive`, `lnvoice`, `(lncl.`).
        let mended = match mended.find("LN") {
            Some(i)
                if !mended[..i].chars().any(|c| c.is_ascii_alphanumeric())
                    && mended[i + 2..]
                        .chars()
                        .take_while(char::is_ascii_alphabetic)
                        .count()
                        >= 2 =>
            {
                format!("{}I{}", &mended[..i], &mended[i + 1..])
            }
            _ => mended,
        };
        words.push(mended);
    }
    words.join(" ")
}

pub(crate) fn has_word(line: &str, word: &str) -> bool {
    line.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
        w == word
            || (word.len() >= 5 && strsim::levenshtein(w, word) <= 1 && w.len() >= word.len() - 1)
    })
}

pub(crate) fn letters(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphabetic()).count()
}

/// An accented capital as its plain letter (`RÜCKGELD` reads as
/// `RUCKGELD`, `À PAYER` as `A PAYER`), for keywords.
pub(crate) fn fold(c: char) -> char {
    match c {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => 'O',
        'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'Ç' => 'C',
        'Ñ' => 'N',
        _ => c,
    }
}

/// Whether the line has any of the words (see `has_word`).
pub(crate) fn has_any(line: &str, words: &[&str]) -> bool {
    words.iter().any(|w| has_word(line, w))
}

/// Whether the line holds any of the phrases (several words, as written).
pub(crate) fn has_phrase(line: &str, phrases: &[&str]) -> bool {
    let spaced = format!(
        " {} ",
        line.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    );
    phrases.iter().any(|p| spaced.contains(&format!(" {p} ")))
}
