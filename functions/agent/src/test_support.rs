//! Helpers the unit tests share.

use shared::domain::extraction::LineItem;

/// A line item as the reader gives it: a name, a quantity when printed,
/// and an amount.
pub(crate) fn line_item(name: &str, quantity: Option<&str>, amount: &str) -> LineItem {
    LineItem {
        name: name.into(),
        code: None,
        quantity: quantity.map(|q| q.parse().unwrap()),
        unit_price: None,
        amount: Some(amount.parse().unwrap()),
    }
}
