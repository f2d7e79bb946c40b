//! Receipts from several countries, rendered by the tests and read with
//! the real OCR models: every line item (quantities, a weighed line,
//! deductions, deposits), the tip, the rounding, the currency, the date's
//! order, the locale hint, and the cross-checks that lower the confidence.

use crate::{pool, today};
use agent::http::{AgentState, router};
use axum::body::Body;
use http_body_util::BodyExt;
use rust_decimal::Decimal;
use serde_json::Value;
use shared::domain::extraction::{Extraction, LineItem, Source};
use shared::outbound::ssrf::FetchPolicy;
use tower::ServiceExt;

use testkit::render::receipt_png;

fn read(lines: &[&str], hint: Option<&str>) -> Extraction {
    let png = receipt_png(lines);
    pool()
        .run_here(|eng| agent::extract::extract(eng, &png, today(), hint))
        .unwrap()
}

fn dec(s: &str) -> Option<Decimal> {
    Some(s.parse().unwrap())
}

/// (name, code, quantity, unit price, amount), as strings for readable diffs.
fn rows(items: &[LineItem]) -> Vec<(String, String, String, String, String)> {
    let s = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
    items
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                i.code.clone().unwrap_or_default(),
                s(i.quantity),
                s(i.unit_price),
                s(i.amount),
            )
        })
        .collect()
}

fn row(
    name: &str,
    code: &str,
    q: &str,
    p: &str,
    a: &str,
) -> (String, String, String, String, String) {
    (name.into(), code.into(), q.into(), p.into(), a.into())
}

const GERMAN: [&str; 22] = [
    "A L D I",
    "ALDI SUED",
    "Hauptstrasse 12",
    "45127 Essen",
    "BIO HONIG                  3,29 A",
    "MILCH 1,5%                 0,99 A",
    "RABATT                     0,30-A",
    "2 x 1,29",
    "JOGHURT NATUR              2,58 A",
    "BANANEN                    1,59 A",
    "0,532 kg x 2,99 EUR/kg",
    "PFAND                      0,25 B",
    "LEERGUT                   -0,75 B",
    "SUMME                      7,65",
    "ZU ZAHLEN EURO             7,65",
    "BAR                       10,00",
    "RUECKGELD                  2,35",
    "MwSt      Netto  Steuer  Brutto",
    "A  7%      7,13    0,50    7,63",
    "ANZAHL ARTIKEL 5",
    "03.04.2020  09:53",
    "ALDI SE & Co. KG",
];

#[test]
fn a_german_grocery_receipt_with_quantities_weights_deductions_and_deposits() {
    let e = read(&GERMAN, None);
    let text = e.raw_text.clone().unwrap_or_default();
    assert_eq!(e.total, dec("7.65"), "{text}");
    assert_eq!(e.currency.as_deref(), Some("EUR"));
    assert_eq!(
        e.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2020, 4, 3),
        "day first in Germany"
    );
    assert!(
        e.merchant
            .name
            .as_deref()
            .is_some_and(|n| n.contains("ALDI")),
        "{:?}",
        e.merchant
    );
    assert_eq!(
        rows(&e.items),
        vec![
            row("BIO HONIG", "", "1", "3.29", "3.29"),
            row("MILCH 1,5%", "", "1", "0.99", "0.99"),
            row("RABATT", "", "1", "-0.3", "-0.3"),
            row("JOGHURT NATUR", "", "2", "1.29", "2.58"),
            row("BANANEN", "", "0.532", "2.99", "1.59"),
            row("PFAND", "", "1", "0.25", "0.25"),
            row("LEERGUT", "", "1", "-0.75", "-0.75"),
        ],
        "{text}"
    );
    let locale = e.locale.clone().expect("the locale used");
    assert_eq!(
        (locale.tag.as_str(), locale.source),
        ("de-DE", Source::Inferred)
    );
    assert_eq!(locale.currency_source, Some(Source::Printed));
    assert_eq!(
        e.validation.issues,
        vec![],
        "the items add up and match the count"
    );
    let fc = e.field_confidence.unwrap();
    assert!(fc.total >= 0.9 && fc.items >= 0.85, "{fc:?}");
    assert!(
        fc.merchant >= 0.85,
        "confirmed by the legal-entity line: {fc:?}"
    );
}

const US: [&str; 14] = [
    "JOE'S DINER",
    "123 MAIN ST",
    "SPRINGFIELD, IL 62701",
    "(217) 555-0199",
    "09/01/2016   7:42 PM",
    "2 BURGER               19.98",
    "1 FRIES                 3.49",
    "1 COKE                  1.99",
    "SUBTOTAL               25.46",
    "SALES TAX 8%            2.04",
    "TOTAL                  27.50",
    "TIP                     5.00",
    "BALANCE DUE           $32.50",
    "THANK YOU",
];

#[test]
fn a_us_restaurant_receipt_month_first_with_tax_and_tip() {
    let e = read(&US, None);
    let text = e.raw_text.clone().unwrap_or_default();
    assert_eq!(
        e.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2016, 9, 1),
        "month first in the US: {text}"
    );
    assert_eq!(e.currency.as_deref(), Some("USD"));
    assert_eq!(e.tip, dec("5.00"));
    assert_eq!(
        e.total,
        dec("32.50"),
        "the total paid is after the tip: {text}"
    );
    assert_eq!(e.tax, dec("2.04"));
    assert_eq!(e.subtotal, dec("25.46"));
    assert_eq!(e.merchant.name.as_deref(), Some("JOE'S DINER"));
    assert_eq!(
        rows(&e.items),
        vec![
            row("BURGER", "", "2", "9.99", "19.98"),
            row("FRIES", "", "1", "3.49", "3.49"),
            row("COKE", "", "1", "1.99", "1.99"),
        ],
        "{text}"
    );
    assert_eq!(e.locale.unwrap().tag, "en-US");
    assert_eq!(e.validation.issues, vec![]);
}

const MALAYSIAN: [&str; 14] = [
    "MR HARDWARE SDN BHD",
    "NO 5, JALAN INDAH 2,",
    "81100 JOHOR BAHRU",
    "DATE: 09/01/2019 20:01",
    "PAIP GETAH 1/2",
    "9086926 4 X2.80 11.20",
    "SPAN TAPE",
    "9011434 1 X 2.10 2.10",
    "SABUN BASUH 0.97",
    "Item(s): 3  Qty(s): 6",
    "TOTAL RM 14.27",
    "ROUNDING ADJ -0.02",
    "GST SUMMARY  Amount  Tax",
    "SR @ 6%     13.46   0.81",
];

#[test]
fn a_malaysian_receipt_with_codes_quantities_on_the_line_below_and_rounding() {
    let e = read(&MALAYSIAN, None);
    let text = e.raw_text.clone().unwrap_or_default();
    assert_eq!(e.total, dec("14.25"), "the rounded amount is paid: {text}");
    assert_eq!(
        e.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2019, 1, 9),
        "day first in Malaysia"
    );
    assert_eq!(e.currency.as_deref(), Some("MYR"));
    assert_eq!(e.merchant.name.as_deref(), Some("MR HARDWARE SDN BHD"));
    assert_eq!(
        rows(&e.items),
        vec![
            row("PAIP GETAH 1/2", "9086926", "4", "2.8", "11.2"),
            row("SPAN TAPE", "9011434", "1", "2.1", "2.1"),
            row("SABUN BASUH", "", "1", "0.97", "0.97"),
        ],
        "{text}"
    );
}

const NO_COUNTRY: [&str; 4] = ["CORNER SHOP", "DATE 03/04/2020", "BREAD 2.50", "TOTAL 2.50"];

#[test]
fn the_locale_hint_decides_a_date_the_receipt_leaves_open() {
    let us = read(&NO_COUNTRY, Some("en-US"));
    assert_eq!(
        us.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2020, 3, 4)
    );
    assert_eq!(us.currency.as_deref(), Some("USD"));
    let used = us.locale.unwrap();
    assert_eq!((used.tag.as_str(), used.source), ("en-US", Source::Hint));
    assert_eq!(used.currency_source, Some(Source::Hint));
    let de = read(&NO_COUNTRY, Some("de-DE"));
    assert_eq!(
        de.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2020, 4, 3)
    );
    assert_eq!(de.currency.as_deref(), Some("EUR"));
    let none = read(&NO_COUNTRY, None);
    assert_eq!(
        none.purchase_date,
        chrono::NaiveDate::from_ymd_opt(2020, 4, 3)
    );
    assert_eq!(none.locale, None, "nothing tells the country");
    assert!(
        none.field_confidence.unwrap().date < us.field_confidence.unwrap().date,
        "a date that could be read either way is less sure without a hint"
    );
}

#[test]
fn items_that_do_not_add_up_or_miss_the_count_lower_the_confidence() {
    let text = |items: &[&str], count: &str| {
        let mut lines = vec!["KEDAI MAJU SDN BHD", "NO 1 JALAN BESAR", "DATE 01/02/2019"];
        lines.extend_from_slice(items);
        lines.extend_from_slice(&[count, "TOTAL RM 9.00", "CASH 10.00", "CHANGE 1.00"]);
        lines.join("\n")
    };
    let good = agent::extract::from_text(
        &text(&["TEH O 4.50", "ROTI 4.50"], "ITEMS 2"),
        today(),
        None,
        std::time::Instant::now(),
    );
    assert_eq!(good.validation.issues, vec![]);
    let missed = agent::extract::from_text(
        &text(&["TEH O 4.50", "ROTI 4.50"], "ITEMS 3"),
        today(),
        None,
        std::time::Instant::now(),
    );
    let codes: Vec<&str> = missed
        .validation
        .issues
        .iter()
        .map(|i| i.code.as_str())
        .collect();
    assert_eq!(codes, vec!["article_count_mismatch"]);
    let wrong_sum = agent::extract::from_text(
        &text(&["TEH O 4.50", "ROTI 3.50"], "ITEMS 2"),
        today(),
        None,
        std::time::Instant::now(),
    );
    let codes: Vec<&str> = wrong_sum
        .validation
        .issues
        .iter()
        .map(|i| i.code.as_str())
        .collect();
    assert_eq!(codes, vec!["items_sum_mismatch"]);
    let (g, m, w) = (
        good.field_confidence.unwrap(),
        missed.field_confidence.unwrap(),
        wrong_sum.field_confidence.unwrap(),
    );
    assert!(g.items >= 0.85, "{g:?}");
    assert!(m.items < 0.5 && w.items < 0.5, "{m:?} {w:?}");
    assert!(missed.confidence < good.confidence && wrong_sum.confidence < good.confidence);
}

async fn post(app: axum::Router, req: http::Request<Body>) -> (u16, Value) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn app() -> axum::Router {
    router(AgentState::new(
        pool(),
        1 << 20,
        std::time::Duration::from_secs(5),
        FetchPolicy::new(["127.0.0.1".to_owned()], true),
    ))
}

#[tokio::test]
async fn the_service_takes_the_hint_as_content_language_and_refuses_a_bad_one() {
    let png = receipt_png(&NO_COUNTRY);
    let req = |lang: &str| {
        http::Request::post("/v1/extract")
            .header("content-type", "image/png")
            .header("content-language", lang)
            .body(Body::from(png.clone()))
            .unwrap()
    };
    let (status, body) = post(app(), req("en-US")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["purchase_date"], "2020-03-04");
    assert_eq!(body["locale"]["tag"], "en-US");
    assert_eq!(body["locale"]["source"], "hint");
    assert!(body["field_confidence"]["date"].as_f64().is_some());
    let (status, body) = post(app(), req("english please")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("locale")
    );
    let json = http::Request::post("/v1/extract")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"image_url":"http://127.0.0.1:9/r.png","locale":"12"}"#,
        ))
        .unwrap();
    let (status, body) = post(app(), json).await;
    assert_eq!(
        status, 400,
        "a bad locale is refused before the image is fetched: {body}"
    );
}
