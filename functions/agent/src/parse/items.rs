//! The purchased lines between the header and the totals.

use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;
use shared::extraction::LineItem;

use super::dates::dates;
use super::merchant::{PHONE, tidy};
use super::money::amounts;
use super::text::{has_word, letters};
use super::totals::{is_subtotal, total_priority};

pub(crate) static QTY_X_PRICE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(\d+(?:\.\d+)?)\s*(?:X|@|\*|PCS?|NOS|UNITS?|EA)\s*[*@X+]?\s*(\d+[.,]\d{2})")
        .unwrap()
});

const NOT_ITEMS: [&str; 20] = [
    "TOTAL", "CASH", "CHANGE", "GST", "TAX", "ROUND", "SUBTOTAL", "BALANCE", "TENDER", "PAYMENT",
    "VISA", "MASTER", "CARD", "DISCOUNT", "AMOUNT", "QTY", "PRICE", "SST", "SERVICE", "DUE",
];

/// An item name without the product code printed before it.
pub(crate) fn strip_code(name: &str) -> String {
    static CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\d{5,}\s+").unwrap());
    CODE.replace(name, "").into_owned()
}

/// A count at the start of an item's line (`1PC`, `2 X`), and what follows.
pub(crate) static LEADING_COUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(\d{1,3})\s*(?:PCS?|X|UNITS?|NOS|EA|QTY)?\b(.*)$").unwrap());

pub(crate) fn find_items(lines: &[&str], keys: &[String]) -> Vec<LineItem> {
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
            code: None,
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
