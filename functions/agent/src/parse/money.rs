//! Money as printed: amounts with a decimal point or comma.

use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;

/// An amount: a sign, the whole part (plain, or grouped in thousands by
/// `,` before a `.` decimal or by `.` before a `,` decimal), two decimals,
/// and a minus printed after it (`0,50-`, as German tills print a credit).
pub(crate) static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(-)?\s?(?:(\d{1,3}(?:,\d{3})+)\s?\.\s?|(\d{1,3}(?:\.\d{3})+)\s?,\s?|(\d+)\s?[.,]\s?)(\d{2})(-)?").unwrap()
});

/// A unit of size glued to a number (`L`, `ML`, `KG`, `G`, `CM`, …) and
/// then no more letters.
fn is_size_unit(rest: &str) -> bool {
    let unit: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    const LITRES: [&str; 6] = ["LTR", "LITRE", "LITRES", "LITER", "LITERS", "LITRO"];
    // A volume of fuel may stand apart from its unit (`39.54 litre`).
    let spaced: String = rest
        .strip_prefix(' ')
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let unit = unit.to_ascii_uppercase();
    LITRES.contains(&spaced.to_ascii_uppercase().as_str())
        || LITRES.contains(&unit.as_str())
        || [
            "L", "ML", "CL", "KG", "G", "GR", "MG", "CM", "MM", "M", "OZ", "LB", "GAL",
        ]
        .contains(&unit.as_str())
}

/// Letters glued to a number and then more figures in the same word
/// (`4.51NX9.5IN`, `1.25LX6`): a size, not money (`15.50SR`, a price and
/// its tax code, has no figure after its letters).
fn is_dimension(rest: &str) -> bool {
    let word = rest.split(char::is_whitespace).next().unwrap_or("");
    word.starts_with(|c: char| c.is_ascii_alphabetic())
        && word
            .chars()
            .skip_while(char::is_ascii_alphabetic)
            .any(|c| c.is_ascii_digit())
}

/// Money amounts on a line (two decimals, `.` or `,` as separator), with
/// their byte span. Digits glued to more digits are not amounts.
pub fn amounts(line: &str) -> Vec<(Decimal, usize, usize)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    for c in AMOUNT.captures_iter(line) {
        let m = c.get(0).unwrap();
        let whole = c.get(2).or(c.get(3)).or(c.get(4)).unwrap();
        let trailing_minus = c.get(6);
        let start = c.get(1).map_or(whole.start(), |s| s.start());
        let end = trailing_minus.map_or(m.end(), |t| t.start());
        let before = whole.start().checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(end).copied();
        // A time (`15.29:00`) or a longer dotted number (`31802.01.6`) is
        // no amount either, nor a size (`6x1.25L`, `0.75KG`).
        let then_digit = bytes.get(end + 1).is_some_and(|b| b.is_ascii_digit());
        if is_size_unit(&line[end..]) || is_dimension(&line[end..]) {
            continue;
        }
        if before.is_some_and(|b| b.is_ascii_digit() || b == b'.' || b == b',')
            || after.is_some_and(|b| b.is_ascii_digit() || b == b'%')
            || (after.is_some_and(|b| matches!(b, b':' | b'.' | b',')) && then_digit)
        {
            continue;
        }
        // A minus after the amount counts when nothing but space or a
        // tax letter follows it (not `1,00-2,00`, a range).
        let minus_after =
            trailing_minus.is_some() && !bytes.get(m.end()).is_some_and(|b| b.is_ascii_digit());
        let int = whole.as_str().replace([',', '.'], "");
        let Ok(mut v) = format!("{int}.{}", &c[5]).parse::<Decimal>() else {
            continue;
        };
        if c.get(1).is_some() || minus_after {
            v = -v;
        }
        out.push((v, start, if minus_after { m.end() } else { end }));
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
