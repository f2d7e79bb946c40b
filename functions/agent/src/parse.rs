//! Receipt understanding: from OCR text lines to merchant, address, date,
//! currency, subtotal, tax, total and line items. General rules only (the
//! shape receipts share), never strings of one dataset.

use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use regex::Regex;
use rust_decimal::Decimal;
use shared::extraction::LineItem;

/// What the text says, before validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub merchant_name: Option<String>,
    pub merchant_address: Option<String>,
    pub purchase_date: Option<NaiveDate>,
    pub currency: Option<String>,
    pub subtotal: Option<Decimal>,
    pub tax: Option<Decimal>,
    pub rounding: Option<Decimal>,
    pub total: Option<Decimal>,
    pub items: Vec<LineItem>,
}

static AMOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(-)?\s?(\d{1,3}(?:,\d{3})+|\d+)\s?[.,]\s?(\d{2})").unwrap());

/// Money amounts on a line (two decimals, `.` or `,` as separator), with
/// their byte span. Digits glued to more digits are not amounts.
pub fn amounts(line: &str) -> Vec<(Decimal, usize, usize)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    for c in AMOUNT.captures_iter(line) {
        let m = c.get(0).unwrap();
        let (start, end) = (c.get(1).unwrap_or(c.get(2).unwrap()).start(), m.end());
        let before = start.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(end).copied();
        if before.is_some_and(|b| b.is_ascii_digit() || b == b'.' || b == b',')
            || after.is_some_and(|b| b.is_ascii_digit() || b == b'%')
        {
            continue;
        }
        let int = c[2].replace(',', "");
        let Ok(mut v) = format!("{int}.{}", &c[3]).parse::<Decimal>() else {
            continue;
        };
        if c.get(1).is_some() {
            v = -v;
        }
        out.push((v, start, end));
    }
    out
}

/// Reads an amount as written on a label or a line (`RM9.00`, `$ 1,234.50`).
pub fn parse_amount(s: &str) -> Option<Decimal> {
    if let Some(a) = amounts(s).last() {
        return Some(a.0);
    }
    let digits: String = s
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().ok()
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

static YMD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{4})\s?[-/.]\s?(\d{1,2})\s?[-/.]\s?(\d{1,2})\b").unwrap());
static DMY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,2})\s?[-/.]\s?(\d{1,2})\s?[-/.]\s?(\d{4}|0\d{2}|\d{2})\b").unwrap()
});
/// A label run into its date (`Date10/01/2018`).
static LABEL_THEN_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(DATE|TARIKH|:)(\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})").unwrap());
/// A slashed date with a four-digit year, even run into the digits
/// before it (`#0934-000105/01/2018`).
static SLASHED_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{2})/(\d{2})/((?:19|20)\d{2})").unwrap());
static D_MON_Y: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(\d{1,2})(?:ST|ND|RD|TH)?[\s\-/.]*(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[\s\-/.,']*(\d{4}|\d{2})\b")
        .unwrap()
});
static MON_D_Y: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[\s\-/.]*(\d{1,2})(?:ST|ND|RD|TH)?[\s,]+(\d{4})\b")
        .unwrap()
});

static YEAR_THEN_TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([-/.\sA-Za-z](?:19|20)\d{2})([0-2]?\d:[0-5]\d)").unwrap());
/// A two-digit year run into the time after it (`02/03/1805:16PM`).
static SHORT_YEAR_THEN_TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d[-/.]\d{2})(\d{2}:[0-5]\d)").unwrap());

/// A year as printed: two digits or four.
fn full_year(y: u32) -> i32 {
    match y {
        0..=69 => 2000 + y as i32,
        70..=99 => 1900 + y as i32,
        _ => y as i32,
    }
}

fn month_of(name: &str) -> Option<u32> {
    let up = name.to_ascii_uppercase();
    MONTHS
        .iter()
        .position(|m| up.starts_with(m))
        .map(|i| i as u32 + 1)
}

/// Day first, unless that is impossible.
fn day_first(a: u32, b: u32, y: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, b, a).or_else(|| NaiveDate::from_ymd_opt(y, a, b))
}

/// Dates on a line, in any common format (`25/12/2018`, `12-01-19`,
/// `10 MAR 2018`, `2018-12-25`, `Dec 25, 2018`), in order of appearance.
pub fn dates(line: &str) -> Vec<NaiveDate> {
    // A year run into the time after it (`25/12/201808:13`): part them.
    let parted = YEAR_THEN_TIME.replace_all(line, "$1 $2");
    let parted = SHORT_YEAR_THEN_TIME.replace_all(&parted, |c: &regex::Captures| {
        let year = &c[1][c[1].len() - 2..];
        if year == "19" || year == "20" {
            // `…/2018:…` is a four-digit year, not a short one.
            c[0].to_owned()
        } else {
            format!("{} {}", &c[1], &c[2])
        }
    });
    let parted = LABEL_THEN_DATE.replace_all(&parted, "$1 $2");
    let line: &str = &parted;
    let mut found: Vec<(usize, NaiveDate)> = Vec::new();
    for c in YMD.captures_iter(line) {
        let (y, m, d) = (
            c[1].parse().unwrap_or(0),
            c[2].parse().unwrap_or(0),
            c[3].parse().unwrap_or(0),
        );
        if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
            found.push((c.get(0).unwrap().start(), date));
        }
    }
    // Matches may overlap ("#19- 18/01/2018"): after one that is not a
    // date, look again from the next character.
    let mut pos = 0;
    while let Some(c) = DMY.captures_at(line, pos) {
        let m = c.get(0).unwrap();
        let start = m.start();
        let (a, b) = (c[1].parse().unwrap_or(0), c[2].parse().unwrap_or(0));
        // Three digits: OCR lost the year's leading 2 (`22/12/017`).
        let y = if c[3].len() == 3 {
            2000 + c[3].parse::<i32>().unwrap_or(0)
        } else {
            full_year(c[3].parse().unwrap_or(0))
        };
        match day_first(a, b, y) {
            Some(date)
                if !found
                    .iter()
                    .any(|(s, _)| (*s as isize - start as isize).abs() < 6) =>
            {
                found.push((start, date));
                pos = m.end();
            }
            _ => {
                pos = line[start..]
                    .char_indices()
                    .nth(1)
                    .map_or(line.len(), |(i, _)| start + i)
            }
        }
        if pos >= line.len() {
            break;
        }
    }
    for c in D_MON_Y.captures_iter(line) {
        let (d, y) = (
            c[1].parse().unwrap_or(0),
            full_year(c[3].parse().unwrap_or(0)),
        );
        if let Some(date) = month_of(&c[2]).and_then(|m| NaiveDate::from_ymd_opt(y, m, d)) {
            found.push((c.get(0).unwrap().start(), date));
        }
    }
    for c in MON_D_Y.captures_iter(line) {
        let (d, y) = (c[2].parse().unwrap_or(0), c[3].parse().unwrap_or(0));
        if let Some(date) = month_of(&c[1]).and_then(|m| NaiveDate::from_ymd_opt(y, m, d)) {
            found.push((c.get(0).unwrap().start(), date));
        }
    }
    if found.is_empty()
        && let Some(c) = SLASHED_DATE.captures(line)
        && let Some(date) = day_first(
            c[1].parse().unwrap_or(0),
            c[2].parse().unwrap_or(0),
            c[3].parse().unwrap_or(0),
        )
    {
        found.push((c.get(0).unwrap().start(), date));
    }
    found.sort_by_key(|(s, _)| *s);
    found.into_iter().map(|(_, d)| d).collect()
}

static GLUED_DM_Y: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{2})(\d{2})\s?[-/.]\s?(\d{4})\b").unwrap());

/// A date whose first separator OCR lost (`1202/2018`); only trusted on a
/// line that says DATE.
fn glued_date(line: &str) -> Option<NaiveDate> {
    let c = GLUED_DM_Y.captures(line)?;
    day_first(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?)
}

/// A date printed without separators (`27032018`), day first: only
/// believed when its year is a recent one, since long numbers abound on
/// receipts (invoice, registration and card numbers).
fn unseparated_date(line: &str, today: NaiveDate) -> Option<NaiveDate> {
    static DDMMYYYY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[^\d])(\d{2})(\d{2})((?:19|20)\d{2})(?:[^\d]|$)").unwrap()
    });
    DDMMYYYY.captures_iter(line).find_map(|c| {
        let d =
            NaiveDate::from_ymd_opt(c[3].parse().ok()?, c[2].parse().ok()?, c[1].parse().ok()?)?;
        (plausible_date(d, today) && d.year() + 15 >= today.year()).then_some(d)
    })
}

/// A date written any common way, as a date (for labels and single values).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    dates(s).into_iter().next()
}

pub fn plausible_date(d: NaiveDate, today: NaiveDate) -> bool {
    d.year() >= 1990 && d <= today + chrono::Duration::days(1)
}

/// Upper-cased, with the OCR slips that matter for keywords mended
/// (`T0TAL`, `TOTA1`, `ToTAL:`).
fn keyword_form(line: &str) -> String {
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

fn has_word(line: &str, word: &str) -> bool {
    line.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
        w == word
            || (word.len() >= 5 && strsim::levenshtein(w, word) <= 1 && w.len() >= word.len() - 1)
    })
}

/// The change given back (read loosely: `CHANCE`), not a service
/// charge one letter away.
fn is_change(k: &str) -> bool {
    has_word(k, "CHANGE")
        && !k
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "CHARGE")
}

fn is_subtotal(k: &str) -> bool {
    k.contains("SUBTOTAL")
        || k.contains("SUB TOTAL")
        || k.contains("SUB-TOTAL")
        || (has_word(k, "TOTAL")
            && (k.contains("EXCL") || k.contains("BEFORE") || k.contains("W/O")))
}

/// Lines that say TOTAL but are not the amount paid.
fn is_other_total(k: &str) -> bool {
    [
        "QTY", "QUANTITY", "ITEM", "DISCOUNT", "SAVING", "GST", "TAX", "NO.", "POINT", "WEIGHT",
        "PCS", "UNIT",
    ]
    .iter()
    .any(|w| k.contains(w))
        && !k.contains("INCL")
}

/// How strongly a line says "this is the total paid" (0 = not at all).
fn total_priority(k: &str) -> u8 {
    if is_subtotal(k) {
        return 0;
    }
    let total = has_word(k, "TOTAL");
    if total && is_other_total(k) {
        return 0;
    }
    if total && k.contains("ROUND") {
        return 5;
    }
    if (total
        && (k.contains("GRAND")
            || k.contains("NETT")
            || k.contains("NET ")
            || k.contains("INCL")
            || k.contains("AMOUNT")
            || k.contains("PAYABLE")
            || k.contains("DUE")))
        || k.contains("AMOUNT DUE")
        || k.contains("BALANCE DUE")
        || k.contains("AMOUNT PAYABLE")
    {
        return 4;
    }
    if total {
        return 3;
    }
    if has_word(k, "NETT") || k.starts_with("NET ") || k.contains("AMOUNT TO PAY") {
        return 2;
    }
    0
}

fn last_amount(line: &str) -> Option<Decimal> {
    amounts(line).last().map(|a| a.0)
}

fn letters(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphabetic()).count()
}

/// The amount a keyword line announces: on the line, else on the next
/// line when that line is just a number.
fn announced_amount(lines: &[&str], i: usize) -> Option<Decimal> {
    last_amount(lines[i]).or_else(|| {
        lines
            .get(i + 1)
            .filter(|next| letters(next) <= 3)
            .and_then(|next| last_amount(next))
    })
}

/// The total paid. Every line that announces a total is a candidate; each
/// is scored by how strongly its line says so and by how much of the rest
/// of the receipt agrees with it (the same amount printed elsewhere, cash
/// minus change, subtotal plus tax), since OCR misreads digits one line at
/// a time.
fn find_total(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    // Tables after the change line (tax summaries) repeat TOTAL; they are
    // not the total paid.
    let change_at = keys.iter().position(|k| is_change(k));
    let mut candidates: Vec<(i32, usize, Decimal)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if change_at.is_some_and(|c| i > c) && !candidates.is_empty() {
            break;
        }
        let p = total_priority(k);
        if p == 0 {
            continue;
        }
        if let Some(v) = announced_amount(lines, i).filter(|v| *v > Decimal::ZERO) {
            candidates.push((i32::from(p), i, v));
        }
    }
    // What was paid tells the total too: cash tendered minus change.
    let paid = keys.iter().enumerate().find_map(|(i, k)| {
        (has_word(k, "CASH") || k.contains("TENDER") || k.contains("PAYMENT"))
            .then(|| announced_amount(lines, i))
            .flatten()
    });
    let change = keys
        .iter()
        .enumerate()
        .find_map(|(i, k)| is_change(k).then(|| announced_amount(lines, i)).flatten());
    let derived = match (paid, change) {
        (Some(p), Some(c)) if p > c && c >= Decimal::ZERO => Some(p - c),
        _ => None,
    };
    let subtotal = find_subtotal(lines, keys);
    let rounding = find_rounding(lines, keys).unwrap_or_default();
    let taxes: Vec<Decimal> = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| is_tax_line(k))
        .filter_map(|(i, _)| last_amount(lines[i]))
        .collect();
    if let Some(d) = derived {
        candidates.push((1, usize::MAX, d));
    }
    if let Some(sub) = subtotal {
        // Sums made from the subtotal line; that line is their source, not
        // a second reading.
        let source = keys
            .iter()
            .position(|k| is_subtotal(k))
            .unwrap_or(usize::MAX);
        candidates.push((0, source, sub + rounding));
        for t in &taxes {
            candidates.push((0, source, sub + *t + rounding));
        }
    }
    let all_amounts: Vec<(usize, Decimal)> = lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| amounts(l).into_iter().map(move |a| (i, a.0)))
        .collect();
    let consistent = |v: Decimal| {
        subtotal.is_some_and(|sub| {
            v == sub + rounding || taxes.iter().any(|t| v == sub + *t + rounding)
        })
    };
    // A rounding adjustment is printed between the total before it and
    // the total paid: a total line below it is the one paid.
    let rounding_at = keys.iter().position(|k| {
        (k.contains("ROUNDING") || (k.contains("ROUND") && k.contains("ADJ")))
            && !has_word(k, "TOTAL")
    });
    let elsewhere = |line: usize, v: Decimal| {
        all_amounts
            .iter()
            .filter(|(i, a)| *i != line && *a == v)
            .count() as i32
    };
    let score = |&(p, line, v): &(i32, usize, Decimal)| -> i32 {
        let mut s = p + 3 * elsewhere(line, v).min(2);
        if p > 0 && rounding_at.is_some_and(|r| line > r && line != usize::MAX) {
            s += 3;
        }
        if derived == Some(v) {
            s += 3;
        }
        if consistent(v) {
            s += 2;
        } else if subtotal.is_some_and(|sub| v < sub) {
            s -= 2;
        }
        s
    };
    tracing::trace!(
        candidates = ?candidates
            .iter()
            .map(|c| (c.2.to_string(), c.0, score(c)))
            .collect::<Vec<_>>(),
        ?derived,
        ?subtotal,
        "total candidates (amount, keyword strength, score)"
    );
    if let Some(best) = candidates
        .iter()
        .max_by_key(|c| (score(c), c.0, if c.1 == usize::MAX { 0 } else { c.1 }))
        .filter(|c| c.0 > 0 || score(c) >= 4)
    {
        // Payment evidence settles a total read before its rounding line,
        // unless the receipt prints that total more than once.
        if let Some(d) = derived
            && (best.2 - d).abs() <= Decimal::new(10, 2)
            && elsewhere(best.1, best.2) == 0
        {
            return Some(d);
        }
        return Some(best.2);
    }
    // No keyword survived OCR: the amount printed most often, else the largest.
    let mut counts: Vec<(Decimal, usize)> = Vec::new();
    for (_, v) in all_amounts.iter().filter(|(_, v)| *v > Decimal::ZERO) {
        match counts.iter_mut().find(|(x, _)| x == v) {
            Some(c) => c.1 += 1,
            None => counts.push((*v, 1)),
        }
    }
    counts
        .iter()
        .filter(|(_, n)| *n >= 2)
        .max_by_key(|(v, n)| (*n, *v))
        .or_else(|| counts.iter().max_by_key(|(v, _)| *v))
        .map(|(v, _)| *v)
}

fn find_subtotal(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| is_subtotal(k))
        .find_map(|(i, _)| announced_amount(lines, i))
}

fn is_tax_line(k: &str) -> bool {
    (has_word(k, "GST") || has_word(k, "TAX") || has_word(k, "SST") || has_word(k, "VAT"))
        && !["ID", "REG", "INVOICE", "EXCL", "INCL", "NO"]
            .iter()
            .any(|w| has_word(k, w))
        && !k.contains("SUMMARY")
}

fn find_tax(
    lines: &[&str],
    keys: &[String],
    subtotal: Option<Decimal>,
    total: Option<Decimal>,
) -> Option<Decimal> {
    let candidates: Vec<Decimal> = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| is_tax_line(k))
        .filter_map(|(i, _)| last_amount(lines[i]))
        .filter(|v| *v >= Decimal::ZERO)
        .collect();
    if let (Some(s), Some(t)) = (subtotal, total)
        && let Some(c) = candidates
            .iter()
            .find(|c| (s + **c - t).abs() <= Decimal::new(5, 2))
    {
        return Some(*c);
    }
    // A tax is a small share of the total, never most of it.
    candidates
        .into_iter()
        .rfind(|c| total.is_none_or(|t| *c * Decimal::from(2) < t || t.is_zero()))
}

fn find_rounding(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| k.contains("ROUNDING") || (k.contains("ROUND") && k.contains("ADJ")))
        .find_map(|(i, _)| last_amount(lines[i]))
        .filter(|v| v.abs() < Decimal::ONE)
}

static CURRENCY: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"\bMYR\b|\bRM\s?\d|\bRM\b", "MYR"),
        (r"\bSGD\b|\bS\$", "SGD"),
        (r"\bAUD\b|\bA\$", "AUD"),
        (r"\bCAD\b|\bC\$", "CAD"),
        (r"\bUSD\b|\bUS\$", "USD"),
        (r"€|\bEUR\b", "EUR"),
        (r"£|\bGBP\b", "GBP"),
        (r"¥|\bJPY\b", "JPY"),
        (r"₹|\bINR\b", "INR"),
        (r"\bIDR\b|\bRP\s?\d", "IDR"),
        (r"\$", "USD"),
    ]
    .into_iter()
    .map(|(r, c)| (Regex::new(&format!("(?i){r}")).unwrap(), c))
    .collect()
});

pub fn find_currency(text: &str) -> Option<String> {
    CURRENCY
        .iter()
        .find(|(re, _)| re.is_match(text))
        .map(|(_, c)| (*c).to_owned())
}

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
const NOT_A_NAME: [&str; 10] = [
    "INVOICE",
    "RECEIPT",
    "WELCOME",
    "CASH BILL",
    "COPY",
    "TEL",
    "FAX",
    "GST",
    "DATE",
    "THANK",
];

static REG_NO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[(\[]?\s*(?:CO\.?\s*(?:REG\.?)?\s*(?:NO\.?)?\s*:?\s*)?[A-Z]{0,3}\d{4,}[-\s]?[A-Z]{0,3}\s*[)\]]?\.?$").unwrap()
});
/// A registration number in brackets: `(1072825-A)`, `(4M0517726)`,
/// `(LLP0007299-LGN)`.
static PAREN_REG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[(\[]\s*[0-9A-Z]{0,3}\d{4,}[\d\s]*-?\s*[A-Z]{0,3}\s*[)\]]").unwrap()
});
/// A line that gives a company or tax registration, not an address.
static COMPANY_NO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(ROC|CO\.?\s*NO|CO\.?\s*REG|COMPANY\s+\w*\s*NO|BUSINESS\s+REG|SSM)\b|^[\d\s]{4,}[-/]?\s*[A-Z0-9]?$").unwrap()
});
/// Lines about the document: the address is above them.
static DOCUMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(TAX\s*INVOICE|INVOICE|RECEIPT|CASH\s*BILL|BILL\s*NO|DOC(UMENT)?\s*NO)")
        .unwrap()
});
/// How to reach the shop: a telephone or fax number, an email, a web
/// address. The merchant's name and address are printed above them.
const CONTACT_PATTERN: &str = r"\b(TE[L1I](?:EPHONE)?|PHONE|FAX|H/P|HP|MOBILE|EMAIL|E-MAIL|WWW|HTTPS?)\b|\bW{2,3}\.|\.CO[MN]\b|\d{2,4}-\d{6,8}|\b\d{2,4}-\d{3,4}\s\d{4}\b";
static CONTACT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("(?i){CONTACT_PATTERN}")).unwrap());
/// A line past the address: the shop's contact, its registration, or the
/// document's own details (also never an item).
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i){CONTACT_PATTERN}|\b(GST|REG|INVOICE|RECEIPT|DATE|CASHIER|TABLE)\b|\bGST\s*(ID|NO|REG)"
    ))
    .unwrap()
});
/// A tax or company identity line (`GST ID No: 0011…`, `(GST Reg 00…)`,
/// `Reg No: 1203194-W`): before the address it is skipped, after it it
/// ends the address.
static ID_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[(\[]?\s*([G6]ST|SST|TAX|CO\.?\s*REG|COMPANY|BUSINESS|ROC|BR|REG(ISTRATION)?\.?\s*NO)\b.*\d{5,}|^[(\[]?\s*[G6]ST\s*(ID|NO|REG)").unwrap()
});
/// A legal form: the line that carries it names the company that issued
/// the receipt (`… SDN BHD`, `… S/B`, `… PTE LTD`, `… CO. (M) BHD`).
static LEGAL_FORM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(SDN\.?\s*BHD|BHD|BERHAD|S/B|PTE|PLC|LTD|LIMITED|INC|LLC|GMBH)\b").unwrap()
});
/// Notes that name another company: its former name, a franchisor.
static NAMES_ANOTHER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\W*(FORMERLY\s+KNOWN\s+AS|FORMERLY|LICENSEE\s+OF|FRANCHISEE?\s+OF)\b")
        .unwrap()
});
/// Notes that name the issuer: `Owned by …`, `Dimiliki oleh …`.
static OWNED_BY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\W*(OWNE[DR]\s+BY|DIMILIKI(\s+OLEH)?|OPERATED\s+BY|MANAGED\s+BY)\s*:?\s*")
        .unwrap()
});
/// Where an address starts: a number, or a word that opens one.
static ADDRESS_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(\d|[A-Z]{1,2}-?\d|(NO|LOT|UNIT|LEVEL|LVL|BLOCK|BLK|JALAN|JLN|LORONG|SUITE|FLOOR|GROUND|PT|KM)\b)").unwrap()
});
/// Words that make a line part of an address, not a name.
static ADDRESS_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(JALAN|JLN|LORONG|TAMAN|TMN|LOT|LEVEL|FLOOR|UNIT|BANDAR|KAWASAN|STREET|ROAD|AVENUE|BLOCK|PERSIARAN)\b|\b\d{5}\b|^NO\.?\s*\d").unwrap()
});
/// Words of a tax or company identity (`BRN GST No. …`).
static IDENTITY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b([G6]ST|SST|REG|BRN|ROC)\b").unwrap());
/// Countries an address ends with.
static COUNTRY_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(MALAYSIA|SINGAPORE|INDONESIA|THAILAND|PHILIPPINES|AUSTRALIA)\W*$").unwrap()
});

fn tidy(line: &str) -> String {
    line.trim_matches(|c: char| !c.is_alphanumeric() && !matches!(c, ')' | '.' | '&'))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Like `tidy`, but keeps the commas and periods an address ends its parts with.
fn tidy_keep_punctuation(line: &str) -> String {
    line.trim_matches(|c: char| !c.is_alphanumeric() && !matches!(c, ')' | '.' | ',' | '&' | '('))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn looks_like_name(line: &str) -> bool {
    // A registration number printed beside the name is not part of it.
    let line = PAREN_REG.replace_all(line, "");
    let up = line.to_uppercase();
    let l = letters(&line);
    l >= 3
        && l * 2 >= line.chars().filter(|c| !c.is_whitespace()).count()
        && !NOT_A_NAME.iter().any(|w| up.contains(w))
}

/// Words that open a business's name in Malay (`SYARIKAT …`, `KEDAI …`).
const BUSINESS_OPENERS: [&str; 6] = [
    "SYARIKAT",
    "PERNIAGAAN",
    "KEDAI",
    "RESTORAN",
    "RESTAURANT",
    "PASARAYA",
];

fn is_business_line(up: &str) -> bool {
    BUSINESS_MARKS.iter().any(|m| {
        up.contains(&format!(" {m}"))
            || up.starts_with(m) && m.contains(' ')
            || up.ends_with(&format!(" {m}"))
    }) || BUSINESS_OPENERS
        .iter()
        .any(|m| up.starts_with(&format!("{m} ")))
}

fn has_legal_form(line: &str) -> bool {
    LEGAL_FORM.is_match(&mend_legal_form(&line.to_uppercase()))
}

/// OCR's usual slips in the Malaysian/Singaporean legal form "Sdn Bhd"
/// (`SON BHD`, `SDN BHO`, `SDN, BHD`).
fn mend_legal_form(up: &str) -> String {
    static FORM: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b(?:S[DO0]N|5DN)\s*[.,]?\s*(?:BHD|BH[DO0]|8HD)\b").unwrap());
    FORM.replace_all(up, "SDN BHD").into_owned()
}

/// Words of a name besides its legal form and the generic words of a
/// business (`RESTAURANT SDN BHD` alone is the end of a longer name).
fn words_beyond_legal_form(name: &str) -> usize {
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
fn starts_with_business_word(line: &str) -> bool {
    let up = line.trim_start().to_uppercase();
    [
        "ENTERPRISE",
        "TRADING",
        "RESTAURANT",
        "HARDWARE",
        "SDN",
        "BHD",
    ]
    .iter()
    .any(|w| up.starts_with(w))
}

/// Brackets opened and not closed on a line (negative: closed, not opened).
fn open_brackets(line: &str) -> i32 {
    line.chars().fold(0, |n, c| match c {
        '(' => n + 1,
        ')' => n - 1,
        _ => n,
    })
}

/// Accented Latin letters as their plain letter.
fn unaccent(c: char) -> char {
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
fn clean_name(name: &str) -> String {
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
fn date_only(line: &str) -> bool {
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
fn ends_with_price(line: &str) -> bool {
    let line = line.trim_end();
    amounts(line).last().is_some_and(|&(_, _, end)| {
        line[end..].chars().filter(|c| c.is_alphanumeric()).count() <= 2
    })
}

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

/// Merchant name and address from the header (the lines above the first
/// date, amount or item).
fn find_merchant(lines: &[&str]) -> (Option<String>, Option<String>) {
    // Stamps and codes above the first line of words are not the header.
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
    let header = &lines[..header_end];
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
            .or_else(|| at(&|l| candidate(l) && uppercase(l) && not_address(l)))
            .or_else(|| at(&|l| candidate(l) && not_address(l)))
    };
    let Some(mut at) = search(&header[..contact_at]).or_else(|| search(header)) else {
        return (None, None);
    };
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
        let continues = name.ends_with('&')
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
    let name = clean_name(&name);
    let rest = &header[at + 1..];
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
    let address = (!address.is_empty()).then(|| address.join(" "));
    (Some(name), address)
}

static QTY_X_PRICE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(\d+(?:\.\d+)?)\s*(?:X|@|\*|PCS?|NOS|UNITS?|EA)\s*[*@X+]?\s*(\d+[.,]\d{2})")
        .unwrap()
});

const NOT_ITEMS: [&str; 20] = [
    "TOTAL", "CASH", "CHANGE", "GST", "TAX", "ROUND", "SUBTOTAL", "BALANCE", "TENDER", "PAYMENT",
    "VISA", "MASTER", "CARD", "DISCOUNT", "AMOUNT", "QTY", "PRICE", "SST", "SERVICE", "DUE",
];

/// An item name without the product code printed before it.
fn strip_code(name: &str) -> String {
    static CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\d{5,}\s+").unwrap());
    CODE.replace(name, "").into_owned()
}

/// A count at the start of an item's line (`1PC`, `2 X`), and what follows.
static LEADING_COUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(\d{1,3})\s*(?:PCS?|X|UNITS?|NOS|EA|QTY)?\b(.*)$").unwrap());

fn find_items(lines: &[&str], keys: &[String]) -> Vec<LineItem> {
    let end = keys
        .iter()
        .position(|k| total_priority(k) > 0 || is_subtotal(k))
        .unwrap_or(lines.len());
    // Items come after the header: after the first date line, or else
    // after the first lines that carry no amount.
    let start = lines[..end]
        .iter()
        .position(|l| !dates(l).is_empty())
        .map(|i| i + 1)
        .unwrap_or(0);
    let mut items: Vec<LineItem> = Vec::new();
    let mut pending_name: Option<String> = None;
    for i in start..end {
        let line = lines[i];
        let k = &keys[i];
        let found = amounts(line);
        if NOT_ITEMS.iter().any(|w| has_word(k, w))
            || !dates(line).is_empty()
            || PHONE.is_match(line)
        {
            pending_name = None;
            continue;
        }
        let Some(&(amount, first_start, _)) = found
            .last()
            .map(|last| (last.0, found[0].1, last.2))
            .as_ref()
        else {
            // A description line whose numbers follow on the next line.
            pending_name = (letters(line) >= 3).then(|| strip_code(&tidy(line)));
            continue;
        };
        let qty = QTY_X_PRICE.captures(line);
        let desc_end = qty
            .as_ref()
            .map_or(first_start, |c| c.get(0).unwrap().start().min(first_start));
        let desc = strip_code(&tidy(&line[..desc_end]));
        // A description that is only a count (`1PC`, `2 X`) and OCR noise
        // leaves the name to the line above.
        let counted = LEADING_COUNT.captures(&desc);
        let (quantity, unit_price) = match &qty {
            Some(c) => (
                c[1].parse::<Decimal>().ok(),
                c[2].replace(',', ".").parse::<Decimal>().ok(),
            ),
            None if found.len() >= 2 => (
                counted.as_ref().and_then(|c| c[1].parse::<Decimal>().ok()),
                Some(found[found.len() - 2].0),
            ),
            None => (
                counted.as_ref().and_then(|c| c[1].parse::<Decimal>().ok()),
                None,
            ),
        };
        let rest_letters = counted.as_ref().map_or(usize::MAX, |c| {
            c[2].chars().filter(|ch| ch.is_ascii_alphabetic()).count()
        });
        // A unit price of nothing is a discount column, not the price.
        let unit_price = unit_price.filter(|p| !p.is_zero()).or_else(|| {
            quantity
                .filter(|q| !q.is_zero())
                .map(|q| (amount / q).round_dp(2))
        });
        let name_letters = letters(&desc);
        let name = if name_letters >= 2 && rest_letters >= 2 {
            desc
        } else if let Some(n) = pending_name.take() {
            n
        } else {
            continue;
        };
        if amount <= Decimal::ZERO {
            continue;
        }
        items.push(LineItem {
            name,
            quantity: quantity
                .or(Some(Decimal::ONE))
                .filter(|q| *q > Decimal::ZERO),
            unit_price,
            amount: Some(amount),
        });
        pending_name = None;
    }
    // The header's amounts (a phone number read as money) are not items:
    // keep only items after the header, i.e. after the first date line.
    items
}

/// Parses two OCR readings of one receipt: the first is trusted; a field
/// it lacks comes from the second. (Letting the readings vote on the total
/// scored worse on sroie-dev than trusting the first: see BENCHMARKS.md.)
pub fn parse_readings(first: &str, second: &str, today: NaiveDate) -> Parsed {
    let mut p = parse_receipt(first, today);
    let q = parse_receipt(second, today);
    p.total = p.total.or(q.total);
    p.purchase_date = p.purchase_date.or(q.purchase_date);
    p.merchant_name = p.merchant_name.or(q.merchant_name);
    p.merchant_address = p.merchant_address.or(q.merchant_address);
    p.currency = p.currency.or(q.currency);
    p.subtotal = p.subtotal.or(q.subtotal);
    p.tax = p.tax.or(q.tax);
    if p.items.is_empty() {
        p.items = q.items;
    }
    p
}

/// Parses OCR text.
pub fn parse_receipt(text: &str, today: NaiveDate) -> Parsed {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let keys: Vec<String> = lines.iter().map(|l| keyword_form(l)).collect();
    let (merchant_name, merchant_address) = find_merchant(&lines);

    let dated_line = |want_keyword: bool| {
        lines.iter().zip(&keys).find_map(|(l, k)| {
            if want_keyword && !k.contains("DATE") {
                return None;
            }
            dates(l)
                .into_iter()
                .find(|d| plausible_date(*d, today))
                .or_else(|| {
                    if want_keyword {
                        glued_date(l).filter(|d| plausible_date(*d, today))
                    } else {
                        None
                    }
                })
        })
    };
    // A date that is not plausible is still reported (validation flags it).
    let purchase_date = dated_line(true)
        .or_else(|| dated_line(false))
        .or_else(|| lines.iter().find_map(|l| unseparated_date(l, today)))
        .or_else(|| lines.iter().find_map(|l| dates(l).into_iter().next()));

    let total = find_total(&lines, &keys);
    let subtotal = find_subtotal(&lines, &keys);
    let tax = find_tax(&lines, &keys, subtotal, total);
    Parsed {
        merchant_name,
        merchant_address,
        purchase_date,
        currency: find_currency(text),
        subtotal,
        tax,
        rounding: find_rounding(&lines, &keys),
        total,
        items: find_items(&lines, &keys),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn dates_in_every_common_format() {
        assert_eq!(parse_date("25/12/2018"), Some(d(2018, 12, 25)));
        assert_eq!(parse_date("Date: 12-01-19 10:20"), Some(d(2019, 1, 12)));
        assert_eq!(parse_date("10 MAR 2018"), Some(d(2018, 3, 10)));
        assert_eq!(parse_date("10-Mar-18"), Some(d(2018, 3, 10)));
        assert_eq!(parse_date("2018-12-25"), Some(d(2018, 12, 25)));
        assert_eq!(parse_date("2018/12/25 13:01"), Some(d(2018, 12, 25)));
        assert_eq!(parse_date("Dec 25, 2018"), Some(d(2018, 12, 25)));
        assert_eq!(parse_date("15.06.2017"), Some(d(2017, 6, 15)));
        assert_eq!(parse_date("1st January 2020"), Some(d(2020, 1, 1)));
    }

    #[test]
    fn dates_are_day_first_unless_impossible() {
        assert_eq!(parse_date("03/04/2018"), Some(d(2018, 4, 3)));
        assert_eq!(parse_date("12/25/2018"), Some(d(2018, 12, 25)));
        assert_eq!(parse_date("31/31/2018"), None);
        assert_eq!(parse_date("no date here 12:30"), None);
        assert!(!plausible_date(d(1980, 1, 1), d(2026, 1, 1)));
        assert!(!plausible_date(d(2030, 1, 1), d(2026, 1, 1)));
    }

    #[test]
    fn amounts_are_two_decimal_money() {
        let vals = |s: &str| amounts(s).into_iter().map(|a| a.0).collect::<Vec<_>>();
        assert_eq!(vals("TOTAL RM 9.00"), vec![dec("9.00")]);
        assert_eq!(vals("RM9.00"), vec![dec("9.00")]);
        assert_eq!(vals("1,234.50"), vec![dec("1234.50")]);
        assert_eq!(vals("Rounding -0.02"), vec![dec("-0.02")]);
        assert_eq!(vals("Total 12,50"), vec![dec("12.50")]);
        assert_eq!(vals("2 x 4.50 9.00"), vec![dec("4.50"), dec("9.00")]);
        assert_eq!(vals("GST 6% 0.51"), vec![dec("0.51")]);
        assert!(vals("Invoice 123456").is_empty());
        assert!(vals("Tel 03-1234 5678").is_empty());
        assert!(vals("Time 20:17").is_empty());
        assert_eq!(parse_amount("RM9.00"), Some(dec("9.00")));
        assert_eq!(parse_amount("$ 1,234.50"), Some(dec("1234.50")));
    }

    #[test]
    fn the_total_is_the_amount_paid_not_a_subtotal_or_a_count() {
        let today = d(2026, 1, 1);
        let text =
            "SHOP\nSubtotal 8.49\nGST 6% 0.51\nTotal Qty 3\nTOTAL 9.00\nCASH 10.00\nCHANGE 1.00";
        assert_eq!(parse_receipt(text, today).total, Some(dec("9.00")));
        let text = "SHOP\nTotal Sales (Excluding GST) 51.42\nTotal GST 3.08\nTotal Sales (Inclusive of GST) 54.50\nRounding 0.00";
        assert_eq!(parse_receipt(text, today).total, Some(dec("54.50")));
        let text = "SHOP\nTOTAL 9.03\nRounding -0.03\nRounded Total 9.00";
        let p = parse_receipt(text, today);
        assert_eq!(p.total, Some(dec("9.00")));
        assert_eq!(p.rounding, Some(dec("-0.03")));
        let text = "SHOP\nGRAND TOTAL\n15.90\nCASH 20.00";
        assert_eq!(parse_receipt(text, today).total, Some(dec("15.90")));
        let text = "SHOP\nT0TAL: 7.50";
        assert_eq!(parse_receipt(text, today).total, Some(dec("7.50")));
        let text = "SHOP\nAMOUNT DUE 23.10";
        assert_eq!(parse_receipt(text, today).total, Some(dec("23.10")));
        let text = "SHOP\nNETT 4.20";
        assert_eq!(parse_receipt(text, today).total, Some(dec("4.20")));
        // No keyword survived: cash minus change.
        let text = "SHOP\nTEA 3.00\nCASH 50.00\nCHANGE 47.00";
        assert_eq!(parse_receipt(text, today).total, Some(dec("3.00")));
    }

    #[test]
    fn merchant_name_and_address_come_from_the_header() {
        let text = "TAN CHAY YEE\nOJC MARKETING SDN BHD\n(1234567-H)\nNO 2 & 4, JALAN BAYU 4,\nBANDAR SERI ALAM,\n81750 MASAI, JOHOR\nTel: 07-388 2218\nDate 15/01/2019\nTOTAL 10.00";
        let p = parse_receipt(text, d(2026, 1, 1));
        assert_eq!(p.merchant_name.as_deref(), Some("OJC MARKETING SDN BHD"));
        assert_eq!(
            p.merchant_address.as_deref(),
            Some("NO 2 & 4, JALAN BAYU 4, BANDAR SERI ALAM, 81750 MASAI, JOHOR")
        );
        assert_eq!(p.purchase_date, Some(d(2019, 1, 15)));
        assert_eq!(p.currency, None);

        let text =
            "Corner Bakery\n12 Main Street\nSpringfield\n01/02/2020\nBagel $2.50\nTOTAL $2.50";
        let p = parse_receipt(text, d(2026, 1, 1));
        assert_eq!(p.merchant_name.as_deref(), Some("Corner Bakery"));
        assert_eq!(
            p.merchant_address.as_deref(),
            Some("12 Main Street Springfield")
        );
        assert_eq!(p.currency.as_deref(), Some("USD"));
    }

    #[test]
    fn the_legal_entity_names_the_merchant_and_notes_are_not_the_address() {
        let today = d(2026, 1, 1);
        // A brand above the company that owns it.
        let text = "SUSHI HOUSE RESTAURANT\nKAMPAI FOODS SDN BHD (123456-K)\n7, JALAN MERAK 2,\nTAMAN BURUNG, 52100 KUALA LUMPUR\nTEL: 03-1234 5678\nDate 01/02/2019\nTOTAL 10.00";
        let p = parse_receipt(text, today);
        assert_eq!(p.merchant_name.as_deref(), Some("KAMPAI FOODS SDN BHD"));
        assert_eq!(
            p.merchant_address.as_deref(),
            Some("7, JALAN MERAK 2, TAMAN BURUNG, 52100 KUALA LUMPUR")
        );
        // A former name and a franchisor are another company; the address
        // that follows on the same line is kept.
        let text = "Acme Burgers Sdn Bhd\n(65351-M)\nformerly known as\nOld Burgers Sdn Bnd\nLicensee of BurgerKing Level 6, Wisma Satu\nNo.3, Jalan SS2/39, 47400 Petaling Jaya\nTEL 03-77001234\nDate 01/02/2019\nTOTAL 10.00";
        let p = parse_receipt(text, today);
        assert_eq!(p.merchant_name.as_deref(), Some("Acme Burgers Sdn Bhd"));
        assert_eq!(
            p.merchant_address.as_deref(),
            Some("Level 6, Wisma Satu No.3, Jalan SS2/39, 47400 Petaling Jaya")
        );
        // "Owned by" names the issuer; a branch name stands above its street.
        let text = "Pho Corner\nOwned by: pho corner sdn bhd 1234567-W\nSRI MUDA BRANCH\n4-20, Jalan Ria 25/62\n40400 Shah Alam, Malaysia\nOPEN DAILY 10AM\nDate 01/02/2019\nTOTAL 10.00";
        let p = parse_receipt(text, today);
        assert_eq!(p.merchant_name.as_deref(), Some("pho corner Sdn Bhd"));
        assert_eq!(
            p.merchant_address.as_deref(),
            Some("4-20, Jalan Ria 25/62 40400 Shah Alam, Malaysia"),
            "the address ends with its country"
        );
    }

    #[test]
    fn a_name_broken_over_lines_is_joined() {
        let today = d(2026, 1, 1);
        let text = "LIM KEE HARDWARE\nENTERPRISE (BANDAR\nBARU) SDN BHD\n822737-X\nNO. 17, JALAN INDAH\nTEL: 012-6651783\nDate 01/02/2019\nTOTAL 1.00";
        let p = parse_receipt(text, today);
        assert_eq!(
            p.merchant_name.as_deref(),
            Some("LIM KEE HARDWARE ENTERPRISE (BANDAR BARU) SDN BHD")
        );
        assert_eq!(p.merchant_address.as_deref(), Some("NO. 17, JALAN INDAH"));
        let text = "GREEN LEAF VEGETARIAN\nRESTAURANT SDN BHD\n12, JALAN SATU\nDate 01/02/2019\nTOTAL 1.00";
        let p = parse_receipt(text, today);
        assert_eq!(
            p.merchant_name.as_deref(),
            Some("GREEN LEAF VEGETARIAN RESTAURANT SDN BHD")
        );
        // A Malay business name without a legal form, under stamp noise.
        let text = "3 18010.17\nSYARIKAT PERNIAGAAN ANG HOE\n(81109-A)\nNO 29, JALAN AIR HITAM,\n53200, KUALA LUMPUR.\nTEL:03-40210276\nDate 01/02/2019\nTOTAL 1.00";
        let p = parse_receipt(text, today);
        assert_eq!(
            p.merchant_name.as_deref(),
            Some("SYARIKAT PERNIAGAAN ANG HOE")
        );
        assert_eq!(
            p.merchant_address.as_deref(),
            Some("NO 29, JALAN AIR HITAM, 53200, KUALA LUMPUR.")
        );
        // OCR slips in a name: an accent, a glyph of another script.
        let text = "天 KEDAI BUKU HARDWARÉ\n12, JALAN SATU\nDate 01/02/2019\nTOTAL 1.00";
        let p = parse_receipt(text, today);
        assert_eq!(p.merchant_name.as_deref(), Some("KEDAI BUKU HARDWARE"));
    }

    #[test]
    fn a_date_beside_the_name_does_not_end_the_header() {
        let text = "NASI BARU SDN BHD\n05 Mar 2018 18:24\n(867388-U)\n12, Jalan Tampin 7/4, Kawasan Industri\nTampin, 81200 Johor Bahru, Johor\nTAX INVOICE\nRice 5.50\nNett Total: 5.50";
        let p = parse_receipt(text, d(2026, 1, 1));
        assert_eq!(p.merchant_name.as_deref(), Some("NASI BARU SDN BHD"));
        assert_eq!(
            p.merchant_address.as_deref(),
            Some("12, Jalan Tampin 7/4, Kawasan Industri Tampin, 81200 Johor Bahru, Johor")
        );
        assert_eq!(p.purchase_date, Some(d(2018, 3, 5)));
        // An address's "55,57" is not a price.
        let text = "BOOK SHOP SDN BHD\nNO.5: 55,57 & 59, JALAN SAGU 18,\n81100 JOHOR BAHRU\nDate: 25/12/2018\nTotal 9.00";
        let p = parse_receipt(text, d(2026, 1, 1));
        assert_eq!(
            p.merchant_address.as_deref(),
            Some("NO.5: 55,57 & 59, JALAN SAGU 18, 81100 JOHOR BAHRU")
        );
    }

    #[test]
    fn dates_run_into_times_or_printed_without_separators() {
        let today = d(2026, 1, 1);
        assert_eq!(
            parse_date("Receipt : 7185 02/03/1805:16PM"),
            Some(d(2018, 3, 2))
        );
        assert_eq!(
            parse_date("Doc No. CS0001 Date10/01/2018"),
            Some(d(2018, 1, 10))
        );
        assert_eq!(
            parse_date("#001-0934-000105/01/201813:30-R"),
            Some(d(2018, 1, 5))
        );
        assert_eq!(
            parse_date("TAX INVOICE Date: 22/12/017"),
            Some(d(2017, 12, 22))
        );
        let text = "SHOP\n27032018 No.CS-20242\nTOTAL 1.00";
        assert_eq!(
            parse_receipt(text, today).purchase_date,
            Some(d(2018, 3, 27))
        );
        // A long number that is no recent date is not one.
        let text = "SHOP\nInvoice 31121989\nTOTAL 1.00";
        assert_eq!(parse_receipt(text, today).purchase_date, None);
    }

    #[test]
    fn an_item_named_on_the_line_above_its_count() {
        let text = "SHOP\nDate: 25/12/2018\n9556939040116 KF MODELLING CLAY\n1PC 第 9.000 0.00 9.00\nTotal : 9.00";
        let p = parse_receipt(text, d(2026, 1, 1));
        assert_eq!(p.items.len(), 1, "{:?}", p.items);
        assert_eq!(p.items[0].name, "KF MODELLING CLAY");
        assert_eq!(p.items[0].quantity, Some(dec("1")));
        assert_eq!(p.items[0].unit_price, Some(dec("9.00")));
        assert_eq!(p.items[0].amount, Some(dec("9.00")));
    }

    #[test]
    fn a_service_charge_is_not_the_change() {
        let text = "SHOP\nTotal (Excluding GST): 21.30\nServ. Charge (3%): 0.65\nGST payable (6%): 1.31\nTotal (Inclusive of GST): 23.26\nRounding Adj: -0.01\nTOTAL: 23.25";
        assert_eq!(parse_receipt(text, d(2026, 1, 1)).total, Some(dec("23.25")));
    }

    #[test]
    fn currencies_by_symbol_or_code() {
        assert_eq!(find_currency("TOTAL RM 9.00").as_deref(), Some("MYR"));
        assert_eq!(find_currency("Total: €12,50").as_deref(), Some("EUR"));
        assert_eq!(find_currency("TOTAL £3.20").as_deref(), Some("GBP"));
        assert_eq!(find_currency("TOTAL S$3.20").as_deref(), Some("SGD"));
        assert_eq!(find_currency("TOTAL 3.20").as_deref(), None);
    }

    #[test]
    fn line_items_with_quantities_and_prices() {
        let text = "SHOP SDN BHD\nNO 5, 55,57 JALAN\nDate 01/02/2019\nTEH O 2 x 2.25 4.50\nROTI CANAI 1.50\n9556939040118 KF MODELLING CLAY\n1 PC + 9.00 9.00\nSUBTOTAL 15.00\nTOTAL 15.00";
        let p = parse_receipt(text, d(2026, 1, 1));
        type Row = (String, Option<Decimal>, Option<Decimal>, Option<Decimal>);
        let got: Vec<Row> = p
            .items
            .iter()
            .map(|i| (i.name.clone(), i.quantity, i.unit_price, i.amount))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "TEH O".to_owned(),
                    Some(dec("2")),
                    Some(dec("2.25")),
                    Some(dec("4.50"))
                ),
                (
                    "ROTI CANAI".to_owned(),
                    Some(dec("1")),
                    None,
                    Some(dec("1.50"))
                ),
                (
                    "KF MODELLING CLAY".to_owned(),
                    Some(dec("1")),
                    Some(dec("9.00")),
                    Some(dec("9.00"))
                ),
            ]
        );
        assert_eq!(p.subtotal, Some(dec("15.00")));
    }

    #[test]
    fn tax_is_the_line_that_makes_the_sum() {
        let text = "SHOP\nSUBTOTAL 8.49\nGST ID: 000123456789\nTAX AMT (S) 6% 8.49\nGST 6% 0.51\nTOTAL 9.00";
        let p = parse_receipt(text, d(2026, 1, 1));
        assert_eq!(p.tax, Some(dec("0.51")));
    }
}
