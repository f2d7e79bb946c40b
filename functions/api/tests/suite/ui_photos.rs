//! Photos on the page, in a real browser: a JPEG a phone stored sideways
//! (EXIF Orientation 6) is kept as it came and shown upright, because the
//! browser applies the tag itself; a HEIC photo, which most browsers
//! cannot show, is offered as a link instead of a broken image.

use testkit::browser::Browser;
use testkit::render::{heic, render, sideways_jpeg};
use testkit::{Options, TestApp};

async fn upload_in_page(b: &Browser, file_name: &str, bytes: &[u8]) {
    let dir =
        std::env::temp_dir().join(format!("receipts-photos-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file_name);
    std::fs::write(&path, bytes).unwrap();
    let before = b
        .eval("return document.querySelectorAll('#uploads li.ok').length;")
        .await
        .as_u64()
        .unwrap();
    b.find("#files")
        .await
        .send_keys(&path.display().to_string())
        .await
        .unwrap();
    b.wait_until(
        "the upload confirmed",
        &format!(
            "document.querySelectorAll('#uploads li.ok').length === {}",
            before + 1
        ),
    )
    .await;
}

#[tokio::test]
async fn a_sideways_phone_photo_shows_upright_and_a_heic_one_as_a_link() {
    let app = TestApp::spawn_with(Options {
        dev_sign_in: true,
        ..Options::default()
    })
    .await;
    let base = app.serve().await;
    let b = Browser::start(1280, 1000).await;
    b.goto(&base).await;
    b.type_into("#dev-user", "pia").await;
    b.click("#dev-sign-in button[type=submit]").await;
    b.wait_for_text("#whoami", |t| t == "Signed in as pia")
        .await;

    // A tall receipt, stored wide with the tag that turns it upright.
    let lines: Vec<String> = (1..=20).map(|i| format!("ITEM {i:02}    1.00")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let upright = render(&lines);
    let (w, h) = upright.dimensions();
    assert!(h > w, "the drawn receipt is {w}×{h}");
    let photo = sideways_jpeg(&upright);
    upload_in_page(&b, "IMG_1001.JPG", &photo).await;
    upload_in_page(&b, "IMG_1002.HEIC", &heic(&upright)).await;

    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, file_name, content_type FROM receipts WHERE user_id = 'pia' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].2, "image/jpeg");
    assert_eq!(rows[1].2, "image/heic", "the type sniffed from the bytes");

    // The stored photo is the file as it came, tag and all…
    let key: String = sqlx::query_scalar("SELECT object_key FROM receipts WHERE id = $1")
        .bind(rows[0].0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let stored = app
        .s3
        .get_object()
        .bucket(&app.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored.body.collect().await.unwrap().into_bytes().as_ref(),
        photo.as_slice()
    );
    // …and the page shows it upright: taller than wide.
    b.goto(&format!("{base}#/receipts/{}", rows[0].0)).await;
    b.wait_until(
        "the photo loaded",
        "(() => { const i = document.querySelector('figure.scan img'); \
         return !!i && i.complete && i.naturalWidth > 0; })()",
    )
    .await;
    let size = b
        .eval("const i = document.querySelector('figure.scan img'); return [i.naturalWidth, i.naturalHeight];")
        .await;
    let (shown_w, shown_h) = (size[0].as_u64().unwrap(), size[1].as_u64().unwrap());
    assert!(shown_h > shown_w, "shown {shown_w}×{shown_h}: upright");
    b.screenshot("30-sideways-photo-shown-upright").await;

    // The HEIC photo: a link to it, no broken image.
    b.goto(&format!("{base}#/receipts/{}", rows[1].0)).await;
    let link = b.wait_for_text("#heic-link", |t| !t.is_empty()).await;
    assert_eq!(link, "Open the HEIC photo (IMG_1002.HEIC)");
    assert!(!b.exists("figure.scan img").await);
    b.screenshot("31-heic-photo-as-a-link").await;
    b.close().await;
}
