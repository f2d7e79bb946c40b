//! Deleting a receipt, a user's receipts before a day, or everything of a
//! user: each route's effects checked in Postgres and in S3.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};
use shared::db::ReceiptRepository;
use shared::domain::UserId;
use shared::flow::erase::{EraseReport, Eraser};
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::{ADMIN, Options, TestApp, pipeline, png_bytes};

const SOON: Duration = Duration::from_secs(30);

async fn count(app: &TestApp, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// How many rows of `user` the table holds.
async fn rows_of_user(app: &TestApp, table: &str, user: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE user_id = $1"))
        .bind(user)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Objects S3 has not confirmed deleted yet.
async fn open_deletions(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM storage_deletions WHERE deleted_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn object_key(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT object_key FROM receipts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A completed receipt of `user` (read by a fake agent), with a webhook
/// endpoint subscribed to its events; returns its id.
async fn completed_receipt(app: &TestApp, user: &str) -> i64 {
    let r = app
        .post_json(
            "/webhooks",
            Some(&app.token(user)),
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["receipt.completed", "receipt.deleted"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(app, &agent).await;
    let id = app.upload_png(user).await;
    app.wait_for_status(id, "completed", SOON).await;
    running.stop().await;
    id
}

#[tokio::test]
async fn deleting_a_receipt_leaves_nothing_of_it_but_an_event_without_data() {
    let app = TestApp::spawn_with(Options {
        webhooks: true,
        ..Options::default()
    })
    .await;
    let id = completed_receipt(&app, "alice").await;
    let key = object_key(&app, id).await;
    assert!(app.object_keys().await.contains(&key));
    let alice = app.token("alice");

    // Another user's receipt is as absent as one that never was.
    let r = app
        .delete(&format!("/receipts/{id}"), Some(&app.token("bob")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    assert_eq!(app.status_of(id).await, "completed");

    let r = app.delete(&format!("/receipts/{id}"), Some(&alice)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    for table in [
        "receipts WHERE id",
        "receipt_metadata WHERE receipt_id",
        "receipt_items WHERE receipt_id",
    ] {
        let sql = format!("SELECT count(*) FROM {table} = $1");
        assert_eq!(count(&app, &sql, id).await, 0, "{table}");
    }
    assert!(!app.object_keys().await.contains(&key), "the image is gone");
    assert_eq!(open_deletions(&app).await, 0, "S3 confirmed it");
    assert_eq!(
        app.get(&format!("/receipts/{id}"), Some(&alice))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Its events keep their type and status, not what was read; the last
    // one says it was deleted, and nothing more.
    let events = app.get("/receipts/events?after=0", Some(&alice)).await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.json);
    let items: Vec<Value> = events.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["receipt_id"] == id)
        .cloned()
        .collect();
    let types: Vec<&str> = items.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"receipt.created"));
    assert_eq!(types.last(), Some(&"receipt.deleted"));
    assert!(types.contains(&"receipt.completed"));
    for e in &items {
        let data = e["data"].as_object().unwrap();
        assert!(data.get("summary").is_none(), "{e}");
        assert!(data.get("error").and_then(Value::as_str).is_none(), "{e}");
    }
    // The webhook deliveries of its events went with it; only the deletion's
    // own is left, and it carries no receipt data either.
    let payloads: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM webhook_deliveries WHERE user_id = 'alice' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(payloads.len(), 1, "{payloads:?}");
    assert_eq!(payloads[0]["type"], "receipt.deleted");
    assert_eq!(payloads[0]["data"]["receipt_id"], id);
    assert!(payloads[0]["data"].get("summary").is_none());

    // Deleting twice: the second finds nothing.
    let r = app.delete(&format!("/receipts/{id}"), Some(&alice)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete("/receipts/abc", Some(&alice)).await.error_code(),
        "invalid_input"
    );
    assert_eq!(
        app.delete(&format!("/receipts/{id}"), None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_same_bytes_and_idempotency_key_can_be_used_again_after_a_delete() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bytes = png_bytes();
    let upload = |key: &'static str| {
        let (app, bytes) = (&app, &bytes);
        let alice = alice.clone();
        async move {
            let req = http::Request::post("/receipts")
                .header("authorization", format!("Bearer {alice}"))
                .header("idempotency-key", key);
            let (ct, body) = testkit::multipart_body(&[testkit::Part::File {
                name: "file",
                file_name: "r.png",
                content_type: "image/png",
                bytes,
            }]);
            app.send(req.header("content-type", ct).body(body.into()).unwrap())
                .await
        }
    };
    let first = upload("k-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    let id = first.json["id"].as_i64().unwrap();
    let replay = upload("k-1").await;
    assert_eq!(
        replay.json["id"], id,
        "a replay before the delete: {}",
        replay.json
    );

    assert_eq!(
        app.delete(&format!("/receipts/{id}"), Some(&alice))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let again = upload("k-1").await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.json);
    assert_ne!(again.json["id"], id, "a new receipt");
    assert!(again.json.get("duplicate_of").is_none(), "{}", again.json);
}

#[tokio::test]
async fn an_object_s3_would_not_delete_is_tried_again_by_the_reconciler() {
    let app = TestApp::spawn().await;
    // A receipt whose bucket does not exist yet: S3 refuses the deletion.
    let bucket = format!("gone-{}", uuid::Uuid::new_v4());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO receipts (user_id, bucket, object_key, file_name, content_type, size_bytes) \
         VALUES ('alice', $1, 'uploads/alice/x.png', 'x.png', 'image/png', 3) RETURNING id",
    )
    .bind(&bucket)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let r = app
        .delete(&format!("/receipts/{id}"), Some(&app.token("alice")))
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "the receipt is gone all the same"
    );
    let (attempts, error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM storage_deletions WHERE bucket = $1")
            .bind(&bucket)
            .fetch_one(&app.pool)
            .await
            .expect("the object is remembered");
    assert_eq!(attempts, 1);
    assert!(error.is_some());

    // The bucket comes back with the object in it; once the retry is due,
    // the reconciler deletes it and forgets it.
    app.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let put = app
        .s3
        .put_object()
        .bucket(&bucket)
        .key("uploads/alice/x.png");
    put.body(png_bytes().into()).send().await.unwrap();
    sqlx::query("UPDATE storage_deletions SET next_attempt_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut report = Default::default();
    pipeline::reconciler(&app, SOON)
        .deletions(&mut report)
        .await
        .unwrap();
    assert_eq!(report.erase.objects_deleted, 1, "{report:?}");
    let left = app
        .s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(left.key_count(), Some(0));
    assert_eq!(open_deletions(&app).await, 0);
    app.s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}

/// Makes receipts look uploaded `days` days ago.
async fn age(app: &TestApp, ids: &[i64], days: i32) {
    sqlx::query(
        "UPDATE receipts SET created_at = now() - make_interval(days => $2) WHERE id = ANY($1)",
    )
    .bind(ids)
    .bind(days)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn ids_of(app: &TestApp, user: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM receipts WHERE user_id = $1 ORDER BY id")
        .bind(user)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn delete_before_a_day_erases_the_older_receipts_and_their_images() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let old = app.seed_uploaded("alice", 3).await;
    let recent = app.seed_uploaded("alice", 2).await;
    age(&app, &old, 40).await;
    let keys_before = app.object_keys().await.len();

    for (query, field) in [
        ("", "before"),
        ("?before=yesterday", "before"),
        ("?before=2026-02-30", "before"),
    ] {
        let r = app.delete(&format!("/receipts{query}"), Some(&alice)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{}", r.json);
    }
    assert_eq!(
        ids_of(&app, "alice").await.len(),
        5,
        "a refusal changes nothing"
    );

    let day = (chrono::Utc::now() - chrono::Duration::days(10)).date_naive();
    let r = app
        .delete(&format!("/receipts?before={day}"), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    let erasure = r.json["id"].as_i64().unwrap();
    assert_eq!(
        r.headers["location"],
        format!("/erasures/{erasure}").as_str()
    );
    assert_eq!(
        r.json["state"], "done",
        "a few receipts go within the request"
    );
    assert_eq!(r.json["receipts_deleted"], 3);
    assert_eq!(r.json["before"], day.to_string());
    assert_eq!(ids_of(&app, "alice").await, recent);
    assert_eq!(app.object_keys().await.len(), keys_before - 3);

    let seen = app.get(&format!("/erasures/{erasure}"), Some(&alice)).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.json["receipts_deleted"], 3);
    let bob = app
        .get(&format!("/erasures/{erasure}"), Some(&app.token("bob")))
        .await;
    assert_eq!(bob.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_me_erases_the_whole_account_and_no_one_elses() {
    let app = TestApp::spawn_with(Options {
        webhooks: true,
        ..Options::default()
    })
    .await;
    let alice = app.token("alice");
    completed_receipt(&app, "alice").await;
    app.seed_uploaded("alice", 4).await;
    let bobs = app.seed_uploaded("bob", 2).await;
    let r = app
        .send(
            http::Request::put("/users/me/settings")
                .header("authorization", format!("Bearer {alice}"))
                .header("content-type", "application/json")
                .body(r#"{"locale":"de-DE"}"#.into())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);

    let r = app.delete("/users/me", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(r.json["state"], "done");
    assert_eq!(r.json["receipts_deleted"], 5);
    assert_eq!(r.json["user_id"], "alice");
    assert_eq!(r.json["before"], Value::Null);
    for table in [
        "receipts",
        "receipt_events",
        "receipt_event_seq",
        "webhook_endpoints",
        "webhook_deliveries",
        "user_settings",
        "rate_limit_buckets",
        "upload_intents",
    ] {
        assert_eq!(rows_of_user(&app, table, "alice").await, 0, "{table}");
    }
    let keys = app.object_keys().await;
    assert!(keys.iter().all(|k| !k.contains("/alice/")), "{keys:?}");
    assert_eq!(ids_of(&app, "bob").await, bobs);
    assert_eq!(keys.len(), 2, "bob's images stay");
    // The account reads as a new one.
    let list = app.get("/receipts", Some(&alice)).await;
    assert_eq!(list.json["total"], 0);
    assert_eq!(
        app.get("/users/me/settings", Some(&alice)).await.json["locale"],
        Value::Null
    );
}

#[tokio::test]
async fn operators_erase_a_user_and_are_named_as_who_asked() {
    let app = TestApp::spawn().await;
    app.seed_uploaded("carol", 2).await;
    let r = app.delete("/users/carol", Some(&app.token("bob"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(ids_of(&app, "carol").await.len(), 2);
    let r = app.delete("/users/no%20one", Some(&app.token(ADMIN))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user_id")
    );

    let r = app.delete("/users/carol", Some(&app.token(ADMIN))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(r.json["requested_by"], ADMIN);
    assert_eq!(r.json["user_id"], "carol");
    assert!(ids_of(&app, "carol").await.is_empty());
    let id = r.json["id"].as_i64().unwrap();
    // Carol may follow it; an operator sees it too.
    for who in ["carol", ADMIN] {
        let seen = app
            .get(&format!("/erasures/{id}"), Some(&app.token(who)))
            .await;
        assert_eq!(seen.status, StatusCode::OK, "{who}");
    }
}

#[tokio::test]
async fn an_erasure_cut_short_midway_ends_with_nothing_left_when_run_again() {
    let app = TestApp::spawn().await;
    app.seed_uploaded("dave", 7).await;
    let repo = ReceiptRepository::new(app.pool.clone());
    let dave = UserId::parse("dave").unwrap();
    let erasure = repo.request_erasure(&dave, None, "dave").await.unwrap();
    // Asking again while it runs answers the same erasure.
    assert_eq!(
        repo.request_erasure(&dave, None, "dave").await.unwrap().id,
        erasure.id
    );

    // A first batch commits, then the process dies before S3 is told.
    let first = repo.erase_batch(&erasure, 3).await.unwrap();
    assert_eq!((first.objects.len(), first.finished), (3, false));
    let midway = repo.erasure(erasure.id).await.unwrap().unwrap();
    assert_eq!(
        (midway.state.as_str(), midway.receipts_deleted),
        ("running", 3)
    );
    assert_eq!(ids_of(&app, "dave").await.len(), 4);
    assert_eq!(
        app.object_keys().await.len(),
        7,
        "the images wait in storage_deletions"
    );

    // The next run (the reconciler's) carries on where it stopped.
    let mut eraser = Eraser::new(repo.clone(), app.state.service.storage.clone());
    eraser.batch = 3;
    let mut report = EraseReport::default();
    let deadline = std::time::Instant::now() + SOON;
    eraser.run_all(deadline, &mut report).await.unwrap();
    eraser.retry_objects(deadline, &mut report).await.unwrap();
    let done = repo.erasure(erasure.id).await.unwrap().unwrap();
    assert_eq!((done.state.as_str(), done.receipts_deleted), ("done", 7));
    assert!(done.finished_at.is_some());
    assert!(ids_of(&app, "dave").await.is_empty());
    assert!(
        app.object_keys().await.is_empty(),
        "{:?}",
        app.object_keys().await
    );
    assert_eq!(open_deletions(&app).await, 0);
}

#[tokio::test]
async fn the_retention_deletes_receipts_older_than_it_and_their_images() {
    let app = TestApp::spawn().await;
    let old = app.seed_uploaded("erin", 3).await;
    let young = app.seed_uploaded("erin", 1).await;
    age(&app, &old, 31).await;
    let mut reconciler = pipeline::reconciler(&app, SOON);
    reconciler.retention_days = None;
    let mut report = Default::default();
    reconciler.deletions(&mut report).await.unwrap();
    assert_eq!(ids_of(&app, "erin").await.len(), 4, "off by default");

    reconciler.retention_days = Some(30);
    let mut report = Default::default();
    reconciler.deletions(&mut report).await.unwrap();
    assert_eq!(report.erase.receipts_deleted, 3, "{report:?}");
    assert_eq!(ids_of(&app, "erin").await, young);
    assert_eq!(app.object_keys().await.len(), 1);
    let deleted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM receipt_events WHERE user_id = 'erin' AND type = 'receipt.deleted'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(deleted, 3, "each deletion is an event");
}

#[tokio::test]
async fn an_s3_event_racing_the_delete_of_its_receipt_does_not_bring_it_back() {
    let app = TestApp::spawn().await;
    let id = app.seed_pending("hana", 1).await[0];
    let key = object_key(&app, id).await;
    // The deletion is committing: its row is gone and its tombstone
    // written, not yet committed.
    let mut deleting = app.pool.begin().await.unwrap();
    sqlx::query("DELETE FROM receipts WHERE id = $1")
        .bind(id)
        .execute(&mut *deleting)
        .await
        .unwrap();
    sqlx::query("INSERT INTO storage_deletions (bucket, object_key) VALUES ($1, $2)")
        .bind(&app.bucket)
        .bind(&key)
        .execute(&mut *deleting)
        .await
        .unwrap();
    // Meanwhile ingest registers the object's (late) S3 event.
    let registering = tokio::spawn({
        let (repo, bucket, key) = (
            ReceiptRepository::new(app.pool.clone()),
            app.bucket.clone(),
            key.clone(),
        );
        async move {
            let user = UserId::parse("hana").unwrap();
            let new = shared::db::NewReceipt {
                user_id: &user,
                bucket: &bucket,
                object_key: &key,
                file_name: "r.png",
                content_type: "image/png",
                size_bytes: 68,
                purchase_date: None,
                locale: None,
                priority: Default::default(),
                content_sha256: None,
                idempotency_key: None,
            };
            repo.register_upload(new, true).await.unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    deleting.commit().await.unwrap();
    let registered = registering.await.unwrap();
    assert!(registered.is_none(), "{registered:?}");
    assert!(ids_of(&app, "hana").await.is_empty());
}

#[tokio::test]
async fn two_runs_of_one_erasure_at_once_take_turns_and_leave_nothing() {
    let app = TestApp::spawn().await;
    app.seed_pending("kim", 240).await;
    let repo = ReceiptRepository::new(app.pool.clone());
    let kim = UserId::parse("kim").unwrap();
    let erasure = repo.request_erasure(&kim, None, "kim").await.unwrap();
    // The request's run and the reconciler's, at once, in batches of 20.
    let runs = (0..2).map(|_| {
        let mut eraser = Eraser::new(repo.clone(), app.state.service.storage.clone());
        eraser.batch = 20;
        let erasure = erasure.clone();
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + SOON;
            let mut report = EraseReport::default();
            eraser.run(&erasure, deadline, &mut report).await.unwrap();
            report.receipts_deleted
        })
    });
    let mut deleted = 0;
    for run in runs.collect::<Vec<_>>() {
        deleted += run.await.unwrap();
    }
    assert_eq!(deleted, 240, "each receipt deleted once");
    let done = repo.erasure(erasure.id).await.unwrap().unwrap();
    assert_eq!((done.state.as_str(), done.receipts_deleted), ("done", 240));
    for table in ["receipts", "receipt_events", "receipt_event_seq"] {
        let n = rows_of_user(&app, table, "kim").await;
        assert_eq!(n, 0, "{table}: the end came after the last batch");
    }
}

#[tokio::test]
async fn an_upload_whose_image_cannot_be_stored_leaves_no_receipt_and_lists_its_key() {
    let app = TestApp::spawn().await;
    // S3 refuses the PUT: the bucket is gone.
    app.s3
        .delete_bucket()
        .bucket(&app.bucket)
        .send()
        .await
        .unwrap();
    let r = app
        .upload_parts(
            Some(&app.token("lena")),
            &[testkit::Part::File {
                name: "file",
                file_name: "r.png",
                content_type: "image/png",
                bytes: &png_bytes(),
            }],
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.json);
    assert!(ids_of(&app, "lena").await.is_empty(), "no receipt stays");
    // The key waits for deletion, in case the PUT stored it after all.
    assert_eq!(open_deletions(&app).await, 1);
    let last: String = sqlx::query_scalar(
        "SELECT type FROM receipt_events WHERE user_id = 'lena' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(last, "receipt.deleted");
}
