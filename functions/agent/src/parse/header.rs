//! What the lines of a receipt's header say: the patterns of contacts,
//! registrations, legal forms and addresses that the merchant's name and
//! its address are told apart by, and small tidying helpers.

use std::sync::LazyLock;

use regex::Regex;

use super::dates::{dates, month_of};
use super::money::amounts;

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

/// A line that is only a currency: the heading of the price column.
pub(crate) static CURRENCY_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\(?\s*(EUR|EURO|€|RM|USD|\$|GBP|£|CHF|MYR|SGD)\s*\)?$").unwrap()
});

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
