//! Test harness: a fresh Postgres database, fresh SQS queues and a fresh S3
//! bucket on LocalStack for every test, and the app's Router built on them.
//! Nothing is mocked: the settings come from `.local/env` (written by
//! `infra/up.sh`, which `infra/test.sh` runs first).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::AppState;
use aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use axum::Router;
use shared::config::{ApiConfig, AuthConfig, Secret};
use shared::domain::UserId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

pub mod agent;
pub mod bench;
pub mod browser;
pub mod coldstart;
mod inspect;
pub mod pipeline;
pub mod render;
mod requests;
mod resources;
pub mod runtime;
pub mod sse;
pub mod stack;

pub use inspect::{proc_status, queue_arn, queue_attributes, wait_until};
pub use requests::{Part, Response, multipart_body, png_bytes, post_presigned};
pub use resources::Resources;
use resources::queue_with_dlq;

pub const SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

/// Reads `.local/env` into the process environment once (values already set win).
fn load_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.local/env");
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                let line = line.trim();
                if line.starts_with('#') || line.is_empty() {
                    continue;
                }
                if let Some((k, v)) = line.split_once('=')
                    && std::env::var_os(k).is_none()
                {
                    // SAFETY: set once, before any test thread reads the environment.
                    unsafe { std::env::set_var(k, v) };
                }
            }
        }
    });
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with ./infra/test.sh (it starts Postgres and LocalStack)")
    })
}

/// Counts SDK operations by name (SendMessageBatch, …) as they are executed.
#[derive(Debug, Default, Clone)]
pub struct CallCounter(Arc<Mutex<HashMap<String, usize>>>);

impl CallCounter {
    pub fn get(&self, op: &str) -> usize {
        self.0.lock().unwrap().get(op).copied().unwrap_or(0)
    }
    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }
    // Once per operation (not per retry attempt), after the operation's
    // metadata is in the config bag.
    fn read_before_serialization(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            *self
                .0
                .lock()
                .unwrap()
                .entry(m.name().to_owned())
                .or_default() += 1;
        }
        Ok(())
    }
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub pool: PgPool,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub calls: CallCounter,
    pub bucket: String,
    pub ocr_queue_url: String,
    pub ocr_dlq_url: String,
    pub ocr_high_queue_url: String,
    pub ocr_high_dlq_url: String,
    pub ingest_queue_url: String,
    pub ingest_dlq_url: String,
    pub config: ApiConfig,
    /// The bearer token the worker's agent client sends (`AGENT_TOKEN`).
    pub agent_token: Option<Secret>,
}

pub struct Options {
    pub max_upload_bytes: u64,
    pub process_all_max: u32,
    pub auth: AuthConfig,
    pub auto_ocr: bool,
    /// Run on these instead of fresh per-test queues and bucket.
    pub resources: Option<Resources>,
    /// maxReceiveCount of fresh queues.
    pub max_receive_count: u32,
    /// A webhook queue (and its DLQ) for the test, with the retry schedule
    /// `WEBHOOK_SCHEDULE` and local mode on (webhook receivers in tests
    /// listen on 127.0.0.1 over plain http).
    pub webhooks: bool,
    /// The page's development sign-in (`DEV_SIGN_IN`).
    pub dev_sign_in: bool,
    /// Cap of a presigned upload, when it differs from `max_upload_bytes`.
    pub max_direct_upload_bytes: Option<u64>,
    /// The page's hosted sign-in (`COGNITO_DOMAIN`, `COGNITO_CLIENT_ID`).
    pub hosted_sign_in: Option<shared::config::HostedSignIn>,
    /// Per-user limits; off unless a test is about them.
    pub limits: shared::config::LimitSettings,
}

/// The webhook retry schedule in tests.
pub const WEBHOOK_SCHEDULE: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(1),
    Duration::from_secs(1),
];

impl Default for Options {
    fn default() -> Self {
        Self {
            max_upload_bytes: 5 * 1024 * 1024,
            process_all_max: 500,
            auth: AuthConfig::Jwt {
                secret: Secret::new(SECRET),
                issuer: None,
                audience: None,
            },
            auto_ocr: true,
            resources: None,
            max_receive_count: MAX_RECEIVE_COUNT,
            webhooks: false,
            dev_sign_in: false,
            max_direct_upload_bytes: None,
            hosted_sign_in: None,
            limits: shared::config::LimitSettings::OFF,
        }
    }
}

/// Receives before a message goes to the DLQ, in tests.
pub const MAX_RECEIVE_COUNT: u32 = 3;
/// The OCR queue's visibility timeout in tests (a dead worker's message comes back after it).
pub const VISIBILITY_TIMEOUT_SECS: u32 = 4;
/// The subject allowed to redrive in tests.
pub const ADMIN: &str = "admin";

fn unique(prefix: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{secs}_{}", &id[..12])
}

/// A fresh database with the migrations applied. Test databases older than
/// an hour (left by earlier runs) are dropped on the way.
pub async fn fresh_database() -> PgPool {
    load_env();
    let admin_opts =
        PgConnectOptions::from_str(&required("DATABASE_URL")).expect("DATABASE_URL parses");
    let mut admin = admin_opts
        .connect()
        .await
        .expect("Postgres answers at DATABASE_URL");
    let name = unique("t_");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let cutoff = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let stale: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    for db in stale {
        let ts = db.split('_').nth(1).and_then(|s| s.parse::<u64>().ok());
        if ts.is_some_and(|t| t < cutoff) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect_with(admin_opts.database(&name))
        .await
        .expect("connect to test database");
    shared::db::MIGRATOR
        .run(&pool)
        .await
        .expect("migrations apply");
    pool
}

/// The app's configuration for a test, before its queues and bucket are
/// known.
fn base_config(endpoint: &str) -> ApiConfig {
    ApiConfig::from_lookup(&|k| match k {
        "DATABASE_URL" => Some(required("DATABASE_URL")),
        "OCR_QUEUE_URL" | "OCR_DLQ_URL" | "OCR_HIGH_QUEUE_URL" | "OCR_HIGH_DLQ_URL" => {
            Some("set-below".into())
        }
        "RECEIPTS_BUCKET" => Some("set-below".into()),
        "AUTH_MODE" => Some("apigateway".into()),
        "AWS_ENDPOINT_URL" => Some(endpoint.to_owned()),
        "AWS_REGION" => Some(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into())),
        _ => None,
    })
    .expect("test config")
}

/// The test's queues, bucket and options in its configuration.
fn apply(config: &mut ApiConfig, res: &Resources, opts: Options) {
    config.common.queues.ocr = res.ocr_queue_url.clone();
    config.common.queues.ocr_dlq = res.ocr_dlq_url.clone();
    config.common.queues.ocr_high = res.ocr_high_queue_url.clone();
    config.common.queues.ocr_high_dlq = res.ocr_high_dlq_url.clone();
    config.api.limits = opts.limits;
    config.common.storage.bucket = res.bucket.clone();
    config.common.storage.max_upload_bytes = opts.max_upload_bytes;
    config.common.storage.max_direct_upload_bytes = opts
        .max_direct_upload_bytes
        .unwrap_or(opts.max_upload_bytes);
    config.api.dev_sign_in = opts.dev_sign_in;
    config.api.hosted_sign_in = opts.hosted_sign_in;
    config.api.process_all_max = opts.process_all_max;
    config.api.auth = opts.auth;
    config.common.processing.auto_ocr = opts.auto_ocr;
    config.common.queues.ingest = Some(res.ingest_queue_url.clone());
    config.common.queues.max_receive_count = res.max_receive_count;
    config.api.admin_users = vec![ADMIN.to_owned()];
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(mut opts: Options) -> Self {
        let pool = fresh_database().await;
        let endpoint = required("AWS_ENDPOINT_URL");
        let base = base_config(&endpoint);
        let sdk = shared::aws::sdk_config(&base.common.aws).await;
        let calls = CallCounter::default();
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let s3 = shared::aws::s3_client(&sdk, true);

        let res = match opts.resources.take() {
            Some(res) => res,
            None => Resources::create(&sqs, &s3, opts.max_receive_count).await,
        };
        let mut config = base;
        let webhooks = opts.webhooks;
        apply(&mut config, &res, opts);
        if webhooks {
            let name = unique("t-").replace('_', "-");
            let (url, _dlq) =
                queue_with_dlq(&sqs, &format!("{name}-webhooks"), MAX_RECEIVE_COUNT).await;
            config.common.webhooks.queue_url = Some(url);
            config.common.webhooks.allow_http_loopback = true;
            config.common.webhooks.retry_schedule = WEBHOOK_SCHEDULE.to_vec();
        }

        let state = AppState::new(
            config.clone(),
            shared::wiring::Clients {
                pool: pool.clone(),
                s3: s3.clone(),
                sqs: sqs.clone(),
                credentials: sdk.credentials_provider(),
            },
        );
        let router = state.clone().router();
        calls.reset();
        Self {
            state,
            router,
            pool,
            sqs,
            s3,
            calls,
            bucket: res.bucket,
            ocr_queue_url: res.ocr_queue_url,
            ocr_dlq_url: res.ocr_dlq_url,
            ocr_high_queue_url: res.ocr_high_queue_url,
            ocr_high_dlq_url: res.ocr_high_dlq_url,
            ingest_queue_url: res.ingest_queue_url,
            ingest_dlq_url: res.ingest_dlq_url,
            config,
            agent_token: None,
        }
    }

    /// Serves the Router on 127.0.0.1 (a port of its own) for a real
    /// client, a browser say; returns its base URL, ending in `/`.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        format!("http://{addr}/")
    }

    /// The URL of this test's database (for a process the test starts).
    pub async fn database_url(&self) -> String {
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&self.pool)
            .await
            .unwrap();
        let mut url = url::Url::parse(&required("DATABASE_URL")).expect("DATABASE_URL parses");
        url.set_path(&format!("/{name}"));
        url.to_string()
    }

    pub fn token(&self, sub: &str) -> String {
        shared::auth::mint_hs256(
            &UserId::parse(sub).unwrap(),
            &Secret::new(SECRET),
            std::time::Duration::from_secs(600),
            None,
            None,
        )
    }
}
