//! Scoring a reading's line items against labelled ones: an item is found
//! when a read item has the same amount (to the cent) and a name close
//! enough to the label's; each read item counts once.

use rust_decimal::Decimal;
use serde::Deserialize;
use shared::domain::extraction::LineItem;

/// One labelled item (`items/NNN.json`); numbers as JSON numbers.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelItem {
    pub name: String,
    #[serde(default)]
    pub amount: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemLabels {
    pub items: Vec<LabelItem>,
    /// The amounts add up to the receipt's subtotal or total (trusted labels).
    #[serde(default)]
    pub items_add_up: bool,
}

fn alnum_upper(s: &str) -> String {
    s.to_uppercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// A name read close enough to the label's: most of its letters in
/// order, or one containing the other.
pub fn names_match(read: &str, label: &str) -> bool {
    let (a, b) = (alnum_upper(read), alnum_upper(label));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let shorter = a.len().min(b.len());
    (shorter >= 4 && (a.contains(&b) || b.contains(&a)))
        || strsim::normalized_levenshtein(&a, &b) >= 0.6
}

/// Counts for one receipt: items read, items labelled, items matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemCounts {
    pub read: usize,
    pub labelled: usize,
    pub matched: usize,
}

impl ItemCounts {
    /// The whole list right: every label found and nothing more read.
    pub fn whole_list(&self) -> bool {
        self.matched == self.labelled && self.read == self.labelled
    }

    pub fn add(&mut self, o: ItemCounts) {
        self.read += o.read;
        self.labelled += o.labelled;
        self.matched += o.matched;
    }

    pub fn precision(&self) -> f64 {
        ratio(self.matched, self.read)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.matched, self.labelled)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn cents(v: f64) -> Decimal {
    Decimal::from_f64_retain(v).unwrap_or_default().round_dp(2)
}

pub fn score_items(read: &[LineItem], labels: &[LabelItem]) -> ItemCounts {
    let mut used = vec![false; read.len()];
    let mut matched = 0;
    for l in labels {
        let want = l.amount.map(cents);
        let hit = read.iter().enumerate().position(|(i, r)| {
            !used[i] && r.amount.map(|a| a.round_dp(2)) == want && names_match(&r.name, &l.name)
        });
        if let Some(i) = hit {
            used[i] = true;
            matched += 1;
        }
    }
    ItemCounts {
        read: read.len(),
        labelled: labels.len(),
        matched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, amount: &str) -> LineItem {
        crate::test_support::line_item(name, None, amount)
    }

    fn label(name: &str, amount: f64) -> LabelItem {
        LabelItem {
            name: name.into(),
            amount: Some(amount),
        }
    }

    #[test]
    fn an_item_is_found_by_amount_and_a_close_name_once() {
        let read = [
            item("KF MODELLING CLAY KIDDY FISH", "9.00"),
            item("PLASTIC BAG", "0.20"),
            item("TEH 0", "1.50"),
        ];
        let labels = [
            label("KF Modelling Clay Kiddy Fish", 9.0),
            label("Teh O", 1.5),
            label("Teh O", 1.5),
            label("Roti", 2.0),
        ];
        let c = score_items(&read, &labels);
        assert_eq!(
            c,
            ItemCounts {
                read: 3,
                labelled: 4,
                matched: 2
            }
        );
        assert!(!c.whole_list());
        assert!((c.f1() - 2.0 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5)).abs() < 1e-9);
        assert_eq!(
            score_items(&[item("ROTI", "2.10")], &[label("Roti", 2.0)]).matched,
            0,
            "a wrong amount is a miss"
        );
    }
}
