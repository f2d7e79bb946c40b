//! A receipt deleted while its OCR is queued or running: the message is
//! acknowledged without OCR, a late answer writes nothing, nothing goes to
//! the DLQ; and a late copy of its S3 event brings nothing back.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use http::StatusCode;
use serde_json::json;
use shared::flow::worker::Outcome;
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{TestApp, pipeline, wait_until};

const SOON: Duration = Duration::from_secs(30);

async fn rows_of(app: &TestApp, id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM receipts WHERE id = $1) \
              + (SELECT count(*) FROM receipt_metadata WHERE receipt_id = $1) \
              + (SELECT count(*) FROM receipt_items WHERE receipt_id = $1)",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn queues_drained(app: &TestApp) {
    wait_until("the OCR queue drains", SOON, async || {
        app.depth(&app.ocr_queue_url).await == (0, 0)
    })
    .await;
    assert_eq!(
        app.depth(&app.ocr_dlq_url).await,
        (0, 0),
        "nothing in the DLQ"
    );
}

#[tokio::test]
async fn a_receipt_deleted_while_the_agent_reads_it_stays_deleted() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    agent.script([Reply::Stall(Duration::from_secs(3))]);
    let running = pipeline::start(&app, &agent).await;
    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "processing", SOON).await;
    wait_until("the agent has the image", SOON, async || agent.calls() == 1).await;

    let r = app
        .delete(&format!("/receipts/{id}"), Some(&app.token("alice")))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    // The agent answers after the delete: nothing is written.
    tokio::time::sleep(Duration::from_secs(4)).await;
    queues_drained(&app).await;
    running.stop().await;
    assert_eq!(rows_of(&app, id).await, 0, "no row came back");
    assert_eq!(agent.calls(), 1, "not read again");
    let last: String = sqlx::query_scalar(
        "SELECT type FROM receipt_events WHERE receipt_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(last, "receipt.deleted", "no event after the deletion");
}

#[tokio::test]
async fn a_queued_receipt_deleted_before_a_worker_sees_it_is_never_read() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let id = app.upload_png("alice").await;
    let r = app
        .post("/receipts/ocr/process-all", Some(&app.token("alice")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(app.status_of(id).await, "queued");
    let r = app
        .delete(&format!("/receipts/{id}"), Some(&app.token("alice")))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let running = pipeline::start(&app, &agent).await;
    queues_drained(&app).await;
    running.stop().await;
    assert_eq!(agent.calls(), 0, "acknowledged without OCR");
    assert_eq!(rows_of(&app, id).await, 0);
}

#[tokio::test]
async fn a_late_copy_of_a_deleted_uploads_s3_event_registers_nothing() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let upload = app.upload_png_presigned("bob").await;
    let key = upload["key"].as_str().unwrap().to_owned();
    let ids = app.wait_for_receipts(1, SOON).await;
    app.wait_for_status(ids[0], "completed", SOON).await;
    let r = app
        .delete(&format!("/receipts/{}", ids[0]), Some(&app.token("bob")))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // SQS delivers at least once: the upload's event again, after the delete.
    let event = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-12-07T10:00:00.000Z", "eventName": "ObjectCreated:Post",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
            "bucket": {"name": app.bucket, "arn": format!("arn:aws:s3:::{}", app.bucket)},
            "object": {"key": key, "size": 68, "eTag": "e", "sequencer": "2"}}
    }]});
    app.sqs
        .send_message()
        .queue_url(&app.ingest_queue_url)
        .message_body(event.to_string())
        .send()
        .await
        .unwrap();
    wait_until("ingest takes the event", SOON, async || {
        app.depth(&app.ingest_queue_url).await == (0, 0)
    })
    .await;
    running.stop().await;
    let receipts: i64 = sqlx::query_scalar("SELECT count(*) FROM receipts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(receipts, 0, "the deleted receipt stays deleted");
    assert_eq!(agent.calls(), 1);
}

/// The OCR message of a receipt, as the worker receives it the first time.
async fn first_receive(app: &TestApp, id: i64) -> SqsMessage {
    let mut msg = SqsMessage::default();
    msg.message_id = Some(format!("m-{id}"));
    msg.body = Some(app.ocr_job(id).await.to_body());
    msg.attributes
        .insert("ApproximateReceiveCount".into(), "1".into());
    msg
}

#[tokio::test]
async fn an_agent_failure_after_the_delete_is_no_failure_nor_a_retry() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    // The agent answers late (within its timeout), with a passing failure,
    // then with a refusal.
    for status in [503, 422] {
        let agent = FakeAgent::start(Reply::Status(status)).await;
        agent.script([Reply::Stall(Duration::from_secs(1))]);
        let worker = std::sync::Arc::new(pipeline::worker(&app, &agent));
        let id = app.upload_png("alice").await;
        let r = app.post("/receipts/ocr/process-all", Some(&alice)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        let msg = first_receive(&app, id).await;
        let reading = tokio::spawn({
            let worker = worker.clone();
            async move { worker.handle_message(&msg).await }
        });
        wait_until("the agent has the image", SOON, async || agent.calls() == 1).await;
        let r = app.delete(&format!("/receipts/{id}"), Some(&alice)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let outcome = reading.await.unwrap();
        assert!(
            matches!(outcome, Outcome::Skipped(why) if why.contains("deleted")),
            "agent {status}: {outcome:?}"
        );
        assert_eq!(rows_of(&app, id).await, 0);
        assert_eq!(app.depth(&app.ocr_dlq_url).await, (0, 0));
    }
}

async fn tags_of(app: &TestApp, key: &str) -> Vec<(String, String)> {
    let out = app
        .s3
        .get_object_tagging()
        .bucket(&app.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_presigned_upload_is_marked_unregistered_until_its_receipt_exists() {
    let app = TestApp::spawn().await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let upload = app.upload_png_presigned("ivy").await;
    let key = upload["key"].as_str().unwrap().to_owned();
    // What the bucket's lifecycle rule expires, should no receipt come of it.
    let unregistered = vec![("receipt".to_owned(), "unregistered".to_owned())];
    assert_eq!(tags_of(&app, &key).await, unregistered);

    let running = pipeline::start(&app, &agent).await;
    let ids = app.wait_for_receipts(1, SOON).await;
    app.wait_for_status(ids[0], "completed", SOON).await;
    running.stop().await;
    assert!(tags_of(&app, &key).await.is_empty(), "kept for good");
}
