//! The receipt's country and what follows from it: currency, date order.

use std::sync::LazyLock;

use regex::Regex;

pub(crate) static CURRENCY: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
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
