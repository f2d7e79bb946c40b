//! Receipt understanding: from OCR text lines to merchant, address, date,
//! currency, subtotal, tax, total and line items. General rules only (the
//! shape receipts share), never strings of one dataset.

mod address;
mod articles;
mod assemble;
mod brand;
mod dates;
mod header;
mod item_words;
mod items;
mod locale;
mod merchant;
mod money;
mod spelling;
mod text;
mod totals;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use shared::domain::extraction::{LineItem, LocaleUsed};

pub use dates::{dates, dates_in, parse_date, plausible_date};
pub use locale::{DateOrder, find_currency};
pub use money::{amounts, parse_amount};
pub use shared::domain::is_bcp47 as valid_tag;

use dates::{glued_date, unseparated_date};
use items::find_items;
use merchant::find_merchant;
use text::keyword_form;
use totals::{
    find_rounding, find_subtotal, find_tax, find_tip, find_total, total_agreements, total_keyword,
};

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
    pub tip: Option<Decimal>,
    pub total: Option<Decimal>,
    pub items: Vec<LineItem>,
    pub locale: Option<LocaleUsed>,
    /// How the fields were found, for their confidence.
    pub signals: Signals,
}

/// What backs each field up, beyond having been found.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Signals {
    /// The date stood on a line that says DATE (or DATUM, FECHA, …).
    pub date_labelled: bool,
    /// Its day and month could be either way round, and neither the
    /// receipt nor the hint said which.
    pub date_ambiguous: bool,
    /// How strongly the total's line says it is the total (0 to 5).
    pub total_keyword: u8,
    /// Other readings that agree with the total: what was paid, subtotal
    /// plus tax, the same amount printed elsewhere.
    pub total_agreements: u8,
    /// The merchant's line carries a legal form, or a web or mail domain
    /// names the same shop.
    pub merchant_confirmed: bool,
    /// The printed article count, and whether the items read match it.
    pub article_count: Option<(usize, bool)>,
}

/// Parses OCR text with no locale hint.
pub fn parse_receipt(text: &str, today: NaiveDate) -> Parsed {
    parse_with(text, today, None)
}

const DATE_WORDS: [&str; 6] = ["DATE", "DATUM", "FECHA", "TARIKH", "DATA", "DATE/TIME"];

fn find_date(
    lines: &[&str],
    keys: &[String],
    today: NaiveDate,
    order: DateOrder,
) -> (Option<NaiveDate>, bool) {
    let dated_line = |want_keyword: bool| {
        lines.iter().zip(keys).find_map(|(l, k)| {
            if want_keyword && !DATE_WORDS.iter().any(|w| k.contains(w)) {
                return None;
            }
            dates_in(l, order)
                .into_iter()
                .find(|d| plausible_date(*d, today))
                .or_else(|| {
                    want_keyword
                        .then(|| glued_date(l).filter(|d| plausible_date(*d, today)))
                        .flatten()
                })
        })
    };
    if let Some(d) = dated_line(true) {
        return (Some(d), true);
    }
    // A date that is not plausible is still reported (validation flags it).
    let d = dated_line(false)
        .or_else(|| lines.iter().find_map(|l| unseparated_date(l, today)))
        .or_else(|| {
            lines
                .iter()
                .find_map(|l| dates_in(l, order).into_iter().next())
        });
    (d, false)
}

/// Parses OCR text; `hint` is the caller's locale (BCP 47), used where
/// the receipt itself does not tell its country.
pub fn parse_with(text: &str, today: NaiveDate, hint: Option<&str>) -> Parsed {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let keys: Vec<String> = lines.iter().map(|l| keyword_form(l)).collect();
    let settled = locale::settle(text, hint);
    let (merchant_name, merchant_address) = find_merchant(&lines);
    let (merchant_name, brand_at) = brand::prefer_brand(merchant_name, &lines);
    let merchant_name = merchant_name.map(|n| spelling::mend(&n));
    // The brand's own line, found below a slogan the header gave first:
    // the address is printed under it.
    let merchant_address = brand_at
        .and_then(|at| {
            let end = (at + 1..lines.len().min(at + 9))
                .find(|&i| header::ends_with_price(lines[i]))
                .unwrap_or(lines.len().min(at + 9));
            address::find_address(&lines[at + 1..end])
        })
        .or(merchant_address);
    let (purchase_date, date_labelled) = find_date(&lines, &keys, today, settled.order);
    let total = find_total(&lines, &keys);
    let subtotal = find_subtotal(&lines, &keys);
    let tax = find_tax(&lines, &keys, subtotal, total);
    let sums: Vec<Decimal> = [subtotal, total].into_iter().flatten().collect();
    let items = find_items(&lines, &keys, &sums);
    let signals = Signals {
        date_labelled,
        date_ambiguous: settled.country.is_none()
            && purchase_date.is_some_and(|d| d.day() <= 12 && d.day() != d.month()),
        total_keyword: total_keyword(&lines, &keys, total),
        total_agreements: total_agreements(&lines, &keys, total),
        merchant_confirmed: merchant_name
            .as_deref()
            .is_some_and(|n| brand::confirmed(n, &lines)),
        article_count: articles::printed_count(&keys)
            .map(|n| (n, articles::count_matches(&items, n))),
    };
    Parsed {
        merchant_name,
        merchant_address,
        purchase_date,
        currency: settled.currency.map(str::to_owned),
        subtotal,
        tax,
        rounding: find_rounding(&lines, &keys),
        tip: find_tip(&lines, &keys),
        total,
        items,
        locale: settled.used,
        signals,
    }
}

#[cfg(test)]
mod tests;
