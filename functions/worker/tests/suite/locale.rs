//! The locale hint end to end on the real Postgres and LocalStack: given
//! with an upload (multipart or presigned), or as the user's default, it
//! reaches the agent with the receipt; a malformed one is refused with the
//! JSON error naming `locale` and changes nothing. What the reader returns
//! (item codes, the locale used, the confidence per field) is stored and
//! answered.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{Part, TestApp, pipeline, png_bytes, post_presigned};

const SOON: Duration = Duration::from_secs(30);

async fn upload(app: &TestApp, user: &str, locale: Option<&str>) -> testkit::Response {
    let token = app.token(user);
    let png = png_bytes();
    let mut parts = vec![Part::File {
        name: "file",
        file_name: "receipt.png",
        content_type: "image/png",
        bytes: &png,
    }];
    if let Some(value) = locale {
        parts.push(Part::Text {
            name: "locale",
            value,
        });
    }
    app.upload_parts(Some(&token), &parts).await
}

fn sent_locale(agent: &FakeAgent, id: i64) -> Option<String> {
    agent
        .state
        .locales
        .lock()
        .unwrap()
        .iter()
        .find(|(r, _)| *r == id)
        .expect("the agent was called for the receipt")
        .1
        .clone()
}

async fn receipt_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM receipts")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_uploads_locale_reaches_the_agent_and_what_it_read_is_answered() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;

    let r = upload(&app, "alice", Some("en-US")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["locale"], "en-US");
    let id = r.json["id"].as_i64().unwrap();
    app.wait_for_status(id, "completed", SOON).await;
    assert_eq!(sent_locale(&agent, id).as_deref(), Some("en-US"));

    let r = app
        .get(&format!("/receipts/{id}"), Some(&app.token("alice")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let m = &r.json["metadata"];
    assert_eq!(m["locale"]["tag"], "ms-MY");
    assert_eq!(m["locale"]["source"], "inferred");
    assert_eq!(m["locale"]["currency_source"], "printed");
    assert_eq!(m["field_confidence"]["total"], 0.98);
    assert_eq!(m["tip"], serde_json::Value::Null);
    assert_eq!(r.json["items"][1]["code"], "9556001");
    assert_eq!(r.json["items"][0]["code"], serde_json::Value::Null);
    running.stop().await;
}

#[tokio::test]
async fn a_users_default_locale_is_used_when_an_upload_gives_none() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let token = app.token("alice");

    let r = app.get("/users/me/settings", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"locale": null}));
    let r = app
        .send(
            http::Request::put("/users/me/settings")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(r#"{"locale":"de-DE"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json, json!({"locale": "de-DE"}));
    let r = app.get("/users/me/settings", Some(&token)).await;
    assert_eq!(r.json, json!({"locale": "de-DE"}));
    // Bob's settings are his own.
    let r = app.get("/users/me/settings", Some(&app.token("bob"))).await;
    assert_eq!(r.json, json!({"locale": null}));

    let plain = upload(&app, "alice", None).await.json["id"]
        .as_i64()
        .unwrap();
    let own = upload(&app, "alice", Some("en-GB")).await.json["id"]
        .as_i64()
        .unwrap();
    let bobs = upload(&app, "bob", None).await.json["id"].as_i64().unwrap();
    for id in [plain, own, bobs] {
        app.wait_for_status(id, "completed", SOON).await;
    }
    assert_eq!(sent_locale(&agent, plain).as_deref(), Some("de-DE"));
    assert_eq!(
        sent_locale(&agent, own).as_deref(),
        Some("en-GB"),
        "the upload's own hint wins"
    );
    assert_eq!(sent_locale(&agent, bobs), None);
    running.stop().await;
}

#[tokio::test]
async fn a_presigned_uploads_locale_reaches_the_agent() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let r = app
        .post_json(
            "/receipts/upload-url",
            Some(&app.token("alice")),
            &json!({"content_type": "image/png", "locale": "fr-FR"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert!(post_presigned(&r.json, png_bytes()).await.is_success());
    let ids = app.wait_for_receipts(1, SOON).await;
    app.wait_for_status(ids[0], "completed", SOON).await;
    assert_eq!(sent_locale(&agent, ids[0]).as_deref(), Some("fr-FR"));
    running.stop().await;
}

#[tokio::test]
async fn a_malformed_locale_is_a_400_naming_it_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    for bad in ["english", "en_US", "de-DE-", "12"] {
        let r = upload(&app, "alice", Some(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.json);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("locale"),
            "{}",
            r.json
        );
        let r = app
            .post_json(
                "/receipts/upload-url",
                Some(&token),
                &json!({"content_type": "image/png", "locale": bad}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.json);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("locale")
        );
        let r = app
            .send(
                http::Request::put("/users/me/settings")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(json!({"locale": bad}).to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.json);
    }
    assert_eq!(receipt_count(&app).await, 0);
    let intents: i64 = sqlx::query_scalar("SELECT count(*) FROM upload_intents")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(intents, 0);
    let r = app.get("/users/me/settings", Some(&token)).await;
    assert_eq!(r.json, json!({"locale": null}));
}
