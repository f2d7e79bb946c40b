//! The api function's binary as Lambda starts it, under the Runtime API
//! stand-in: its init waits on nothing on the network, and the cold-start
//! benchmark's measuring works on it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::coldstart::{Bench, Function};
use testkit::runtime::{FakeRuntime, Reply};

fn health_event() -> Value {
    let path = format!(
        "{}/../../fixtures/lambda-events/api-health.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn receipt_event(id: i64) -> Value {
    let path = format!(
        "{}/../../fixtures/lambda-events/api-list-receipts.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut ev: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ev["path"] = json!(format!("/receipts/{id}"));
    ev["pathParameters"]["proxy"] = json!(format!("receipts/{id}"));
    ev["queryStringParameters"] = Value::Null;
    ev["multiValueQueryStringParameters"] = Value::Null;
    ev
}

/// The whole buffered answer to one invocation: (statusCode, body JSON).
async fn answer(runtime: &mut FakeRuntime) -> (u16, Value) {
    let mut body = Vec::new();
    loop {
        match runtime.reply(Duration::from_secs(30)).await {
            Some((_, Reply::Chunk(c))) => body.extend_from_slice(&c),
            Some((_, Reply::End)) => break,
            Some((_, Reply::Started(_))) => {}
            Some((_, Reply::Error(e))) => panic!("the function failed: {e}"),
            None => panic!("no answer"),
        }
    }
    let out: Value = serde_json::from_slice(&body).unwrap();
    let inner = serde_json::from_str(out["body"].as_str().unwrap_or("null")).unwrap();
    (out["statusCode"].as_u64().unwrap() as u16, inner)
}

#[tokio::test]
async fn with_the_database_down_the_function_still_starts_and_answers_503_until_it_is_back() {
    // Nothing listens on this port: a database that is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!(
        "postgres://receipts:receipts@{}/receipts",
        dead.local_addr().unwrap()
    );
    drop(dead);

    let mut runtime = FakeRuntime::start().await;
    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_api"))
        .env_clear()
        .envs(runtime.lambda_env("api"))
        // Nor does anything listen here: the SDK is not called at init either.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("DATABASE_URL", &dead_url)
        .env("OCR_QUEUE_URL", "http://127.0.0.1:9/000000000000/ocr")
        .env("OCR_DLQ_URL", "http://127.0.0.1:9/000000000000/ocr-dlq")
        .env(
            "OCR_HIGH_QUEUE_URL",
            "http://127.0.0.1:9/000000000000/ocr-high",
        )
        .env(
            "OCR_HIGH_DLQ_URL",
            "http://127.0.0.1:9/000000000000/ocr-high-dlq",
        )
        .env("RECEIPTS_BUCKET", "receipts")
        .env("AUTH_MODE", "apigateway")
        .kill_on_drop(true)
        .spawn()
        .expect("the api binary starts");

    // Init ends: the function asks for its first event.
    testkit::wait_until(
        "the first GET …/invocation/next",
        Duration::from_secs(20),
        async || runtime.first_poll().is_some(),
    )
    .await;
    let init = runtime.first_poll().unwrap() - spawned;
    assert!(
        init < Duration::from_secs(5),
        "init took {init:?}: it waited on something"
    );
    // Nor does it start threads (a worker thread per core was a quarter of
    // its init): on Lambda the api runs on its main thread alone.
    let pid = child.id().expect("the function is running");
    assert_eq!(
        testkit::proc_status(&pid.to_string(), "Threads"),
        Some(1),
        "threads of the api process at init"
    );

    // Health needs nothing: 200 at once.
    runtime.invoke(health_event());
    let (status, body) = answer(&mut runtime).await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");

    // A read needs the database: the JSON error, and the process lives on.
    runtime.invoke(receipt_event(1));
    let (status, body) = answer(&mut runtime).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the function is still running"
    );
    let _ = child.kill().await;
}

#[tokio::test]
async fn the_cold_start_benchmark_measures_the_api_binary_answering_a_users_receipt() {
    let bench = Bench::setup().await;
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_api"));
    let start = bench
        .start(Function::Api, bin, 3)
        .await
        .expect("the benchmark starts the api binary, and every answer is the receipt");
    assert!(start.init > Duration::ZERO && start.init < Duration::from_secs(20));
    assert!(start.first > Duration::ZERO);
    assert_eq!(start.warm.len(), 3);
    assert!(start.peak_rss_kib.is_some_and(|k| k > 1024));

    // An answer that is not what the user asked for fails the start: a
    // function measured while failing is never reported.
    let broken = bench
        .start_with_env(
            Function::Api,
            bin,
            1,
            &[
                ("AUTH_MODE", "jwt"),
                ("AUTH_JWT_SECRET", "a-secret-of-at-least-32-characters"),
            ],
        )
        .await;
    let err = broken.expect_err("401s are not measured");
    assert!(err.contains("401"), "{err}");
}
