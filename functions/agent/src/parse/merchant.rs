//! The merchant's name and address, from the receipt's header.

use std::sync::LazyLock;

use regex::Regex;

use super::dates::{dates, month_of};
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

pub(crate) static REG_NO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[(\[]?\s*(?:CO\.?\s*(?:REG\.?)?\s*(?:NO\.?)?\s*:?\s*)?[A-Z]{0,3}\d{4,}[-\s]?[A-Z]{0,3}\s*[)\]]?\.?$").unwrap()
});
/// A registration number in brackets: `(1072825-A)`, `(4M0517726)`,
/// `(LLP0007299-LGN)`.
pub(crate) static PAREN_REG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[(\[]\s*[0-9A-Z]{0,3}\d{4,}[\d\s]*-?\s*[A-Z]{0,3}\s*[)\]]").unwrap()
});
/// A line that gives a company or tax registration, not an address.
pub(crate) static COMPANY_NO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(ROC|CO\.?\s*NO|CO\.?\s*REG|COMPANY\s+\w*\s*NO|BUSINESS\s+REG|SSM)\b|^[\d\s]{4,}[-/]?\s*[A-Z0-9]?$").unwrap()
});
/// Lines about the document: the address is above them.
pub(crate) static DOCUMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(TAX\s*INVOICE|INVOICE|RECEIPT|CASH\s*BILL|BILL\s*NO|DOC(UMENT)?\s*NO|FACTURA|FACTURE|KASSA\s?BON|KASSEN\s?BON|RECHNUNG|QUITTUNG|SCONTRINO|TICKET\s+DE\s+CAISSE)")
        .unwrap()
});
/// How to reach the shop: a telephone or fax number, an email, a web
/// address. The merchant's name and address are printed above them.
const CONTACT_PATTERN: &str = r"\b(T[EÉ][L1I](?:EPHONE|EFON|[EÉ]FONO)?|PHONE|FAX|H/P|HP|MOBILE|EMAIL|E-MAIL|WWW|HTTPS?)\b|\bW{2,3}\.|\.CO[MN]\b|\d{2,4}-\d{6,8}|\b\d{2,4}-\d{3,4}\s\d{4}\b|\(\d{3}\)\s?\d{3}[-.\s]\d{4}\b|\b\d{3}[-.]\d{3}[-.]\d{4}\b";
pub(crate) static CONTACT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("(?i){CONTACT_PATTERN}")).unwrap());
/// A line past the address: the shop's contact, its registration, or the
/// document's own details (also never an item).
pub(crate) static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i){CONTACT_PATTERN}|\b(GST|REG|INVOICE|RECEIPT|DATE|CASHIER|TABLE|SERVER|GUESTS?)\b|\b(ORDER|CHECK|CHK)\s*(#|NO\b)|\bGST\s*(ID|NO|REG)"
    ))
    .unwrap()
});
/// A tax or company identity line (`GST ID No: 0011…`, `(GST Reg 00…)`,
/// `Reg No: 1203194-W`): before the address it is skipped, after it it
/// ends the address.
pub(crate) static ID_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[(\[]?\s*([G6]ST|SST|TAX|CO\.?\s*REG|COMPANY|BUSINESS|ROC|BR|REG(ISTRATION)?\.?\s*NO|SIRET|SIREN|CIF|NIF|P\.?\s?IVA|UST-?ID(NR)?|STEUER-?NR|STEUERNUMMER|BTW|KVK)\b.*\d{5,}|^[(\[]?\s*[G6]ST\s*(ID|NO|REG)").unwrap()
});
/// A legal form: the line that carries it names the company that issued
/// the receipt (`… SDN BHD`, `… S/B`, `… PTE LTD`, `… CO. (M) BHD`).
pub(crate) static LEGAL_FORM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(SDN\.?\s*BHD|BHD|BERHAD|S/B|PTE|PLC|LTD|LIMITED|INC|LLC|GMBH|MBH|AG|KG|OHG|E\.\s?K|S\.\s?A|S\.\s?L|SAS|SARL|S\.?P\.?A|B\.\s?V|N\.\s?V|S\.\s?R\.\s?L|SRL|PTY|CORP)\b").unwrap()
});
/// Notes that name another company: its former name, a franchisor.
pub(crate) static NAMES_ANOTHER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\W*(FORMERLY\s+KNOWN\s+AS|FORMERLY|LICENSEE\s+OF|FRANCHISEE?\s+OF)\b")
        .unwrap()
});
/// Notes that name the issuer: `Owned by …`, `Dimiliki oleh …`.
pub(crate) static OWNED_BY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\W*(OWNE[DR]\s+BY|DIMILIKI(\s+OLEH)?|OPERATED\s+BY|MANAGED\s+BY)\s*:?\s*")
        .unwrap()
});
/// Where an address starts: a number, or a word that opens one.
pub(crate) static ADDRESS_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(\d|[A-Z]{1,2}-?\d|(NO|LOT|UNIT|LEVEL|LVL|BLOCK|BLK|JALAN|JLN|LORONG|SUITE|FLOOR|GROUND|PT|KM)\b|[A-ZÄÖÜ][\wäöüß.-]*(STRASSE|STRAßE|STR\.|WEG|PLATZ|ALLEE|GASSE|DAMM|RING)\s+\d)").unwrap()
});
/// Words that make a line part of an address, not a name.
pub(crate) static ADDRESS_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(JALAN|JLN|LORONG|TAMAN|TMN|LOT|LEVEL|FLOOR|UNIT|BANDAR|KAWASAN|STREET|ROAD|AVENUE|BLOCK|PERSIARAN)\b|\b\d{5}\b|^NO\.?\s*\d|(?:STRASSE|STRAßE|STR\.)\s*\d").unwrap()
});
/// Words of a tax or company identity (`BRN GST No. …`).
pub(crate) static IDENTITY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b([G6]ST|SST|REG|BRN|ROC)\b").unwrap());
/// Countries an address ends with.
pub(crate) static COUNTRY_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(MALAYSIA|SINGAPORE|INDONESIA|THAILAND|PHILIPPINES|AUSTRALIA)\W*$").unwrap()
});

pub(crate) fn tidy(line: &str) -> String {
    line.trim_matches(|c: char| !c.is_alphanumeric() && !matches!(c, ')' | '.' | '&'))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Like `tidy`, but keeps the commas and periods an address ends its parts with.
pub(crate) fn tidy_keep_punctuation(line: &str) -> String {
    line.trim_matches(|c: char| !c.is_alphanumeric() && !matches!(c, ')' | '.' | ',' | '&' | '('))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

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

/// A line that is only a currency: the heading of the price column.
static CURRENCY_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\(?\s*(EUR|EURO|€|RM|USD|\$|GBP|£|CHF|MYR|SGD)\s*\)?$").unwrap()
});

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

pub(crate) fn has_legal_form(line: &str) -> bool {
    LEGAL_FORM.is_match(&mend_legal_form(&line.to_uppercase()))
}

/// OCR's usual slips in the Malaysian/Singaporean legal form "Sdn Bhd"
/// (`SON BHD`, `SDN BHO`, `SDN, BHD`).
pub(crate) fn mend_legal_form(up: &str) -> String {
    static FORM: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b(?:S[DO0]N|5DN)\s*[.,]?\s*(?:BHD|BH[DO0]|8HD)\b").unwrap());
    FORM.replace_all(up, "SDN BHD").into_owned()
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

/// A line that holds a date and time and nothing else (`05 Mar 2018
/// 18:24`), as some shops print beside their name.
pub(crate) fn date_only(line: &str) -> bool {
    !dates(line).is_empty()
        && line
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| month_of(w).is_none() && !matches!(w.to_uppercase().as_str(), "AM" | "PM"))
            .map(|w| w.chars().count())
            .sum::<usize>()
            <= 2
}

/// A line that ends with a price (`WS CUT SCISSORS 18.00`): an item, not
/// the header.
pub(crate) fn ends_with_price(line: &str) -> bool {
    let line = line.trim_end();
    amounts(line).last().is_some_and(|&(_, _, end)| {
        line[end..].chars().filter(|c| c.is_alphanumeric()).count() <= 2
    })
}

/// The part of a line from the first word that opens an address (`Licensee
/// of McDonald's Level 6, …` → `Level 6, …`).
pub(crate) fn from_address_start(line: &str) -> Option<&str> {
    let mut at = 0;
    for word in line.split_inclusive(char::is_whitespace) {
        if ADDRESS_START.is_match(&line[at..]) {
            return Some(&line[at..]);
        }
        at += word.len();
    }
    None
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

/// The shop's address: the lines after its name, up to a phone number,
/// an identity line, a country or five lines.
fn find_address(rest: &[&str]) -> Option<String> {
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
        if ID_LINE.is_match(&t) {
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
    (!address.is_empty()).then(|| address.join(" "))
}
