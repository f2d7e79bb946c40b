//! Pipeline benchmark: N receipts through S3 event → ingest → OCR queue →
//! worker, with an agent stub that answers at once, on LocalStack and
//! Postgres. In the same run it measures the emulator's own ceiling (a bare
//! SendMessageBatch / ReceiveMessage / DeleteMessageBatch loop with the same
//! concurrency), so the pipeline's rate is reported as a ratio of it.
//!
//! Three runs side by side, each on fresh queues and a fresh database:
//! the receipts of ten users (as before events existed); of one user (all
//! transitions number their events under that user's row lock: the worst
//! case of the outbox); and of one user with one webhook endpoint
//! subscribed to `receipt.completed`, the webhook sender running and a
//! receiver answering 204. And the priority split: ten users, half of the
//! receipts at high priority (asked for as upload-url does), read from two
//! OCR queues with the same worker concurrency in all (half on each), to
//! set beside `ten-users`, which reads one queue.
//!
//!   ./infra/bench.sh [--receipts N] [--only ten-users|priority-split|one-user|webhook]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use futures::stream::{self, StreamExt};
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::bench::peak_rss_kib;
use testkit::{Options, TestApp, pipeline, png_bytes};
use tokio_util::sync::CancellationToken;

const CONCURRENCY: usize = 4;

/// The emulator's ceiling: `n` messages sent in batches of 10, then received
/// and deleted in batches of 10 by `CONCURRENCY` loops.
async fn bare_sqs_loop(app: &TestApp, n: usize) -> f64 {
    let url = app.ingest_dlq_url.clone(); // an idle queue of this run
    let started = Instant::now();
    let batches: Vec<usize> = (0..n.div_ceil(10)).collect();
    stream::iter(batches)
        .for_each_concurrent(CONCURRENCY, |b| {
            let (sqs, url) = (app.sqs.clone(), url.clone());
            async move {
                let entries = (0..10.min(n - b * 10))
                    .map(|i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(format!("{{\"n\":{}}}", b * 10 + i))
                            .build()
                            .unwrap()
                    })
                    .collect();
                sqs.send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await;
    let done = Arc::new(AtomicU64::new(0));
    let loops = (0..CONCURRENCY).map(|_| {
        let (sqs, url, done) = (app.sqs.clone(), url.clone(), done.clone());
        async move {
            while (done.load(Ordering::Relaxed) as usize) < n {
                let r = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                let msgs = r.messages();
                if msgs.is_empty() {
                    continue;
                }
                let entries = msgs
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap())
                            .build()
                            .unwrap()
                    })
                    .collect();
                sqs.delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .unwrap();
                done.fetch_add(msgs.len() as u64, Ordering::Relaxed);
            }
        }
    });
    futures::future::join_all(loops).await;
    n as f64 / started.elapsed().as_secs_f64()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    TenUsers,
    PrioritySplit,
    OneUser,
    Webhook,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::TenUsers => "ten-users",
            Scenario::PrioritySplit => "priority-split",
            Scenario::OneUser => "one-user",
            Scenario::Webhook => "webhook",
        }
    }
    fn user(self, i: usize) -> String {
        match self {
            Scenario::TenUsers | Scenario::PrioritySplit => format!("bench{}", i % 10),
            _ => "bench".to_owned(),
        }
    }
}

/// A receiver that answers 204 and counts.
async fn receiver() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::Relaxed);
                http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

async fn run(n: usize, scenario: Scenario, queries: &Arc<AtomicU64>, ceiling: Option<f64>) {
    let app = TestApp::spawn_with(Options {
        webhooks: scenario == Scenario::Webhook,
        ..Options::default()
    })
    .await;
    let agent = FakeAgent::start_stub(Reply::Extract(Box::new(sample_extraction()))).await;
    let rss_before = peak_rss_kib();
    let hits = if scenario == Scenario::Webhook {
        let (addr, hits) = receiver().await;
        let r = app
            .post_json(
                "/webhooks",
                Some(&app.token("bench")),
                &serde_json::json!({"url": format!("http://{addr}/hook"), "events": ["receipt.completed"]}),
            )
            .await;
        assert_eq!(r.status, http::StatusCode::CREATED, "{}", r.json);
        Some(hits)
    } else {
        None
    };

    // Half the receipts asked for at high priority, as upload-url records it.
    if scenario == Scenario::PrioritySplit {
        sqlx::query(
            "INSERT INTO upload_intents (bucket, object_key, user_id, content_type, priority) \
             SELECT $1, format('uploads/bench%s/r%s.png', i % 10, i), format('bench%s', i % 10), \
                 'image/png', 'high' \
             FROM generate_series(0, $2 - 1) AS i WHERE i % 2 = 1",
        )
        .bind(&app.bucket)
        .bind(n as i64)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    // N uploads; their S3 events wait in the ingest queue.
    let png = png_bytes();
    stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let (s3, bucket, body) = (app.s3.clone(), app.bucket.clone(), png.clone());
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(format!("uploads/{}/r{i}.png", scenario.user(i)))
                    .body(body.into())
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await;
    // Wait until S3 has delivered every event.
    loop {
        let (visible, _) = app.depth(&app.ingest_queue_url).await;
        if visible as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    app.calls.reset();
    queries.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let stop = CancellationToken::new();
    let worker = Arc::new(pipeline::worker(&app, &agent));
    let ingest = Arc::new(pipeline::ingest(&app));
    let ip = pipeline::poller(&app, &app.ingest_queue_url, CONCURRENCY).await;
    let mut tasks = vec![tokio::spawn(ip.serve(
        ingest,
        |i, ev| async move { i.handle(ev).await },
        stop.clone(),
    ))];
    // The same worker concurrency in all: on one queue, or half on each.
    let ocr_queues: Vec<(&str, usize)> = if scenario == Scenario::PrioritySplit {
        vec![
            (&app.ocr_queue_url, CONCURRENCY / 2),
            (&app.ocr_high_queue_url, CONCURRENCY / 2),
        ]
    } else {
        vec![(&app.ocr_queue_url, CONCURRENCY)]
    };
    for (url, concurrency) in ocr_queues {
        let wp = pipeline::poller(&app, url, concurrency).await;
        tasks.push(tokio::spawn(wp.serve(
            worker.clone(),
            |w, ev| async move { w.handle(ev).await },
            stop.clone(),
        )));
    }
    if scenario == Scenario::Webhook {
        let sender = Arc::new(pipeline::webhook_sender(&app, None));
        let p = pipeline::poller(&app, sender.queue.url(), CONCURRENCY).await;
        tasks.push(tokio::spawn(p.serve(
            sender,
            |x, ev| async move { x.handle(ev).await },
            stop.clone(),
        )));
    }
    let mut polls = 0u64;
    loop {
        polls += 1;
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM receipts WHERE ocr_status = 'completed'")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        if done as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let high: i64 = sqlx::query_scalar("SELECT count(*) FROM receipts WHERE priority = 'high'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // The progress polls above are the bench's own; they are taken out below.
    let statements = queries.load(Ordering::Relaxed).saturating_sub(polls);
    let delivered = match &hits {
        Some(h) => {
            while (h.load(Ordering::Relaxed) as usize) < n {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some(started.elapsed().as_secs_f64())
        }
        None => None,
    };
    let all_statements = queries.load(Ordering::Relaxed).saturating_sub(polls);
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }

    let rate = n as f64 / elapsed;
    let ops = [
        "ReceiveMessage",
        "DeleteMessageBatch",
        "SendMessageBatch",
        "ChangeMessageVisibility",
        "GetQueueAttributes",
    ];
    let sqs_calls: usize = ops.iter().map(|o| app.calls.get(o)).sum();
    println!(
        "[{}] {n} receipts, S3 event -> ingest -> OCR queue -> worker -> stub agent{}",
        scenario.name(),
        if scenario == Scenario::Webhook {
            " -> webhook -> receiver"
        } else {
            ""
        }
    );
    println!("  pipeline rate             {rate:>10.1} receipts/s ({elapsed:.2} s)");
    if scenario == Scenario::PrioritySplit {
        println!(
            "  high priority             {high:>10} receipts (two OCR queues, {} batches at once on each)",
            CONCURRENCY / 2
        );
    }
    if let Some(c) = ceiling {
        println!("  ratio to the ceiling      {:>10.2}", rate / c);
    }
    println!(
        "  database statements       {:>10.2} per receipt until the last is completed",
        statements as f64 / n as f64
    );
    if let Some(t) = delivered {
        println!(
            "  webhook deliveries        {:>10.1} per second ({n} delivered, the last {t:.2} s after the start)",
            n as f64 / t
        );
        println!(
            "  database statements       {:>10.2} per receipt until the last is delivered (the sender claims and records each)",
            all_statements as f64 / n as f64
        );
    }
    println!(
        "  SQS calls                 {:>10.2} per receipt",
        sqs_calls as f64 / n as f64
    );
    for op in ops {
        println!(
            "    {op:<24}{:>10.3} per receipt",
            app.calls.get(op) as f64 / n as f64
        );
    }
    println!(
        "  peak RSS                  {:>10.1} MiB ({:.1} MiB before this run)",
        peak_rss_kib() as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!("  agent calls               {:>10}", agent.calls());
}

#[tokio::main]
async fn main() {
    let mut n: usize = 2000;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--receipts" | "-n" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--receipts N")
            }
            "--only" => only = args.next(),
            other => panic!(
                "unknown argument {other}; usage: pipeline-bench [--receipts N] [--only ten-users|priority-split|one-user|webhook]"
            ),
        }
    }
    let queries = testkit::bench::count_statements();

    // The emulator's ceiling, in the same run, with the same clients.
    let ceiling = {
        let app = TestApp::spawn().await;
        bare_sqs_loop(&app, n).await
    };
    println!(
        "emulator ceiling            {ceiling:>10.1} messages/s (bare send/receive/delete, {CONCURRENCY} at once)"
    );
    for s in [
        Scenario::TenUsers,
        Scenario::PrioritySplit,
        Scenario::OneUser,
        Scenario::Webhook,
    ] {
        if only.as_deref().is_none_or(|o| o == s.name()) {
            run(n, s, &queries, Some(ceiling)).await;
        }
    }
}
