//! The two size limits, set apart as the template sets them: a direct
//! upload (`POST /receipts`, through API Gateway's payload limit) is
//! capped by `MAX_UPLOAD_BYTES`, a presigned upload by
//! `MAX_DIRECT_UPLOAD_BYTES`; each path refuses, and says, its own.

use http::StatusCode;
use serde_json::json;
use testkit::{Options, Part, TestApp, png_bytes};

#[tokio::test]
async fn each_upload_path_refuses_and_states_its_own_limit() {
    let app = TestApp::spawn_with(Options {
        max_upload_bytes: 4096,
        max_direct_upload_bytes: Some(8192),
        ..Options::default()
    })
    .await;
    let token = app.token("alice");

    // POST /receipts: one byte over its own cap, and it says that cap.
    let mut over = png_bytes();
    over.resize(4097, 0);
    let r = app
        .upload_parts(
            Some(&token),
            &[Part::File {
                name: "file",
                file_name: "big.png",
                content_type: "image/png",
                bytes: &over,
            }],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.json);
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("4096"), "{message}");

    // upload-url: the cap it states is the one its policy signs.
    let r = app
        .post_json(
            "/receipts/upload-url",
            Some(&token),
            &json!({"content_type": "image/png"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["max_bytes"], 8192, "{}", r.json);
    let mut too_big = png_bytes();
    too_big.resize(8193, 0);
    let status = testkit::post_presigned(&r.json, too_big).await;
    assert!(status.is_client_error(), "over the stated cap: {status}");
    assert!(app.object_keys().await.is_empty());
    // A file between the two caps goes through the path made for it.
    let mut fits = png_bytes();
    fits.resize(8000, 0);
    let status = testkit::post_presigned(&r.json, fits).await;
    assert!(status.is_success(), "under the stated cap: {status}");
    assert_eq!(app.object_keys().await.len(), 1);
}
