//! The article count a receipt prints, against the items read.

use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;
use shared::domain::extraction::LineItem;

use super::text::has_phrase;

/// Where a receipt prints how many articles it lists.
static ARTICLE_COUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:ANZAHL\s+ARTIKEL|ARTIKELANZAHL|POSTEN|ITEMS?\s+COUNT|ITEMS?\s+SOLD|#\s*ITEMS|NO\.?\s+OF\s+ITEMS|ITEM\s*\(S\)|ITEMS|ARTICLES|ARTICULOS|ARTIKEL)\W{0,3}(\d{1,3})\b").unwrap()
});

/// The article count the receipt prints (`ANZAHL ARTIKEL 19`,
/// `Item(s): 2 Qty(s): 5`, `# ITEMS SOLD 3`, `Posten: 13`).
pub(crate) fn printed_count(keys: &[String]) -> Option<usize> {
    keys.iter().find_map(|k| count_on_line(k))
}

/// The article count one line prints, if it is such a line.
pub(crate) fn count_on_line(k: &str) -> Option<usize> {
    if has_phrase(k, &["ITEM S", "ITEMS", "ITEM"]) && k.contains("QTY") {
        // `Item(s): 2 Qty(s): 5`: the quantities count the articles.
        static QTYS: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"QTY\W{0,4}S?\W{0,3}(\d{1,3})\b").unwrap());
        if let Some(c) = QTYS.captures(k) {
            return c[1].parse().ok();
        }
    }
    ARTICLE_COUNT.captures(k).and_then(|c| c[1].parse().ok())
}

/// The items read agree with a printed count: as lines, or as quantities.
pub(crate) fn count_matches(items: &[LineItem], n: usize) -> bool {
    let bought: Vec<&LineItem> = items
        .iter()
        .filter(|i| i.amount.is_some_and(|a| a > Decimal::ZERO))
        .collect();
    // A weighed article (`0,532 kg x 2,99 EUR/kg`) counts as one.
    let units: Decimal = bought
        .iter()
        .map(|i| {
            i.quantity
                .filter(|q| q.fract().is_zero())
                .unwrap_or(Decimal::ONE)
        })
        .sum();
    bought.len() == n || units == Decimal::from(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(quantity: &str, amount: &str) -> LineItem {
        crate::test_support::line_item("ARTIKEL", Some(quantity), amount)
    }

    #[test]
    fn a_weighed_article_counts_as_one_unit() {
        // Two lines, three articles: two yoghurts and the bananas weighed.
        let items = [item("2", "2.58"), item("0.532", "1.59")];
        assert!(count_matches(&items, 3));
        assert!(count_matches(&items, 2), "or as lines");
        assert!(!count_matches(&items, 4));
    }
}
