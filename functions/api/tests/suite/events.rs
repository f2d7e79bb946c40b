//! The event stream's edges (keep-alive, its end, bad cursors, filters) and
//! the webhook routes' refusals.

use std::time::Duration;

use api::AppState;
use http::StatusCode;
use testkit::TestApp;

#[tokio::test]
async fn an_idle_stream_sends_keep_alives_and_ends_after_its_time() {
    let app = TestApp::spawn().await;
    let mut config = app.config.clone();
    config.api.stream.keepalive = Duration::from_millis(300);
    config.api.stream.max = Duration::from_secs(2);
    let state = AppState::new(
        config,
        shared::wiring::Clients {
            pool: app.pool.clone(),
            s3: app.s3.clone(),
            sqs: app.sqs.clone(),
            credentials: None,
        },
    );
    let router = state.router();
    let req = http::Request::get("/receipts/events")
        .header("authorization", format!("Bearer {}", app.token("alice")))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(router, req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (parts, body) = resp.into_parts();
    let mut stream = testkit::sse::SseReader::new(parts.status, parts.headers, body);
    let started = tokio::time::Instant::now();
    let mut keep_alives = 0;
    while let Some(f) = stream.next_frame(Duration::from_secs(5)).await {
        assert!(f.data.is_none(), "no event: nothing happened");
        if f.comments.iter().any(|c| c.is_empty()) {
            keep_alives += 1;
        }
    }
    let lasted = started.elapsed();
    assert!(keep_alives >= 3, "{keep_alives} keep-alives in {lasted:?}");
    assert!(
        lasted >= Duration::from_millis(1800) && lasted < Duration::from_secs(5),
        "the stream ended after {lasted:?}"
    );
}

#[tokio::test]
async fn bad_cursors_and_other_users_receipts_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bobs = app.upload_png("bob").await;

    for (path, field) in [
        ("/receipts/events?after=-1", "after"),
        ("/receipts/events?after=x", "after"),
        ("/receipts/events?after=0&limit=0", "limit"),
        ("/receipts/events?after=0&limit=501", "limit"),
        ("/receipts/events?receipt_id=abc", "receipt_id"),
    ] {
        let r = app.get(path, Some(&alice)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(r.error_code(), "invalid_input", "{path}");
        assert!(
            r.json["error"]["message"].as_str().unwrap().contains(field),
            "{path}: {}",
            r.json
        );
    }
    let stream = app
        .open_stream("/receipts/events", &alice, Some("yesterday"))
        .await;
    assert_eq!(stream.status, StatusCode::BAD_REQUEST);
    let r = app
        .get(
            &format!("/receipts/events?after=0&receipt_id={bobs}"),
            Some(&alice),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "bob's receipt is not alice's"
    );
    let r = app.get("/receipts/events?after=0", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Bob sees his receipt's creation; alice sees nothing.
    let bob = app
        .get("/receipts/events?after=0", Some(&app.token("bob")))
        .await;
    assert_eq!(bob.json["events"][0]["type"], "receipt.created");
    assert_eq!(bob.json["events"][0]["receipt_id"], bobs);
    let r = app.get("/receipts/events?after=0", Some(&alice)).await;
    assert_eq!(r.json["events"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn webhook_routes_refuse_bad_input_with_the_json_error_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let r = app
        .post_json(
            "/webhooks",
            Some(&alice),
            &serde_json::json!({"url": "https://example.com/hook"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    assert_eq!(r.error_code(), "bad_request");
    for (body, field) in [
        (
            serde_json::json!({"url": "https://example.com/hook", "events": []}),
            "events",
        ),
        (
            serde_json::json!({"url": "https://example.com/hook", "events": ["receipt.eaten"]}),
            "events",
        ),
        (
            serde_json::json!({"url": "not a url", "events": ["receipt.completed"]}),
            "url",
        ),
        (
            serde_json::json!({"url": format!("https://example.com/{}", "a".repeat(3000)), "events": ["receipt.completed"]}),
            "url",
        ),
    ] {
        let r = app.post_json("/webhooks", Some(&alice), &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.json);
        assert_eq!(r.error_code(), "invalid_input");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{body}: {}",
            r.json
        );
    }
    for path in [
        "/webhooks/%FF/test",
        "/webhooks/0/test",
        "/webhooks/abc/test",
    ] {
        let r = app.post(path, Some(&alice)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(r.error_code(), "invalid_input", "{path}");
    }
    let r = app.post("/webhooks/999/test", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post("/webhooks/deliveries/999/resend", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for (method, path) in [
        ("GET", "/webhooks"),
        ("POST", "/webhooks"),
        ("DELETE", "/webhooks/1"),
        ("POST", "/webhooks/1/test"),
        ("GET", "/webhooks/1/deliveries"),
        ("POST", "/webhooks/deliveries/1/resend"),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(r.error_code(), "unauthorized");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing registered");
}
