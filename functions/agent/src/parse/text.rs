//! Text helpers the readers share: keyword forms, words, letters.

/// Upper-cased, with the OCR slips that matter for keywords mended
/// (`T0TAL`, `TOTA1`, `ToTAL:`).
pub(crate) fn keyword_form(line: &str) -> String {
    let up = line.to_uppercase();
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
