//! The shop's address: the lines after its name.

use super::header::{
    ADDRESS_START, ADDRESS_WORDS, COMPANY_NO, COUNTRY_END, CURRENCY_HEADING, DOCUMENT, ID_LINE,
    IDENTITY, NAMES_ANOTHER, OWNED_BY, PAREN_REG, PHONE, REG_NO, date_only, has_legal_form,
    tidy_keep_punctuation,
};
use std::sync::LazyLock;

use regex::Regex;

use super::items::labelled_code;
use super::text::{keyword_form, letters};

/// The part of a line from the first word that opens an address (`Licensee
/// of McDonald's Level 6, …` → `Level 6, …`).
fn from_address_start(line: &str) -> Option<&str> {
    let mut at = 0;
    for word in line.split_inclusive(char::is_whitespace) {
        if ADDRESS_START.is_match(&line[at..]) {
            return Some(&line[at..]);
        }
        at += word.len();
    }
    None
}

/// A line below an address that is none of it: an article's code
/// (`Artikel 50319963 22621`, the list has begun) or a number alone
/// (`06192 7 93 99999 (Ortstarif)`, a telephone).
fn beyond_address(t: &str) -> bool {
    static BRACKETS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\([^)]*\)").unwrap());
    let bare = BRACKETS.replace_all(t, "");
    labelled_code(&keyword_form(t)).is_some()
        || (letters(&bare) == 0 && bare.chars().filter(char::is_ascii_digit).count() >= 8)
}

/// The shop's address: the lines after its name, up to a phone number,
/// an identity line, a country or five lines.
pub(crate) fn find_address(rest: &[&str]) -> Option<String> {
    let mut address: Vec<String> = Vec::new();
    let mut note_continues = false;
    for (i, raw) in rest.iter().enumerate() {
        if date_only(raw) {
            continue;
        }
        let mut l: &str = raw;
        if std::mem::take(&mut note_continues) && address.is_empty() {
            // The company a note names ("formerly known as" / "ABC Sdn Bhd").
            continue;
        }
        if let Some(note) = NAMES_ANOTHER.find(l) {
            // "Licensee of McDonald's Level 6, …": the address may follow.
            match from_address_start(l) {
                Some(tail) => l = tail,
                None => {
                    note_continues = letters(&l[note.end()..]) < 3;
                    continue;
                }
            }
        }
        let t = tidy_keep_punctuation(&PAREN_REG.replace_all(l, ""));
        // The heading of the price column (`EUR`): the list begins.
        if CURRENCY_HEADING.is_match(&t) {
            break;
        }
        if t.is_empty() || REG_NO.is_match(&t) || COMPANY_NO.is_match(&t) {
            continue;
        }
        if ID_LINE.is_match(&t) || beyond_address(&t) {
            if address.is_empty() {
                continue;
            }
            break;
        }
        if address.is_empty() {
            // Before the address: another company's line (the owner),
            // and a branch's name above its street address.
            if (OWNED_BY.is_match(&t) || has_legal_form(&t)) && !ADDRESS_WORDS.is_match(&t) {
                continue;
            }
            let next_opens = rest
                .get(i + 1)
                .is_some_and(|n| ADDRESS_START.is_match(n.trim()));
            if !t.chars().any(|c| c.is_ascii_digit())
                && !ADDRESS_WORDS.is_match(&t)
                && next_opens
                && !PHONE.is_match(l)
            {
                continue;
            }
        }
        if address.is_empty() && IDENTITY.is_match(l) {
            continue;
        }
        if let Some(m) = PHONE.find(l).or_else(|| DOCUMENT.find(l)) {
            // The address may run into the phone number on one line
            // ("… 50480 Kuala Lumpur Tel: 03-…"): keep what comes before.
            let before = tidy_keep_punctuation(&l[..m.start()]);
            if letters(&before) >= 4 {
                address.push(before);
            }
            break;
        }
        let ends = COUNTRY_END.is_match(&t);
        address.push(t);
        if ends || address.len() == 5 {
            break;
        }
    }
    Some(address.join(" ")).filter(|a| reads_as_address(a))
}

/// A slogan under the name (`Mein Drogeriemarkt`) is no address: one has
/// a number, a street's word or places parted by a comma (`USJ Summit,
/// Subang`).
fn reads_as_address(a: &str) -> bool {
    a.chars().any(|c| c.is_ascii_digit()) || a.contains(',') || ADDRESS_WORDS.is_match(a)
}
