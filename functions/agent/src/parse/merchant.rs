//! The merchant's name and address, from the receipt's header.

use std::sync::LazyLock;

use regex::Regex;

use super::address::find_address;
use super::dates::dates;
use super::header::{
    ADDRESS_WORDS, CONTACT, CURRENCY_HEADING, LEGAL_FORM, NAMES_ANOTHER, OWNED_BY, PAREN_REG,
    date_only, ends_with_price, has_legal_form, mend_legal_form, tidy,
};
use super::money::amounts;
use super::text::letters;

/// Words that mark a business name.
const BUSINESS_MARKS: [&str; 24] = [
    "SDN BHD",
    "SDN. BHD",
    "BHD",
    "PLC",
    "LTD",
    "LIMITED",
    "INC",
    "LLC",
    "GMBH",
    "ENTERPRISE",
    "ENTERPRISES",
    "TRADING",
    "CORPORATION",
    "CORP",
    "COMPANY",
    "CO.",
    "RESTAURANT",
    "RESTORAN",
    "SUPERMARKET",
    "HARDWARE",
    "BAKERY",
    "CAFE",
    "STORE",
    "MART",
];

/// Lines that are about the document, not who issued it.
const NOT_A_NAME: [&str; 11] = [
    // The shop's terms (`GOODS SOLD ARE NOT RETURNABLE`), wherever OCR
    // put them.
    "RETURNABLE",
    "REFUND",
    "INVOICE",
    "RECEIPT",
    "WELCOME",
    "CASH BILL",
    "COPY",
    "FAX",
    "GST",
    "DATE",
    "THANK",
];

pub(crate) fn looks_like_name(line: &str) -> bool {
    // A registration number printed beside the name is not part of it.
    let line = PAREN_REG.replace_all(line, "");
    let up = line.to_uppercase();
    let l = letters(&line);
    l >= 3
        && l * 2 >= line.chars().filter(|c| !c.is_whitespace()).count()
        && !NOT_A_NAME.iter().any(|w| up.contains(w))
        && !TELEPHONE.is_match(&up)
        && !CURRENCY_HEADING.is_match(line.trim())
        && !NOT_A_NAME_WORDS.iter().any(|w| {
            up.chars()
                .map(super::text::fold)
                .collect::<String>()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|x| x == *w)
        })
}

/// A telephone line (`TEL:`, `Tel.`, `TELEFON`, `TELP`, `TEL0123`), but
/// not a word that has those letters inside (`TANKSTELLE`, `HOTEL`).
static TELEPHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bTEL(?:EFON|EPHONE|P)?(?:\b|\d)").unwrap());

/// Words of headings, opening hours and copies, never a shop's name.
const NOT_A_NAME_WORDS: [&str; 22] = [
    "KASSABON",
    "KASSENBON",
    "QUITTUNG",
    "RECHNUNG",
    "FACTURA",
    "FACTURE",
    "SCONTRINO",
    "RECIBO",
    "OFFNUNGSZEITEN",
    "OPENING",
    "HOURS",
    "UHR",
    "KUNDENBELEG",
    "KUNDENKOPIE",
    "BELEG",
    "FILIALE",
    "WILLKOMMEN",
    "BIENVENUE",
    "BIENVENIDO",
    "BENVENUTI",
    "WELKOM",
    "CUSTOMER",
];

/// Words that open a business's name in Malay (`SYARIKAT …`, `KEDAI …`).
const BUSINESS_OPENERS: [&str; 6] = [
    "SYARIKAT",
    "PERNIAGAAN",
    "KEDAI",
    "RESTORAN",
    "RESTAURANT",
    "PASARAYA",
];

pub(crate) fn is_business_line(up: &str) -> bool {
    BUSINESS_MARKS.iter().any(|m| {
        up.contains(&format!(" {m}"))
            || up.starts_with(m) && m.contains(' ')
            || up.ends_with(&format!(" {m}"))
    }) || BUSINESS_OPENERS
        .iter()
        .any(|m| up.starts_with(&format!("{m} ")))
}

/// Words of a name besides its legal form and the generic words of a
/// business (`RESTAURANT SDN BHD` alone is the end of a longer name).
pub(crate) fn words_beyond_legal_form(name: &str) -> usize {
    let up = mend_legal_form(&name.to_uppercase());
    up.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| {
            ![
                "SDN",
                "BHD",
                "PLC",
                "LTD",
                "LIMITED",
                "INC",
                "LLC",
                "GMBH",
                "CO",
                "CORP",
                "S",
                "B",
                "M",
                "RESTAURANT",
                "RESTORAN",
                "ENTERPRISE",
                "ENTERPRISES",
                "TRADING",
                "MBH",
                "KG",
                "OHG",
                "AG",
                "DIENSTLEISTUNGS",
                "VERTRIEBS",
                "HANDELS",
                "VERWALTUNGS",
            ]
            .contains(w)
        })
        .count()
}

/// A line that begins with a business's generic word (`ENTERPRISE (SETIA`)
/// continues a name begun on the line above.
pub(crate) fn starts_with_business_word(line: &str) -> bool {
    let up = line.trim_start().to_uppercase();
    [
        "ENTERPRISE",
        "TRADING",
        "RESTAURANT",
        "HARDWARE",
        "SDN",
        "BHD",
        "APOTHEKE",
        "PHARMACY",
        "BAKERY",
        "BACKEREI",
        "MARKT",
        "SUPERMARKT",
        "DROGERIE",
        "TANKSTELLE",
    ]
    .iter()
    .any(|w| {
        up.chars()
            .map(super::text::fold)
            .collect::<String>()
            .starts_with(w)
    })
}

/// Brackets opened and not closed on a line (negative: closed, not opened).
pub(crate) fn open_brackets(line: &str) -> i32 {
    line.chars().fold(0, |n, c| match c {
        '(' => n + 1,
        ')' => n - 1,
        _ => n,
    })
}

/// Accented Latin letters as their plain letter.
pub(crate) fn unaccent(c: char) -> char {
    const FROM: &str = "ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿÑñÇç";
    const TO: &str = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOoooooUUUUuuuuYyyNnCc";
    FROM.chars()
        .position(|f| f == c)
        .and_then(|i| TO.chars().nth(i))
        .unwrap_or(c)
}

/// The name as printed: the legal form mended, what follows it (a
/// registration number, `(519537-X)`, `273500-U (KSB)`) dropped, letters
/// of another script (a stray logo glyph read as `天`) dropped from a Latin
/// name, and one or two accents in an otherwise plain name taken for the
/// OCR slips they are (`HARDWARÉ`).
pub(crate) fn clean_name(name: &str) -> String {
    static TRAILING_REG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\s*(?:[(\[]\s*\d{4,}[-\s]?[A-Za-z]?\s*[)\]]?|\b\d{4,}-[A-Za-z])\s*$").unwrap()
    });
    static FORM: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:S[DO0]N|5DN)(\s*[.,]?\s*)(?:BHD|BH[DO0]|8HD)\b").unwrap()
    });
    let mut name = TRAILING_REG.replace(name, "").into_owned();
    // The name ends at its legal form (matched on the name itself, so that
    // the offsets are the name's).
    if let Some(m) = LEGAL_FORM.find_iter(&name).last() {
        let rest = &name[m.end()..];
        let rest_trim = rest.trim_start_matches(|c: char| c == '.' || c.is_whitespace());
        if rest_trim.starts_with(['(', '[']) || rest_trim.chars().any(|c| c.is_ascii_digit()) {
            let keep = m.end() + (rest.len() - rest_trim.len());
            name.truncate(keep);
        }
    }
    let latin = name.chars().filter(|c| c.is_ascii_alphabetic()).count();
    if latin >= 3 {
        name = name
            .split_whitespace()
            .filter(|w| {
                w.chars()
                    .any(|c| c.is_ascii_alphanumeric() || unaccent(c) != c || !c.is_alphabetic())
            })
            .collect::<Vec<_>>()
            .join(" ");
        let accented = name.chars().filter(|c| unaccent(*c) != *c).count();
        if (1..=2).contains(&accented) {
            name = name.chars().map(unaccent).collect();
        }
    }
    let upper = name
        .chars()
        .filter(|c| c.is_alphabetic())
        .all(|c| !c.is_lowercase());
    FORM.replace_all(&name, |c: &regex::Captures| {
        let sep = if c[1].contains('.') { ". " } else { " " };
        if upper {
            format!("SDN{sep}BHD")
        } else {
            format!("Sdn{sep}Bhd")
        }
    })
    .trim()
    .to_owned()
}

/// Merchant name and address from the header (the lines above the first
/// date, amount or item).
pub(crate) fn find_merchant(lines: &[&str]) -> (Option<String>, Option<String>) {
    let (first, header_end) = header_bounds(lines);
    let header = &lines[..header_end];
    let Some(at) = name_line(header, first) else {
        return (None, None);
    };
    let (name, at) = whole_name(header, first, at);
    let name = clean_name(&name);
    (Some(name), find_address(&header[at + 1..]))
}

/// Where the header starts (the first line of words: stamps and codes
/// above it are not the header) and ends.
fn header_bounds(lines: &[&str]) -> (usize, usize) {
    let first = lines.iter().position(|l| looks_like_name(l)).unwrap_or(0);
    // The header ends at the first date (one printed alone beside the name
    // aside), the first line that reads like money rather than words (an
    // address's "55,57" is not a price), or the first item.
    let header_end = lines
        .iter()
        .enumerate()
        .skip(first)
        .position(|(i, l)| {
            let chars = l.chars().filter(|c| !c.is_whitespace()).count().max(1);
            let beside_name = date_only(l) && i < first + 4;
            let dated = !dates(l).is_empty() && !beside_name;
            let money =
                !amounts(l).is_empty() && letters(l) * 2 < chars && !ADDRESS_WORDS.is_match(l);
            dated || money || (i > first && ends_with_price(l))
        })
        .map_or(lines.len(), |p| p + first)
        .min(first + 14);
    (first, header_end)
}

/// The line of the shop's name in the header.
fn name_line(header: &[&str], first: usize) -> Option<usize> {
    // The name is above the shop's telephone, fax and web address.
    let contact_at = header
        .iter()
        .skip(first)
        .position(|l| CONTACT.is_match(l))
        .map_or(header.len(), |p| p + first);
    let uppercase = |l: &str| {
        let (up, all) = l
            .chars()
            .filter(|c| c.is_alphabetic())
            .fold((0, 0), |(u, a), c| {
                (u + usize::from(c.is_uppercase()), a + 1)
            });
        all > 0 && up * 5 >= all * 4
    };
    let candidate = |l: &str| looks_like_name(l) && !NAMES_ANOTHER.is_match(l);
    let not_address = |l: &str| !ADDRESS_WORDS.is_match(l);
    let search = |within: &[&str]| {
        let at = |f: &dyn Fn(&str) -> bool| {
            within[first.min(within.len())..]
                .iter()
                .position(|l| f(l))
                .map(|p| p + first)
        };
        // The legal entity first (the company that issued the receipt),
        // then a name with a business word, then an upper-case line that
        // is not an address, then any line of words.
        at(&|l| candidate(l) && has_legal_form(l))
            .or_else(|| {
                at(&|l| candidate(l) && is_business_line(&mend_legal_form(&l.to_uppercase())))
            })
            // With no legal form or business word to go by, the name is
            // printed above the address (`BHPetrol Palekbang` over `Lot
            // 1626, …`), not a heading below it (`PREPAY CHIT NUMBER`).
            .or_else(|| at(&|l| candidate(l) && uppercase(l)).filter(|&i| address_below(within, i)))
            .or_else(|| at(&|l| candidate(l)).filter(|&i| address_below(within, i)))
            .or_else(|| at(&|l| candidate(l) && uppercase(l) && not_address(l)))
            .or_else(|| at(&|l| candidate(l) && not_address(l)))
    };
    search(&header[..contact_at]).or_else(|| search(header))
}

/// Whether line `i` of the header stands above its first address line.
fn address_below(header: &[&str], i: usize) -> bool {
    header
        .iter()
        .position(|l| ADDRESS_WORDS.is_match(l))
        .is_some_and(|a| i < a)
}

/// The name on line `at`, with the lines it runs over; and its last line.
fn whole_name(header: &[&str], first: usize, mut at: usize) -> (String, usize) {
    let own = |l: &str| OWNED_BY.replace(l, "").into_owned();
    let mut name = tidy(&own(header[at]));
    // A name broken over lines: the legal form alone ("ABC TRADING" /
    // "SDN BHD"), a bracket closed on the next line ("… (SETIA" / "ALAM)
    // SDN BHD"), or a line that ends mid-name ("HARDWARE &" / "ELECTRICAL").
    let mut top = at;
    while top > first
        && (words_beyond_legal_form(&name) == 0
            || (open_brackets(&name) < 0 && open_brackets(header[top - 1]) > 0)
            || starts_with_business_word(&name))
        && looks_like_name(header[top - 1])
        && !has_legal_form(header[top - 1])
        && at - top < 2
    {
        top -= 1;
        name = format!("{} {name}", tidy(&own(header[top])));
    }
    while let Some(next) = header.get(at + 1) {
        let t = tidy(next);
        let up = mend_legal_form(&t.to_uppercase());
        let continues = (starts_with_business_word(&t) && t.split_whitespace().count() == 1)
            || name.ends_with('&')
            || name.ends_with('-')
            || name.ends_with(" AND")
            || (open_brackets(&name) > 0 && open_brackets(&t) < 0);
        let legal_form_follows = is_business_line(&format!(" {up}"))
            && words_beyond_legal_form(&t) == 0
            && !is_business_line(&mend_legal_form(&name.to_uppercase()));
        if (continues || legal_form_follows) && looks_like_name(next) {
            name = format!("{name} {t}");
            at += 1;
        } else {
            break;
        }
    }
    (name, at)
}
