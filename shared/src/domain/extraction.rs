//! The agent contract's answer: what OCR read off a receipt.
//!
//! Money is a decimal (a string on the wire), never a float; a field the
//! agent could not read is `null`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Merchant {
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub name: String,
    /// The article number (SKU, EAN) printed before the name, kept out of it.
    #[serde(default)]
    pub code: Option<String>,
    pub quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub amount: Option<Decimal>,
}

/// Where a setting of the reading came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Printed on the receipt (a currency symbol or code).
    Printed,
    /// Inferred from the receipt's country cues (tax words, postcodes, phones).
    Inferred,
    /// The caller's locale hint.
    Hint,
}

/// The locale the receipt was read with, and where it and the currency came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocaleUsed {
    /// BCP 47, e.g. `de-DE`.
    pub tag: String,
    pub source: Source,
    #[serde(default)]
    pub currency_source: Option<Source>,
}

/// How likely each field is right (0 to 1), calibrated on receipts the
/// agent was not tuned on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldConfidence {
    pub merchant: f64,
    pub date: f64,
    pub total: f64,
    /// That the whole item list is right.
    pub items: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationStatus {
    #[default]
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationIssue {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub status: ValidationStatus,
    #[serde(default)]
    pub issues: Vec<ValidationIssue>,
}

/// `POST /v1/extract`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    #[serde(default)]
    pub merchant: Merchant,
    pub purchase_date: Option<NaiveDate>,
    pub currency: Option<String>,
    pub subtotal: Option<Decimal>,
    pub tax: Option<Decimal>,
    pub total: Option<Decimal>,
    /// A tip written on the receipt; the total is what was paid after it.
    #[serde(default)]
    pub tip: Option<Decimal>,
    #[serde(default)]
    pub locale: Option<LocaleUsed>,
    #[serde(default)]
    pub items: Vec<LineItem>,
    #[serde(default)]
    pub validation: Validation,
    pub confidence: Option<f64>,
    #[serde(default)]
    pub field_confidence: Option<FieldConfidence>,
    pub raw_text: Option<String>,
    pub engine: Option<String>,
    pub duration_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_example_with_money_as_strings() {
        let body = r#"{
          "merchant": {"name": "SHOP", "address": "1 Road"},
          "purchase_date": "2018-12-25",
          "currency": "MYR",
          "subtotal": "8.49", "tax": "0.51", "total": "9.00",
          "items": [{"name": "TEA", "quantity": "1", "unit_price": "4.50", "amount": "4.50"}],
          "validation": {"status": "warning", "issues": [{"code": "items_sum_mismatch", "message": "x"}]},
          "confidence": 0.87, "raw_text": "SHOP", "engine": "tesseract 5.3.0", "duration_ms": 640
        }"#;
        let e: Extraction = serde_json::from_str(body).unwrap();
        assert_eq!(e.total, Some("9.00".parse().unwrap()));
        assert_eq!(e.validation.status, ValidationStatus::Warning);
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(back["total"], "9.00");
        assert_eq!(back["items"][0]["unit_price"], "4.50");
    }

    #[test]
    fn unreadable_fields_are_null() {
        let e: Extraction = serde_json::from_str(r#"{"merchant":{"name":null,"address":null},"purchase_date":null,"currency":null,"subtotal":null,"tax":null,"total":null,"items":[],"validation":{"status":"error","issues":[]},"confidence":0.0,"raw_text":"","engine":"x","duration_ms":1}"#).unwrap();
        assert_eq!(e.total, None);
        assert_eq!(e.merchant.name, None);
    }
}
