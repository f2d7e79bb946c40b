//! One receipt from bytes to the agent contract's answer: prepare the
//! image, read it with a warm engine, understand it, validate it.

use std::time::Instant;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use shared::domain::extraction::{
    Extraction, FieldConfidence, Merchant, Validation, ValidationIssue, ValidationStatus,
};

use crate::ocr::{OcrEngine, OcrError};
use crate::parse::{Parsed, parse_with, plausible_date};
use crate::prep::{PrepError, prepare};

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(transparent)]
    Input(#[from] PrepError),
    #[error(transparent)]
    Ocr(#[from] OcrError),
}

fn issue(code: &str, message: impl Into<String>) -> ValidationIssue {
    ValidationIssue {
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Checks that the numbers add up and the date is plausible.
pub fn validate(p: &Parsed, text_len: usize, today: NaiveDate) -> Validation {
    let mut issues = Vec::new();
    let mut error = false;
    let cent = Decimal::new(1, 2);
    if text_len == 0 {
        issues.push(issue("no_text", "no text was found on the image"));
        error = true;
    }
    match p.total {
        None if text_len > 0 => {
            issues.push(issue("total_missing", "no total was found"));
            error = true;
        }
        _ => {}
    }
    if p.purchase_date.is_none() && text_len > 0 {
        issues.push(issue("date_missing", "no purchase date was found"));
    }
    if let Some(d) = p.purchase_date
        && !plausible_date(d, today)
    {
        issues.push(issue(
            "implausible_date",
            format!("purchase date {d} is not plausible"),
        ));
    }
    let items_sum: Decimal = p.items.iter().filter_map(|i| i.amount).sum();
    if !p.items.is_empty()
        && let Some(reference) = p.subtotal.or(p.total)
        && !items_add_up(p)
    {
        let what = if p.subtotal.is_some() {
            "subtotal"
        } else {
            "total"
        };
        issues.push(issue(
            "items_sum_mismatch",
            format!("items add up to {items_sum}, the {what} is {reference}"),
        ));
    }
    if let Some((printed, false)) = p.signals.article_count {
        issues.push(issue(
            "article_count_mismatch",
            format!(
                "the receipt counts {printed} articles, {} item lines were read",
                p.items.len()
            ),
        ));
    }
    if let (Some(sub), Some(total)) = (p.subtotal, p.total) {
        let total = total - p.tip.unwrap_or_default();
        let expected = sub + p.tax.unwrap_or_default() + p.rounding.unwrap_or_default();
        // Taxes are often included in the subtotal: either sum may hold.
        if (expected - total).abs() > cent
            && (sub + p.rounding.unwrap_or_default() - total).abs() > cent
        {
            issues.push(issue(
                "total_mismatch",
                format!(
                    "subtotal {sub} + tax {} does not make the total {total}",
                    p.tax.unwrap_or_default()
                ),
            ));
        }
    }
    let status = if error {
        ValidationStatus::Error
    } else if issues.is_empty() {
        ValidationStatus::Ok
    } else {
        ValidationStatus::Warning
    };
    Validation { status, issues }
}

/// The items add up to the subtotal or the total (tip and rounding aside;
/// prices may include the tax a subtotal leaves out).
fn items_add_up(p: &Parsed) -> bool {
    let sum: Decimal = p.items.iter().filter_map(|i| i.amount).sum();
    let cent = Decimal::new(1, 2);
    let before_tip = p.total.map(|t| t - p.tip.unwrap_or_default());
    let before_rounding = before_tip.map(|t| t - p.rounding.unwrap_or_default());
    !p.items.is_empty()
        && [p.subtotal, before_tip, before_rounding]
            .iter()
            .flatten()
            .any(|r| (sum - *r).abs() <= cent)
}

/// How likely each field is right. Each value is the share of answers
/// right, on the dev sets, among those with the same backing (how the
/// field was found and what agrees with it); see BENCHMARKS.md.
pub fn field_confidence(p: &Parsed, today: NaiveDate) -> FieldConfidence {
    let s = &p.signals;
    let total = match (p.total, s.total_keyword, s.total_agreements) {
        (None, _, _) => 0.0,
        (Some(_), _, _) if items_add_up(p) && s.total_agreements > 0 => 0.98,
        (Some(_), 3.., 1..) => 0.96,
        (Some(_), 3.., 0) => 0.85,
        (Some(_), 1..=2, 1..) => 0.85,
        (Some(_), 1..=2, 0) => 0.6,
        (Some(_), 0, 1..) => 0.7,
        (Some(_), 0, 0) => 0.3,
    };
    let date = match p.purchase_date {
        None => 0.0,
        Some(d) if !plausible_date(d, today) => 0.1,
        Some(_) => match (s.date_labelled, s.date_ambiguous) {
            (true, false) => 0.96,
            (false, false) => 0.9,
            (true, true) => 0.75,
            (false, true) => 0.6,
        },
    };
    let merchant = match (&p.merchant_name, s.merchant_confirmed) {
        (None, _) => 0.0,
        (Some(_), true) => 0.85,
        (Some(_), false) => 0.7,
    };
    let count_ok = s.article_count.map(|(_, ok)| ok);
    let items = match (p.items.is_empty(), items_add_up(p), count_ok) {
        (true, _, _) => 0.05,
        (false, true, Some(true)) => 0.85,
        (false, true, None) => 0.75,
        (false, true, Some(false)) => 0.4,
        (false, false, Some(true)) => 0.3,
        (false, false, _) => 0.1,
    };
    FieldConfidence {
        merchant,
        date,
        total,
        items,
    }
}

/// How much to trust the answer as a whole: that its merchant, date and
/// total are all right, lowered for each validation issue.
pub fn confidence(fc: &FieldConfidence, validation: &Validation) -> f64 {
    let penalty = 0.9f64.powi(validation.issues.len() as i32);
    ((fc.merchant * fc.date * fc.total).powf(1.0 / 3.0) * penalty * 100.0).round() / 100.0
}

/// Runs the whole extraction with `engine` (blocking).
pub fn extract(
    engine: &mut OcrEngine,
    bytes: &[u8],
    today: NaiveDate,
    hint: Option<&str>,
) -> Result<Extraction, ExtractError> {
    let started = Instant::now();
    let gray = prepare(bytes)?;
    tracing::debug!(prep_ms = started.elapsed().as_millis() as u64, "prepared");
    let reading = engine.read(&gray)?;
    let text = reading.text();
    let parsed = parse_with(&text, today, hint);
    Ok(build(&text, parsed, today, started, engine.version()))
}

/// The answer for OCR text (public for tests and the evaluation).
pub fn from_text(text: &str, today: NaiveDate, hint: Option<&str>, started: Instant) -> Extraction {
    let text = text.trim();
    build(
        text,
        parse_with(text, today, hint),
        today,
        started,
        "text".to_owned(),
    )
}

fn build(
    text: &str,
    parsed: Parsed,
    today: NaiveDate,
    started: Instant,
    engine: String,
) -> Extraction {
    let validation = validate(&parsed, text.len(), today);
    let mut fc = field_confidence(&parsed, today);
    if validation
        .issues
        .iter()
        .any(|i| i.code == "items_sum_mismatch")
    {
        fc.items = fc.items.min(0.1);
    }
    let confidence = if text.is_empty() {
        0.0
    } else {
        confidence(&fc, &validation)
    };
    Extraction {
        merchant: Merchant {
            name: parsed.merchant_name.clone(),
            address: parsed.merchant_address.clone(),
        },
        purchase_date: parsed.purchase_date,
        currency: parsed.currency.clone(),
        subtotal: parsed.subtotal,
        tax: parsed.tax,
        total: parsed.total,
        tip: parsed.tip,
        locale: parsed.locale.clone(),
        field_confidence: Some(fc),
        items: parsed.items.clone(),
        validation,
        confidence: Some(confidence),
        raw_text: Some(text.to_owned()),
        engine: Some(engine),
        duration_ms: Some(started.elapsed().as_millis() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    }

    #[test]
    fn consistent_numbers_validate_ok() {
        let e = from_text(
            "SHOP SDN BHD\n1 ROAD\nDate 01/02/2019\nTEA 4.50\nCAKE 3.99\nSUBTOTAL 8.49\nGST 0.51\nTOTAL 9.00",
            today(),
            None,
            Instant::now(),
        );
        assert_eq!(
            e.validation.status,
            ValidationStatus::Ok,
            "{:?}",
            e.validation.issues
        );
        assert!(e.confidence.unwrap() > 0.8);
    }

    #[test]
    fn numbers_that_do_not_add_up_are_flagged() {
        let e = from_text(
            "SHOP SDN BHD\nDate 01/02/2019\nTEA 4.50\nCAKE 3.99\nSUBTOTAL 9.49\nGST 0.51\nTOTAL 12.00",
            today(),
            None,
            Instant::now(),
        );
        assert_eq!(e.validation.status, ValidationStatus::Warning);
        let codes: Vec<&str> = e
            .validation
            .issues
            .iter()
            .map(|i| i.code.as_str())
            .collect();
        assert_eq!(codes, vec!["items_sum_mismatch", "total_mismatch"]);
    }

    #[test]
    fn a_blank_page_has_nulls_and_an_error_verdict() {
        let e = from_text("   \n", today(), None, Instant::now());
        assert_eq!(e.total, None);
        assert_eq!(e.merchant.name, None);
        assert_eq!(e.validation.status, ValidationStatus::Error);
        assert_eq!(e.validation.issues[0].code, "no_text");
        assert_eq!(e.confidence, Some(0.0));
    }

    #[test]
    fn a_future_date_is_flagged() {
        let p = Parsed {
            purchase_date: NaiveDate::from_ymd_opt(2030, 1, 1),
            total: Some(Decimal::ONE),
            ..Default::default()
        };
        let v = validate(&p, 10, today());
        assert!(v.issues.iter().any(|i| i.code == "implausible_date"));
    }
}
