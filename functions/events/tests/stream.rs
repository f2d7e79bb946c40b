//! The stream function's real binary under a stand-in Runtime API: it is
//! fed an API Gateway REST event for `GET /receipts/events` and streams
//! its answer back, the JSON prelude, eight NUL bytes, then SSE frames.

use std::time::Duration;

use serde_json::Value;
use testkit::TestApp;
use testkit::runtime::{FakeRuntime, Reply};

fn event(name: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/lambda-events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_stream_function_answers_an_api_gateway_event_with_a_prelude_and_sse_frames() {
    // The test uploads through the Router with tokens; the function reads
    // the caller from the event's authorizer (AUTH_MODE=apigateway).
    let app = TestApp::spawn().await;
    // Two receipts of alice's (the event's authorizer says alice), one of bob's.
    let first = app.upload_png("alice").await;
    app.upload_png("bob").await;
    let second = app.upload_png("alice").await;

    let mut runtime = FakeRuntime::start().await;
    let request_id = runtime.invoke(event("api-events-stream.json"));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_events"))
        .env_clear()
        .envs(runtime.lambda_env("events"))
        .env(
            "AWS_ENDPOINT_URL",
            std::env::var("AWS_ENDPOINT_URL").unwrap(),
        )
        .env("DATABASE_URL", app.database_url().await)
        .env("OCR_QUEUE_URL", &app.ocr_queue_url)
        .env("OCR_DLQ_URL", &app.ocr_dlq_url)
        .env("OCR_HIGH_QUEUE_URL", &app.ocr_high_queue_url)
        .env("OCR_HIGH_DLQ_URL", &app.ocr_high_dlq_url)
        .env("RECEIPTS_BUCKET", &app.bucket)
        .env("AUTH_MODE", "apigateway")
        .env("EVENTS_STREAM_MAX_SECS", "2")
        .env("EVENTS_KEEPALIVE_SECS", "1")
        .kill_on_drop(true)
        .spawn()
        .expect("the events binary starts");

    let mut headers = None;
    let mut body = Vec::new();
    loop {
        let (id, reply) = runtime
            .reply(Duration::from_secs(30))
            .await
            .expect("the function answers and ends the stream");
        assert_eq!(id, request_id);
        match reply {
            Reply::Started(h) => headers = Some(h),
            Reply::Chunk(c) => body.extend_from_slice(&c),
            Reply::End => break,
            Reply::Error(e) => panic!("the function failed: {e}"),
        }
    }
    let _ = child.kill().await;

    let headers = headers.unwrap();
    assert_eq!(
        headers["lambda-runtime-function-response-mode"], "streaming",
        "{headers:?}"
    );
    assert_eq!(
        headers["content-type"],
        "application/vnd.awslambda.http-integration-response"
    );
    let split = body
        .windows(8)
        .position(|w| w == [0u8; 8])
        .expect("the prelude ends with eight NUL bytes");
    let prelude: Value = serde_json::from_slice(&body[..split]).expect("the prelude is JSON");
    assert_eq!(prelude["statusCode"], 200, "{prelude}");
    assert_eq!(prelude["headers"]["content-type"], "text/event-stream");
    let sse = std::str::from_utf8(&body[split + 8..]).unwrap();
    let frames: Vec<_> = sse
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(testkit::sse::parse_frame)
        .collect();
    assert_eq!(frames[0].retry.as_deref(), Some("1000"));
    let events: Vec<(String, i64)> = frames
        .iter()
        .filter(|f| f.data.is_some())
        .map(|f| {
            (
                f.id.clone().unwrap(),
                f.json()["receipt_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![("1".to_owned(), first), ("2".to_owned(), second)],
        "alice's events only, from Last-Event-ID 0"
    );
    assert!(
        frames
            .iter()
            .any(|f| f.data.is_none() && f.comments == [""]),
        "a keep-alive while idle: {sse:?}"
    );
}
