//! Receipt understanding: from OCR text lines to merchant, address, date,
//! currency, subtotal, tax, total and line items. General rules only (the
//! shape receipts share), never strings of one dataset.

mod dates;
mod items;
mod locale;
mod merchant;
mod money;
mod text;
mod totals;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use shared::extraction::LineItem;

pub use dates::{dates, parse_date, plausible_date};
pub use locale::find_currency;
pub use money::{amounts, parse_amount};

use dates::{glued_date, unseparated_date};
use items::find_items;
use merchant::find_merchant;
use text::keyword_form;
use totals::{find_rounding, find_subtotal, find_tax, find_total};

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
mod tests;
