//! A receipt whose claim could not be released (a database outage while
//! its worker let go of it) is still leased when its message comes for
//! the last time. That message must not simply be acknowledged: the
//! receipt would sit in `processing` with no message until the
//! reconciler's next pass. The worker hands it on to a fresh message due
//! when the lease has run out, and the receipt completes.

use std::time::Duration;

use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{Options, TestApp, pipeline};

#[tokio::test]
async fn a_leased_receipt_on_its_last_receive_is_handed_on_not_dropped() {
    // One receive is all a message gets: the first is the last.
    let app = TestApp::spawn_with(Options {
        max_receive_count: 1,
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let id = app.seed_uploaded("alice", 1).await[0];
    // What the outage left: `processing`, leased for a while yet by a
    // worker that is gone, and its message on the queue.
    sqlx::query(
        "UPDATE receipts SET ocr_status = 'processing', attempts = 1, \
         lease_expires_at = now() + interval '2 seconds' WHERE id = $1",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    app.sqs
        .send_message()
        .queue_url(&app.ocr_queue_url)
        .message_body(app.ocr_job(id).await.to_body())
        .send()
        .await
        .unwrap();

    // No reconciler runs: only the worker can bring it home.
    let running = pipeline::start(&app, &agent).await;
    app.wait_for_status(id, "completed", Duration::from_secs(30))
        .await;
    running.stop().await;
    assert_eq!(agent.calls(), 1, "read once");
    assert_eq!(app.depth(&app.ocr_queue_url).await, (0, 0));
    assert_eq!(
        app.depth(&app.ocr_dlq_url).await,
        (0, 0),
        "nothing dead-lettered"
    );
}
