//! The pipeline under faults, on the real Postgres and LocalStack: an agent
//! that fails, stalls past its timeout and refuses a fixed share of the
//! receipts; duplicate messages; the worker killed mid-run and restarted;
//! the database refusing connections for a while; the reconciler running
//! throughout. Nothing may be lost, stuck, read twice or written twice.
//!
//! `cargo test -p worker --test suite faults -- --nocapture` prints the run's
//! figures (BENCHMARKS.md, "Fault run").

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::wait_until;
use testkit::{Options, TestApp, pipeline};

const RECEIPTS: usize = 48;
/// Generous, so that a receipt hit by several faults in a row is not
/// dead-lettered: the test is about nothing being lost, not about giving up.
const MAX_RECEIVES: u32 = 10;

/// What the agent does with a receipt, by its place among the uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// 422 every time: bad input, failed at once.
    Refuse,
    /// 503 on the first call.
    FailOnce,
    /// Longer than the worker's agent timeout on the first call.
    StallOnce,
    None,
}

fn fault(index: usize) -> Fault {
    match index % 8 {
        0 => Fault::Refuse,
        1 | 4 => Fault::FailOnce,
        2 => Fault::StallOnce,
        _ => Fault::None,
    }
}

async fn statuses(app: &TestApp) -> Vec<(i64, String, Option<String>)> {
    sqlx::query_as("SELECT id, ocr_status, last_error FROM receipts ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Refuses new connections to the test's database and ends the open ones,
/// for `down`, as a database restart or failover would.
async fn database_outage(app: &TestApp, down: Duration) {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            app.pool
                .connect_options()
                .as_ref()
                .clone()
                .database("postgres"),
        )
        .await
        .unwrap();
    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(&db)
        .execute(&admin)
        .await
        .unwrap();
    tokio::time::sleep(down).await;
    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn under_faults_every_receipt_ends_once_and_nothing_is_left_in_any_queue() {
    let app = TestApp::spawn_with(Options {
        max_receive_count: MAX_RECEIVES,
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;

    // The handlers get their own pool, which gives up on a connection
    // quickly: during the outage they see errors, not a long wait.
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(app.pool.connect_options().as_ref().clone());
    let (metrics, metric_lines) = shared::runtime::metrics::Metrics::capture("worker");
    let worker = || {
        let mut w = pipeline::worker(&app, &agent);
        w.repo = shared::db::ReceiptRepository::new(pool.clone());
        w.metrics = metrics.clone();
        Arc::new(w)
    };
    let ingest = || {
        let mut i = pipeline::ingest(&app);
        i.repo = shared::db::ReceiptRepository::new(pool.clone());
        Arc::new(i)
    };

    let ids = app.seed_uploaded("alice", RECEIPTS).await;
    let plan: std::collections::HashMap<i64, Fault> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, fault(i)))
        .collect();
    let planned = plan.clone();
    agent.plan(Arc::new(move |id, nth| match (planned[&id], nth) {
        (Fault::Refuse, _) => Reply::Status(422),
        (Fault::FailOnce, 1) => Reply::Status(503),
        (Fault::StallOnce, 1) => Reply::Stall(pipeline::AGENT_TIMEOUT + Duration::from_secs(1)),
        // A read takes a moment (then the fallback answers), so that the
        // kill and the outage find work in flight.
        _ => Reply::Stall(Duration::from_millis(300)),
    }));

    // The reconciler runs throughout, as its schedule would.
    let reconciling = {
        let mut r = pipeline::reconciler(&app, Duration::from_secs(8));
        r.repo = shared::db::ReceiptRepository::new(pool.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                // Errors (the outage) are the next pass's to retry.
                let _ = r.run_once().await;
            }
        })
    };

    let started = Instant::now();
    let first = pipeline::start_with(&app, worker(), ingest()).await;
    // Duplicates: a second copy of every fifth receipt's message, at once.
    let mut duplicates = 0;
    for id in ids.iter().step_by(5) {
        let job = app.ocr_job(*id).await;
        app.sqs
            .send_message()
            .queue_url(&app.ocr_queue_url)
            .message_body(job.to_body())
            .send()
            .await
            .unwrap();
        duplicates += 1;
    }
    // The worker is killed a third of the way through, and restarted. (Once
    // the refused receipts have failed: a kill between the agent's answer
    // and its write would rightly read a receipt again.)
    let refused = plan.values().filter(|f| **f == Fault::Refuse).count();
    let ended = |n: usize| {
        let app = &app;
        let plan = &plan;
        async move {
            let rows = statuses(app).await;
            let refused_done = rows
                .iter()
                .filter(|(id, s, _)| plan[id] == Fault::Refuse && s == "failed")
                .count();
            let done = rows
                .iter()
                .filter(|(_, s, _)| s == "completed" || s == "failed")
                .count();
            done >= n && refused_done == refused
        }
    };
    wait_until("a third ended", Duration::from_secs(60), async || {
        ended(RECEIPTS / 3).await
    })
    .await;
    let mut stats = first.stats.clone();
    first.kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = pipeline::start_with(&app, worker(), ingest()).await;
    stats.extend(second.stats.clone());
    // The database goes away for a while two thirds of the way through.
    wait_until("two thirds ended", Duration::from_secs(90), async || {
        ended(2 * RECEIPTS / 3).await
    })
    .await;
    let outage = Duration::from_secs(3);
    database_outage(&app, outage).await;

    wait_until(
        "every receipt ended",
        Duration::from_secs(180),
        async || ended(RECEIPTS).await,
    )
    .await;
    // Late copies (duplicates, a killed batch's messages) come back and are
    // acknowledged; then every queue is empty.
    for queue in [&app.ocr_queue_url, &app.ingest_queue_url] {
        let q = queue.clone();
        let app = &app;
        wait_until(
            "a queue drained",
            Duration::from_secs(60),
            async move || app.depth(&q).await == (0, 0),
        )
        .await;
    }
    let elapsed = started.elapsed();
    second.stop().await;
    reconciling.abort();

    for dlq in [&app.ocr_dlq_url, &app.ingest_dlq_url] {
        assert_eq!(app.depth(dlq).await, (0, 0), "nothing dead-lettered");
    }
    let rows = statuses(&app).await;
    assert_eq!(rows.len(), RECEIPTS, "one receipt per upload");
    for (id, status, error) in &rows {
        match plan[id] {
            Fault::Refuse => {
                assert_eq!(status, "failed", "receipt {id}");
                assert!(
                    error.as_deref().unwrap_or("").contains("422"),
                    "receipt {id}: {error:?}"
                );
                assert_eq!(
                    agent.calls_for(*id),
                    1,
                    "a refused receipt {id} reached the agent once"
                );
            }
            _ => assert_eq!(status, "completed", "receipt {id}: {error:?}"),
        }
    }
    // One set of items per completed receipt, none for a failed one.
    let items: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT r.id, (SELECT count(*) FROM receipt_items i WHERE i.receipt_id = r.id), \
                (SELECT count(*) FROM receipt_metadata m WHERE m.receipt_id = r.id) \
         FROM receipts r ORDER BY r.id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for (id, n_items, n_meta) in items {
        let want = if plan[&id] == Fault::Refuse {
            (0, 0)
        } else {
            (2, 1)
        };
        assert_eq!((n_items, n_meta), want, "receipt {id}");
    }

    // The kill and the outage did reach the handlers.
    let retried_for: Vec<String> = metric_lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("Retried").is_some())
        .filter_map(|v| v["reason"].as_str().map(str::to_owned))
        .collect();
    let db_errors = retried_for
        .iter()
        .filter(|r| r.starts_with("database"))
        .count();
    assert!(db_errors > 0, "no handler saw the outage: {retried_for:?}");

    // Each run's pollers are [normal OCR, ingest, high OCR].
    let received: u64 = [0, 2, 3, 5].iter().map(|&i| stats[i].snapshot().0).sum();
    let count = |f: Fault| plan.values().filter(|v| **v == f).count();
    let figures = json!({
        "receipts": RECEIPTS,
        "refused_422": count(Fault::Refuse),
        "agent_5xx_once": count(Fault::FailOnce),
        "agent_stall_once": count(Fault::StallOnce),
        "duplicate_messages": duplicates,
        "worker_kills": 1,
        "database_outage_s": outage.as_secs(),
        "agent_calls": agent.calls(),
        "retries_on_database_errors": db_errors,
        "retries": retried_for.len(),
        "ocr_receives": received,
        "ocr_receives_per_receipt": format!("{:.2}", received as f64 / RECEIPTS as f64),
        "seconds": format!("{:.1}", elapsed.as_secs_f64()),
    });
    println!("fault run: {figures}");
}
