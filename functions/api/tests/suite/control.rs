//! Scheduling and control, on the real Postgres and LocalStack: priority
//! queues, the user's MessageGroupId on every OCR message, per-user
//! limits, cancel, and uploads safe to repeat.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use axum::http::StatusCode;
use serde_json::{Value, json};
use shared::config::LimitSettings;
use shared::db::ClaimOutcome;
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{ADMIN, Options, Part, TestApp, pipeline, png_bytes};

fn file(bytes: &[u8]) -> [Part<'_>; 1] {
    [Part::File {
        name: "file",
        file_name: "r.png",
        content_type: "image/png",
        bytes,
    }]
}

/// A test app (AUTO_OCR off) with these per-user limits (0: none).
async fn with_limits(
    uploads_per_minute: u32,
    queued_per_minute: u32,
    max_in_flight: u32,
) -> TestApp {
    TestApp::spawn_with(Options {
        limits: LimitSettings {
            uploads_per_minute,
            queued_per_minute,
            max_in_flight,
        },
        ..manual()
    })
    .await
}

fn manual() -> Options {
    Options {
        auto_ocr: false,
        ..Default::default()
    }
}

/// Receives every message of a queue with its system attributes, and
/// deletes them.
async fn take_all(app: &TestApp, url: &str) -> Vec<Message> {
    let mut out = Vec::new();
    for _ in 0..2 {
        loop {
            let resp = app
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let msgs = resp.messages().to_vec();
            if msgs.is_empty() {
                break;
            }
            for m in &msgs {
                app.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            out.extend(msgs);
        }
    }
    out
}

fn body(m: &Message) -> Value {
    serde_json::from_str(m.body().unwrap()).unwrap()
}

fn group_of(m: &Message) -> Option<String> {
    m.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
        .cloned()
}

async fn ids_in(app: &TestApp, url: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = take_all(app, url)
        .await
        .iter()
        .map(|m| body(m)["receipt_id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

async fn events_of(app: &TestApp, id: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT type FROM receipt_events WHERE receipt_id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn priority_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT priority FROM receipts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

// ---- 1. priority ----------------------------------------------------------

#[tokio::test]
async fn high_priority_receipts_sent_behind_a_backlog_of_normal_ones_finish_first() {
    let app = TestApp::spawn_with(manual()).await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // Every read takes 150 ms.
    agent.plan(Arc::new(|_, _| Reply::Stall(Duration::from_millis(150))));
    let alice = app.token("alice");

    let normal = app.seed_uploaded("alice", 12).await;
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.json["queued"], 12, "{}", r.json);
    // Then three uploaded at high priority, queued behind the backlog.
    let mut high = Vec::new();
    for _ in 0..3 {
        let png = png_bytes();
        let r = app
            .upload_with("/receipts?priority=high", Some(&alice), &[], &file(&png))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        assert_eq!(r.json["priority"], "high");
        high.push(r.json["id"].as_i64().unwrap());
    }
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.json["queued"], 3, "{}", r.json);

    // A worker that reads one receipt at a time, one batch at a time, on
    // each queue: the two event source mappings' concurrency.
    let mut worker = pipeline::worker(&app, &agent);
    worker.settings.concurrency = 1;
    let running = pipeline::start_with_concurrency(
        &app,
        Arc::new(worker),
        Arc::new(pipeline::ingest(&app)),
        1,
    )
    .await;
    for id in normal.iter().chain(&high) {
        app.wait_for_status(*id, "completed", Duration::from_secs(60))
            .await;
    }
    running.stop().await;

    let order: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM receipts WHERE ocr_status = 'completed' ORDER BY processed_at, id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let place = |id: &i64| order.iter().position(|o| o == id).unwrap();
    let last_high = high.iter().map(place).max().unwrap();
    let normal_done_before = normal.iter().filter(|n| place(n) < last_high).count();
    // Queued last, the high ones were done while at most half the backlog was.
    assert!(
        normal_done_before <= 6,
        "{normal_done_before} of 12 normal receipts finished before the last high one: {order:?}"
    );
    assert_eq!(agent.calls(), 15);
}

#[tokio::test]
async fn priority_picks_the_queue_everywhere_and_a_bad_one_changes_nothing() {
    let app = TestApp::spawn_with(manual()).await;
    let alice = app.token("alice");

    // A bad priority is the JSON error, and nothing is stored or queued.
    let png = png_bytes();
    let r = app
        .upload_with("/receipts?priority=urgent", Some(&alice), &[], &file(&png))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_input");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("priority")
    );
    assert!(app.snapshot().await.is_empty());
    assert!(app.object_keys().await.is_empty());
    let pending = app.seed_pending("alice", 2).await;
    let before = app.snapshot().await;
    let r = app
        .post("/receipts/ocr/process-all?priority=soon", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.snapshot().await, before);

    // process-all at high priority: both on the high queue, with the
    // priority in the body. A repeated name: the last one wins; a name the
    // route does not know is ignored.
    let r = app
        .post(
            "/receipts/ocr/process-all?priority=soon&colour=red&priority=high",
            Some(&alice),
        )
        .await;
    assert_eq!(r.json["queued"], 2, "{}", r.json);
    let st = app.get("/receipts/ocr/queue-status", Some(&alice)).await;
    assert_eq!(st.json["queues"]["high"]["visible"], 2, "{}", st.json);
    assert_eq!(st.json["queues"]["normal"]["visible"], 0, "{}", st.json);
    assert_eq!(st.json["queue"]["visible"], 2, "{}", st.json);
    let msgs = take_all(&app, &app.ocr_high_queue_url).await;
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|m| body(m)["priority"] == "high"));
    assert!(ids_in(&app, &app.ocr_queue_url).await.is_empty());

    // A retry keeps the receipt's priority, or sets the one asked for.
    app.set_status(pending[0], "failed", Some("x")).await;
    app.set_status(pending[1], "failed", Some("x")).await;
    let r = app
        .post(&format!("/receipts/{}/ocr/retry", pending[0]), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(
        ids_in(&app, &app.ocr_high_queue_url).await,
        vec![pending[0]]
    );
    let r = app
        .post(
            &format!("/receipts/{}/ocr/retry?priority=normal", pending[1]),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(ids_in(&app, &app.ocr_queue_url).await, vec![pending[1]]);
    assert_eq!(priority_of(&app, pending[1]).await, "normal");

    // A direct upload asked for at high priority is registered (by the S3
    // event) at high priority, and read from the high queue.
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let app = TestApp::spawn().await;
    let running = pipeline::start(&app, &agent).await;
    let r = app
        .post_json(
            "/receipts/upload-url?priority=high",
            Some(&app.token("bob")),
            &json!({"content_type": "image/png"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["priority"], "high");
    assert!(
        testkit::post_presigned(&r.json, png_bytes())
            .await
            .is_success()
    );
    let id = app.wait_for_receipts(1, Duration::from_secs(20)).await[0];
    app.wait_for_status(id, "completed", Duration::from_secs(20))
        .await;
    assert_eq!(priority_of(&app, id).await, "high");
    // Read through the high queue's poller (normal OCR, ingest, high OCR).
    assert_eq!(running.stats[0].snapshot().0, 0);
    assert_eq!(running.stats[2].snapshot().0, 1);
    running.stop().await;
}

#[tokio::test]
async fn a_redrive_empties_both_dead_letter_queues_into_the_queue_of_each_receipt() {
    let app = TestApp::spawn_with(manual()).await;
    let ids = app.seed_pending("alice", 2).await;
    sqlx::query(
        "UPDATE receipts SET ocr_status = 'failed', last_error = 'dead', dead_lettered_at = now(), \
         priority = CASE WHEN id = $1 THEN 'high' ELSE 'normal' END",
    )
    .bind(ids[0])
    .execute(&app.pool)
    .await
    .unwrap();
    for (id, dlq) in [(ids[0], &app.ocr_high_dlq_url), (ids[1], &app.ocr_dlq_url)] {
        let job = app.ocr_job(id).await;
        app.sqs
            .send_message()
            .queue_url(dlq)
            .message_body(job.to_body())
            .send()
            .await
            .unwrap();
    }
    let r = app
        .post("/receipts/ocr/redrive", Some(&app.token(ADMIN)))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(r.json["dlq_messages"], 2, "{}", r.json);
    assert_eq!(r.json["removed_from_dlq"], 2, "{}", r.json);
    assert_eq!(ids_in(&app, &app.ocr_high_queue_url).await, vec![ids[0]]);
    assert_eq!(ids_in(&app, &app.ocr_queue_url).await, vec![ids[1]]);
    assert!(take_all(&app, &app.ocr_high_dlq_url).await.is_empty());
    assert!(take_all(&app, &app.ocr_dlq_url).await.is_empty());
}

// ---- 2. fairness: MessageGroupId ------------------------------------------

#[tokio::test]
async fn every_ocr_message_carries_its_users_message_group_id() {
    let app = TestApp::spawn_with(manual()).await;
    // process-all, normal and high; a retry; a bulk retry; the reconciler.
    app.seed_pending("alice", 3).await;
    let r = app
        .post("/receipts/ocr/process-all", Some(&app.token("alice")))
        .await;
    assert_eq!(r.json["queued"], 3);
    app.seed_pending("bob", 2).await;
    let r = app
        .post(
            "/receipts/ocr/process-all?priority=high",
            Some(&app.token("bob")),
        )
        .await;
    assert_eq!(r.json["queued"], 2);
    let carol = app.seed_pending("carol", 2).await;
    app.set_status(carol[0], "failed", Some("x")).await;
    app.set_status(carol[1], "failed", Some("x")).await;
    let r = app
        .post(
            &format!("/receipts/{}/ocr/retry", carol[0]),
            Some(&app.token("carol")),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = app
        .post("/receipts/ocr/retry-failed", Some(&app.token("carol")))
        .await;
    assert_eq!(r.json["requeued"], 1, "{}", r.json);
    let dave = app.seed_pending("dave", 1).await;
    sqlx::query(
        "UPDATE receipts SET ocr_status = 'queued', queued_at = now() - interval '1 hour' WHERE id = $1",
    )
    .bind(dave[0])
    .execute(&app.pool)
    .await
    .unwrap();
    let report = pipeline::reconciler(&app, Duration::from_secs(60))
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.requeued, vec![dave[0]]);

    let mut msgs = take_all(&app, &app.ocr_queue_url).await;
    let high = take_all(&app, &app.ocr_high_queue_url).await;
    assert_eq!(high.len(), 2);
    msgs.extend(high);
    assert_eq!(msgs.len(), 3 + 2 + 2 + 1);
    let mut per_user = std::collections::BTreeMap::<String, usize>::new();
    for m in &msgs {
        let user = body(m)["user_id"].as_str().unwrap().to_owned();
        assert_eq!(group_of(m).as_deref(), Some(user.as_str()), "{:?}", m);
        *per_user.entry(user).or_default() += 1;
    }
    assert_eq!(
        per_user,
        [("alice", 3), ("bob", 2), ("carol", 2), ("dave", 1)]
            .map(|(u, n)| (u.to_owned(), n))
            .into()
    );
}

// ---- 3. limits --------------------------------------------------------------

#[tokio::test]
async fn over_a_limit_the_answer_is_429_with_retry_after_and_nothing_changes() {
    let app = with_limits(2, 3, 0).await;
    let alice = app.token("alice");

    // Uploads: two a minute.
    for _ in 0..2 {
        let png = png_bytes();
        let r = app.upload_parts(Some(&alice), &file(&png)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    }
    let (rows, objects) = (app.snapshot().await, app.object_keys().await);
    let png = png_bytes();
    let r = app.upload_parts(Some(&alice), &file(&png)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.json);
    assert_eq!(r.error_code(), "rate_limited");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    // One upload drips in every 30 s.
    assert!((1..=30).contains(&wait), "Retry-After: {wait}");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 uploads per minute")
    );
    let r = app
        .post_json(
            "/receipts/upload-url",
            Some(&alice),
            &json!({"content_type": "image/png"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.json);
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(app.snapshot().await, rows);
    assert_eq!(app.object_keys().await, objects);
    let intents: i64 = sqlx::query_scalar("SELECT count(*) FROM upload_intents")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(intents, 0);
    // Limits are per user.
    let png = png_bytes();
    let r = app.upload_parts(Some(&app.token("bob")), &file(&png)).await;
    assert_eq!(r.status, StatusCode::CREATED);

    // Queued: three a minute. Five pending: three are queued, and the
    // answer says the limits cut it.
    app.seed_pending("alice", 3).await;
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["queued"], 3, "{}", r.json);
    assert_eq!(r.json["limited_to"], 3, "{}", r.json);
    // One of the two left has failed: each call has a receipt to queue.
    let left = app.snapshot().await;
    let (failed, ..) = left.iter().find(|(_, st, _)| st == "pending").unwrap();
    app.set_status(*failed, "failed", Some("x")).await;
    let rows = app.snapshot().await;
    for path in [
        "/receipts/ocr/process-all".to_owned(),
        "/receipts/ocr/retry-failed".to_owned(),
        format!("/receipts/{}/ocr/retry", rows[0].0),
    ] {
        let r = app.post(&path, Some(&alice)).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: {}",
            r.json
        );
        let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&wait), "{path}: Retry-After {wait}");
    }
    assert_eq!(app.snapshot().await, rows, "a 429 changed nothing");
    assert_eq!(
        ids_in(&app, &app.ocr_queue_url).await.len(),
        3,
        "only the three queued have messages"
    );
    // With nothing to queue there is nothing to refuse: no 429.
    app.set_status(*failed, "completed", None).await;
    let r = app.post("/receipts/ocr/retry-failed", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(r.json["requeued"], 0, "{}", r.json);
}

#[tokio::test]
async fn a_burst_of_concurrent_uploads_gets_exactly_what_the_bucket_holds() {
    let app = with_limits(5, 0, 0).await;
    let alice = app.token("alice");
    let png = png_bytes();
    let r = app.upload_parts(Some(&alice), &file(&png)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Ten at once: the bucket holds four more (a token drips in every
    // 12 s, far longer than the burst takes).
    let files: Vec<Vec<u8>> = (0..10).map(|_| png_bytes()).collect();
    let answers = futures::future::join_all(
        files
            .iter()
            .map(|f| async { app.upload_parts(Some(&alice), &file(f)).await.status }),
    )
    .await;
    let created = answers
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let limited = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, limited), (4, 6), "{answers:?}");
    assert_eq!(app.snapshot().await.len(), 5);
    assert_eq!(app.object_keys().await.len(), 5);
}

#[tokio::test]
async fn the_in_flight_cap_queues_up_to_it_and_unused_tokens_go_back() {
    let app = with_limits(0, 4, 2).await;
    let alice = app.token("alice");
    app.seed_pending("alice", 5).await;
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.json["queued"], 2, "{}", r.json);
    assert_eq!(r.json["limited_to"], 2, "{}", r.json);
    let rows = app.snapshot().await;
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight")
    );
    assert_eq!(r.headers["retry-after"], "10");
    assert_eq!(app.snapshot().await, rows);

    // Both finish: room for two more, and the queued-per-minute bucket
    // still has the two tokens the capped call did not use.
    for (id, ..) in rows.iter().filter(|(_, st, _)| st == "queued") {
        app.set_status(*id, "completed", None).await;
    }
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.json["queued"], 2, "{}", r.json);
    // Four queued this minute: the bucket is empty now.
    for (id, ..) in app
        .snapshot()
        .await
        .iter()
        .filter(|(_, st, _)| st == "queued")
    {
        app.set_status(*id, "completed", None).await;
    }
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4 receipts queued")
    );
}

/// Concurrent process-all calls take turns at the bucket: together they
/// queue every pending receipt once, and none is refused while the
/// receipts really queued stay within the rate.
#[tokio::test]
async fn concurrent_process_all_calls_queue_each_receipt_once_without_false_429s() {
    let app = with_limits(0, 600, 0).await;
    let alice = app.token("alice");
    app.seed_pending("alice", 25).await;
    let calls = (0..30).map(|_| app.post("/receipts/ocr/process-all", Some(&alice)));
    let answers = futures::future::join_all(calls).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let queued: u64 = answers
        .iter()
        .map(|r| r.json["queued"].as_u64().unwrap())
        .sum();
    assert_eq!(queued, 25, "every pending receipt queued once");
    let messages = take_all(&app, &app.ocr_queue_url).await;
    let mut ids: Vec<i64> = messages
        .iter()
        .map(|m| body(m)["receipt_id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((messages.len(), ids.len()), (25, 25), "one message each");

    // With nothing pending, overlapping calls queue nothing and are not
    // refused either.
    let calls = (0..6).map(|_| app.post("/receipts/ocr/process-all", Some(&alice)));
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.json["queued"], 0);
    }
}

// ---- 4. cancel --------------------------------------------------------------

#[tokio::test]
async fn a_cancelled_receipt_is_acknowledged_without_ocr_and_can_be_queued_again() {
    let app = TestApp::spawn_with(manual()).await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let alice = app.token("alice");
    let ids = app.seed_uploaded("alice", 3).await;
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.json["queued"], 3);

    let r = app
        .post(&format!("/receipts/{}/ocr/cancel", ids[0]), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "pending");
    assert_eq!(app.status_of(ids[0]).await, "pending");
    // Not the caller's: as if it did not exist. Not an id: 400. No token: 401.
    let r = app
        .post(
            &format!("/receipts/{}/ocr/cancel", ids[1]),
            Some(&app.token("bob")),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.post("/receipts/abc/ocr/cancel", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_input");
    let r = app
        .post(&format!("/receipts/{}/ocr/cancel", ids[1]), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Already pending: nothing to cancel.
    let r = app
        .post(&format!("/receipts/{}/ocr/cancel", ids[0]), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not queued")
    );

    let r = app.post("/receipts/ocr/cancel-all", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["cancelled"], 2);
    assert_eq!(r.json["receipt_ids"], json!([ids[1], ids[2]]));

    // The three messages are still in the queue: the worker acknowledges
    // each without calling the agent.
    let running = pipeline::start(&app, &agent).await;
    testkit::wait_until(
        "the OCR queue is empty",
        Duration::from_secs(20),
        async || app.depth(&app.ocr_queue_url).await == (0, 0),
    )
    .await;
    assert_eq!(agent.calls(), 0);
    for id in &ids {
        assert_eq!(app.status_of(*id).await, "pending");
    }

    // Queued again, they are read.
    let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
    assert_eq!(r.json["queued"], 3);
    for id in &ids {
        app.wait_for_status(*id, "completed", Duration::from_secs(20))
            .await;
    }
    running.stop().await;
    assert_eq!(agent.calls(), 3);
    assert_eq!(
        events_of(&app, ids[0]).await,
        [
            "receipt.queued",
            "receipt.cancelled",
            "receipt.queued",
            "receipt.processing",
            "receipt.completed"
        ]
    );
    // Completed: nothing to cancel.
    let r = app
        .post(&format!("/receipts/{}/ocr/cancel", ids[0]), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_cancel_racing_a_workers_claim_ends_in_exactly_one_outcome() {
    let app = TestApp::spawn_with(manual()).await;
    let alice = app.token("alice");
    let repo = &app.state.service.repo;
    let (mut cancelled, mut claimed) = (0, 0);
    for _ in 0..20 {
        let id = app.seed_pending("alice", 1).await[0];
        let r = app
            .post(&format!("/receipts/{id}/ocr/retry"), Some(&alice))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
        let job = app.ocr_job(id).await;
        let path = format!("/receipts/{id}/ocr/cancel");
        let (cancel, claim) = tokio::join!(
            app.post(&path, Some(&alice)),
            repo.claim(&job, Duration::from_secs(60))
        );
        let claim = claim.unwrap();
        let status = app.status_of(id).await;
        let events = events_of(&app, id).await;
        match (cancel.status, &claim) {
            (StatusCode::OK, ClaimOutcome::Busy(shared::domain::OcrStatus::Pending)) => {
                cancelled += 1;
                assert_eq!(status, "pending");
                assert_eq!(events, ["receipt.queued", "receipt.cancelled"]);
            }
            (StatusCode::CONFLICT, ClaimOutcome::Claimed(_)) => {
                claimed += 1;
                assert_eq!(status, "processing");
                assert!(
                    cancel.json["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("being read")
                );
                assert_eq!(events, ["receipt.queued", "receipt.processing"]);
            }
            other => panic!("receipt {id}: cancel and claim both or neither won: {other:?}"),
        }
    }
    assert_eq!(cancelled + claimed, 20);
    eprintln!("cancel won {cancelled}, claim won {claimed}");
}

// ---- 5. uploads safe to repeat ---------------------------------------------

#[tokio::test]
async fn the_same_idempotency_key_twice_makes_one_receipt_and_one_object() {
    let app = TestApp::spawn_with(manual()).await;
    let alice = app.token("alice");
    let png = png_bytes();
    let key = [("idempotency-key", "upload-7f3a")];

    // Twice at once, then once more.
    let parts = file(&png);
    let (a, b) = tokio::join!(
        app.upload_with("/receipts", Some(&alice), &key, &parts),
        app.upload_with("/receipts", Some(&alice), &key, &parts)
    );
    let c = app
        .upload_with("/receipts", Some(&alice), &key, &file(&png))
        .await;
    let mut statuses = vec![a.status, b.status, c.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::OK, StatusCode::CREATED],
        "{} {} {}",
        a.json,
        b.json,
        c.json
    );
    assert_eq!(a.json["id"], b.json["id"]);
    assert_eq!(a.json["id"], c.json["id"]);
    assert_eq!(c.headers["idempotent-replayed"], "true");
    assert_eq!(app.snapshot().await.len(), 1);
    assert_eq!(app.object_keys().await.len(), 1);

    // The same key with another file: refused, nothing changed.
    let other = png_bytes();
    let rows = app.snapshot().await;
    let r = app
        .upload_with("/receipts", Some(&alice), &key, &file(&other))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json);
    assert_eq!(r.error_code(), "idempotency_key_reused");
    assert_eq!(app.snapshot().await, rows);
    assert_eq!(app.object_keys().await.len(), 1);
    // The same file with another purchase date or priority: refused too,
    // not silently answered with the first receipt.
    let [upload] = file(&png);
    let dated = vec![
        upload,
        Part::Text {
            name: "purchase_date",
            value: "2026-01-02",
        },
    ];
    for (path, parts) in [
        ("/receipts", dated),
        ("/receipts?priority=high", Vec::from(file(&png))),
    ] {
        let r = app.upload_with(path, Some(&alice), &key, &parts).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            r.json
        );
        assert_eq!(r.error_code(), "idempotency_key_reused");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("purchase_date or priority"),
            "{}",
            r.json
        );
    }
    assert_eq!(app.snapshot().await, rows);
    // A key is the user's own: bob's same key makes bob's receipt.
    let r = app
        .upload_with("/receipts", Some(&app.token("bob")), &key, &file(&png))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(r.json["id"], a.json["id"]);
    // A key that is not one: 400.
    let r = app
        .upload_with(
            "/receipts",
            Some(&alice),
            &[("idempotency-key", &"k".repeat(256))],
            &file(&other),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // upload-url: the same key gives the same object, whose receipt the
    // answer names once it has arrived.
    let ask = || {
        app.send(
            axum::http::Request::post("/receipts/upload-url")
                .header("authorization", format!("Bearer {alice}"))
                .header("content-type", "application/json")
                .header("idempotency-key", "direct-1")
                .body(axum::body::Body::from(r#"{"content_type":"image/png"}"#))
                .unwrap(),
        )
    };
    let first = ask().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    assert_eq!(first.json["receipt_id"], Value::Null);
    let again = ask().await;
    assert_eq!(again.json["key"], first.json["key"]);
    for answer in [&first, &again] {
        assert!(
            testkit::post_presigned(&answer.json, png.clone())
                .await
                .is_success()
        );
    }
    let keys = app.object_keys().await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    let ingest = pipeline::ingest(&app);
    let events = app.drain_raw(&app.ingest_queue_url).await;
    for (body, _) in events {
        let mut ev = aws_lambda_events::event::sqs::SqsEvent::default();
        let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
        m.message_id = Some(uuid::Uuid::new_v4().to_string());
        m.body = Some(body);
        ev.records.push(m);
        let out = ingest.handle(ev).await;
        assert!(out.batch_item_failures.is_empty());
    }
    let third = ask().await;
    let id = third.json["receipt_id"]
        .as_i64()
        .expect("the receipt of the upload");
    assert_eq!(third.json["key"], first.json["key"]);
    let direct: i64 = sqlx::query_scalar("SELECT count(*) FROM receipts WHERE object_key = $1")
        .bind(first.json["key"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(direct, 1);
    assert!(id > 0);
    // The same key for another type: refused.
    let r = app
        .send(
            axum::http::Request::post("/receipts/upload-url")
                .header("authorization", format!("Bearer {alice}"))
                .header("content-type", "application/json")
                .header("idempotency-key", "direct-1")
                .body(axum::body::Body::from(r#"{"content_type":"image/jpeg"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json);
}

#[tokio::test]
async fn the_same_bytes_twice_answer_the_first_receipt_unless_allowed() {
    let app = TestApp::spawn_with(manual()).await;
    let alice = app.token("alice");
    let png = png_bytes();
    let first = app.upload_parts(Some(&alice), &file(&png)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let id = first.json["id"].as_i64().unwrap();

    let again = app.upload_parts(Some(&alice), &file(&png)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    assert_eq!(again.json["duplicate_of"], id);
    assert_eq!(again.json["id"], id);
    assert_eq!(app.snapshot().await.len(), 1);
    assert_eq!(app.object_keys().await.len(), 1);

    let allowed = app
        .upload_with(
            "/receipts?allow_duplicate=true",
            Some(&alice),
            &[],
            &file(&png),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.json);
    assert_ne!(allowed.json["id"], id);
    assert_eq!(allowed.json.get("duplicate_of"), None);
    assert_eq!(app.object_keys().await.len(), 2);
    // Another user's same bytes are their own receipt.
    let bob = app.upload_parts(Some(&app.token("bob")), &file(&png)).await;
    assert_eq!(bob.status, StatusCode::CREATED);
    let r = app
        .upload_with(
            "/receipts?allow_duplicate=perhaps",
            Some(&alice),
            &[],
            &file(&png),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.object_keys().await.len(), 3);
}

#[tokio::test]
async fn the_reconciler_forgets_presigned_uploads_past_the_retention() {
    let app = TestApp::spawn_with(manual()).await;
    let alice = app.token("alice");
    for _ in 0..2 {
        let r = app
            .post_json(
                "/receipts/upload-url",
                Some(&alice),
                &json!({"content_type": "image/png"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    sqlx::query(
        "UPDATE upload_intents SET created_at = now() - make_interval(secs => $1) \
         WHERE ctid = (SELECT min(ctid) FROM upload_intents)",
    )
    .bind(app.config.common.processing.event_retention.as_secs_f64() + 60.0)
    .execute(&app.pool)
    .await
    .unwrap();
    let report = pipeline::reconciler(&app, Duration::from_secs(60))
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.upload_intents_pruned, 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM upload_intents")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}
