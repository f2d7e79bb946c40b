//! Status transitions of the repository, on a real Postgres: each is one
//! conditional UPDATE, and a worker's writes hold only while its claim does.

use std::time::Duration;

use shared::db::ClaimOutcome;
use shared::domain::extraction::{Extraction, LineItem};
use shared::domain::{OcrStatus, ReceiptId};
use testkit::TestApp;

fn result(total: &str, items: usize) -> Extraction {
    Extraction {
        total: Some(total.parse().unwrap()),
        items: (0..items)
            .map(|i| LineItem {
                name: format!("item {i}"),
                code: None,
                quantity: None,
                unit_price: None,
                amount: Some("1.00".parse().unwrap()),
            })
            .collect(),
        ..Default::default()
    }
}

async fn counts(app: &TestApp, id: i64) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM receipt_metadata WHERE receipt_id = $1), \
                (SELECT count(*) FROM receipt_items WHERE receipt_id = $1)",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_pending_receipt_cannot_be_claimed_and_a_queued_one_only_once() {
    let app = TestApp::spawn().await;
    let repo = &app.state.service.repo;
    let id = app.seed_pending("alice", 1).await[0];
    let gone = shared::domain::message::OcrMessage {
        receipt_id: ReceiptId::new(999_999).unwrap(),
        ..app.ocr_job(id).await
    };
    assert_eq!(
        repo.claim(&app.ocr_job(id).await, Duration::from_secs(60))
            .await
            .unwrap(),
        ClaimOutcome::Busy(shared::domain::OcrStatus::Pending)
    );
    app.set_status(id, "queued", None).await;
    let ClaimOutcome::Claimed(first) = repo
        .claim(&app.ocr_job(id).await, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("first claim must win")
    };
    assert_eq!(first.attempt, 1);
    assert!(matches!(
        repo.claim(&app.ocr_job(id).await, Duration::from_secs(60))
            .await
            .unwrap(),
        ClaimOutcome::Busy(_)
    ));
    assert_eq!(
        repo.claim(&gone, Duration::from_secs(60)).await.unwrap(),
        ClaimOutcome::NotFound
    );
}

#[tokio::test]
async fn a_failed_receipt_is_final_until_it_is_queued_again() {
    let app = TestApp::spawn().await;
    let repo = &app.state.service.repo;
    let id = app.seed_pending("alice", 1).await[0];
    let job = app.ocr_job(id).await;
    app.set_status(id, "queued", None).await;
    let ClaimOutcome::Claimed(c) = repo.claim(&job, Duration::from_secs(60)).await.unwrap() else {
        panic!()
    };
    assert!(
        repo.fail(&c, "agent refused (422): not a receipt", false)
            .await
            .unwrap()
    );
    // A late duplicate, or the reconciler's copy, finds it failed: not claimed.
    assert_eq!(
        repo.claim(&job, Duration::from_secs(60)).await.unwrap(),
        ClaimOutcome::AlreadyFailed
    );
    assert_eq!(app.status_of(id).await, "failed");
    assert_eq!(attempts(&app, id).await, 1);
    // A retry sets `queued`; then it may be claimed.
    let alice = shared::domain::UserId::parse("alice").unwrap();
    repo.requeue(&alice, job.receipt_id, false, None)
        .await
        .unwrap();
    assert!(matches!(
        repo.claim(&job, Duration::from_secs(60)).await.unwrap(),
        ClaimOutcome::Claimed(_)
    ));
}

#[tokio::test]
async fn a_message_that_disagrees_with_the_row_claims_nothing() {
    let app = TestApp::spawn().await;
    let repo = &app.state.service.repo;
    let ids = app.seed_pending("alice", 2).await;
    app.set_status(ids[0], "queued", None).await;
    let real = app.ocr_job(ids[0]).await;
    let other = app.ocr_job(ids[1]).await;
    let forged_key = shared::domain::message::OcrMessage {
        key: other.key.clone(),
        ..real.clone()
    };
    let forged_owner = shared::domain::message::OcrMessage {
        user_id: shared::domain::UserId::parse("mallory").unwrap(),
        ..real.clone()
    };
    let forged_bucket = shared::domain::message::OcrMessage {
        bucket: "another-bucket".into(),
        ..real.clone()
    };
    let before = app.snapshot().await;
    assert_eq!(
        repo.claim(&forged_key, Duration::from_secs(60))
            .await
            .unwrap(),
        ClaimOutcome::Mismatch(vec!["key"])
    );
    assert_eq!(
        repo.claim(&forged_owner, Duration::from_secs(60))
            .await
            .unwrap(),
        ClaimOutcome::Mismatch(vec!["user_id"])
    );
    assert_eq!(
        repo.claim(&forged_bucket, Duration::from_secs(60))
            .await
            .unwrap(),
        ClaimOutcome::Mismatch(vec!["bucket"])
    );
    assert_eq!(app.snapshot().await, before, "nothing changed");
    assert_eq!(attempts(&app, ids[0]).await, 0);
    assert!(matches!(
        repo.claim(&real, Duration::from_secs(60)).await.unwrap(),
        ClaimOutcome::Claimed(_)
    ));
}

async fn attempts(app: &TestApp, id: i64) -> i32 {
    sqlx::query_scalar("SELECT attempts FROM receipts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_claim_whose_lease_expired_is_fenced_off_by_the_next_one() {
    let app = TestApp::spawn().await;
    let repo = &app.state.service.repo;
    let id = app.seed_pending("alice", 1).await[0];
    app.set_status(id, "queued", None).await;

    let ClaimOutcome::Claimed(stale) = repo
        .claim(&app.ocr_job(id).await, Duration::from_millis(1))
        .await
        .unwrap()
    else {
        panic!()
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ClaimOutcome::Claimed(fresh) = repo
        .claim(&app.ocr_job(id).await, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("an expired lease may be claimed again")
    };
    assert_eq!(fresh.attempt, stale.attempt + 1);

    // The first worker wakes up late: none of its writes land.
    assert!(!repo.complete(&stale, &result("1.00", 3)).await.unwrap());
    assert!(!repo.fail(&stale, "late", false).await.unwrap());
    assert!(!repo.release(&stale, "late").await.unwrap());
    assert_eq!(counts(&app, id).await, (0, 0));
    assert_eq!(app.status_of(id).await, "processing");

    assert!(repo.complete(&fresh, &result("9.00", 2)).await.unwrap());
    assert_eq!(app.status_of(id).await, "completed");
    assert_eq!(counts(&app, id).await, (1, 2));
    // Completing twice writes nothing more.
    assert!(!repo.complete(&fresh, &result("9.00", 2)).await.unwrap());
    assert_eq!(counts(&app, id).await, (1, 2));
    assert_eq!(
        repo.claim(&app.ocr_job(id).await, Duration::from_secs(60))
            .await
            .unwrap(),
        ClaimOutcome::AlreadyCompleted
    );
}

#[tokio::test]
async fn failure_and_release_keep_the_reason() {
    let app = TestApp::spawn().await;
    let repo = &app.state.service.repo;
    let id = app.seed_pending("alice", 1).await[0];
    let rid = ReceiptId::new(id).unwrap();
    app.set_status(id, "queued", None).await;
    let ClaimOutcome::Claimed(c) = repo
        .claim(&app.ocr_job(id).await, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(repo.release(&c, "agent timed out").await.unwrap());
    assert_eq!(app.status_of(id).await, "queued");
    let ClaimOutcome::Claimed(c) = repo
        .claim(&app.ocr_job(id).await, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(c.attempt, 2);
    assert!(
        repo.fail(&c, "agent said 422: not a receipt", false)
            .await
            .unwrap()
    );
    let r = repo
        .get(&shared::domain::UserId::parse("alice").unwrap(), rid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, shared::domain::OcrStatus::Failed);
    assert_eq!(
        r.last_error.as_deref(),
        Some("agent said 422: not a receipt")
    );
    assert_eq!(r.attempts, 2);
}

#[tokio::test]
async fn the_schema_refuses_statuses_outside_the_design() {
    let app = TestApp::spawn().await;
    let id = app.seed_pending("alice", 1).await[0];
    let err = sqlx::query("UPDATE receipts SET ocr_status = 'done' WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await;
    assert!(err.is_err());
}

fn upload<'a>(
    user: &'a shared::domain::UserId,
    bucket: &'a str,
    key: &'a str,
) -> shared::db::NewReceipt<'a> {
    shared::db::NewReceipt {
        user_id: user,
        bucket,
        object_key: key,
        file_name: "r.png",
        content_type: "image/png",
        size_bytes: 10,
        purchase_date: None,
        locale: None,
        priority: shared::domain::Priority::Normal,
        content_sha256: None,
        idempotency_key: None,
    }
}

#[tokio::test]
async fn an_upload_registers_and_queues_in_one_statement_and_only_once() {
    let app = TestApp::spawn().await;
    let repo = &app.state.service.repo;
    let alice = shared::domain::UserId::parse("alice").unwrap();
    let b = app.bucket.as_str();

    // A direct upload: created and queued at once, with its job.
    let r = repo
        .register_upload(upload(&alice, b, "uploads/alice/a.png"), true)
        .await
        .unwrap()
        .unwrap();
    assert!(r.created);
    assert!(r.queued);
    assert_eq!(r.receipt.object_key, "uploads/alice/a.png");
    assert_eq!(app.status_of(r.receipt.id).await, "queued");
    // The same event again: the same receipt, no second job.
    let again = repo
        .register_upload(upload(&alice, b, "uploads/alice/a.png"), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.receipt.id, again.created, again.queued),
        (r.receipt.id, false, false)
    );

    // An upload the API stored (pending): found, and queued by the event.
    let api_id = app.seed_pending("alice", 1).await[0];
    let key: String = sqlx::query_scalar("SELECT object_key FROM receipts WHERE id = $1")
        .bind(api_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let f = repo
        .register_upload(upload(&alice, b, &key), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((f.receipt.id, f.created), (api_id, false));
    assert!(f.queued);
    assert_eq!(app.status_of(api_id).await, "queued");

    // AUTO_OCR off: registered, left pending, no job, also the second time.
    for created in [true, false] {
        let off = repo
            .register_upload(upload(&alice, b, "uploads/alice/b.png"), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((off.created, off.queued), (created, false));
        assert_eq!(app.status_of(off.receipt.id).await, "pending");
    }
}

#[tokio::test]
async fn reading_a_receipt_again_replaces_its_data_and_items() {
    let app = TestApp::spawn().await;
    let repo = &app.state.service.repo;
    let id = app.seed_pending("alice", 1).await[0];
    app.set_status(id, "queued", None).await;
    let ClaimOutcome::Claimed(first) = repo
        .claim(&app.ocr_job(id).await, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(repo.complete(&first, &result("12.00", 3)).await.unwrap());
    assert_eq!(counts(&app, id).await, (1, 3));

    // Re-queued on request (retry with force), read again: fewer items.
    app.set_status(id, "queued", None).await;
    let ClaimOutcome::Claimed(second) = repo
        .claim(&app.ocr_job(id).await, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!()
    };
    let mut again = result("7.50", 1);
    again.items[0].name = "the only item".into();
    assert!(repo.complete(&second, &again).await.unwrap());
    assert_eq!(counts(&app, id).await, (1, 1));
    let (total, name): (String, String) = sqlx::query_as(
        "SELECT m.total::text, i.name FROM receipt_metadata m JOIN receipt_items i USING (receipt_id) \
         WHERE receipt_id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((total.as_str(), name.as_str()), ("7.50", "the only item"));

    // And more items than before.
    app.set_status(id, "queued", None).await;
    let ClaimOutcome::Claimed(third) = repo
        .claim(&app.ocr_job(id).await, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(repo.complete(&third, &result("20.00", 4)).await.unwrap());
    assert_eq!(counts(&app, id).await, (1, 4));
    assert_eq!(app.status_of(id).await, "completed");
}

async fn events_of(app: &TestApp, user: &str) -> Vec<(i64, String, i64, String)> {
    let log = shared::db::events::EventLog::new(app.pool.clone());
    let user = shared::domain::UserId::parse(user).unwrap();
    log.after(&user, 0, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.event_type, e.receipt_id, e.status))
        .collect()
}

#[tokio::test]
async fn every_transition_writes_its_event_and_one_that_did_not_happen_writes_none() {
    let app = TestApp::spawn().await;
    let repo = &app.state.service.repo;
    let user = shared::domain::UserId::parse("alice").unwrap();
    let ids = app.seed_uploaded("alice", 2).await;
    let before = events_of(&app, "alice").await.len();

    // pending → queued (process-all), then a claim, a release, a claim
    // and a completion; and a second claim, refused, that writes nothing.
    let queued = repo
        .mark_queued_batch(&user, OcrStatus::Pending, 1, None)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    let id = queued[0].id;
    let job = app.ocr_job(id).await;
    let ClaimOutcome::Claimed(c1) = repo.claim(&job, Duration::from_secs(60)).await.unwrap() else {
        panic!("claim")
    };
    assert!(matches!(
        repo.claim(&job, Duration::from_secs(60)).await.unwrap(),
        ClaimOutcome::Busy(_)
    ));
    assert!(repo.release(&c1, "agent answered 503").await.unwrap());
    assert!(!repo.release(&c1, "late").await.unwrap(), "fenced off");
    let ClaimOutcome::Claimed(c2) = repo.claim(&job, Duration::from_secs(60)).await.unwrap() else {
        panic!("claim")
    };
    assert!(repo.complete(&c2, &result("9.99", 1)).await.unwrap());
    assert!(!repo.complete(&c1, &result("1.00", 1)).await.unwrap());
    assert!(!repo.fail(&c1, "late", false).await.unwrap());

    let events: Vec<_> = events_of(&app, "alice").await.split_off(before);
    let seqs: Vec<i64> = events.iter().map(|e| e.0).collect();
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..first + 5).collect::<Vec<_>>(),
        "numbered 1, 2, 3… per user"
    );
    let kinds: Vec<(&str, i64, &str)> = events
        .iter()
        .map(|(_, t, r, s)| (t.as_str(), *r, s.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("receipt.queued", id, "queued"),
            ("receipt.processing", id, "processing"),
            ("receipt.requeued", id, "queued"),
            ("receipt.processing", id, "processing"),
            ("receipt.completed", id, "completed"),
        ]
    );
    // The other receipt did not move and has no event past its creation.
    assert!(
        events
            .iter()
            .all(|e| e.2 != ids[1] || e.1 == "receipt.created")
    );
    assert!(events_of(&app, "bob").await.is_empty());
}

#[tokio::test]
async fn concurrent_transitions_of_one_user_number_their_events_without_gaps() {
    let app = TestApp::spawn().await;
    let user = shared::domain::UserId::parse("alice").unwrap();
    app.seed_uploaded("alice", 60).await;
    let base = events_of(&app, "alice").await.len() as i64;
    // Six process-all calls racing, each queueing up to 10.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let repo = app.state.service.repo.clone();
        let user = user.clone();
        tasks.push(tokio::spawn(async move {
            repo.mark_queued_batch(&user, OcrStatus::Pending, 10, None)
                .await
                .unwrap()
                .len()
        }));
    }
    let mut queued = 0;
    for t in tasks {
        queued += t.await.unwrap();
    }
    assert_eq!(queued, 60);
    let events = events_of(&app, "alice").await;
    let seqs: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (1..=base + 60).collect::<Vec<_>>());
    let mut receipts: Vec<i64> = events
        .iter()
        .filter(|e| e.1 == "receipt.queued")
        .map(|e| e.2)
        .collect();
    receipts.sort();
    receipts.dedup();
    assert_eq!(receipts.len(), 60, "one queued event per receipt");
}

#[tokio::test]
async fn process_all_does_not_skip_a_receipt_whose_upload_event_is_being_registered() {
    let app = TestApp::spawn().await;
    let repo = app.state.service.repo.clone();
    let alice = shared::domain::UserId::parse("alice").unwrap();
    let id = app.seed_pending("alice", 1).await[0];
    let key: String = sqlx::query_scalar("SELECT object_key FROM receipts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // Ingest registers the API upload's S3 event (AUTO_OCR off) and is
    // held inside its transaction, after its lock on the receipt.
    let mut hold = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE upload_intents IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await
        .unwrap();
    let registering = tokio::spawn({
        let (repo, bucket, key, alice) =
            (repo.clone(), app.bucket.clone(), key.clone(), alice.clone());
        async move {
            repo.register_upload(upload(&alice, &bucket, &key), false)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !registering.is_finished(),
        "ingest waits inside its transaction"
    );
    // Meanwhile the user presses "process all": the receipt is queued.
    let queued = repo
        .mark_queued_batch(&alice, OcrStatus::Pending, 10, None)
        .await
        .unwrap();
    assert_eq!(queued.iter().map(|q| q.id).collect::<Vec<_>>(), vec![id]);
    hold.commit().await.unwrap();
    let registered = registering.await.unwrap().unwrap().unwrap();
    assert_eq!((registered.receipt.id, registered.created), (id, false));
    assert_eq!(app.status_of(id).await, "queued");
}
