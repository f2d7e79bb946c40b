//! The receipts API, driven through its Router, against a real Postgres and
//! a real LocalStack (fresh database, queues and bucket per test).

use std::collections::BTreeSet;

use http::StatusCode;
use serde_json::{Value, json};
use shared::domain::extraction::Extraction;
use testkit::{Options, Part, TestApp, png_bytes};

#[tokio::test]
async fn health_answers_without_a_token() {
    let app = TestApp::spawn().await;
    let r = app.get("/health", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "ok");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_json_error() {
    let app = TestApp::spawn().await;
    let r = app.get("/nope", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    let r = app.post("/health", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "method_not_allowed");
}

#[tokio::test]
async fn every_rejection_is_the_json_error_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let id = app.seed_pending("alice", 1).await[0];
    let before = app.snapshot().await;
    for (method, path, field) in [
        ("GET", "/receipts/%FF", "id"),
        ("GET", "/receipts/%C0%AF", "id"),
        ("GET", "/receipts/0", "id"),
        ("POST", "/receipts/%FF/ocr/retry", "id"),
        ("POST", "/receipts/%C0%AF/ocr/retry?force=true", "id"),
        (
            "POST",
            &format!("/receipts/{id}/ocr/retry?force=maybe"),
            "force",
        ),
        ("GET", "/receipts?page=%FF", "page"),
        ("GET", "/receipts?status=%C0%AF", "status"),
        (
            "GET",
            "/receipts/ocr/queue-status?receipt_id=%FF",
            "receipt_id",
        ),
        ("POST", "/receipts/ocr/process-all?limit=%FF", "limit"),
        // The page's assets: a name that is not UTF-8 at all.
        ("GET", "/ui/assets/%FF", "name"),
        ("GET", "/ui/assets/..%c0%af..%c0%afetc%c0%afpasswd", "name"),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {}",
            r.json
        );
        assert_eq!(r.error_code(), "invalid_input", "{method} {path}");
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{method} {path}: {message}");
    }
    // JSON bodies: not JSON, the wrong shape, a missing field.
    for body in ["{", "[]", "{}"] {
        let req = http::Request::post("/receipts/upload-url")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.json);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("content_type")
        );
    }
    // A multipart body whose boundary is broken.
    let req = http::Request::post("/receipts")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body(axum::body::Body::from("--abc\r\nnot a part"))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    r.error_code();
    assert_eq!(app.snapshot().await, before, "nothing changed");
}

#[tokio::test]
async fn every_protected_endpoint_needs_a_valid_token() {
    let app = TestApp::spawn().await;
    let id = app.seed_pending("alice", 1).await[0];
    let forged = shared::auth::mint_hs256(
        &shared::domain::UserId::parse("alice").unwrap(),
        &shared::config::Secret::new("another-secret-that-is-long-enough-xyz"),
        std::time::Duration::from_secs(60),
        None,
        None,
    );
    let get_paths = [
        "/receipts".to_owned(),
        format!("/receipts/{id}"),
        "/receipts/ocr/queue-status".to_owned(),
        format!("/receipts/ocr/queue-status?receipt_id={id}"),
        "/receipts/ocr/stats".to_owned(),
        "/receipts/ocr/stats?scope=all".to_owned(),
        // The page's fragments hold user data: the token, like every call.
        "/ui/fragments/session".to_owned(),
        "/ui/fragments/receipts".to_owned(),
        "/ui/fragments/failed".to_owned(),
        format!("/ui/fragments/receipts/{id}"),
        format!("/ui/fragments/receipts/{id}/text"),
        "/ui/fragments/stats".to_owned(),
        "/ui/fragments/ops".to_owned(),
    ];
    let post_paths = [
        "/receipts".to_owned(),
        "/receipts/upload-url".to_owned(),
        "/receipts/ocr/process-all".to_owned(),
        "/receipts/ocr/retry-failed".to_owned(),
        format!("/receipts/{id}/ocr/retry"),
    ];
    let before = app.snapshot().await;
    for token in [None, Some("garbage"), Some(forged.as_str())] {
        for p in &get_paths {
            let r = app.get(p, token).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "GET {p} with {token:?}");
            assert_eq!(r.error_code(), "unauthorized");
            assert_eq!(r.headers["www-authenticate"], "Bearer");
        }
        for p in &post_paths {
            let r = app.post(p, token).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "POST {p} with {token:?}"
            );
            assert_eq!(r.error_code(), "unauthorized");
        }
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused request changed a row"
    );
    assert!(app.drain(&app.ocr_queue_url).await.is_empty());
}

#[tokio::test]
async fn upload_stores_the_image_and_a_pending_receipt() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let png = png_bytes();
    let r = app
        .upload_parts(
            Some(&token),
            &[
                Part::File {
                    name: "file",
                    file_name: "lunch.png",
                    content_type: "application/octet-stream",
                    bytes: &png,
                },
                Part::Text {
                    name: "purchase_date",
                    value: "2026-01-19",
                },
                // A seed client's user_id is ignored: the owner is the token's.
                Part::Text {
                    name: "user_id",
                    value: "mallory",
                },
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(r.headers["location"], format!("/receipts/{id}"));
    assert_eq!(r.json["status"], "pending");
    assert_eq!(r.json["file_name"], "lunch.png");
    assert_eq!(
        r.json["content_type"], "image/png",
        "type comes from the bytes"
    );
    assert_eq!(r.json["size_bytes"], png.len());
    assert_eq!(r.json["purchase_date"], "2026-01-19");
    assert_eq!(r.json["attempts"], 0);
    assert_eq!(r.json["metadata"], Value::Null);

    let (owner, key): (String, String) =
        sqlx::query_as("SELECT user_id, object_key FROM receipts WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(owner, "alice");
    assert!(
        key.starts_with("uploads/alice/") && key.ends_with(".png"),
        "{key}"
    );
    let obj = app
        .s3
        .get_object()
        .bucket(&app.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(obj.content_type(), Some("image/png"));
    assert_eq!(
        obj.body.collect().await.unwrap().into_bytes().as_ref(),
        png.as_slice()
    );

    let r = app.get(&format!("/receipts/{id}"), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "pending");
}

#[tokio::test]
async fn bad_uploads_get_a_clear_4xx_and_leave_nothing_behind() {
    let app = TestApp::spawn_with(Options {
        max_upload_bytes: 4096,
        ..Options::default()
    })
    .await;
    let token = app.token("alice");
    let text = b"this is a text file, not a receipt".to_vec();
    let mut big = png_bytes();
    big.resize(4097, 0);
    let png = png_bytes();

    let cases: Vec<(&str, Vec<Part<'_>>, StatusCode)> = vec![
        (
            "missing file",
            vec![Part::Text {
                name: "purchase_date",
                value: "2026-01-19",
            }],
            StatusCode::BAD_REQUEST,
        ),
        (
            "text file named .jpg",
            vec![Part::File {
                name: "file",
                file_name: "receipt.jpg",
                content_type: "image/jpeg",
                bytes: &text,
            }],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "file over the cap",
            vec![Part::File {
                name: "file",
                file_name: "big.png",
                content_type: "image/png",
                bytes: &big,
            }],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "empty file",
            vec![Part::File {
                name: "file",
                file_name: "empty.png",
                content_type: "image/png",
                bytes: &[],
            }],
            StatusCode::BAD_REQUEST,
        ),
        (
            "bad purchase date",
            vec![
                Part::File {
                    name: "file",
                    file_name: "r.png",
                    content_type: "image/png",
                    bytes: &png,
                },
                Part::Text {
                    name: "purchase_date",
                    value: "19/01/2026",
                },
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            "purchase date Postgres cannot store",
            vec![
                Part::File {
                    name: "file",
                    file_name: "r.png",
                    content_type: "image/png",
                    bytes: &png,
                },
                Part::Text {
                    name: "purchase_date",
                    value: "-5000-01-01",
                },
            ],
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, parts, want) in cases {
        let r = app.upload_parts(Some(&token), &parts).await;
        assert_eq!(r.status, want, "{what}: {}", r.json);
        r.error_code();
    }
    // Far over the cap: refused by the body limit, same answer.
    let huge = vec![0xFFu8; 200 * 1024];
    let r = app
        .upload_parts(
            Some(&token),
            &[Part::File {
                name: "file",
                file_name: "huge.jpg",
                content_type: "image/jpeg",
                bytes: &huge,
            }],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.json);
    assert_eq!(r.error_code(), "payload_too_large");

    // Not multipart at all.
    let r = app
        .post_json("/receipts", Some(&token), &json!({"file": "x"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    r.error_code();

    assert!(app.snapshot().await.is_empty(), "no receipt row may remain");
    assert!(app.object_keys().await.is_empty(), "no object may remain");
}

#[tokio::test]
async fn upload_url_gives_a_presigned_post_bounded_in_size_key_and_type() {
    let app = TestApp::spawn_with(Options {
        max_upload_bytes: 4096,
        ..Options::default()
    })
    .await;
    let token = app.token("alice");
    let ask = || async {
        let r = app
            .post_json(
                "/receipts/upload-url",
                Some(&token),
                &json!({"content_type": "image/png"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json
    };
    let upload = ask().await;
    let key = upload["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("uploads/alice/") && key.ends_with(".png"),
        "{key}"
    );
    assert_eq!(upload["method"], "POST");
    assert_eq!(upload["bucket"], app.bucket);
    assert_eq!(upload["max_bytes"], 4096);
    assert!(
        !upload["upload_url"].as_str().unwrap().contains("Signature"),
        "the signature travels in the form, not the URL"
    );

    // One byte over the cap: S3 refuses it, nothing is stored.
    let mut big = png_bytes();
    big.resize(4097, 0);
    let status = testkit::post_presigned(&upload, big).await;
    assert!(status.is_client_error(), "over the cap: {status}");
    assert!(app.object_keys().await.is_empty());
    // Another key, or another content type, than the policy's: refused.
    for (field, value) in [("key", "uploads/bob/x.png"), ("Content-Type", "text/html")] {
        let mut tampered = ask().await;
        tampered["fields"][field] = json!(value);
        let status = testkit::post_presigned(&tampered, png_bytes()).await;
        assert!(status.is_client_error(), "{field} changed: {status}");
    }
    assert!(app.object_keys().await.is_empty());

    let status = testkit::post_presigned(&upload, png_bytes()).await;
    assert!(status.is_success(), "presigned POST: {status}");
    assert_eq!(app.object_keys().await, vec![key]);

    for bad in [json!({"content_type": "text/plain"}), json!({}), json!("x")] {
        let r = app
            .post_json("/receipts/upload-url", Some(&token), &bad)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        r.error_code();
    }
}

/// The fake agent's sample, with a unit price finer than a cent.
fn extraction() -> Extraction {
    let mut e = testkit::agent::sample_extraction();
    e.items[1].quantity = Some("2".parse().unwrap());
    e.items[1].unit_price = Some("1.995".parse().unwrap());
    e
}

/// Takes a receipt through the worker's transitions to `completed`.
async fn complete(app: &TestApp, id: i64) {
    let repo = &app.state.service.repo;
    sqlx::query("UPDATE receipts SET ocr_status = 'queued' WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let shared::db::ClaimOutcome::Claimed(claim) = repo
        .claim(&app.ocr_job(id).await, std::time::Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("claim failed")
    };
    assert!(repo.complete(&claim, &extraction()).await.unwrap());
}

#[tokio::test]
async fn receipts_are_listed_newest_first_in_pages_with_their_extracted_data() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let ids = app.seed_pending("alice", 3).await; // oldest first
    app.seed_pending("bob", 2).await;
    complete(&app, ids[2]).await;

    let r = app.get("/receipts?per_page=2", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["total"], 3);
    assert_eq!(r.json["has_more"], true);
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], ids[2]);
    assert_eq!(items[1]["id"], ids[1]);
    let done = &items[0];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["metadata"]["merchant_name"], "KEDAI MAKAN");
    assert_eq!(done["metadata"]["purchase_date"], "2018-12-25");
    assert_eq!(
        done["metadata"]["total"], "9.00",
        "money is a decimal string"
    );
    assert_eq!(done["metadata"]["validation"]["status"], "ok");
    assert_eq!(done["items"].as_array().unwrap().len(), 2);
    assert_eq!(done["items"][1]["name"], "ROTI");
    assert_eq!(done["items"][1]["unit_price"], "1.995");
    assert_eq!(items[1]["metadata"], Value::Null);

    let r = app.get("/receipts?per_page=2&page=2", Some(&token)).await;
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ids[0]);
    assert_eq!(r.json["has_more"], false);

    let r = app.get("/receipts?status=completed", Some(&token)).await;
    assert_eq!(r.json["total"], 1);

    for bad in [
        "/receipts?page=0",
        "/receipts?per_page=1000",
        "/receipts?status=done",
        "/receipts?page=abc",
    ] {
        let r = app.get(bad, Some(&token)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        r.error_code();
    }
}

#[tokio::test]
async fn one_receipt_shows_its_data_and_anothers_is_answered_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let id = app.seed_pending("alice", 1).await[0];
    complete(&app, id).await;

    let r = app.get(&format!("/receipts/{id}"), Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["id"], id);
    assert_eq!(r.json["status"], "completed");
    assert_eq!(r.json["last_error"], Value::Null);
    assert_eq!(r.json["metadata"]["currency"], "MYR");
    assert_eq!(r.json["items"][0]["name"], "TEH O");
    assert!(r.json.get("user_id").is_none() && r.json.get("object_key").is_none());

    let theirs = app.get(&format!("/receipts/{id}"), Some(&bob)).await;
    let missing = app.get("/receipts/999999", Some(&bob)).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(
        theirs.json, missing.json,
        "another's receipt must look missing"
    );

    for bad in ["abc", "0", "-3", "1.5"] {
        let r = app.get(&format!("/receipts/{bad}"), Some(&alice)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        r.error_code();
    }
}

#[tokio::test]
async fn process_all_sends_one_message_per_pending_receipt_in_batches_of_ten() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let ids = app.seed_pending("alice", 25).await;
    let bobs = app.seed_pending("bob", 3).await;
    let done = app.seed_pending("alice", 1).await[0];
    complete(&app, done).await;
    app.calls.reset();

    let r = app.post("/receipts/ocr/process-all", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "queued");
    assert_eq!(r.json["queued"], 25);
    assert_eq!(r.json["not_queued"], 0);
    assert_eq!(
        app.calls.get("SendMessageBatch"),
        3,
        "25 messages take 3 SendMessageBatch calls"
    );
    assert_eq!(app.calls.get("SendMessage"), 0);

    let bodies = app.drain(&app.ocr_queue_url).await;
    assert_eq!(bodies.len(), 25);
    let sent: BTreeSet<i64> = bodies
        .iter()
        .map(|b| b["receipt_id"].as_i64().unwrap())
        .collect();
    assert_eq!(sent, ids.iter().copied().collect::<BTreeSet<_>>());
    for b in &bodies {
        assert_eq!(b["v"], 1);
        assert_eq!(b["user_id"], "alice");
        assert_eq!(b["bucket"], app.bucket);
        assert!(b["key"].as_str().unwrap().starts_with("uploads/alice/"));
    }
    for id in &ids {
        assert_eq!(app.status_of(*id).await, "queued");
    }
    for id in &bobs {
        assert_eq!(
            app.status_of(*id).await,
            "pending",
            "another user's receipts are untouched"
        );
    }
    assert_eq!(app.status_of(done).await, "completed");

    // Right after: nothing left to queue, nothing sent.
    app.calls.reset();
    let r = app.post("/receipts/ocr/process-all", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["queued"], 0);
    assert_eq!(app.calls.get("SendMessageBatch"), 0);
    assert!(app.drain(&app.ocr_queue_url).await.is_empty());
}

#[tokio::test]
async fn process_all_limit_takes_the_oldest_and_bad_limits_change_nothing() {
    let app = TestApp::spawn_with(Options {
        process_all_max: 50,
        ..Options::default()
    })
    .await;
    let token = app.token("alice");
    let ids = app.seed_pending("alice", 12).await;
    let before = app.snapshot().await;

    for bad in ["-1", "abc", "0", "10000000", "51", "", "1.5"] {
        let r = app
            .post(
                &format!("/receipts/ocr/process-all?limit={bad}"),
                Some(&token),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "limit={bad}: {}", r.json);
        assert_eq!(r.error_code(), "invalid_input");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("limit")
        );
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused request changed a row"
    );
    assert_eq!(app.calls.get("SendMessageBatch"), 0);

    let r = app
        .post("/receipts/ocr/process-all?limit=5", Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["queued"], 5);
    assert_eq!(r.json["limit"], 5);
    let got: Vec<i64> = r.json["receipt_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(
        got,
        ids[..5].to_vec(),
        "the oldest pending receipts go first"
    );
    assert_eq!(app.drain(&app.ocr_queue_url).await.len(), 5);
}

#[tokio::test]
async fn concurrent_process_all_calls_never_queue_a_receipt_twice() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    app.seed_pending("alice", 40).await;
    let calls = (0..4).map(|_| app.post("/receipts/ocr/process-all", Some(&token)));
    let results = futures::future::join_all(calls).await;
    let total: i64 = results
        .iter()
        .map(|r| r.json["queued"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 40);
    let bodies = app.drain(&app.ocr_queue_url).await;
    let distinct: BTreeSet<i64> = bodies
        .iter()
        .map(|b| b["receipt_id"].as_i64().unwrap())
        .collect();
    assert_eq!(bodies.len(), 40);
    assert_eq!(distinct.len(), 40);
}

#[tokio::test]
async fn receipts_whose_message_sqs_refuses_go_back_to_pending() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let ids = app.seed_pending("alice", 12).await;
    // SQS refuses, entry by entry, a message larger than the queue allows.
    app.sqs
        .set_queue_attributes()
        .queue_url(&app.ocr_queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "1024",
        )
        .send()
        .await
        .unwrap();
    sqlx::query("UPDATE receipts SET object_key = $2 WHERE id = $1")
        .bind(ids[4])
        .bind(format!("uploads/alice/{}.png", "x".repeat(1100)))
        .execute(&app.pool)
        .await
        .unwrap();

    let r = app.post("/receipts/ocr/process-all", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["queued"], 11);
    assert_eq!(r.json["not_queued"], 1);
    assert_eq!(app.status_of(ids[4]).await, "pending");
    for id in ids.iter().filter(|i| **i != ids[4]) {
        assert_eq!(app.status_of(*id).await, "queued");
    }
    assert_eq!(app.drain(&app.ocr_queue_url).await.len(), 11);
}

#[tokio::test]
async fn when_the_queue_is_gone_process_all_answers_503_and_nothing_stays_queued() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let ids = app.seed_pending("alice", 15).await;
    app.sqs
        .delete_queue()
        .queue_url(&app.ocr_queue_url)
        .send()
        .await
        .unwrap();

    let r = app.post("/receipts/ocr/process-all", Some(&token)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.json);
    assert_eq!(r.error_code(), "unavailable");
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(
        !msg.contains("NonExistentQueue") && !msg.contains("AWS"),
        "internal text leaked: {msg}"
    );
    for id in ids {
        assert_eq!(app.status_of(id).await, "pending");
    }
    // Counts still come from Postgres when SQS cannot be asked.
    let r = app.get("/receipts/ocr/queue-status", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["pending"], 15);
    assert_eq!(r.json["queue"], Value::Null);
}

#[tokio::test]
async fn queue_status_counts_the_callers_receipts_and_reads_queue_depths() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let ids = app.seed_pending("alice", 6).await;
    app.seed_pending("bob", 4).await;
    complete(&app, ids[0]).await;
    app.set_status(ids[1], "failed", Some("agent said 422"))
        .await;
    let r = app
        .post("/receipts/ocr/process-all?limit=3", Some(&token))
        .await;
    assert_eq!(r.json["queued"], 3);

    let r = app.get("/receipts/ocr/queue-status", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["total_tracked"], 6);
    assert_eq!(r.json["completed"], 1);
    assert_eq!(r.json["failed"], 1);
    assert_eq!(r.json["queued"], 3);
    assert_eq!(r.json["pending"], 1);
    assert_eq!(r.json["processing"], 0);
    assert_eq!(r.json["queue"]["visible"], 3);
    assert_eq!(r.json["dlq"]["visible"], 0);

    let r = app
        .get(
            &format!("/receipts/ocr/queue-status?receipt_id={}", ids[1]),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["receipt_id"], ids[1]);
    assert_eq!(r.json["status"], "failed");
    assert_eq!(r.json["last_error"], "agent said 422");

    let before = app.snapshot().await;
    let r = app
        .get("/receipts/ocr/queue-status?receipt_id=abc", Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_input");
    let bob = app.token("bob");
    let r = app
        .get(
            &format!("/receipts/ocr/queue-status?receipt_id={}", ids[1]),
            Some(&bob),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn retry_requeues_a_failed_receipt_and_a_completed_one_only_on_request() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let ids = app.seed_pending("alice", 3).await;
    app.set_status(ids[0], "failed", Some("timeout")).await;
    complete(&app, ids[1]).await;
    app.set_status(ids[2], "processing", None).await;

    let r = app
        .post(&format!("/receipts/{}/ocr/retry", ids[0]), Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
    assert_eq!(r.json["status"], "queued");
    let bodies = app.drain(&app.ocr_queue_url).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["receipt_id"], ids[0]);

    let r = app
        .post(&format!("/receipts/{}/ocr/retry", ids[1]), Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "conflict");
    assert_eq!(app.status_of(ids[1]).await, "completed");

    let r = app
        .post(
            &format!("/receipts/{}/ocr/retry?force=true", ids[1]),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.status_of(ids[1]).await, "queued");
    assert_eq!(app.drain(&app.ocr_queue_url).await.len(), 1);

    let r = app
        .post(&format!("/receipts/{}/ocr/retry", ids[2]), Some(&token))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a receipt in flight is not queued twice"
    );
    assert_eq!(app.status_of(ids[2]).await, "processing");

    let bob = app.token("bob");
    let r = app
        .post(&format!("/receipts/{}/ocr/retry", ids[0]), Some(&bob))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.post("/receipts/abc/ocr/retry", Some(&token)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .post(
            &format!("/receipts/{}/ocr/retry?force=maybe", ids[1]),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(app.drain(&app.ocr_queue_url).await.is_empty());
}

#[tokio::test]
async fn a_refused_retry_keeps_the_receipts_status() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let id = app.seed_pending("alice", 1).await[0];
    app.set_status(id, "failed", Some("timeout")).await;
    app.sqs
        .delete_queue()
        .queue_url(&app.ocr_queue_url)
        .send()
        .await
        .unwrap();
    let r = app
        .post(&format!("/receipts/{id}/ocr/retry"), Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.status_of(id).await, "failed");
}

#[tokio::test]
async fn an_uploaded_receipt_goes_through_process_all() {
    let app = TestApp::spawn().await;
    let token = app.token("alice");
    let id = app.upload_png("alice").await;
    let r = app.post("/receipts/ocr/process-all", Some(&token)).await;
    assert_eq!(r.json["queued"], 1);
    let bodies = app.drain(&app.ocr_queue_url).await;
    let key: String = sqlx::query_scalar("SELECT object_key FROM receipts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        bodies,
        vec![
            json!({"v": 1, "receipt_id": id, "user_id": "alice", "bucket": app.bucket, "key": key})
        ]
    );
    let r = app
        .get(
            &format!("/receipts/ocr/queue-status?receipt_id={id}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.json["status"], "queued");
}
