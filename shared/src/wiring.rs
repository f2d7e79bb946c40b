//! Wiring shared by every entry point (the Lambda functions, the local
//! runner, the tests): clients built once, and the handlers built on them.

use std::time::Duration;

use sqlx::PgPool;

use crate::aws::s3::S3Storage;
use crate::aws::sqs::{PriorityQueues, SqsQueue};
use crate::config::{AgentSettings, Common};
use crate::db::ReceiptRepository;
use crate::db::events::EventLog;
use crate::flow::ingest::Ingest;
use crate::flow::reconcile::Reconciler;
use crate::flow::webhooks::{Relay, Sender, SenderSettings};
use crate::flow::worker::{Worker, WorkerSettings};
use crate::outbound::agent::Agent;
use crate::outbound::ssrf::WebhookUrlPolicy;
use crate::runtime::metrics::Metrics;

/// The pool and SDK clients of a process.
#[derive(Clone, Debug)]
pub struct Clients {
    pub pool: PgPool,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The SDK's credentials (presigned POSTs are signed with them).
    pub credentials: Option<aws_sdk_s3::config::SharedCredentialsProvider>,
}

impl Clients {
    /// The pool and the clients, built once per process. Nothing here waits
    /// on the network: the pool connects on its first query, the SDK
    /// resolves credentials and opens connections on its first request.
    pub async fn new(cfg: &Common) -> Result<Self, sqlx::Error> {
        let db = &cfg.database;
        let pool = crate::db::pool(db.url.expose(), db.max_connections)?;
        let sdk = crate::aws::sdk_config(&cfg.aws).await;
        Ok(Self {
            pool,
            s3: crate::aws::s3_client(&sdk, cfg.aws.endpoint_url.is_some()),
            sqs: crate::aws::sqs_client(&sdk),
            credentials: sdk.credentials_provider(),
        })
    }
}

/// The agent client of the configuration (`AGENT_URL`, `AGENT_TIMEOUT_SECS`,
/// `AGENT_TOKEN`).
pub fn http_agent(cfg: &AgentSettings) -> crate::outbound::agent::HttpAgent {
    crate::outbound::agent::HttpAgent::new(&cfg.url, cfg.timeout).with_bearer(cfg.token.clone())
}

/// The worker, calling `agent`; its leases outlast `agent_timeout`.
pub fn worker<A: Agent>(cfg: &Common, c: &Clients, agent: A, agent_timeout: Duration) -> Worker<A> {
    Worker {
        repo: ReceiptRepository::new(c.pool.clone()),
        storage: S3Storage::new(c.s3.clone(), cfg.storage.bucket.clone()),
        sqs: c.sqs.clone(),
        agent,
        settings: WorkerSettings::from_config(cfg, agent_timeout),
        metrics: Metrics::new("worker"),
        relay: relay(cfg, c),
    }
}

/// The webhook relay, with `WEBHOOK_QUEUE_URL`.
pub fn relay(cfg: &Common, c: &Clients) -> Option<Relay> {
    let url = cfg.webhooks.queue_url.as_ref()?;
    Some(Relay::new(
        c.pool.clone(),
        SqsQueue::new(c.sqs.clone(), url.clone()),
    ))
}

/// The webhooks function's handler; `None` without `WEBHOOK_QUEUE_URL`.
pub fn webhook_sender(cfg: &Common, c: &Clients) -> Result<Option<Sender>, reqwest::Error> {
    let Some(url) = cfg.webhooks.queue_url.as_ref() else {
        return Ok(None);
    };
    Sender::new(
        c.pool.clone(),
        SqsQueue::new(c.sqs.clone(), url.clone()),
        WebhookUrlPolicy::new(cfg.webhooks.allow_http_loopback),
        SenderSettings::from_config(&cfg.webhooks),
    )
    .map(Some)
}

/// The OCR queues, high priority first.
pub fn ocr_queues(cfg: &Common, c: &Clients) -> PriorityQueues {
    PriorityQueues::new(&c.sqs, &cfg.queues.ocr_high, &cfg.queues.ocr)
}

pub fn ingest(cfg: &Common, c: &Clients) -> Ingest {
    let storage = &cfg.storage;
    Ingest {
        repo: ReceiptRepository::new(c.pool.clone()),
        storage: S3Storage::new(c.s3.clone(), storage.bucket.clone()),
        ocr_queues: ocr_queues(cfg, c),
        bucket: storage.bucket.clone(),
        upload_prefix: storage.upload_prefix.clone(),
        max_bytes: storage
            .max_direct_upload_bytes
            .max(storage.max_upload_bytes),
        auto_ocr: cfg.processing.auto_ocr,
        metrics: Metrics::new("ingest"),
        relay: relay(cfg, c),
    }
}

pub fn reconciler(cfg: &Common, c: &Clients) -> Reconciler {
    Reconciler {
        repo: ReceiptRepository::new(c.pool.clone()),
        ocr_queues: ocr_queues(cfg, c),
        queued_after: cfg.processing.reconcile_queued_after,
        batch: 500,
        events: EventLog::new(c.pool.clone()),
        event_retention: cfg.processing.event_retention,
        relay: relay(cfg, c),
        eraser: crate::flow::erase::Eraser::new(
            ReceiptRepository::new(c.pool.clone()),
            S3Storage::new(c.s3.clone(), cfg.storage.bucket.clone()),
        ),
        retention_days: cfg.processing.receipt_retention_days,
    }
}

/// How often the local runner runs the reconciler (AWS: a schedule).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);
