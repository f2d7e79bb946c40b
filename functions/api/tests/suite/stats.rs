//! `GET /receipts/ocr/stats` and `POST /receipts/ocr/retry-failed`, on
//! receipts the pipeline really processed (the worker on LocalStack, a fake
//! agent that refuses some).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::StatusCode;
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{ADMIN, Options, TestApp, pipeline};

const SOON: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_figures_match_the_receipts_the_test_processed_and_retry_failed_requeues_them() {
    let app = TestApp::spawn_with(Options {
        auto_ocr: false,
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Status(500)).await;
    let running = pipeline::start(&app, &agent).await;
    let alice = app.token("alice");
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.upload_png("alice").await);
    }
    // The 2nd and 4th are refused the first time (each with a reason of
    // its own), the rest are read.
    let (second, fourth) = (ids[1], ids[3]);
    agent.plan(Arc::new(move |id, call| match call {
        1 if id == second => Reply::Status(422),
        1 if id == fourth => Reply::Status(415),
        _ => Reply::Extract(Box::new(sample_extraction())),
    }));
    app.upload_png("bob").await; // pending: in bob's figures only
    let before = app.get("/receipts/ocr/stats", Some(&alice)).await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.json["finished"], 0);
    assert_eq!(before.json["success_rate"], serde_json::Value::Null);
    assert_eq!(before.json["now"]["pending"], 5);

    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.json["queued"], 5);
    for (i, id) in ids.iter().enumerate() {
        let status = if i == 1 || i == 3 {
            "failed"
        } else {
            "completed"
        };
        app.wait_for_status(*id, status, SOON).await;
    }

    // What the figures must be, from the rows themselves.
    let rows: Vec<(i64, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, ocr_status, queued_at, processed_at FROM receipts WHERE user_id = 'alice' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut times: Vec<f64> = rows
        .iter()
        .filter(|r| r.1 == "completed")
        .map(|r| (r.3 - r.2).num_microseconds().unwrap() as f64 / 1000.0)
        .collect();
    times.sort_by(f64::total_cmp);
    let avg = times.iter().sum::<f64>() / times.len() as f64;

    let s = app.get("/receipts/ocr/stats", Some(&alice)).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.json);
    let j = &s.json;
    assert_eq!(j["scope"], "user");
    assert_eq!(j["window_hours"], 24);
    assert_eq!(j["finished"], 5);
    assert_eq!(j["completed"], 3);
    assert_eq!(j["failed"], 2);
    assert_eq!(j["success_rate"].as_f64(), Some(0.6));
    assert!(
        (j["avg_processing_ms"].as_f64().unwrap() - avg).abs() < 0.01,
        "{j}"
    );
    // p95 of three by linear interpolation: between the 2nd and 3rd.
    let p95 = times[1] + 0.9 * (times[2] - times[1]);
    assert!(
        (j["p95_processing_ms"].as_f64().unwrap() - p95).abs() < 0.01,
        "{j}"
    );
    assert_eq!(
        j["avg_ocr_ms"].as_f64(),
        Some(1.0),
        "the agent's duration_ms"
    );
    assert!((j["receipts_per_hour"].as_f64().unwrap() - 5.0 / 24.0).abs() < 1e-9);
    let reasons = j["top_failure_reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 2, "{j}");
    assert!(reasons.iter().all(|r| r["count"] == 1));
    let texts: Vec<&str> = reasons
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("422")) && texts.iter().any(|t| t.contains("415")),
        "{texts:?}"
    );
    assert_eq!(j["now"]["completed"], 3);
    assert_eq!(j["queue_depth"], 0);

    // A shorter window is accepted; bad ones are refused with the JSON error.
    assert_eq!(
        app.get("/receipts/ocr/stats?hours=1", Some(&alice))
            .await
            .json["finished"],
        5
    );
    for bad in ["hours=0", "hours=abc", "hours=99999", "scope=everyone"] {
        let r = app
            .get(&format!("/receipts/ocr/stats?{bad}"), Some(&alice))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        r.error_code();
    }
    assert_eq!(
        app.get("/receipts/ocr/stats", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Bob's figures are his own; every user's are for operators.
    let bob = app
        .get("/receipts/ocr/stats", Some(&app.token("bob")))
        .await;
    assert_eq!(bob.json["finished"], 0);
    assert_eq!(bob.json["now"]["pending"], 1);
    let r = app.get("/receipts/ocr/stats?scope=all", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "forbidden");
    let all = app
        .get("/receipts/ocr/stats?scope=all", Some(&app.token(ADMIN)))
        .await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json["scope"], "all");
    assert_eq!(all.json["finished"], 5);
    assert_eq!(all.json["now"]["pending"], 1);
    assert_eq!(all.json["now"]["total_tracked"], 6);

    // Retry all failed: both are queued again (and read this time); bob's
    // call re-queues nothing of alice's.
    let r = app
        .post("/receipts/ocr/retry-failed", Some(&app.token("bob")))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json["requeued"], 0);
    let bad = app
        .post("/receipts/ocr/retry-failed?limit=0", Some(&alice))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.status_of(second).await,
        "failed",
        "a refused call changes nothing"
    );
    let r = app
        .post("/receipts/ocr/retry-failed?limit=1", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(r.json["requeued"], 1);
    assert_eq!(
        r.json["receipt_ids"],
        serde_json::json!([second]),
        "oldest first"
    );
    let r = app.post("/receipts/ocr/retry-failed", Some(&alice)).await;
    assert_eq!(r.json["receipt_ids"], serde_json::json!([fourth]));
    app.wait_for_status(second, "completed", SOON).await;
    app.wait_for_status(fourth, "completed", SOON).await;
    let types: Vec<String> =
        sqlx::query_scalar("SELECT type FROM receipt_events WHERE receipt_id = $1 ORDER BY seq")
            .bind(second)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        types,
        [
            "receipt.created",
            "receipt.queued",
            "receipt.processing",
            "receipt.failed",
            "receipt.requeued",
            "receipt.processing",
            "receipt.completed"
        ]
    );
    let s = app.get("/receipts/ocr/stats", Some(&alice)).await;
    assert_eq!(s.json["completed"], 5);
    assert_eq!(s.json["success_rate"].as_f64(), Some(1.0));
    assert_eq!(s.json["top_failure_reasons"], serde_json::json!([]));
    running.stop().await;
}
