//! The amounts at the foot of a receipt: total, subtotal, tax, rounding.

use rust_decimal::Decimal;

use super::money::{amounts, last_amount};
use super::text::{has_any, has_phrase, has_word, letters};

/// Words that say "the total", in the languages the reader knows.
const TOTAL_WORDS: [&str; 9] = [
    "TOTAL", "SUMME", "GESAMT", "TOTALE", "TOTAAL", "IMPORTE", "JUMLAH", "MONTANT", "ENDSUMME",
];
/// Phrases that say "the amount to pay" outright.
const PAY_PHRASES: [&str; 16] = [
    "ZU ZAHLEN",
    "A PAYER",
    "TOTAL TTC",
    "TOTAL A PAGAR",
    "TE BETALEN",
    "JUMLAH BESAR",
    "GESAMTBETRAG",
    "TOTALE COMPLESSIVO",
    "TOTALE EURO",
    "AMOUNT DUE",
    "BALANCE DUE",
    "AMOUNT PAYABLE",
    "TOTAL DUE",
    "GRAND TOTAL",
    "TOTAL TO PAY",
    "IMPORTE TOTAL",
];
/// Money handed over: cash, and the cards that pay the total exactly.
const CASH_WORDS: [&str; 11] = [
    "CASH",
    "TENDER",
    "TENDERED",
    "PAYMENT",
    "GEGEBEN",
    "EFECTIVO",
    "ESPECES",
    "CONTANTI",
    "CONTANT",
    "TUNAI",
    "NUMERARIO",
];
/// A line of money handed over. German `Bar` (cash) leads its line
/// (`Bar 20,00`, `BAR EUR`) or stands in brackets (`Rückgeld (Bar)`);
/// elsewhere it is a product (`GRANOLA BAR`).
pub(crate) fn is_cash_line(k: &str) -> bool {
    let first = k
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| !w.is_empty());
    has_any(k, &CASH_WORDS) || first == Some("BAR") || k.contains("(BAR)")
}

pub(crate) const CARD_WORDS: [&str; 14] = [
    "VISA",
    "MASTERCARD",
    "MASTER",
    "AMEX",
    "MAESTRO",
    "GIROCARD",
    "KARTE",
    "EC",
    "DEBIT",
    "CREDIT",
    "CARTE",
    "TARJETA",
    "KREDITKARTE",
    "KARTENZAHLUNG",
];
const CHANGE_WORDS: [&str; 10] = [
    "CHANGE",
    "RUCKGELD",
    "ZURUCK",
    "RENDU",
    "CAMBIO",
    "RESTO",
    "WISSELGELD",
    "TROCO",
    "KEMBALI",
    "BAKI",
];
pub(crate) const TIP_WORDS: [&str; 7] = [
    "TIP",
    "GRATUITY",
    "TRINKGELD",
    "POURBOIRE",
    "PROPINA",
    "MANCIA",
    "FOOI",
];
const TAX_WORDS: [&str; 11] = [
    "GST", "TAX", "SST", "VAT", "MWST", "UST", "TVA", "IVA", "BTW", "PPN", "STEUER",
];

/// The change given back (read loosely: `CHANCE`), not a service
/// charge one letter away.
pub(crate) fn is_change(k: &str) -> bool {
    has_any(k, &CHANGE_WORDS)
        && !k
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "CHARGE")
}

pub(crate) fn is_subtotal(k: &str) -> bool {
    k.contains("SUBTOTAL")
        || k.contains("SUB TOTAL")
        || k.contains("SUB-TOTAL")
        || k.contains("ZWISCHENSUMME")
        || k.contains("SOUS-TOTAL")
        || k.contains("SOUS TOTAL")
        || k.contains("SUBTOTALE")
        || k.contains("SUBTOTAAL")
        || has_phrase(k, &["TOTAL HT"])
        || (has_word(k, "TOTAL")
            && (k.contains("EXCL") || k.contains("BEFORE") || k.contains("W/O")))
}

/// Lines that say TOTAL but are not the amount paid.
pub(crate) fn is_other_total(k: &str) -> bool {
    [
        "QTY",
        "QUANTITY",
        "ITEM",
        "DISCOUNT",
        "SAVING",
        "GST",
        "TAX",
        "NO.",
        "POINT",
        "WEIGHT",
        "PCS",
        "UNIT",
        "NETTO",
        "MWST",
        "STEUER",
        "RABATT",
        "ARTIKEL",
        "POSTEN",
        "PUNKTE",
        "ERSPARNIS",
        "TVA",
        "IVA",
        "BTW",
    ]
    .iter()
    .any(|w| k.contains(w))
        && !k.contains("INCL")
        && !has_phrase(k, &PAY_PHRASES)
}

fn says_total(k: &str) -> bool {
    has_any(k, &TOTAL_WORDS)
}

/// How strongly a line says "this is the total paid" (0 = not at all).
pub(crate) fn total_priority(k: &str) -> u8 {
    if is_subtotal(k) {
        return 0;
    }
    let total = says_total(k);
    if (total || has_phrase(k, &PAY_PHRASES)) && is_other_total(k) {
        return 0;
    }
    if total && k.contains("ROUND") {
        return 5;
    }
    if has_phrase(k, &PAY_PHRASES)
        || (total
            && (k.contains("GRAND")
                || k.contains("NETT")
                || k.contains("NET ")
                || k.contains("INCL")
                || k.contains("AMOUNT")
                || k.contains("PAYABLE")
                || k.contains("DUE")))
    {
        return 4;
    }
    // `Due 25.15` alone on its line: what is owed.
    if total || k.split_whitespace().next() == Some("DUE") {
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

/// A line that announces the total paid, or a sum that makes it.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// How strongly its line says so (`total_priority`; 1 for what was
    /// paid, 0 for a sum made from the subtotal).
    strength: i32,
    /// Its line, `None` for a derived amount.
    line: Option<usize>,
    value: Decimal,
}

/// What the rest of the receipt says about the total.
struct Evidence {
    /// Cash handed over minus the change, or what a card paid.
    paid: Option<Decimal>,
    subtotal: Option<Decimal>,
    rounding: Decimal,
    rounding_at: Option<usize>,
    taxes: Vec<Decimal>,
    /// A printed tip (its line and amount): the total paid follows it.
    tip: Option<(usize, Decimal)>,
    all_amounts: Vec<(usize, Decimal)>,
}

fn first_announced(
    lines: &[&str],
    keys: &[String],
    f: impl Fn(&str) -> bool,
) -> Option<(usize, Decimal)> {
    keys.iter().enumerate().find_map(|(i, k)| {
        f(k).then(|| announced_amount(lines, i).map(|v| (i, v)))
            .flatten()
    })
}

/// What was paid: cash minus change, else the amount a card paid.
fn paid(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    let cash = first_announced(lines, keys, |k| is_cash_line(k) && !is_change(k));
    let change = first_announced(lines, keys, is_change);
    match (cash, change) {
        (Some((_, p)), Some((_, c))) if p > c && c >= Decimal::ZERO => return Some(p - c),
        (Some(_), _) => return None,
        _ => {}
    }
    // Card names are matched exactly: `KART.SALAT` is a salad.
    let card = |k: &str| {
        k.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| CARD_WORDS.contains(&w))
    };
    first_announced(lines, keys, |k| card(k) && !says_total(k))
        .map(|(_, v)| v)
        .filter(|v| *v > Decimal::ZERO)
}

fn evidence(lines: &[&str], keys: &[String]) -> Evidence {
    Evidence {
        paid: paid(lines, keys),
        subtotal: find_subtotal(lines, keys),
        rounding: find_rounding(lines, keys).unwrap_or_default(),
        rounding_at: keys
            .iter()
            .position(|k| is_rounding(k) && !has_word(k, "TOTAL")),
        taxes: keys
            .iter()
            .enumerate()
            .filter(|(_, k)| is_tax_line(k))
            .filter_map(|(i, _)| last_amount(lines[i]))
            .collect(),
        tip: first_announced(lines, keys, |k| has_any(k, &TIP_WORDS) && !says_total(k))
            .filter(|(_, v)| *v > Decimal::ZERO),
        all_amounts: lines
            .iter()
            .enumerate()
            .flat_map(|(i, l)| amounts(l).into_iter().map(move |a| (i, a.0)))
            .collect(),
    }
}

fn candidates(lines: &[&str], keys: &[String], ev: &Evidence) -> Vec<Candidate> {
    // Tables after the change line (tax summaries) repeat TOTAL; they are
    // not the total paid.
    let change_at = keys.iter().position(|k| is_change(k));
    let mut out: Vec<Candidate> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if change_at.is_some_and(|c| i > c) && !out.is_empty() {
            break;
        }
        let strength = i32::from(total_priority(k));
        if strength == 0 {
            continue;
        }
        if let Some(value) = announced_amount(lines, i).filter(|v| *v > Decimal::ZERO) {
            out.push(Candidate {
                strength,
                line: Some(i),
                value,
            });
        }
    }
    if let Some(value) = ev.paid {
        out.push(Candidate {
            strength: 1,
            line: None,
            value,
        });
    }
    if let Some(sub) = ev.subtotal {
        // Sums made from the subtotal line; that line is their source, not
        // a second reading.
        let line = keys.iter().position(|k| is_subtotal(k));
        out.push(Candidate {
            strength: 0,
            line,
            value: sub + ev.rounding,
        });
        for t in &ev.taxes {
            out.push(Candidate {
                strength: 0,
                line,
                value: sub + *t + ev.rounding,
            });
        }
    }
    out
}

impl Evidence {
    fn elsewhere(&self, line: Option<usize>, v: Decimal) -> i32 {
        self.all_amounts
            .iter()
            .filter(|(i, a)| Some(*i) != line && *a == v)
            .count() as i32
    }

    fn consistent(&self, v: Decimal) -> bool {
        self.subtotal.is_some_and(|sub| {
            v == sub + self.rounding || self.taxes.iter().any(|t| v == sub + *t + self.rounding)
        })
    }

    fn score(&self, c: &Candidate) -> i32 {
        let mut s = c.strength + 3 * self.elsewhere(c.line, c.value).min(2);
        let below = |at: Option<usize>| matches!((c.line, at), (Some(l), Some(a)) if l > a);
        // A total printed below the rounding or the tip is the one paid.
        if c.strength > 0 && below(self.rounding_at) {
            s += 3;
        }
        if c.strength > 0 && below(self.tip.map(|t| t.0)) {
            s += 4;
        }
        if self.paid == Some(c.value) {
            s += 3;
        }
        if self.consistent(c.value) {
            s += 2;
        } else if self.subtotal.is_some_and(|sub| c.value < sub) {
            s -= 2;
        }
        s
    }
}

/// The total paid. Every line that announces a total is a candidate; each
/// is scored by how strongly its line says so and by how much of the rest
/// of the receipt agrees with it (the same amount printed elsewhere, what
/// was paid, subtotal plus tax), since OCR misreads digits one line at a
/// time. A printed rounding or tip below the total chosen is added to it.
pub(crate) fn find_total(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    let mut ev = evidence(lines, keys);
    if let Some(r) = unread_rounding(lines, keys, ev.rounding_at) {
        ev.rounding = r;
    }
    let cands = candidates(lines, keys, &ev);
    let best = cands
        .iter()
        .max_by_key(|c| (ev.score(c), c.strength, c.line.unwrap_or(0)))
        .filter(|c| c.strength > 0 || ev.score(c) >= 4);
    let Some(best) = best else {
        return most_printed(&ev.all_amounts);
    };
    // Payment evidence settles a total read before its rounding line,
    // unless the receipt prints that total more than once.
    if let Some(d) = ev.paid
        && (best.value - d).abs() <= Decimal::new(10, 2)
        && ev.elsewhere(best.line, best.value) == 0
    {
        return Some(d);
    }
    let above = |at: Option<usize>| matches!((best.line, at), (Some(l), Some(a)) if l < a);
    if let Some((_, tip)) = ev.tip
        && above(ev.tip.map(|t| t.0))
        && ev.paid.is_none()
    {
        return Some(best.value + tip);
    }
    if !ev.rounding.is_zero() && above(ev.rounding_at) && ev.paid.is_none() {
        return Some(best.value + ev.rounding);
    }
    Some(best.value)
}

/// No keyword survived OCR: the amount printed most often, else the largest.
fn most_printed(all: &[(usize, Decimal)]) -> Option<Decimal> {
    let mut counts: Vec<(Decimal, usize)> = Vec::new();
    for (_, v) in all.iter().filter(|(_, v)| *v > Decimal::ZERO) {
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

/// How strongly the lines that print `total` say it is the total.
pub(crate) fn total_keyword(lines: &[&str], keys: &[String], total: Option<Decimal>) -> u8 {
    let Some(total) = total else { return 0 };
    keys.iter()
        .enumerate()
        .filter(|(i, _)| announced_amount(lines, *i) == Some(total))
        .map(|(_, k)| total_priority(k))
        .max()
        .unwrap_or(0)
}

/// How many other readings agree with `total`: what was paid, subtotal
/// plus tax, and the amount printed on another line.
pub(crate) fn total_agreements(lines: &[&str], keys: &[String], total: Option<Decimal>) -> u8 {
    let Some(total) = total else { return 0 };
    let ev = evidence(lines, keys);
    let printed: Vec<usize> = ev
        .all_amounts
        .iter()
        .filter(|(_, a)| *a == total)
        .map(|(i, _)| *i)
        .collect();
    u8::from(ev.paid == Some(total))
        + u8::from(ev.consistent(total))
        + u8::from(printed.iter().any(|i| Some(*i) != printed.first().copied()))
}

/// The tip printed on the receipt, if any.
pub(crate) fn find_tip(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    first_announced(lines, keys, |k| has_any(k, &TIP_WORDS) && !says_total(k))
        .map(|(_, v)| v)
        .filter(|v| *v > Decimal::ZERO)
}

fn is_rounding(k: &str) -> bool {
    k.contains("ROUNDING")
        || (k.contains("ROUND") && k.contains("ADJ"))
        || has_any(k, &["RUNDUNG", "PEMBULATAN", "ARRONDI"])
}

pub(crate) fn find_subtotal(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| is_subtotal(k))
        .find_map(|(i, _)| announced_amount(lines, i))
}

pub(crate) fn is_tax_line(k: &str) -> bool {
    has_any(k, &TAX_WORDS)
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

/// A rounding line whose amount OCR garbled (`Rounding Adj -J.02`),
/// between a total before it and a total after it: the rounding is their
/// difference, when it is a few cents.
fn unread_rounding(lines: &[&str], keys: &[String], at: Option<usize>) -> Option<Decimal> {
    let at = at.filter(|_| find_rounding(lines, keys).is_none())?;
    let total_at = |i: usize| {
        (total_priority(&keys[i]) > 0)
            .then(|| announced_amount(lines, i))
            .flatten()
    };
    let before = (0..at).rev().find_map(total_at)?;
    let after = (at + 1..keys.len()).find_map(total_at)?;
    let d = after - before;
    (!d.is_zero() && d.abs() <= Decimal::new(5, 2)).then_some(d)
}

pub(crate) fn find_rounding(lines: &[&str], keys: &[String]) -> Option<Decimal> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| is_rounding(k))
        .find_map(|(i, _)| last_amount(lines[i]))
        .filter(|v| v.abs() < Decimal::ONE)
}
