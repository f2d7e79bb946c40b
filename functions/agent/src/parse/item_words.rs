//! The words of an item list: lines that are never purchases, deductions,
//! and the column headings above the list.

use super::money::amounts;

/// Words of lines that are never purchases.
pub(super) const NOT_ITEMS: [&str; 28] = [
    "CHARGE",
    "CHRG",
    "ROUNDING",
    "POINTS",
    "EINZELPREIS",
    "STUCKPREIS",
    "TOTAL",
    "CHANGE",
    "GST",
    "TAX",
    "ROUND",
    "SUBTOTAL",
    "BALANCE",
    "PAYMENT",
    "VISA",
    "MASTER",
    "CARD",
    "AMOUNT",
    "QTY",
    "SST",
    "DUE",
    "MWST",
    "RUCKGELD",
    "POSTEN",
    "SUMME",
    "KARTE",
    "GIROCARD",
    "ZAHLUNG",
];
/// Words that make a line a deduction: discounts, coupons, returns,
/// empties given back, voids.
pub(super) const ADJUSTMENTS: [&str; 20] = [
    "DISCOUNT",
    "DISC",
    "RABATT",
    "PREISVORTEIL",
    "NACHLASS",
    "COUPON",
    "GUTSCHEIN",
    "VOUCHER",
    "REMISE",
    "DESCUENTO",
    "SCONTO",
    "KORTING",
    "POTONGAN",
    "VOID",
    "STORNO",
    "RETURN",
    "REFUND",
    "LEERGUT",
    "PFANDRUCKGABE",
    "RUCKGABE",
];
/// Column headings (`ITEM QTY PRICE AMOUNT`).
const HEADINGS: [&str; 44] = [
    "ITEM",
    "ITEMS",
    "QTY",
    "PRICE",
    "AMOUNT",
    "AMT",
    "DESCRIPTION",
    "DESC",
    "RM",
    "TAX",
    "UNIT",
    "CODE",
    "UP",
    "U",
    "P",
    "S",
    "DISC",
    "RSP",
    "UOM",
    "TOTAL",
    "ARTIKEL",
    "MENGE",
    "PREIS",
    "BETRAG",
    "EUR",
    "NO",
    "PRODUCT",
    // Italian, French, Spanish, Dutch.
    "DESCRIZIONE",
    "PREZZO",
    "IVA",
    "DESIGNATION",
    "PRIX",
    "QTE",
    "MONTANT",
    "TVA",
    "DESCRIPCION",
    "PRECIO",
    "CANTIDAD",
    "IMPORTE",
    "OMSCHRIJVING",
    "PRIJS",
    "AANTAL",
    "BEDRAG",
    "BTW",
];

/// A heading with a tax-rate column between the description and the
/// price (`DESCRIZIONE IVA PREZZO(€)`): each item's name then ends with
/// its rate (`PASTA BARILLA 500G 4%`), which is no part of it.
pub(super) fn tax_column_before_price(k: &str) -> bool {
    let words: Vec<&str> = k
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let at = |set: &[&str]| words.iter().position(|w| set.contains(w));
    let tax = at(&["IVA", "TVA", "BTW", "MWST", "VAT"]);
    let price = at(&[
        "PREZZO", "PRICE", "PRIX", "PRECIO", "PREIS", "PRIJS", "EUR", "IMPORTE", "BETRAG",
        "MONTANT", "AMOUNT",
    ]);
    is_heading(k) && matches!((tax, price), (Some(t), Some(p)) if t < p)
}

/// A line of column headings (`ITEM QTY PRICE AMOUNT`).
pub(super) fn is_heading(k: &str) -> bool {
    let words: Vec<&str> = k
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.len() >= 2
        && words.iter().filter(|w| HEADINGS.contains(w)).count() * 2 >= words.len()
        && amounts(k).is_empty()
}
