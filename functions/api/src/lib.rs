//! The receipts API: an axum Router, served by `lambda_http::run` on Lambda
//! and by `axum::serve` locally. Handlers are thin: they parse, call the
//! shared `ReceiptService`, and shape the answer.

pub mod error;
mod extract;
mod handlers;
pub mod openapi;
mod page;
mod routes;
mod webhook_doc;

use std::sync::Arc;

use axum::Router;
use shared::aws::s3::S3Storage;
use shared::aws::sqs::{PriorityQueues, SqsQueue};
use shared::config::ApiConfig;
use shared::db::ReceiptRepository;
use shared::db::events::EventLog;
use shared::db::limits::Limits;
use shared::flow::service::ReceiptService;
use shared::flow::webhooks::{Relay, WebhookStore};
use shared::outbound::ssrf::WebhookUrlPolicy;
use shared::wiring::Clients;

pub use routes::{generate_openapi, router};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ApiConfig>,
    pub service: ReceiptService,
    pub webhooks: WebhookStore,
    /// Checks webhook URLs at registration.
    pub webhook_policy: WebhookUrlPolicy,
    /// Sends new webhook deliveries to the webhook queue after a change
    /// (none without `WEBHOOK_QUEUE_URL`).
    pub relay: Option<Relay>,
    /// The page's Content-Security-Policy, built once from the config.
    pub(crate) page_csp: axum::http::HeaderValue,
}

impl AppState {
    /// Wires the service from the pool and SDK clients built once in `main`.
    pub fn new(config: ApiConfig, clients: Clients) -> Self {
        let Clients {
            pool,
            s3,
            sqs,
            credentials,
        } = clients;
        let webhooks = WebhookStore::new(pool.clone());
        let relay = config
            .common
            .webhooks
            .queue_url
            .as_ref()
            .map(|url| Relay::new(pool.clone(), SqsQueue::new(sqs.clone(), url.clone())));
        let webhook_policy = WebhookUrlPolicy::new(config.common.webhooks.allow_http_loopback);
        let service = ReceiptService {
            repo: ReceiptRepository::new(pool.clone()),
            storage: S3Storage::new(s3, config.common.storage.bucket.clone())
                .with_credentials(credentials),
            ocr_queues: PriorityQueues::new(
                &sqs,
                &config.common.queues.ocr_high,
                &config.common.queues.ocr,
            ),
            ocr_dlqs: PriorityQueues::new(
                &sqs,
                &config.common.queues.ocr_high_dlq,
                &config.common.queues.ocr_dlq,
            ),
            limits: Limits::new(pool.clone(), config.api.limits),
            events: EventLog::new(pool.clone()),
            upload_prefix: config.common.storage.upload_prefix.clone(),
            max_upload_bytes: config.common.storage.max_upload_bytes,
            max_direct_upload_bytes: config.common.storage.max_direct_upload_bytes,
            presign_ttl: config.common.storage.presign_ttl,
        };
        Self {
            page_csp: page::content_security_policy(&config),
            config: Arc::new(config),
            service,
            webhooks,
            webhook_policy,
            relay,
        }
    }

    /// The state with its pool and AWS clients, built from the config
    /// without waiting on the network ([`Clients::new`]).
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let clients = Clients::new(&config.common).await?;
        Ok(Self::new(config, clients))
    }

    pub fn router(self) -> Router {
        router(self)
    }

    /// The Router as Lambda serves it: API Gateway's stage is not part of
    /// the routes, whatever the stage is called.
    pub fn lambda_service(
        self,
    ) -> impl tower::Service<
        lambda_http::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone {
        on_lambda(router(self))
    }

    /// The event stream alone (`GET /receipts/events`), as the streaming
    /// function serves it with `lambda_http::run_with_streaming_response`:
    /// a buffered handler under the streaming runner answers empty bodies
    /// (aws-lambda-rust-runtime#967), so the stream has a function of its
    /// own and the rest of the API stays buffered.
    pub fn lambda_stream_service(
        self,
    ) -> impl tower::Service<
        lambda_http::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone {
        on_lambda(routes::events_router(self))
    }
}

fn on_lambda(
    router: Router,
) -> impl tower::Service<
    lambda_http::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::ServiceBuilder::new()
        .map_request(without_stage)
        .service(router)
}

/// Puts the path API Gateway received (without the stage prefix that
/// lambda_http adds) back into the request URI, keeping the query.
pub fn without_stage(mut req: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::RequestExt;
    let raw = req.raw_http_path().to_owned();
    if raw.starts_with('/') && raw != req.uri().path() {
        let pq = match req.uri().query() {
            Some(q) => format!("{raw}?{q}"),
            None => raw,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}
