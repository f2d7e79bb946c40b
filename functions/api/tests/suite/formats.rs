//! Photo formats at the API: a HEIC photo (what an iPhone saves) is
//! accepted like any other image, by upload and by presigned upload.

use http::StatusCode;
use serde_json::json;
use testkit::{Part, TestApp};

/// An iPhone's photo (HEIC) goes in like any other image: by upload, its
/// type sniffed from the bytes whatever the client says, and through a
/// presigned upload that names its type.
#[tokio::test]
async fn an_iphone_heic_photo_is_accepted_by_upload_and_by_upload_url() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let photo = testkit::render::heic(&testkit::render::render(&["SHOP", "TOTAL 1.00"]));
    let r = app
        .upload_parts(
            Some(&token),
            &[Part::File {
                name: "file",
                file_name: "IMG_0042.HEIC",
                content_type: "application/octet-stream",
                bytes: &photo,
            }],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(
        r.json["content_type"], "image/heic",
        "type comes from the bytes"
    );
    let key: String = sqlx::query_scalar("SELECT object_key FROM receipts WHERE id = $1")
        .bind(r.json["id"].as_i64().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(key.ends_with(".heic"), "{key}");

    for content_type in ["image/heic", "image/heif"] {
        let r = app
            .post_json(
                "/receipts/upload-url",
                Some(&token),
                &json!({ "content_type": content_type }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        assert!(
            r.json["key"].as_str().unwrap().ends_with(".heic"),
            "{}",
            r.json
        );
    }
    let r = app
        .post_json(
            "/receipts/upload-url",
            Some(&token),
            &json!({ "content_type": "video/mp4" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("image/heic"),
        "{}",
        r.json
    );
}
