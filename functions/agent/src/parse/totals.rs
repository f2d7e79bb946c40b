//! The amounts at the foot of a receipt: total, subtotal, tax, rounding.

use rust_decimal::Decimal;

use super::money::{amounts, last_amount};
use super::text::{has_word, letters};

/// The change given back (read loosely: `CHANCE`), not a service
/// charge one letter away.
pub(crate) fn is_change(k: &str) -> bool {
    has_word(k, "CHANGE")
        && !k
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "CHARGE")
}

pub(crate) fn is_subtotal(k: &str) -> bool {
    k.contains("SUBTOTAL")
        || k.contains("SUB TOTAL")
        || k.contains("SUB-TOTAL")
        || (has_word(k, "TOTAL")
            && (k.contains("EXCL") || k.contains("BEFORE") || k.contains("W/O")))
}

/// Lines that say TOTAL but are not the amount paid.
pub(crate) fn is_other_total(k: &str) -> bool {
    [
        "QTY", "QUANTITY", "ITEM", "DISCOUNT", "SAVING", "GST", "TAX", "NO.", "POINT", "WEIGHT",
        "PCS", "UNIT",
    ]
    .iter()
    .any(|w| k.contains(w))
        && !k.contains("INCL")
}

/// How strongly a line says "this is the total paid" (0 = not at all).
pub(crate) fn total_priority(k: &str) -> u8 {
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

/// The amount a keyword line announces: on the line, else on the next
/// line when that line is just a number.
pub(crate) fn announced_amount(lines: &[&str], i: usize) -> Option<Decimal> {
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
pub(crate) fn find_total(lines: &[&str], keys: &[String]) -> Option<Decimal> {
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

pub(crate) fn find_subtotal(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| is_subtotal(k))
        .find_map(|(i, _)| announced_amount(lines, i))
}

pub(crate) fn is_tax_line(k: &str) -> bool {
    (has_word(k, "GST") || has_word(k, "TAX") || has_word(k, "SST") || has_word(k, "VAT"))
        && !["ID", "REG", "INVOICE", "EXCL", "INCL", "NO"]
            .iter()
            .any(|w| has_word(k, w))
        && !k.contains("SUMMARY")
}

pub(crate) fn find_tax(
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

pub(crate) fn find_rounding(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| k.contains("ROUNDING") || (k.contains("ROUND") && k.contains("ADJ")))
        .find_map(|(i, _)| last_amount(lines[i]))
        .filter(|v| v.abs() < Decimal::ONE)
}
