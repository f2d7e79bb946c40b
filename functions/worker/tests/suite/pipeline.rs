//! The pipeline end to end on the real Postgres and the real LocalStack:
//! S3 events → ingest → OCR queue → worker → a fake agent the test controls.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use http::StatusCode;
use serde_json::{Value, json};
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{ADMIN, MAX_RECEIVE_COUNT, Options, TestApp, pipeline, png_bytes};

const SOON: Duration = Duration::from_secs(30);

async fn attempts_and_error(app: &TestApp, id: i64) -> (i32, Option<String>) {
    sqlx::query_as("SELECT attempts, last_error FROM receipts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn item_count(app: &TestApp, id: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM receipt_items WHERE receipt_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn send(app: &TestApp, queue_url: &str, body: &str) {
    app.sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// The body of the OCR message the system sends for a receipt.
async fn ocr_message(app: &TestApp, id: i64) -> String {
    app.ocr_job(id).await.to_body()
}

#[tokio::test]
async fn an_upload_is_read_by_the_agent_and_ends_completed_with_its_items() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;

    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "completed", SOON).await;

    let token = app.token("alice");
    let r = app.get(&format!("/receipts/{id}"), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "completed");
    assert_eq!(r.json["attempts"], 1);
    assert_eq!(r.json["metadata"]["merchant_name"], "KEDAI MAKAN");
    assert_eq!(r.json["metadata"]["total"], "9.00");
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
    assert_eq!(agent.calls(), 1);
    // The agent fetched the very image through the presigned URL.
    assert_eq!(
        *agent.state.fetched.lock().unwrap(),
        vec![(id, png_bytes().len())]
    );
    running.stop().await;
    assert_eq!(
        app.depth(&app.ocr_queue_url).await,
        (0, 0),
        "every message deleted"
    );
}

#[tokio::test]
async fn passing_agent_failures_are_retried_with_backoff_until_it_answers() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    agent.script([Reply::Status(500), Reply::Status(503)]);
    let running = pipeline::start(&app, &agent).await;
    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "completed", SOON).await;
    assert_eq!(agent.calls(), 3);
    let (attempts, last_error) = attempts_and_error(&app, id).await;
    assert_eq!(attempts, 3);
    assert_eq!(last_error, None, "a completed receipt has no error");
    assert_eq!(item_count(&app, id).await, 2);
    running.stop().await;
}

#[tokio::test]
async fn an_agent_timeout_is_a_passing_failure() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    agent.script([Reply::Stall(
        pipeline::AGENT_TIMEOUT + Duration::from_secs(2),
    )]);
    let running = pipeline::start(&app, &agent).await;
    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "completed", SOON).await;
    assert_eq!(attempts_and_error(&app, id).await.0, 2);
    running.stop().await;
}

#[tokio::test]
async fn lasting_failures_end_failed_in_the_dlq_and_come_back_with_a_redrive() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Status(500)).await;
    let running = pipeline::start(&app, &agent).await;
    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "failed", SOON).await;
    let (attempts, last_error) = attempts_and_error(&app, id).await;
    assert_eq!(attempts, MAX_RECEIVE_COUNT as i32);
    let last_error = last_error.unwrap();
    assert!(
        last_error.contains("500") && last_error.contains("gave up"),
        "{last_error}"
    );
    assert_eq!(agent.calls(), MAX_RECEIVE_COUNT as usize);

    // The worker put it in the DLQ itself, on its last receive.
    assert_eq!(app.depth(&app.ocr_dlq_url).await.0, 1);
    assert_eq!(app.depth(&app.ocr_queue_url).await, (0, 0));
    app.wait_for_status(id, "failed", SOON).await;
    assert_eq!(
        agent.calls(),
        MAX_RECEIVE_COUNT as usize,
        "not read again on its way to the DLQ"
    );
    // Something unreadable is in the DLQ too: a redrive leaves it there.
    send(&app, &app.ocr_dlq_url, "not an OCR message").await;

    // The agent is fixed (after one more passing failure); an operator redrives.
    agent.script([Reply::Status(503)]);
    agent.set_fallback(Reply::Extract(Box::new(sample_extraction())));
    let r = app
        .post("/receipts/ocr/redrive", Some(&app.token("alice")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "redrive is for operators");
    let r = app
        .post("/receipts/ocr/redrive", Some(&app.token(ADMIN)))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(r.json["receipt_ids"], json!([id]));
    assert_eq!(r.json["dlq_messages"], 2);
    assert_eq!(r.json["removed_from_dlq"], 1);
    assert_eq!(r.json["kept_in_dlq"], 1);
    // A fresh message with a fresh receive count: one failure after the
    // redrive is retried, not dead-lettered again.
    app.wait_for_status(id, "completed", SOON).await;
    assert_eq!(item_count(&app, id).await, 2);
    let deadline = std::time::Instant::now() + SOON;
    while app.depth(&app.ocr_queue_url).await != (0, 0) {
        assert!(std::time::Instant::now() < deadline, "a message was left");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
    assert_eq!(
        agent.calls(),
        MAX_RECEIVE_COUNT as usize + 2,
        "one message per redriven receipt: read twice (a 503, then the answer), never by a second copy"
    );
    let dead = app.drain_raw(&app.ocr_dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "not an OCR message");
}

#[tokio::test]
async fn a_receipt_the_agent_refuses_fails_at_once_with_the_reason() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Status(422)).await;
    let running = pipeline::start(&app, &agent).await;
    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "failed", SOON).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(agent.calls(), 1, "a 4xx is not retried");
    let (attempts, last_error) = attempts_and_error(&app, id).await;
    assert_eq!(attempts, 1);
    assert!(last_error.unwrap().contains("422"));
    running.stop().await;
    assert_eq!(
        app.depth(&app.ocr_queue_url).await,
        (0, 0),
        "message acknowledged"
    );
    assert_eq!(app.depth(&app.ocr_dlq_url).await.0, 0, "not dead-lettered");
}

#[tokio::test]
async fn a_poison_message_goes_to_the_dlq_at_once_and_the_rest_of_its_batch_completes() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let ids = app.seed_uploaded("alice", 9).await;
    for id in &ids {
        app.set_status(*id, "queued", None).await;
    }
    let mut records = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some(ocr_message(&app, *id).await);
        records.push(m);
    }
    let mut poison = SqsMessage::default();
    poison.message_id = Some("poison".into());
    poison.body = Some(r#"{"v":1,"receipt_id":"seventeen"}"#.into());
    records.insert(4, poison);
    let mut event = SqsEvent::default();
    event.records = records;

    let resp = pipeline::worker(&app, &agent).handle(event).await;
    assert!(
        resp.batch_item_failures.is_empty(),
        "the poison message is in the DLQ already: acknowledged, not handed back"
    );
    for id in &ids {
        assert_eq!(app.status_of(*id).await, "completed");
    }
    let dead = app.drain_raw(&app.ocr_dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, r#"{"v":1,"receipt_id":"seventeen"}"#);
    assert_eq!(dead[0].1["source_message_id"], "poison");
    assert!(
        dead[0].1["dead_letter_reason"].contains("not a valid OCR message"),
        "{:?}",
        dead[0].1
    );

    // Through the queue: in the DLQ after one receive, not after
    // maxReceiveCount × the visibility timeout.
    send(&app, &app.ocr_queue_url, "not json at all").await;
    let running = pipeline::start(&app, &agent).await;
    let deadline = std::time::Instant::now() + SOON;
    while app.depth(&app.ocr_dlq_url).await.0 < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the poison message never reached the DLQ"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
    assert_eq!(
        app.depth(&app.ocr_queue_url).await,
        (0, 0),
        "gone from the queue"
    );
    let dead = app.drain_raw(&app.ocr_dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "not json at all");
}

#[tokio::test]
async fn a_forged_message_touches_no_receipt_and_goes_to_the_dlq() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // Alice's receipt failed; Bob's receipt waits.
    let a = app.seed_pending("alice", 1).await[0];
    app.set_status(a, "failed", Some("agent refused (422): blurry"))
        .await;
    let b = app.seed_pending("bob", 1).await[0];
    let bob = app.ocr_job(b).await;
    let before = app.snapshot().await;
    let running = pipeline::start(&app, &agent).await;
    let forged = [
        // A's id, B's object, another owner.
        json!({"v": 1, "receipt_id": a, "user_id": "mallory", "bucket": bob.bucket, "key": bob.key}),
        // A's id and owner, B's object.
        json!({"v": 1, "receipt_id": a, "user_id": "alice", "bucket": bob.bucket, "key": bob.key}),
        // A's id with B's owner and object (B is pending: not to be read either).
        json!({"v": 1, "receipt_id": a, "user_id": "bob", "bucket": bob.bucket, "key": bob.key}),
    ];
    for body in &forged {
        send(&app, &app.ocr_queue_url, &body.to_string()).await;
    }
    let deadline = std::time::Instant::now() + SOON;
    while app.depth(&app.ocr_dlq_url).await.0 < forged.len() as i64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the forged messages never reached the DLQ"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
    assert_eq!(agent.calls(), 0, "the agent never saw B's image for A");
    assert_eq!(app.snapshot().await, before, "no receipt changed");
    assert_eq!(item_count(&app, a).await, 0);
    assert_eq!(app.depth(&app.ocr_queue_url).await, (0, 0));
    let dead = app.drain_raw(&app.ocr_dlq_url).await;
    assert_eq!(dead.len(), forged.len());
    for (_, attrs) in &dead {
        assert!(
            attrs["dead_letter_reason"].contains(&format!("differs from receipt {a}")),
            "{attrs:?}"
        );
    }
}

#[tokio::test]
async fn a_late_copy_of_a_failed_receipts_message_is_acknowledged_unread() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Status(422)).await;
    let running = pipeline::start(&app, &agent).await;
    let refused = app.upload_png("alice").await;
    app.wait_for_status(refused, "failed", SOON).await;
    // A dead-lettered one, too.
    let dead = app.seed_uploaded("alice", 1).await[0];
    sqlx::query("UPDATE receipts SET ocr_status = 'failed', last_error = 'gave up', dead_lettered_at = now() WHERE id = $1")
        .bind(dead)
        .execute(&app.pool)
        .await
        .unwrap();
    let calls = agent.calls();
    let before = app.snapshot().await;
    // Late duplicates (SQS at-least-once, or a reconciler's copy).
    for id in [refused, dead] {
        send(&app, &app.ocr_queue_url, &ocr_message(&app, id).await).await;
    }
    let deadline = std::time::Instant::now() + SOON;
    while app.depth(&app.ocr_queue_url).await != (0, 0) {
        assert!(std::time::Instant::now() < deadline, "never acknowledged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
    assert_eq!(agent.calls(), calls, "a failed receipt is not read again");
    assert_eq!(app.snapshot().await, before, "failed is final");
    assert_eq!(
        app.depth(&app.ocr_dlq_url).await.0,
        0,
        "a copy is acknowledged, not dead-lettered again"
    );
}

#[tokio::test]
async fn the_worker_and_ingest_emit_metrics_in_the_embedded_metric_format() {
    use shared::runtime::metrics::{METRIC_NAMES, Metrics, check_emf};
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    agent.script([Reply::Status(500)]);
    let ids = app.seed_uploaded("alice", 2).await;
    let mut event = SqsEvent::default();
    for (i, id) in ids.iter().enumerate() {
        app.set_status(*id, "queued", None).await;
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some(ocr_message(&app, *id).await);
        event.records.push(m);
    }
    let mut poison = SqsMessage::default();
    poison.message_id = Some("poison".into());
    poison.body = Some("{}".into());
    event.records.push(poison);
    let mut worker = pipeline::worker(&app, &agent);
    let (metrics, lines) = Metrics::capture("worker");
    worker.metrics = metrics;
    worker.handle(event).await;

    let mut ingest = pipeline::ingest(&app);
    let (metrics, ingest_lines) = Metrics::capture("ingest");
    ingest.metrics = metrics;
    let mut m = SqsMessage::default();
    m.message_id = Some("s3".into());
    m.body = Some(s3_event(&app.bucket, "uploads/alice/new.png"));
    let mut event = SqsEvent::default();
    event.records.push(m);
    ingest.handle(event).await;

    let lines: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .chain(ingest_lines.lock().unwrap().iter())
        .cloned()
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for line in &lines {
        check_emf(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["service"], "receipt-ocr");
        for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = m["Name"].as_str().unwrap().to_owned();
            assert!(
                METRIC_NAMES.contains(&name.as_str()),
                "{name} is not in METRIC_NAMES"
            );
            seen.insert(name);
        }
    }
    for name in [
        "Processed",
        "ProcessingTime",
        "AgentLatency",
        "Retried",
        "Refused",
        "Ingested",
    ] {
        assert!(seen.contains(name), "{name} not emitted: {lines:?}");
    }
}

#[tokio::test]
async fn the_same_message_delivered_twice_at_once_is_read_once() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // The first call takes a while, so that both copies are in flight together.
    agent.script([Reply::Stall(Duration::from_millis(800))]);
    let id = app.seed_uploaded("alice", 1).await[0];
    app.set_status(id, "queued", None).await;
    let body = ocr_message(&app, id).await;
    send(&app, &app.ocr_queue_url, &body).await;
    send(&app, &app.ocr_queue_url, &body).await;

    let running = pipeline::start(&app, &agent).await;
    app.wait_for_status(id, "completed", SOON).await;
    // Let the second copy come back and be acknowledged.
    let deadline = std::time::Instant::now() + SOON;
    while app.depth(&app.ocr_queue_url).await != (0, 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "a copy was never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
    assert_eq!(agent.calls(), 1, "the agent is called once");
    assert_eq!(item_count(&app, id).await, 2, "one set of items");
    assert_eq!(attempts_and_error(&app, id).await.0, 1);
}

#[tokio::test]
async fn a_worker_that_dies_after_its_claim_does_not_lose_the_receipt() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let id = app.seed_uploaded("alice", 1).await[0];
    app.set_status(id, "queued", None).await;
    send(&app, &app.ocr_queue_url, &ocr_message(&app, id).await).await;

    // A worker receives the message, claims the receipt, and dies: it never
    // deletes the message nor writes a result.
    let got = app
        .sqs
        .receive_message()
        .queue_url(&app.ocr_queue_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1);
    let repo = &app.state.service.repo;
    let claim = repo
        .claim(&app.ocr_job(id).await, pipeline::LEASE)
        .await
        .unwrap();
    assert!(matches!(claim, shared::db::ClaimOutcome::Claimed(_)));
    assert_eq!(app.status_of(id).await, "processing");

    // The message comes back after its visibility timeout, the lease has
    // run out, and a live worker finishes the job.
    let running = pipeline::start(&app, &agent).await;
    app.wait_for_status(id, "completed", SOON).await;
    running.stop().await;
    assert_eq!(attempts_and_error(&app, id).await.0, 2);
    assert_eq!(agent.calls(), 1);
}

#[tokio::test]
async fn the_reconciler_resends_receipts_whose_message_was_lost() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let ids = app.seed_uploaded("alice", 3).await;
    // Queued long ago, but no message exists (e.g. the API died after marking).
    sqlx::query("UPDATE receipts SET ocr_status = 'queued', queued_at = now() - interval '1 hour' WHERE id = $1")
        .bind(ids[0])
        .execute(&app.pool)
        .await
        .unwrap();
    // Processing, and the worker's lease ran out long ago.
    sqlx::query(
        "UPDATE receipts SET ocr_status = 'processing', attempts = 1, lease_expires_at = now() - interval '1 minute' WHERE id = $1",
    )
    .bind(ids[1])
    .execute(&app.pool)
    .await
    .unwrap();
    // Queued just now: in the queue legitimately, left alone.
    app.set_status(ids[2], "queued", None).await;
    sqlx::query("UPDATE receipts SET queued_at = now() WHERE id = $1")
        .bind(ids[2])
        .execute(&app.pool)
        .await
        .unwrap();

    let report = pipeline::reconciler(&app, Duration::from_secs(600))
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.requeued, vec![ids[0], ids[1]]);
    let again = pipeline::reconciler(&app, Duration::from_secs(600))
        .run_once()
        .await
        .unwrap();
    assert!(
        again.requeued.is_empty(),
        "a re-sent receipt is not re-sent at once"
    );

    let running = pipeline::start(&app, &agent).await;
    app.wait_for_status(ids[0], "completed", SOON).await;
    app.wait_for_status(ids[1], "completed", SOON).await;
    running.stop().await;
    assert_eq!(app.status_of(ids[2]).await, "queued");
}

#[tokio::test]
async fn the_reconciler_does_not_resend_receipts_waiting_behind_a_backlog() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // A backlog: 30 receipts queued an hour ago, each with its message
    // still waiting in the queue (no worker is running).
    let ids = app.seed_uploaded("alice", 30).await;
    for id in &ids {
        sqlx::query("UPDATE receipts SET ocr_status = 'queued', queued_at = now() - interval '1 hour' WHERE id = $1")
            .bind(id)
            .execute(&app.pool)
            .await
            .unwrap();
        send(&app, &app.ocr_queue_url, &ocr_message(&app, *id).await).await;
    }
    let report = pipeline::reconciler(&app, Duration::from_secs(600))
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.requeued, Vec::<i64>::new(), "{report:?}");
    assert_eq!((report.in_flight, report.in_queue), (30, 30));
    assert_eq!(
        app.depth(&app.ocr_queue_url).await,
        (30, 0),
        "no duplicates"
    );

    // The two newest receipts' messages are lost. Two receipts are re-sent,
    // no more: the two oldest, which were only waiting (duplicates).
    let lost = [ids[28], ids[29]];
    let mut held = Vec::new();
    while held.len() < 30 {
        let got = app
            .sqs
            .receive_message()
            .queue_url(&app.ocr_queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            held.push((
                body["receipt_id"].as_i64().unwrap(),
                m.receipt_handle().unwrap().to_owned(),
            ));
        }
    }
    for (id, handle) in held {
        if lost.contains(&id) {
            app.sqs
                .delete_message()
                .queue_url(&app.ocr_queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        } else {
            app.sqs
                .change_message_visibility()
                .queue_url(&app.ocr_queue_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(app.depth(&app.ocr_queue_url).await, (28, 0));
    let report = pipeline::reconciler(&app, Duration::from_secs(600))
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.requeued, vec![ids[0], ids[1]], "{report:?}");
    assert_eq!(app.depth(&app.ocr_queue_url).await, (30, 0));

    // The backlog drains; the two duplicates are acknowledged unread.
    let running = pipeline::start(&app, &agent).await;
    for id in &ids[..28] {
        app.wait_for_status(*id, "completed", SOON).await;
    }
    let deadline = std::time::Instant::now() + SOON;
    while app.depth(&app.ocr_queue_url).await != (0, 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog never drained"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.status_of(lost[0]).await, "queued");
    // With the queue empty, the lost ones can only be lost: re-sent.
    let report = pipeline::reconciler(&app, Duration::from_secs(600))
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.requeued, lost.to_vec(), "{report:?}");
    for id in lost {
        app.wait_for_status(id, "completed", SOON).await;
    }
    running.stop().await;
    assert_eq!(agent.calls(), 30, "each receipt read once");
}

#[tokio::test]
async fn a_direct_presigned_upload_is_registered_and_processed() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let token = app.token("bob");
    app.upload_png_presigned("bob").await;

    let ids = app.wait_for_receipts(1, SOON).await;
    app.wait_for_status(ids[0], "completed", SOON).await;
    running.stop().await;
    let r = app.get("/receipts", Some(&token)).await;
    assert_eq!(r.json["total"], 1, "the receipt is bob's, from the key");
    assert_eq!(r.json["items"][0]["content_type"], "image/png");
    assert_eq!(r.json["items"][0]["size_bytes"], png_bytes().len());
    assert_eq!(r.json["items"][0]["metadata"]["total"], "9.00");
}

fn s3_event(bucket: &str, key: &str) -> String {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-29T06:25:51.609Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "X"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "X"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": 68, "eTag": "e", "sequencer": "1"}}
    }]})
    .to_string()
}

#[tokio::test]
async fn the_same_s3_event_twice_gives_one_receipt_and_one_ocr_run() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // LocalStack sends its own event for this upload (key encoded its way);
    // the test sends the same event twice more, encoded as AWS does.
    app.put_png("uploads/carol/r 1+a.png").await;
    let ev = s3_event(&app.bucket, "uploads/carol/r+1%2Ba.png");
    send(&app, &app.ingest_queue_url, &ev).await;
    send(&app, &app.ingest_queue_url, &ev).await;
    let running = pipeline::start(&app, &agent).await;
    let ids = app.wait_for_receipts(1, SOON).await;
    app.wait_for_status(ids[0], "completed", SOON).await;
    let deadline = std::time::Instant::now() + SOON;
    while app.depth(&app.ingest_queue_url).await != (0, 0)
        || app.depth(&app.ocr_queue_url).await != (0, 0)
    {
        assert!(std::time::Instant::now() < deadline, "queues never drained");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await;
    let keys: Vec<String> = sqlx::query_scalar("SELECT object_key FROM receipts")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        keys,
        vec!["uploads/carol/r 1+a.png".to_owned()],
        "decoded key, one receipt"
    );
    assert_eq!(agent.calls(), 1, "at most one OCR run");
}

#[tokio::test]
async fn an_object_over_the_direct_upload_cap_registers_no_receipt() {
    let app = TestApp::spawn_with(Options {
        max_upload_bytes: 4096,
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // Stored some other way than the presigned POST (which S3 would refuse).
    let mut big = png_bytes();
    big.resize(4097, 0);
    let running = pipeline::start(&app, &agent).await;
    app.s3
        .put_object()
        .bucket(&app.bucket)
        .key("uploads/alice/big.png")
        .body(big.into())
        .send()
        .await
        .unwrap();
    // The same way, one within the cap: registered and read.
    app.put_png("uploads/alice/small.png").await;
    let ids = app.wait_for_receipts(1, SOON).await;
    app.wait_for_status(ids[0], "completed", SOON).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.stop().await;
    let rows: Vec<String> = sqlx::query_scalar("SELECT object_key FROM receipts")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, vec!["uploads/alice/small.png"]);
    assert_eq!(agent.calls(), 1);
    assert_eq!(
        app.depth(&app.ingest_queue_url).await,
        (0, 0),
        "refused, not retried"
    );
}

#[tokio::test]
async fn uploads_outside_the_prefix_or_of_other_types_are_skipped() {
    let app = TestApp::spawn().await;
    let ingest = pipeline::ingest(&app);
    let mut event = SqsEvent::default();
    for (i, key) in [
        "elsewhere/alice/a.png",
        "uploads/alice/notes.txt",
        "uploads/a.png",
        "uploads/bad%2Fuser/x.png",
    ]
    .iter()
    .enumerate()
    {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some(s3_event(&app.bucket, key));
        event.records.push(m);
    }
    let mut test_event = SqsMessage::default();
    test_event.message_id = Some("test".into());
    test_event.body = Some(
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": app.bucket}).to_string(),
    );
    event.records.push(test_event);
    let resp = ingest.handle(event).await;
    assert!(resp.batch_item_failures.is_empty(), "skipped, not failed");
    assert!(app.snapshot().await.is_empty(), "no receipt registered");
}

#[tokio::test]
async fn with_auto_ocr_off_uploads_wait_for_process_all() {
    let app = TestApp::spawn_with(Options {
        auto_ocr: false,
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let id = app.upload_png("alice").await;
    // The S3 event arrives and is consumed, but nothing is queued.
    let deadline = std::time::Instant::now() + SOON;
    while app.depth(&app.ingest_queue_url).await != (0, 0) {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.status_of(id).await, "pending");
    assert_eq!(agent.calls(), 0);
    let r = app
        .post("/receipts/ocr/process-all", Some(&app.token("alice")))
        .await;
    assert_eq!(r.json["queued"], 1);
    app.wait_for_status(id, "completed", SOON).await;
    running.stop().await;
}

#[tokio::test]
async fn the_sqs_event_fixture_of_aws_lambda_events_runs_through_the_handler() {
    // The fixture file shipped inside the aws_lambda_events crate.
    let meta = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let meta: Value = serde_json::from_slice(&meta.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "aws_lambda_events")
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap()
        .to_owned();
    let fixture = std::path::Path::new(&manifest)
        .parent()
        .unwrap()
        .join("src/fixtures/example-sqs-event.json");
    let event: SqsEvent =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    assert!(!event.records.is_empty());

    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let resp = pipeline::worker(&app, &agent).handle(event.clone()).await;
    // Its bodies are not OCR messages: each goes to the DLQ, by its id.
    assert!(resp.batch_item_failures.is_empty());
    let mut dead: Vec<String> = app
        .drain_raw(&app.ocr_dlq_url)
        .await
        .into_iter()
        .map(|(_, attrs)| attrs["source_message_id"].clone())
        .collect();
    dead.sort();
    let mut expected: Vec<String> = event
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap())
        .collect();
    expected.sort();
    assert_eq!(dead, expected);
    assert_eq!(agent.calls(), 0);
}

#[tokio::test]
async fn the_worker_sends_the_agent_token_and_a_refused_token_is_retried_not_failed() {
    const TOKEN: &str = "agent-token-0123456789-0123456789-xyz";
    let mut app = TestApp::spawn().await;
    app.agent_token = Some(shared::config::Secret::new(TOKEN));
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // A 401 means the worker's token is wrong (configuration), not that the
    // receipt is bad: the receipt must not end `failed` for it.
    agent.script([Reply::Status(401)]);
    let running = pipeline::start(&app, &agent).await;
    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "completed", SOON).await;
    running.stop().await;
    assert_eq!(attempts_and_error(&app, id).await, (2, None));
    let seen = agent.state.authorization.lock().unwrap().clone();
    assert_eq!(seen, vec![Some(format!("Bearer {TOKEN}")); 2]);
}

/// The bucket the sample events in `fixtures/lambda-events/` name (the local stack's).
const EVENTS_BUCKET: &str = "receipts-local-000000000000-us-east-1";

/// An SQS event from `fixtures/lambda-events/`, pointed at the test's bucket.
fn sample_event(name: &str, bucket: &str) -> SqsEvent {
    let path = format!(
        "{}/../../fixtures/lambda-events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        text.contains(EVENTS_BUCKET),
        "{name} names the local bucket"
    );
    serde_json::from_str(&text.replace(EVENTS_BUCKET, bucket)).expect("an SQS event")
}

#[tokio::test]
async fn the_sample_events_register_an_upload_and_complete_its_ocr() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // The object the S3 event in fixtures/lambda-events/sqs-ingest.json announces (its key
    // arrives form-encoded: `+` is a space).
    app.put_png("uploads/alice/receipt 0001.png").await;

    let ingest = sample_event("sqs-ingest.json", &app.bucket);
    let resp = pipeline::ingest(&app).handle(ingest).await;
    assert!(resp.batch_item_failures.is_empty());
    let (id, user, key, status): (i64, String, String, String) =
        sqlx::query_as("SELECT id, user_id, object_key, ocr_status FROM receipts")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (id, user.as_str(), key.as_str(), status.as_str()),
        (1, "alice", "uploads/alice/receipt 0001.png", "queued")
    );

    // fixtures/lambda-events/sqs-ocr.json is the OCR message of that receipt.
    let ocr = sample_event("sqs-ocr.json", &app.bucket);
    let resp = pipeline::worker(&app, &agent).handle(ocr).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(app.status_of(1).await, "completed");
    assert_eq!(
        *agent.state.fetched.lock().unwrap(),
        vec![(1, png_bytes().len())]
    );
}

#[tokio::test]
async fn a_receipt_whose_image_is_gone_fails_at_once_with_the_reason() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    // In the database, but its object is not in the bucket (deleted, or a
    // LocalStack restarted without persistence).
    let ids = app.seed_pending("alice", 1).await;
    let running = pipeline::start(&app, &agent).await;
    let token = app.token("alice");
    let r = app.post("/receipts/ocr/process-all", Some(&token)).await;
    assert_eq!(r.json["queued"], 1, "{}", r.json);
    app.wait_for_status(ids[0], "failed", SOON).await;
    running.stop().await;
    let (attempts, last_error) = attempts_and_error(&app, ids[0]).await;
    assert_eq!(attempts, 1, "not retried");
    let last_error = last_error.unwrap();
    assert!(last_error.contains("no image at image_url"), "{last_error}");
    assert_eq!(agent.calls(), 1);
    assert_eq!(app.depth(&app.ocr_dlq_url).await, (0, 0));
}
