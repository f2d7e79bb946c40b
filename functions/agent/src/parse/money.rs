//! Money as printed: amounts with a decimal point or comma.

use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;

pub(crate) static AMOUNT: LazyLock<Regex> =
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

pub fn last_amount(line: &str) -> Option<Decimal> {
    amounts(line).last().map(|a| a.0)
}
