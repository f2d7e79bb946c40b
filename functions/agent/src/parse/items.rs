//! The purchased lines between the header and the totals. Each line is
//! first classed by its shape (a whole item, a name alone, the numbers of
//! an item alone, a quantity × price line), then the parts are put
//! together the way the receipt lays them out: a name above its numbers
//! or below them, a quantity line before or after its item.

use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;
use shared::domain::extraction::LineItem;

use super::assemble::{Shape, assemble};
use super::dates::dates;
use super::header::{CURRENCY_HEADING, PHONE, ends_with_price};
use super::item_words::{ADJUSTMENTS, NOT_ITEMS, is_heading, tax_column_before_price};
use super::money::amounts;
use super::text::{has_any, has_word, letters};
use super::totals::{is_cash_line, is_subtotal, total_priority};

/// `2 x 1,29`, `4 X2.80`, `0,532 kg x 2,99 EUR/kg`, `3 @ 1.99`, `2 Rolle
/// x 24,90`: a quantity (a count or a weight, with its unit) times a unit
/// price.
static QTY_X_PRICE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(\d{1,4}(?:[.,]\d{1,3})?)\s*(?:[A-ZÄÖÜ]{1,10}\.?\s*)?(?:X|×|@|\*)\s*(?:RM|EUR|€|\$)?\s*(\d+[.,]\d{2,3})(?:\s*(?:EUR|€|\$)?\s*/\s*(?:KG|STK|LB|GAL|L))?",
    )
    .unwrap()
});

/// A name without the tax rate a rate column printed after it.
fn without_rate(name: &str) -> Option<String> {
    static RATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(.*\S)\s+\d{1,2}\s?%$").unwrap());
    RATE.captures(name)
        .map(|c| c[1].to_owned())
        .filter(|n| has_name(n))
}

/// An item's name as printed: trimmed of stray marks (a `%` or a
/// bracket that ends it stays), and a `0` between two letters read as the
/// `O` it is (`J0GHURT`).
fn mend_name(name: &str) -> String {
    // A tax mark the till prints after the name (`*S`, `.s`), and the
    // unit column before it (`EA .s`), are no part of it.
    static MARK: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:\s+(?:EA|PCS?|CS|BOX|PKT|UNIT|BTL))?\s+[*.][A-Za-z]$").unwrap()
    });
    let name = MARK.replace(name.trim_end(), "");
    let chars: Vec<char> = name
        .trim_matches(|c: char| !c.is_alphanumeric() && !matches!(c, '%' | ')' | '.'))
        .chars()
        .collect();
    let letter = |i: Option<usize>| {
        i.and_then(|i| chars.get(i))
            .is_some_and(|c| c.is_alphabetic())
    };
    (0..chars.len())
        .map(|i| {
            if chars[i] == '0' && letter(i.checked_sub(1)) && letter(Some(i + 1)) {
                'O'
            } else {
                chars[i]
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A keyword on an item's line: exactly, or one letter off when it is a
/// long word (`SUMMER` is no `SUMME`, `KART.SALAT` no `KARTE`).
fn has_keyword(k: &str, word: &str) -> bool {
    if word.len() >= 7 {
        has_word(k, word)
    } else {
        k.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == word)
    }
}

/// `CARD` in a product's name (`UNI WORKER'S CARD (1-31) 100'S`), not a
/// payment: no amount, no card number, no colon on the line.
fn product_card(word: &str, line: &str) -> bool {
    static CARD_NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\dX*]{4,}|:").unwrap());
    word == "CARD" && amounts(line).is_empty() && !CARD_NUMBER.is_match(line)
}

/// A run of three letters: a name, not a code like `EZ10HD05`.
fn has_name(s: &str) -> bool {
    let mut run = 0;
    for c in s.chars() {
        run = if c.is_alphabetic() { run + 1 } else { 0 };
        if run >= 3 {
            return true;
        }
    }
    false
}

/// The article number printed before a name (`9556001 TEH O`,
/// `4078500873307 Grasschere`), and the rest.
fn split_code(desc: &str) -> (Option<String>, String) {
    static CODE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^([0-9][0-9+\-]{2,}[0-9])\s+(.*)$").unwrap());
    static ALONE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9][0-9+\-]{3,}[0-9]$").unwrap());
    match CODE.captures(desc) {
        Some(c) => (Some(c[1].to_owned()), c[2].to_owned()),
        None if ALONE.is_match(desc) => (Some(desc.to_owned()), String::new()),
        None => (None, desc.to_owned()),
    }
}

/// The article number printed after a name (`GREAT VALUE MILK 007874235`,
/// `BANANAS 000000004011 KF`: a code of eight digits or more, and the
/// shop's mark after it), and the name.
fn code_after(name: &str) -> (Option<String>, String) {
    static AFTER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(.*[A-Za-z].*?)\s+(\d{8,14})(?:\s+[A-Z]{1,2})?$").unwrap());
    match AFTER.captures(name.trim()) {
        Some(c) => (Some(c[2].to_owned()), c[1].to_owned()),
        None => (None, name.to_owned()),
    }
}

/// A count at the start of a name (`2 Burger`, `1PC PEN`) or a count at
/// its end (`PLASTIC 2`), as the quantity.
fn count_in_name(name: &str) -> (Option<Decimal>, String) {
    static LEADING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(\d{1,3})\s*(?:PCS?|X|×|\*|UNITS?|NOS|EA|QTY|STK)?\s+(\S.*)$").unwrap()
    });
    static BEFORE_CODE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)^(\d{1,3})\s*[X×*]\s*(\d{5,})$").unwrap());
    if let Some(c) = BEFORE_CODE.captures(name) {
        return (c[1].parse().ok(), c[2].to_owned());
    }
    if let Some(c) = LEADING.captures(name).filter(|c| has_name(&c[2])) {
        return (c[1].parse().ok(), c[2].to_owned());
    }
    (None, name.to_owned())
}

/// A count at the end of a name (`PLASTIC 2` before `15.50 31.00`): only
/// when it times the unit price makes the amount, since a number ends
/// many names (`ANDLIG Mess 3`).
fn trailing_count(name: &str, unit: Option<Decimal>, amount: Decimal) -> Option<(Decimal, String)> {
    static TRAILING: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)^(.*\S)\s+(\d{1,3})\s*(?:PCS?|X|UNITS?|STK)?$").unwrap());
    let c = TRAILING.captures(name).filter(|c| has_name(&c[1]))?;
    let count: Decimal = c[2].parse().ok()?;
    // A lone `1` before the only price is the count of one.
    let unit = unit.or((count == Decimal::ONE).then_some(amount))?;
    ((count * unit - amount).abs() <= Decimal::new(1, 2)).then(|| (count, c[1].to_owned()))
}

/// A count the line does not print (`1938 2 6.89 13.78`, where the `2`
/// reads as part of a code): the amount is a whole number of times the
/// unit price, to the cent, from 2 to 99 times.
fn whole_times(unit: Option<Decimal>, amount: Decimal) -> Option<Decimal> {
    let unit = unit.filter(|u| *u > Decimal::ZERO && *u < amount)?;
    let n = (amount / unit).round();
    let exact = (n * unit - amount).abs() < Decimal::new(5, 3);
    (exact && n >= Decimal::TWO && n <= Decimal::from(99)).then_some(n)
}

/// The last price with three or four decimals (`2.6500`, `9.000`) in
/// `s`, and where it starts.
fn precise_price(s: &str) -> Option<(Decimal, usize)> {
    static PRECISE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:^|\s)(\d{1,5}[.,]\d{3,4})(?:\s|$)").unwrap());
    let m = PRECISE.captures_iter(s).last()?.get(1)?;
    Some((decimal(m.as_str())?, m.start()))
}

fn decimal(s: &str) -> Option<Decimal> {
    s.replace(',', ".").parse().ok()
}

/// The unit price on a line of several amounts: the last one before the
/// amount that is not nothing (a 0.00 between is a discount column).
fn unit_before_last(found: &[(Decimal, usize, usize)]) -> Option<Decimal> {
    found[..found.len() - 1]
        .iter()
        .rev()
        .map(|a| a.0)
        .find(|v| !v.is_zero())
        .or(Some(found[found.len() - 2].0))
}

/// `1.00 PKT 0.7500 0.75`: a count printed as money, then the unit price
/// to four places; the count and the price when they make the amount.
fn count_as_money(line: &str, found: &Found, amount: Decimal) -> Option<(Decimal, Decimal)> {
    let [(count, _, count_end), (_, last_start, _)] = found else {
        return None;
    };
    let (unit, _) = precise_price(&line[*count_end..*last_start])?;
    ((count * unit - amount).abs() <= Decimal::new(1, 2)).then_some((*count, unit))
}

/// The item a line with amounts describes (its name may be empty).
type Found = [(Decimal, usize, usize)];

/// The amounts that price the item (a discount column of nothing left
/// out), and the count and unit price when the amount itself was lost.
fn priced<'a>(line: &str, found: &'a Found) -> (&'a Found, Option<(Decimal, Decimal)>) {
    // A trailing 0.00 after a price is a discount column whose amount
    // OCR lost (`1 35.00 0.00`): the amount is the price times the count.
    let discount_column = matches!(found, [.., (p, ..), (z, ..)] if z.is_zero() && !p.is_zero());
    let found = if discount_column {
        &found[..found.len() - 1]
    } else {
        found
    };
    // `2 1.50 0.00 3`: a count, the unit price and the discount column,
    // the amount lost; it is the count times the price.
    let lost_amount = (discount_column && found.len() == 1)
        .then(|| line[..found[0].1].trim().parse::<u16>().ok())
        .flatten()
        .filter(|n| (2..=99).contains(n))
        .map(|n| (Decimal::from(n), found[0].0));
    (found, lost_amount)
}

/// The code, the count and the name printed before an item's figures.
fn described(desc: &str) -> (Option<String>, Option<Decimal>, String) {
    let (code, rest) = split_code(&mend_name(desc));
    let (count, name) = count_in_name(&rest);
    // A count before the code (`1x 000001888854`).
    let (code, count, name) = match (code, split_code(&name)) {
        (None, (Some(c), n)) if count.is_some() => (Some(c), count, n),
        (code, _) => (code, count, name),
    };
    // A currency printed before the price is no part of the name.
    static CURRENCY_END: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\s+(?:RM|EUR|€|\$|USD|MYR|SGD)$").unwrap());
    let name = CURRENCY_END.replace(&name, "").into_owned();
    let (code, name) = match code {
        None => code_after(&name),
        code => (code, name),
    };
    (code, count, name)
}

fn item_of(line: &str, k: &str, found: &Found) -> LineItem {
    let (found, lost_amount) = priced(line, found);
    let (mut amount, first_start) = (found[found.len() - 1].0, found[0].1);
    if let Some((n, unit)) = lost_amount {
        amount = n * unit;
    }
    let qty = QTY_X_PRICE.captures(line);
    // `2 2.6500 5.30`: a unit price printed to more places than money.
    let long_unit = (found.len() == 1)
        .then(|| precise_price(&line[..first_start]))
        .flatten();
    let desc_end = qty
        .as_ref()
        .map_or(first_start, |c| c.get(0).unwrap().start().min(first_start))
        .min(long_unit.map_or(usize::MAX, |u| u.1));
    let (code, count, name) = described(&line[..desc_end]);
    let (quantity, unit_price) = match &qty {
        Some(c) if found.len() >= 2 || c.get(0).unwrap().end() < found[found.len() - 1].1 => {
            (decimal(&c[1]), decimal(&c[2]))
        }
        _ if lost_amount.is_some() => (lost_amount.map(|l| l.0), lost_amount.map(|l| l.1)),
        _ if let Some((q, u)) = count_as_money(line, found, amount) => (Some(q), Some(u)),
        _ if found.len() >= 2 => (count, unit_before_last(found)),
        _ => (count, long_unit.map(|u| u.0)),
    };
    // Numbers alone (`9555067700208 10 10.57 0.00 105.66`): a whole number
    // after the code is the count when it times the unit price comes
    // near the amount (a discount may part them a little).
    let count_alone = name.trim().parse::<u16>().ok().map(Decimal::from);
    let (quantity, name) = match (quantity, count_alone, unit_price) {
        (None, Some(n), Some(u))
            if !n.is_zero() && ((n * u - amount).abs() * Decimal::from(100) <= amount.abs()) =>
        {
            (Some(n), String::new())
        }
        (q, _, _) => (q, name),
    };
    let nonzero_unit = unit_price.filter(|u| !u.is_zero());
    let (quantity, name) = match trailing_count(&name, nonzero_unit, amount) {
        Some((q, n)) if quantity.is_none() => (Some(q), n),
        _ => (quantity, name),
    };
    let quantity = quantity.or_else(|| whole_times(nonzero_unit, amount));
    if has_any(k, &ADJUSTMENTS) && amount > Decimal::ZERO {
        amount = -amount;
    }
    // A unit price of nothing is a discount column, not the price.
    let unit_price = unit_price.filter(|p| !p.is_zero()).or_else(|| {
        quantity
            .or(Some(Decimal::ONE))
            .filter(|q| !q.is_zero())
            .map(|q| {
                let mut unit = (amount / q).round_dp(2);
                unit.rescale(2);
                unit
            })
    });
    LineItem {
        name: mend_name(&name),
        code,
        quantity: quantity
            .or(Some(Decimal::ONE))
            .filter(|q| *q > Decimal::ZERO),
        unit_price,
        amount: Some(amount),
    }
}

/// Two equal amounts OCR ran together (`11.2311.23`), parted.
fn unglue(line: &str) -> String {
    static GLUED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b(\d{1,4}[.,]\d{2})(\d{1,4}[.,]\d{2})\b").unwrap());
    GLUED
        .replace_all(line, |c: &regex::Captures| {
            if c[1] == c[2] {
                format!("{} {}", &c[1], &c[2])
            } else {
                c[0].to_owned()
            }
        })
        .into_owned()
}

/// A price whose decimal mark OCR lost at the end of a line (`TONIC 1 59
/// C`, `PFAND 0 25×C`): two digits after a short number, then at most a
/// tax letter, read as the price it is.
fn mend_price(line: &str) -> String {
    static SPLIT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(\s(?:RM|€|\$)?)(\d{1,3}) (\d{2})(\s*[A-Z*×]{0,2}\s*)$").unwrap()
    });
    // `RMO.65`, `RM.50`: the zero of a price after its currency read as
    // an `O`, or not printed.
    static LETTER_O: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(^|[^A-Za-z0-9])(RM|\$|€)\s?[Oo]?([.,]\d{2})\b").unwrap());
    let line = LETTER_O.replace_all(line, "${1}${2}0$3");
    if !amounts(&line).is_empty() {
        return line.into_owned();
    }
    SPLIT.replace(&line, "$1$2.$3$4").into_owned()
}

/// Opening hours (`SUN-THU:1000HRS - 2230 HRS`, `Mo-Sa 8-20 Uhr`).
static OPENING_HOURS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(HRS|HOURS|OFFNUNGSZEITEN|OPENING)\b|\d\s*UHR\b").unwrap());

/// An article number on a line of its own, labelled (`Artikel 80129462
/// 11387`, `ART/EAN 4002245701618`): the code of the item below it.
pub(super) fn labelled_code(k: &str) -> Option<String> {
    static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:ARTIKEL|ARTIKE1|ART/EAN|ART\.?-?NR\.?|EAN|SKU|PLU|UPC)\s*:?\s*(\d{4,})(?:\s+\d+)?$")
            .unwrap()
    });
    LABELLED.captures(k.trim()).map(|c| c[1].to_owned())
}

/// A printed rule (`-----`, `=====`), as OCR reads it: dashes, or the
/// CJK strokes a Chinese recognizer makes of them (`ニニヨニニ`).
fn is_rule(line: &str) -> bool {
    const STROKES: &str = "-=_~*.:ニヨコこつミはに日一ー―—";
    let marks: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    marks.len() >= 6
        && marks.iter().filter(|c| STROKES.contains(**c)).count() * 5 >= marks.len() * 4
}

/// Words, not garble (`=:===4: E=EEE`): most of the marks are letters or
/// digits.
fn wordlike(line: &str) -> bool {
    let marks = line.chars().filter(|c| !c.is_whitespace()).count();
    line.chars().filter(|c| c.is_alphanumeric()).count() * 5 >= marks * 3
}

fn shape(line: &str, k: &str) -> Shape {
    if let Some(code) = labelled_code(k) {
        return Shape::Code(code);
    }
    if is_rule(line) {
        return Shape::Other;
    }
    let line = &mend_price(&unglue(line));
    if !dates(line).is_empty() && !has_name(line) {
        // A code that reads like a date (`HD03-04-06`).
        return Shape::Noise(line.trim().to_owned());
    }
    if is_heading(k)
        || CURRENCY_HEADING.is_match(line.trim())
        || PHONE.is_match(line)
        || !dates(line).is_empty()
        || (NOT_ITEMS
            .iter()
            .any(|w| has_keyword(k, w) && !product_card(w, line))
            && !has_any(k, &ADJUSTMENTS))
        || k.contains("QTY")
        || (is_cash_line(k) && !has_any(k, &ADJUSTMENTS))
        || super::articles::count_on_line(k).is_some()
        || OPENING_HOURS.is_match(k)
    {
        return Shape::Other;
    }
    let found = amounts(line);
    if found.is_empty()
        && let Some(c) = BROKEN_PRICE.captures(line)
        && has_name(&c[1])
    {
        let figures: String = c[2].chars().filter(char::is_ascii_digit).collect();
        return Shape::Unpriced(mend_name(&c[1]), figures);
    }
    if found.is_empty() {
        let t = mend_name(line);
        let (_, name) = split_code(&t);
        static TIMES: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"^\d{1,3}\s*[*×]\s+(\S.*)$").unwrap());
        let name = TIMES.replace(&name, "$1").into_owned();
        return if has_name(&name) && letters(&name) >= 3 && wordlike(line) {
            if line.trim_start().starts_with([':', '+', '>', '~']) {
                Shape::Note(mend_name(&name))
            } else {
                Shape::Name(mend_name(&name))
            }
        } else {
            Shape::Noise(t)
        };
    }
    let item = item_of(line, k, &found);
    // Nothing deducted is no line; an article given for nothing is one
    // (`2 Breadsticks 0.00`, `Tako Ball` / `1x 0.00 0.00`).
    if item.amount.is_some_and(|a| a.is_zero()) && has_any(k, &ADJUSTMENTS) {
        return Shape::Other;
    }
    // `2 x 1,29` or `2.07 lb @ 0.60 /lb` alone: the quantity of the item
    // beside it.
    if let Some(c) = QTY_X_PRICE.captures(line)
        && c.get(0).unwrap().end() >= found[found.len() - 1].2
        && !has_name(&item.name)
        && let (Some(q), Some(p)) = (decimal(&c[1]), decimal(&c[2]))
    {
        return Shape::QtyPrice(q, p);
    }
    if has_name(&item.name) {
        Shape::Item(item)
    } else {
        Shape::Numbers(numbers_code(item))
    }
}

/// Numbers whose name is on another line keep the article code printed
/// before them (`NE3555 2 1.00 2.00`, `2623 2 2.12 4.24`).
fn numbers_code(mut item: LineItem) -> LineItem {
    if item.code.is_none()
        && let Some(first) = item.name.split_whitespace().next()
        && first.len() >= 4
        && first.chars().any(|c| c.is_ascii_digit())
        && first
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-/.".contains(c))
    {
        item.code = Some(first.to_owned());
    }
    item
}

/// A name, then figures that are no price, then a tax class: an item
/// line whose price OCR broke (`KM BBQ-SALAD 350G 1,9 99 B`).
static BROKEN_PRICE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.*[A-Za-z].*?)\s+(\d[\d.,]*(?:\s+\d[\d.,]*)+)\s*[*×]?\s*[A-D]\*?$").unwrap()
});

/// The one price OCR broke, told by what the others leave of the total:
/// taken when that amount's digits stand, in order, among the figures
/// left on its line. Lines whose price stays unknown are left out.
fn fill_broken_price(items: &mut Vec<LineItem>, figures: &[String], sums: &[Decimal]) {
    let unknown: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].amount.is_none())
        .collect();
    if let ([at], [figures]) = (&unknown[..], figures) {
        let known: Decimal = items.iter().filter_map(|i| i.amount).sum();
        let within = |gap: &Decimal| {
            let digits = gap.to_string().replace('.', "");
            let mut rest = figures.chars();
            digits.chars().all(|d| rest.any(|f| f == d))
        };
        if let Some(gap) = sums
            .iter()
            .map(|s| s - known)
            .find(|g| *g > Decimal::ZERO && within(g))
        {
            let item = &mut items[*at];
            item.amount = Some(gap);
            item.unit_price = item.amount;
            item.quantity = Some(Decimal::ONE);
        }
    }
    items.retain(|i| i.amount.is_some());
}

/// Where the list of items ends: the first line of the totals.
fn list_end(keys: &[String]) -> usize {
    keys.iter()
        .position(|k| total_priority(k) > 0 || is_subtotal(k) || counts_the_list(k))
        .unwrap_or(keys.len())
}

/// `Total Qty: 6`, `TOTAL ITEMS 4`: a line after the list that counts it.
fn counts_the_list(k: &str) -> bool {
    k.split_whitespace()
        .next()
        .is_some_and(|w| w.trim_matches(|c: char| !c.is_ascii_alphabetic()) == "TOTAL")
        && ["QTY", "QUANTITY", "ITEM"].iter().any(|w| k.contains(w))
}

/// The items between the header and the totals; `sums` are what they
/// should add up to (the subtotal, the total), for a price OCR broke.
pub(crate) fn find_items(lines: &[&str], keys: &[String], sums: &[Decimal]) -> Vec<LineItem> {
    let end = list_end(keys);
    // Items come after the header: after a date line above the first
    // amount (codes that read like dates may stand among the items).
    let first_amount = lines[..end]
        .iter()
        .position(|l| ends_with_price(l))
        .unwrap_or(end);
    let start = lines[..first_amount]
        .iter()
        .rposition(|l| !dates(l).is_empty())
        .map_or(0, |i| i + 1);
    let shapes: Vec<Shape> = (start..end).map(|i| shape(lines[i], &keys[i])).collect();
    let figures: Vec<String> = shapes
        .iter()
        .filter_map(|s| match s {
            Shape::Unpriced(_, f) => Some(f.clone()),
            _ => None,
        })
        .collect();
    let mut items = assemble(shapes);
    fill_broken_price(&mut items, &figures, sums);
    if keys[start..end].iter().any(|k| tax_column_before_price(k)) {
        for item in &mut items {
            if let Some(name) = without_rate(&item.name) {
                item.name = name;
            }
        }
    }
    // A last line that adds up all the others is a total OCR garbled.
    if items.len() >= 3 {
        let (last, rest) = items.split_last().unwrap();
        let sum: Decimal = rest.iter().filter_map(|i| i.amount).sum();
        if last.amount == Some(sum) {
            items.pop();
        }
    }
    items
}
