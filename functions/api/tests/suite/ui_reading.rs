//! The page, in a real browser: a person says where their receipts come
//! from (saved as their default, sent with each upload), and a receipt's
//! page shows what was read: the locale and currency used and where each
//! came from, the confidence per field, the tip, the items with their codes.

use std::time::Duration;

use serde_json::json;
use shared::domain::extraction::{LocaleUsed, Source};
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::browser::Browser;
use testkit::render::receipt_png;
use testkit::{Options, TestApp, pipeline};

#[tokio::test]
async fn a_person_chooses_where_receipts_come_from_and_sees_how_one_was_read() {
    let app = TestApp::spawn_with(Options {
        dev_sign_in: true,
        ..Options::default()
    })
    .await;
    let mut read = sample_extraction();
    read.tip = Some("1.50".parse().unwrap());
    read.currency = Some("EUR".into());
    read.locale = Some(LocaleUsed {
        tag: "de-DE".into(),
        source: Source::Hint,
        currency_source: Some(Source::Printed),
    });
    let agent = FakeAgent::start(Reply::Extract(Box::new(read))).await;
    let running = pipeline::start(&app, &agent).await;
    let base = app.serve().await;
    let b = Browser::start(1280, 1000).await;
    b.goto(&base).await;
    b.type_into("#dev-user", "hanna").await;
    b.click("#dev-sign-in button[type=submit]").await;
    b.wait_for_text("#whoami", |t| t == "Signed in as hanna")
        .await;

    // Where the receipts come from: saved as the person's default.
    b.click("#locale option[value='de-DE']").await;
    let token = app.token("hanna");
    let mut saved = json!(null);
    for _ in 0..50 {
        saved = app.get("/users/me/settings", Some(&token)).await.json;
        if saved["locale"] == "de-DE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(saved, json!({"locale": "de-DE"}));
    // A fresh visit shows it chosen.
    b.goto(&base).await;
    b.wait_until(
        "the saved locale shown",
        "document.getElementById('locale').value === 'de-DE'",
    )
    .await;

    // An upload carries it; the reading shows how the receipt was read.
    let dir = std::env::temp_dir().join(format!("receipts-ui-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bon.png");
    std::fs::write(&path, receipt_png(&["REWE", "BROT 2,49 B", "SUMME 2,49"])).unwrap();
    b.find("#files")
        .await
        .send_keys(&path.display().to_string())
        .await
        .unwrap();
    b.wait_until(
        "the upload confirmed",
        "document.querySelectorAll('#uploads li.ok').length === 1",
    )
    .await;
    let (id, locale): (i64, Option<String>) =
        sqlx::query_as("SELECT id, locale FROM receipts WHERE user_id = 'hanna'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(locale.as_deref(), Some("de-DE"));
    app.wait_for_status(id, "completed", Duration::from_secs(30))
        .await;
    assert_eq!(
        agent
            .state
            .locales
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .1
            .as_deref(),
        Some("de-DE")
    );
    b.goto(&format!("{base}#/receipts/{id}")).await;
    let shown = b.wait_for_text("#receipt-locale", |t| !t.is_empty()).await;
    assert_eq!(shown, "de-DE (your hint) · EUR (printed)");
    let fc = b.text("#field-confidence").await;
    assert_eq!(
        fc, "merchant 90 % · date 96 % · total 98 % · items 90 %",
        "as the agent gave them"
    );
    let codes = b
        .eval(
            "return Array.from(document.querySelectorAll('table tbody tr')) \
             .map(r => r.cells[1].textContent.trim());",
        )
        .await;
    assert_eq!(codes, json!(["", "9556001"]));
    let page = b.text(".facts").await;
    assert!(page.contains("EUR 1.50"), "the tip is shown: {page}");
    b.screenshot("20-receipt-read-with-locale").await;
    b.close().await;
    running.stop().await;
}
