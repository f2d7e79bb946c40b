//! The page, in a real browser: a person deletes a receipt (after saying
//! so in the page's dialog; Keep changes nothing), then all their data.

use testkit::browser::Browser;
use testkit::{Options, TestApp};

async fn receipts_of(app: &TestApp, user: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM receipts WHERE user_id = $1 ORDER BY id")
        .bind(user)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn dialog_open(b: &Browser) -> bool {
    b.eval("return document.getElementById('confirm').open;")
        .await
        .as_bool()
        .unwrap()
}

#[tokio::test]
async fn a_person_deletes_a_receipt_then_everything_of_theirs() {
    let app = TestApp::spawn_with(Options {
        dev_sign_in: true,
        ..Options::default()
    })
    .await;
    let ids = app.seed_uploaded("ines", 2).await;
    let others = app.seed_uploaded("jon", 1).await;
    let base = app.serve().await;
    let b = Browser::start(1280, 1000).await;
    b.goto(&base).await;
    b.type_into("#dev-user", "ines").await;
    b.click("#dev-sign-in button[type=submit]").await;
    b.wait_for_text("#whoami", |t| t == "Signed in as ines")
        .await;

    // Delete, then Keep: nothing happens.
    b.goto(&format!("{base}#/receipts/{}", ids[0])).await;
    b.wait_for_text("#receipt-title", |t| t.contains(&ids[0].to_string()))
        .await;
    b.click("button[data-action=delete]").await;
    assert!(dialog_open(&b).await);
    let asked = b.text("#confirm-text").await;
    assert!(
        asked.contains(&format!("Delete receipt {}", ids[0])),
        "{asked}"
    );
    b.screenshot("30-delete-a-receipt-asks-first").await;
    b.click("#confirm-keep").await;
    assert!(!dialog_open(&b).await);
    assert_eq!(receipts_of(&app, "ines").await, ids);

    // Delete, then Delete: the receipt and its image are gone.
    let keys_before = app.object_keys().await.len();
    b.click("button[data-action=delete]").await;
    b.click("#confirm-ok").await;
    b.wait_for_text("#toast", |t| t.contains("deleted")).await;
    b.wait_until("back on the list", "location.hash === '#/'")
        .await;
    assert_eq!(receipts_of(&app, "ines").await, vec![ids[1]]);
    assert_eq!(app.object_keys().await.len(), keys_before - 1);

    // Delete all my data: signed out, nothing of theirs left, jon untouched.
    b.click("button[data-action=erase-me]").await;
    let asked = b.text("#confirm-text").await;
    assert!(asked.contains("cannot be undone"), "{asked}");
    b.screenshot("31-delete-all-my-data-asks-first").await;
    b.click("#confirm-ok").await;
    let said = b
        .wait_for_text("#sign-in-error", |t| t.contains("deleted"))
        .await;
    assert_eq!(said, "All your data was deleted (1 receipts).");
    b.screenshot("32-after-deleting-all-my-data").await;
    assert!(receipts_of(&app, "ines").await.is_empty());
    assert_eq!(receipts_of(&app, "jon").await, others);
    assert_eq!(app.object_keys().await.len(), 1, "jon's image stays");
    b.close().await;
}
