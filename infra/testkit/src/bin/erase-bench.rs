//! Erasure benchmark: one user with N receipts (default 100,000; each with
//! its metadata, two items and three events) erased as `DELETE /users/me`
//! does it, in batches of 500 (each one transaction, then one S3
//! DeleteObjects), on Postgres and LocalStack; beside it, in the same run,
//! single deletes (`DELETE /receipts/{id}`'s use case) of another user's
//! receipts. A third user's receipts are there all along and must be left.
//!
//! The seeded receipts have no objects in the bucket (S3 answers a delete
//! of a missing key as done, at the same cost): storing 100,000 objects in
//! LocalStack would take longer than the erasure.
//!
//!   cargo run --locked --release -p testkit --bin erase-bench -- [--receipts N]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shared::db::ReceiptRepository;
use shared::domain::{ReceiptId, UserId};
use shared::flow::erase::{EraseReport, Eraser};
use testkit::TestApp;

/// Seeds `n` completed receipts of `user`, each with metadata, two items
/// and three events whose data holds a summary.
async fn seed(app: &TestApp, user: &str, n: i64) {
    let statements = [
        "INSERT INTO receipts (user_id, bucket, object_key, file_name, content_type, size_bytes, ocr_status) \
         SELECT $1, $2, 'uploads/' || $1 || '/' || g || '.png', 'r.png', 'image/png', 100, 'completed' \
         FROM generate_series(1, $3) g",
        "INSERT INTO receipt_metadata (receipt_id, merchant_name, total) \
         SELECT id, 'SHOP', 9.99 FROM receipts WHERE user_id = $1 AND $2 <> '' AND $3 > 0",
        "INSERT INTO receipt_items (receipt_id, position, name, amount) \
         SELECT id, p, 'ITEM', 1.00 FROM receipts, generate_series(0, 1) p \
         WHERE user_id = $1 AND $2 <> '' AND $3 > 0",
        "INSERT INTO receipt_events (user_id, seq, receipt_id, type, status, data) \
         SELECT $1, row_number() OVER (), id, t, 'completed', '{\"summary\": {\"merchant\": \"SHOP\"}}' \
         FROM receipts CROSS JOIN unnest(ARRAY['receipt.created', 'receipt.queued', 'receipt.completed']) t \
         WHERE user_id = $1 AND $2 <> '' AND $3 > 0",
        "INSERT INTO receipt_event_seq (user_id, last_seq) SELECT $1, 3 * $3 WHERE $2 <> ''",
    ];
    for sql in statements {
        sqlx::query(sql)
            .bind(user)
            .bind(&app.bucket)
            .bind(n)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    sqlx::query("ANALYZE").execute(&app.pool).await.unwrap();
}

async fn count(app: &TestApp, user: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM receipts WHERE user_id = $1")
        .bind(user)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn peak_rss_mib() -> f64 {
    testkit::bench::peak_rss_kib() as f64 / 1024.0
}

async fn erase(app: &TestApp, n: i64, queries: &AtomicU64) -> f64 {
    let repo = ReceiptRepository::new(app.pool.clone());
    let eraser = Eraser::new(repo.clone(), app.state.service.storage.clone());
    let user = UserId::parse("bulk").unwrap();
    let rss_before = peak_rss_mib();
    let q0 = queries.load(Ordering::Relaxed);
    let started = Instant::now();
    let erasure = repo.request_erasure(&user, None, "bench").await.unwrap();
    let far = Instant::now() + Duration::from_secs(3600);
    let done = eraser
        .run(&erasure, far, &mut EraseReport::default())
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let statements = queries.load(Ordering::Relaxed) - q0;
    assert_eq!(done.state, "done");
    assert_eq!(done.receipts_deleted, n);
    let batches = (n as f64 / f64::from(eraser.batch)).ceil();
    let rate = n as f64 / secs;
    println!(
        "erasure (DELETE /users/me)  {n:>8} receipts in {secs:>6.1} s = {rate:>8.0} receipts/s; \
         {:.0} ms a batch of {}, {:.1} statements a batch; peak RSS {:.0} MiB (+{:.0})",
        secs * 1000.0 / batches,
        eraser.batch,
        statements as f64 / batches,
        peak_rss_mib(),
        peak_rss_mib() - rss_before
    );
    rate
}

async fn single_deletes(app: &TestApp, n: i64) -> f64 {
    let user = UserId::parse("single").unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM receipts WHERE user_id = 'single'")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let mut took = Vec::with_capacity(ids.len());
    let started = Instant::now();
    for id in &ids {
        let t = Instant::now();
        let id = ReceiptId::parse(&id.to_string(), "id").unwrap();
        app.state.service.delete(&user, id).await.unwrap();
        took.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let secs = started.elapsed().as_secs_f64();
    took.sort_by(f64::total_cmp);
    let pct = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    let rate = n as f64 / secs;
    println!(
        "single deletes              {n:>8} receipts in {secs:>6.1} s = {rate:>8.0} receipts/s; \
         p50 {:.1} ms, p95 {:.1} ms each (one statement, then one S3 call)",
        pct(0.5),
        pct(0.95)
    );
    rate
}

#[tokio::main]
async fn main() {
    let mut n: i64 = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--receipts" | "-n" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--receipts N")
            }
            other => panic!("unknown argument {other}; usage: erase-bench [--receipts N]"),
        }
    }
    let queries = testkit::bench::count_statements();
    let app = TestApp::spawn().await;
    let singles = (n / 100).max(10);
    let started = Instant::now();
    seed(&app, "bulk", n).await;
    seed(&app, "single", singles).await;
    seed(&app, "bystander", n / 10).await;
    println!(
        "seeded {n} + {singles} + {} receipts (x2 items, x3 events) in {:.1} s",
        n / 10,
        started.elapsed().as_secs_f64()
    );
    let bulk = erase(&app, n, &queries).await;
    let single = single_deletes(&app, singles).await;
    println!(
        "ratio: the erasure deletes {:.0}x as many receipts a second as single deletes",
        bulk / single
    );
    assert_eq!(
        count(&app, "bystander").await,
        n / 10,
        "another user's receipts stay"
    );
    assert_eq!(count(&app, "bulk").await + count(&app, "single").await, 0);
}
