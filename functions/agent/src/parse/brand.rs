//! The shop's brand behind the name the header gives: confirmed by a
//! legal form or a web or mail domain, mended to how the receipt's
//! legal-entity line or its domain spells it.

use std::sync::LazyLock;

use regex::Regex;

use super::header::{LEGAL_FORM, has_legal_form, tidy};

/// Mail services whose domain names no shop.
const MAIL_PROVIDERS: [&str; 12] = [
    "GMAIL",
    "HOTMAIL",
    "YAHOO",
    "OUTLOOK",
    "LIVE",
    "ICLOUD",
    "GMX",
    "WEB",
    "AOL",
    "MSN",
    "PROTONMAIL",
    "STREAMYX",
];

/// The shop names that web and mail domains on the receipt give
/// (`www.marktkauf-lehr.de` → `MARKTKAUF`, `service@toom.de` → `TOOM`).
pub(crate) fn domain_names(lines: &[&str]) -> Vec<String> {
    static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:www\.\s?|@|https?://)([a-z0-9-]{3,})\.[a-z]{2,4}\b").unwrap()
    });
    lines
        .iter()
        .flat_map(|l| DOMAIN.captures_iter(l))
        .filter_map(|c| c[1].split('-').next().map(str::to_uppercase))
        .filter(|d| d.len() >= 3 && d.chars().any(|c| c.is_ascii_alphabetic()))
        .filter(|d| !MAIL_PROVIDERS.contains(&d.as_str()))
        .collect()
}

fn alnum_upper(s: &str) -> String {
    s.to_uppercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Whether the merchant read is backed by the receipt: its line carries a
/// legal form, a legal-entity line elsewhere holds it, or a domain printed
/// on it names the same shop.
pub(crate) fn confirmed(name: &str, lines: &[&str]) -> bool {
    let n = alnum_upper(name);
    // The legal-entity line wherever it is printed (`ALDI SE & Co. KG`).
    let entity = |l: &&str| has_legal_form(l) && n.len() >= 3 && alnum_upper(l).contains(&n);
    has_legal_form(name)
        || lines.iter().any(entity)
        || domain_names(lines)
            .iter()
            .any(|d| n.contains(d.as_str()) || (n.len() >= 4 && d.contains(n.as_str())))
}

/// A shop's name printed with its letters spaced (`A L D I`) as one word,
/// and `@` between letters read as the `O` it stands for (`R@SSMANN`).
pub(crate) fn mend_brand(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let name = if words.len() >= 3 && words.iter().all(|w| w.chars().count() == 1) {
        words.concat()
    } else {
        name.to_owned()
    };
    let chars: Vec<char> = name.chars().collect();
    (0..chars.len())
        .map(|i| {
            let letter = |j: Option<usize>| {
                j.and_then(|j| chars.get(j))
                    .is_some_and(|c| c.is_alphabetic())
            };
            if chars[i] == '@' && letter(i.checked_sub(1)) && letter(Some(i + 1)) {
                'O'
            } else {
                chars[i]
            }
        })
        .collect()
}

/// The shop's brand when the header's pick is not backed by anything: a
/// web or mail domain on the receipt names the shop, and the header line
/// that spells it (loosely, as OCR reads it) is the name, with the
/// domain's spelling (and where that line is); failing such a line, the
/// domain's name itself.
pub(crate) fn prefer_brand(
    name: Option<String>,
    lines: &[&str],
) -> (Option<String>, Option<usize>) {
    let name = name.map(|n| mend_brand(&n));
    if name.as_deref().is_some_and(|n| confirmed(n, lines)) {
        return (name, None);
    }
    // The shop's own spelling: a domain in the header, or a word of a
    // legal-entity line anywhere (`Dirk Rossmann GmbH` for `RSSMANN`).
    if let Some(mended) = name.as_deref().and_then(|n| spelled_as_entity(n, lines)) {
        return (Some(mended), None);
    }
    let header = &lines[..lines.len().min(16)];
    let Some(brand) = domain_names(header).into_iter().next() else {
        return (name, None);
    };
    let close = |w: &str| {
        // OCR swaps letters, it seldom drops or adds them.
        let w = alnum_upper(w);
        w.len() == brand.len() && strsim::hamming(&w, &brand).is_ok_and(|d| d <= brand.len() / 4)
    };
    for (i, l) in header.iter().enumerate() {
        if l.contains('.') && (l.to_lowercase().contains("www") || l.contains('@')) {
            continue;
        }
        if let Some(word) = l.split_whitespace().find(|w| close(w)) {
            return (Some(tidy(&l.replacen(word, &brand, 1))), Some(i));
        }
    }
    (Some(brand), None)
}

/// The name with a word mended to how the receipt's legal-entity line
/// spells it, when one is a letter or two off (OCR dropped or misread it).
fn spelled_as_entity(name: &str, lines: &[&str]) -> Option<String> {
    let entity_words: Vec<String> = lines
        .iter()
        .filter(|l| has_legal_form(l))
        .flat_map(|l| l.split(|c: char| !c.is_alphanumeric()))
        .map(alnum_upper)
        .filter(|w| w.len() >= 5 && !LEGAL_FORM.is_match(w))
        .collect();
    for word in name.split_whitespace() {
        let w = alnum_upper(word);
        if w.len() < 4 || entity_words.contains(&w) {
            continue;
        }
        if let Some(e) = entity_words
            .iter()
            .find(|e| strsim::levenshtein(e, &w) <= (e.len() / 5).max(1))
        {
            return Some(name.replacen(word, e, 1));
        }
    }
    None
}
