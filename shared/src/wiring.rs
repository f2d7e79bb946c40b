//! Wiring shared by every entry point (the Lambda functions, the local
//! runner, the tests): clients built once, and the handlers built on them.

use std::time::Duration;

use sqlx::PgPool;

use crate::aws::s3::S3Storage;
use crate::aws::sqs::{PriorityQueues, SqsQueue};
use crate::config::Config;
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
    pub async fn new(cfg: &Config) -> Result<Self, sqlx::Error> {
        let pool = crate::db::pool(cfg.database_url.expose(), cfg.database_max_connections)?;
        let sdk = crate::aws::sdk_config(cfg).await;
        Ok(Self {
            pool,
            s3: crate::aws::s3_client(&sdk, cfg.aws_endpoint_url.is_some()),
            sqs: crate::aws::sqs_client(&sdk),
            credentials: sdk.credentials_provider(),
        })
    }
}

/// The agent client of the configuration (`AGENT_URL`, `AGENT_TIMEOUT_SECS`,
/// `AGENT_TOKEN`); `None` without an `AGENT_URL`.
pub fn http_agent(cfg: &Config) -> Option<crate::outbound::agent::HttpAgent> {
    let url = cfg.agent_url.as_ref()?;
    Some(
        crate::outbound::agent::HttpAgent::new(url, cfg.agent_timeout)
            .with_bearer(cfg.agent_token.clone()),
    )
}

pub fn worker<A: Agent>(cfg: &Config, c: &Clients, agent: A) -> Worker<A> {
    Worker {
        repo: ReceiptRepository::new(c.pool.clone()),
        storage: S3Storage::new(c.s3.clone(), cfg.receipts_bucket.clone()),
        sqs: c.sqs.clone(),
        agent,
        settings: WorkerSettings::from_config(cfg),
        metrics: Metrics::new("worker"),
        relay: relay(cfg, c),
    }
}

/// The webhook relay, with `WEBHOOK_QUEUE_URL`.
pub fn relay(cfg: &Config, c: &Clients) -> Option<Relay> {
    let url = cfg.webhook_queue_url.as_ref()?;
    Some(Relay::new(
        c.pool.clone(),
        SqsQueue::new(c.sqs.clone(), url.clone()),
    ))
}

/// The webhooks function's handler; `None` without `WEBHOOK_QUEUE_URL`.
pub fn webhook_sender(cfg: &Config, c: &Clients) -> Result<Option<Sender>, reqwest::Error> {
    let Some(url) = cfg.webhook_queue_url.as_ref() else {
        return Ok(None);
    };
    Sender::new(
        c.pool.clone(),
        SqsQueue::new(c.sqs.clone(), url.clone()),
        WebhookUrlPolicy::new(cfg.webhook_allow_http_loopback),
        SenderSettings::from_config(cfg),
    )
    .map(Some)
}

pub fn ingest(cfg: &Config, c: &Clients) -> Ingest {
    Ingest {
        repo: ReceiptRepository::new(c.pool.clone()),
        ocr_queues: PriorityQueues::new(&c.sqs, &cfg.ocr_high_queue_url, &cfg.ocr_queue_url),
        bucket: cfg.receipts_bucket.clone(),
        upload_prefix: cfg.upload_prefix.clone(),
        max_bytes: cfg.max_direct_upload_bytes.max(cfg.max_upload_bytes),
        auto_ocr: cfg.auto_ocr,
        metrics: Metrics::new("ingest"),
        relay: relay(cfg, c),
    }
}

pub fn reconciler(cfg: &Config, c: &Clients) -> Reconciler {
    Reconciler {
        repo: ReceiptRepository::new(c.pool.clone()),
        ocr_queues: PriorityQueues::new(&c.sqs, &cfg.ocr_high_queue_url, &cfg.ocr_queue_url),
        queued_after: cfg.reconcile_queued_after,
        batch: 500,
        events: EventLog::new(c.pool.clone()),
        event_retention: cfg.event_retention,
        relay: relay(cfg, c),
    }
}

/// How often the local runner runs the reconciler (AWS: a schedule).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);
