//! The pipeline running in a test: the real worker and ingest handlers, fed
//! from the test's LocalStack queues by the same pollers the local runner
//! uses, calling a fake agent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::aws::s3::S3Storage;
use shared::aws::sqs::{PriorityQueues, SqsQueue};
use shared::db::ReceiptRepository;
use shared::flow::ingest::Ingest;
use shared::flow::reconcile::Reconciler;
use shared::flow::worker::{QueuePair, Worker, WorkerSettings};
use shared::outbound::agent::HttpAgent;
use shared::runtime::metrics::Metrics;
use shared::runtime::runner::{Poller, PollerSettings, PollerStats};
use tokio_util::sync::CancellationToken;

use crate::TestApp;
use crate::agent::FakeAgent;

/// The agent timeout in tests; a `Stall` longer than this is a timeout.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(2);
/// A claim's lease in tests.
pub const LEASE: Duration = Duration::from_secs(3);

pub fn worker_settings(app: &TestApp) -> WorkerSettings {
    WorkerSettings {
        normal: QueuePair {
            queue_url: app.ocr_queue_url.clone(),
            dlq_url: app.ocr_dlq_url.clone(),
        },
        high: QueuePair {
            queue_url: app.ocr_high_queue_url.clone(),
            dlq_url: app.ocr_high_dlq_url.clone(),
        },
        max_receive_count: app.config.common.queues.max_receive_count,
        lease: LEASE,
        concurrency: 10,
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(4),
        image_url_ttl: Duration::from_secs(300),
    }
}

pub fn worker(app: &TestApp, agent: &FakeAgent) -> Worker<HttpAgent> {
    Worker {
        repo: ReceiptRepository::new(app.pool.clone()),
        storage: S3Storage::new(app.s3.clone(), app.bucket.clone()),
        sqs: app.sqs.clone(),
        agent: HttpAgent::new(&agent.url, AGENT_TIMEOUT).with_bearer(app.agent_token.clone()),
        settings: worker_settings(app),
        metrics: Metrics::disabled("worker"),
        relay: app.state.relay.clone(),
    }
}

pub fn ingest(app: &TestApp) -> Ingest {
    Ingest {
        repo: ReceiptRepository::new(app.pool.clone()),
        storage: app.state.service.storage.clone(),
        ocr_queues: PriorityQueues::new(
            &app.sqs,
            &app.config.common.queues.ocr_high,
            &app.config.common.queues.ocr,
        ),
        bucket: app.bucket.clone(),
        upload_prefix: "uploads/".into(),
        max_bytes: app.config.common.storage.max_direct_upload_bytes,
        auto_ocr: app.config.common.processing.auto_ocr,
        metrics: Metrics::disabled("ingest"),
        relay: app.state.relay.clone(),
    }
}

pub fn reconciler(app: &TestApp, queued_after: Duration) -> Reconciler {
    Reconciler {
        repo: ReceiptRepository::new(app.pool.clone()),
        ocr_queues: PriorityQueues::new(
            &app.sqs,
            &app.config.common.queues.ocr_high,
            &app.config.common.queues.ocr,
        ),
        queued_after,
        batch: 100,
        events: shared::db::events::EventLog::new(app.pool.clone()),
        event_retention: app.config.common.processing.event_retention,
        relay: app.state.relay.clone(),
        eraser: shared::flow::erase::Eraser::new(
            ReceiptRepository::new(app.pool.clone()),
            app.state.service.storage.clone(),
        ),
        retention_days: app.config.common.processing.receipt_retention_days,
    }
}

/// The webhook sender of a test app made with `Options { webhooks: true }`,
/// resolving names with `lookup` (the system's when `None`).
pub fn webhook_sender(
    app: &TestApp,
    lookup: Option<Arc<dyn shared::outbound::ssrf::Lookup>>,
) -> shared::flow::webhooks::Sender {
    let cfg = &app.config;
    let url = cfg
        .common
        .webhooks
        .queue_url
        .clone()
        .expect("a test app with a webhook queue");
    let policy = match lookup {
        Some(l) => shared::outbound::ssrf::WebhookUrlPolicy::with_lookup(
            cfg.common.webhooks.allow_http_loopback,
            l,
        ),
        None => {
            shared::outbound::ssrf::WebhookUrlPolicy::new(cfg.common.webhooks.allow_http_loopback)
        }
    };
    let mut sender = shared::flow::webhooks::Sender::new(
        app.pool.clone(),
        SqsQueue::new(app.sqs.clone(), url),
        policy,
        shared::flow::webhooks::SenderSettings::from_config(&cfg.common.webhooks),
    )
    .expect("HTTP client");
    sender.metrics = Metrics::disabled("webhooks");
    sender
}

/// Starts the webhook sender on the test's webhook queue.
pub async fn start_webhooks(app: &TestApp) -> Running {
    let sender = Arc::new(webhook_sender(app, None));
    let stop = CancellationToken::new();
    let p = poller(app, sender.queue.url(), 2).await;
    let stats = vec![p.stats.clone()];
    let task = tokio::spawn(p.serve(
        sender,
        |s, ev| async move { s.handle(ev).await },
        stop.clone(),
    ));
    Running {
        stop,
        tasks: vec![task],
        stats,
    }
}

/// Worker and ingest pollers running in the background until dropped.
pub struct Running {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The worker's poller's counters, then ingest's.
    pub stats: Vec<Arc<PollerStats>>,
}

impl Running {
    pub async fn stop(mut self) {
        self.stop.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    /// Kills the pollers mid-batch, as a crashed process would be: batches
    /// in hand are dropped unfinished (their messages come back after the
    /// visibility timeout, their claims' leases run out).
    pub async fn kill(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn poller(app: &TestApp, queue_url: &str, concurrency: usize) -> Poller {
    Poller::new(
        app.sqs.clone(),
        PollerSettings {
            queue_url: queue_url.to_owned(),
            batch_size: 10,
            wait: Duration::from_secs(1),
            concurrency,
        },
    )
    .await
    .expect("poller")
}

/// Starts the worker (on both OCR queues) and ingest (on the ingest queue).
pub async fn start(app: &TestApp, agent: &FakeAgent) -> Running {
    start_with(app, Arc::new(worker(app, agent)), Arc::new(ingest(app))).await
}

/// Starts these handlers on the test's queues.
pub async fn start_with(app: &TestApp, w: Arc<Worker<HttpAgent>>, i: Arc<Ingest>) -> Running {
    start_with_concurrency(app, w, i, 2).await
}

/// Starts these handlers, with `ocr_batches` batches in flight at once on
/// each OCR queue (as each event source mapping has its own concurrency).
pub async fn start_with_concurrency(
    app: &TestApp,
    w: Arc<Worker<HttpAgent>>,
    i: Arc<Ingest>,
    ocr_batches: usize,
) -> Running {
    let stop = CancellationToken::new();
    let wp = poller(app, &app.ocr_queue_url, ocr_batches).await;
    let hp = poller(app, &app.ocr_high_queue_url, ocr_batches).await;
    let ip = poller(app, &app.ingest_queue_url, 1).await;
    // In this order: normal OCR, ingest, high OCR.
    let stats = vec![wp.stats.clone(), ip.stats.clone(), hp.stats.clone()];
    let tasks = vec![
        tokio::spawn(wp.serve(
            w.clone(),
            |w, ev| async move { w.handle(ev).await },
            stop.clone(),
        )),
        tokio::spawn(hp.serve(w, |w, ev| async move { w.handle(ev).await }, stop.clone())),
        tokio::spawn(ip.serve(i, |i, ev| async move { i.handle(ev).await }, stop.clone())),
    ];
    Running { stop, tasks, stats }
}

impl TestApp {
    /// Waits until the receipt has `status`; panics with what it has after `within`.
    pub async fn wait_for_status(&self, id: i64, status: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now: Option<String> =
                sqlx::query_scalar("SELECT ocr_status FROM receipts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .unwrap();
            if now.as_deref() == Some(status) {
                return;
            }
            if Instant::now() > deadline {
                panic!("receipt {id} is {now:?}, not {status:?}, after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `n` receipts exist; returns their ids.
    pub async fn wait_for_receipts(&self, n: usize, within: Duration) -> Vec<i64> {
        let deadline = Instant::now() + within;
        loop {
            let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM receipts ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .unwrap();
            if ids.len() >= n {
                return ids;
            }
            if Instant::now() > deadline {
                panic!("{} receipts after {within:?}, expected {n}", ids.len());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Approximate visible + in-flight messages of a queue.
    pub async fn depth(&self, queue_url: &str) -> (i64, i64) {
        let d = SqsQueue::new(self.sqs.clone(), queue_url)
            .depth()
            .await
            .unwrap();
        (d.visible, d.in_flight)
    }
}
