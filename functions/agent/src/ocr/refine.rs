//! Which lines the larger recognizer reads again: the ones that carry the
//! fields a receipt is judged by. The tiny one reads every line first;
//! the larger one (several times the cost a word) then reads again, on the
//! header (merchant and address) and on the lines that name or hold a date
//! or a total, the words the tiny one read with a confidence below
//! `EngineConfig::refine_below`, so that its accuracy lands where it counts.

use std::sync::LazyLock;

use regex::Regex;

use super::layout::Line;

/// Lines from the top that make the header (name, company number, address).
pub const HEADER_LINES: usize = 6;

static FIELD_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        TOT|NETT|DUE|PAYABLE|ROUND                                           # the total and its kin
        | DATE|TARIKH                                                      # a named date
        | \d{1,4}\s?[-/.]\s?\d{1,2}\s?[-/.]\s?\d{2,4}                      # a written date
        | \b\d{1,2}\s?(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)",
    )
    .unwrap()
});

/// A line that ends with a number: an item's price, whose digits and
/// decimal mark are what the items are judged by.
fn priced(line: &Line) -> bool {
    line.words
        .iter()
        .rev()
        .take(2)
        .any(|w| w.text.chars().filter(|c| c.is_ascii_digit()).count() >= 2)
}

/// The indices of the lines worth a second reading (with `items`, the
/// priced lines too).
pub fn choose(lines: &[Line], items: bool) -> Vec<usize> {
    let mut header = 0;
    let mut chosen = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let text = line.text();
        if text.trim().is_empty() {
            continue;
        }
        let in_header = header < HEADER_LINES;
        header += 1;
        if in_header || FIELD_LINE.is_match(&text) || (items && priced(line)) {
            chosen.push(i);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::det::TextBox;
    use crate::ocr::layout::Word;

    fn line(text: &str) -> Line {
        Line {
            words: vec![Word {
                b: TextBox::upright(0.0, 0.0, 10.0, 10.0),
                text: text.into(),
                confidence: 0.9,
            }],
        }
    }

    #[test]
    fn the_header_and_the_field_lines_are_chosen() {
        let mut lines: Vec<Line> = (0..HEADER_LINES)
            .map(|i| line(&format!("HEADER {i}")))
            .collect();
        lines.push(line("KF MODELLING CLAY 1 9.00"));
        lines.push(line("Date : 25/12/2018 8:13"));
        lines.push(line("PENCIL 2B 2 1.20"));
        lines.push(line("Total : 9.00"));
        lines.push(line("THANK YOU"));
        let chosen = choose(&lines, false);
        let mut want: Vec<usize> = (0..HEADER_LINES).collect();
        want.extend([HEADER_LINES + 1, HEADER_LINES + 3]);
        assert_eq!(chosen, want);
    }

    #[test]
    fn with_items_the_priced_lines_are_chosen_too() {
        let mut lines: Vec<Line> = (0..HEADER_LINES)
            .map(|i| line(&format!("HEADER {i}")))
            .collect();
        lines.push(line("BIO HONIG 3,29 A"));
        lines.push(line("THANK YOU"));
        assert_eq!(choose(&lines, false), (0..HEADER_LINES).collect::<Vec<_>>());
        let mut want: Vec<usize> = (0..HEADER_LINES).collect();
        want.push(HEADER_LINES);
        assert_eq!(choose(&lines, true), want);
    }
}
