//! Test harness: a fresh Postgres database, fresh SQS queues and a fresh S3
//! bucket on LocalStack for every test, and the app's Router built on them.
//! Nothing is mocked: the settings come from `.local/env` (written by
//! `infra/up.sh`, which `infra/test.sh` runs first).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::AppState;
use aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::config::{AuthConfig, Config, Role, Secret};
use shared::domain::UserId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use tower::ServiceExt;

pub mod agent;
pub mod browser;
pub mod coldstart;
pub mod pipeline;
pub mod render;
pub mod runtime;
pub mod sse;
pub mod stack;

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
    pub config: Config,
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
    pub limits: shared::limits::LimitSettings,
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
            limits: shared::limits::LimitSettings::OFF,
        }
    }
}

/// The queues and bucket a test runs on: made for the test (short
/// timeouts, see [`MAX_RECEIVE_COUNT`]), or those of a stack made from
/// template.yaml ([`stack::Stack`]).
#[derive(Clone, Debug)]
pub struct Resources {
    pub bucket: String,
    pub ocr_queue_url: String,
    pub ocr_dlq_url: String,
    pub ocr_high_queue_url: String,
    pub ocr_high_dlq_url: String,
    pub ingest_queue_url: String,
    pub ingest_dlq_url: String,
    pub max_receive_count: u32,
}

impl Resources {
    /// Fresh queues (with DLQs and redrive policies) and a bucket notifying
    /// the ingest queue of uploads, named for one test.
    async fn create(
        sqs: &aws_sdk_sqs::Client,
        s3: &aws_sdk_s3::Client,
        max_receive_count: u32,
    ) -> Self {
        let name = unique("t-").replace('_', "-");
        let (ocr_url, dlq_url) =
            queue_with_dlq(sqs, &format!("{name}-ocr"), max_receive_count).await;
        let (ocr_high_queue_url, ocr_high_dlq_url) =
            queue_with_dlq(sqs, &format!("{name}-ocr-high"), max_receive_count).await;
        let (ingest_url, ingest_dlq_url) =
            queue_with_dlq(sqs, &format!("{name}-ingest"), max_receive_count).await;
        let ingest_arn = queue_arn(sqs, &ingest_url).await;
        let bucket = name.to_lowercase();
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        // Uploads notify the ingest queue, as the template sets it up for the local stack.
        use aws_sdk_s3::types::{
            Event, FilterRule, FilterRuleName, NotificationConfiguration,
            NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
        };
        s3.put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .queue_arn(&ingest_arn)
                            .events(Event::from("s3:ObjectCreated:*"))
                            .filter(
                                NotificationConfigurationFilter::builder()
                                    .key(
                                        S3KeyFilter::builder()
                                            .filter_rules(
                                                FilterRule::builder()
                                                    .name(FilterRuleName::Prefix)
                                                    .value("uploads/")
                                                    .build(),
                                            )
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("bucket notification");
        // The page's presigned POSTs from a browser, as the template allows them.
        use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
        s3.put_bucket_cors()
            .bucket(&bucket)
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(
                        CorsRule::builder()
                            .allowed_methods("POST")
                            .allowed_origins("*")
                            .allowed_headers("*")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("bucket CORS");
        Self {
            bucket,
            ocr_queue_url: ocr_url,
            ocr_dlq_url: dlq_url,
            ocr_high_queue_url,
            ocr_high_dlq_url,
            ingest_queue_url: ingest_url,
            ingest_dlq_url,
            max_receive_count,
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
    shared::repo::MIGRATOR
        .run(&pool)
        .await
        .expect("migrations apply");
    pool
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        let pool = fresh_database().await;
        let endpoint = required("AWS_ENDPOINT_URL");
        let base = Config::from_lookup(Role::Api, &|k| match k {
            "DATABASE_URL" => Some(required("DATABASE_URL")),
            "OCR_QUEUE_URL" | "OCR_DLQ_URL" | "OCR_HIGH_QUEUE_URL" | "OCR_HIGH_DLQ_URL" => {
                Some("set-below".into())
            }
            "RECEIPTS_BUCKET" => Some("set-below".into()),
            "AUTH_MODE" => Some("apigateway".into()),
            "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
            "AWS_REGION" => {
                Some(std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()))
            }
            _ => None,
        })
        .expect("test config");
        let sdk = shared::aws::sdk_config(&base).await;
        let calls = CallCounter::default();
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let s3 = shared::aws::s3_client(&sdk, true);

        let res = match opts.resources {
            Some(res) => res,
            None => Resources::create(&sqs, &s3, opts.max_receive_count).await,
        };
        let mut config = base;
        config.ocr_queue_url = res.ocr_queue_url.clone();
        config.ocr_dlq_url = res.ocr_dlq_url.clone();
        config.ocr_high_queue_url = res.ocr_high_queue_url.clone();
        config.ocr_high_dlq_url = res.ocr_high_dlq_url.clone();
        config.limits = opts.limits;
        config.receipts_bucket = res.bucket.clone();
        config.max_upload_bytes = opts.max_upload_bytes;
        config.max_direct_upload_bytes = opts
            .max_direct_upload_bytes
            .unwrap_or(opts.max_upload_bytes);
        config.dev_sign_in = opts.dev_sign_in;
        config.hosted_sign_in = opts.hosted_sign_in;
        config.process_all_max = opts.process_all_max;
        config.auth = opts.auth;
        config.auto_ocr = opts.auto_ocr;
        config.ingest_queue_url = Some(res.ingest_queue_url.clone());
        config.max_receive_count = res.max_receive_count;
        config.admin_users = vec![ADMIN.to_owned()];
        if opts.webhooks {
            let name = unique("t-").replace('_', "-");
            let (url, _dlq) =
                queue_with_dlq(&sqs, &format!("{name}-webhooks"), MAX_RECEIVE_COUNT).await;
            config.webhook_queue_url = Some(url);
            config.webhook_allow_http_loopback = true;
            config.webhook_retry_schedule = WEBHOOK_SCHEDULE.to_vec();
        }

        let state = AppState::new(
            config.clone(),
            shared::app::Clients {
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

    /// Sends a request through the Router; returns status, headers and
    /// the body's bytes, whatever they are.
    pub async fn send_raw(&self, req: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes) {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes)
    }

    /// Sends a request through the Router; returns status, headers and JSON body.
    pub async fn send(&self, req: Request<Body>) -> Response {
        let (status, headers, bytes) = self.send_raw(req).await;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Response {
            status,
            headers,
            json,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut b = Request::get(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>) -> Response {
        let mut b = Request::post(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut b = Request::post(path).header("content-type", "application/json");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// `POST /receipts` with the given multipart parts.
    pub async fn upload_parts(&self, token: Option<&str>, parts: &[Part<'_>]) -> Response {
        self.upload_with("/receipts", token, &[], parts).await
    }

    /// A multipart POST to `path` (`/receipts?priority=high`, say) with
    /// extra headers (`Idempotency-Key`).
    pub async fn upload_with(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        parts: &[Part<'_>],
    ) -> Response {
        let (content_type, body) = multipart_body(parts);
        let mut b = Request::post(path).header("content-type", content_type);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// Uploads a valid PNG for `user` and returns the new receipt's id.
    pub async fn upload_png(&self, user: &str) -> i64 {
        let token = self.token(user);
        let r = self
            .upload_parts(
                Some(&token),
                &[Part::File {
                    name: "file",
                    file_name: "receipt.png",
                    content_type: "image/png",
                    bytes: &png_bytes(),
                }],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json["id"].as_i64().unwrap()
    }

    /// Inserts `n` pending receipts for `user` straight into the database
    /// (as uploads leave them), oldest first; returns their ids.
    pub async fn seed_pending(&self, user: &str, n: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for i in 0..n {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO receipts (user_id, bucket, object_key, file_name, content_type, size_bytes, created_at) \
                 VALUES ($1, $2, $3, $4, 'image/png', 100, now() - make_interval(secs => $5)) RETURNING id",
            )
            .bind(user)
            .bind(&self.bucket)
            .bind(format!("uploads/{user}/seed-{i}-{}.png", uuid::Uuid::new_v4()))
            .bind(format!("seed-{i}.png"))
            .bind((n - i) as f64)
            .fetch_one(&self.pool)
            .await
            .unwrap();
            ids.push(id);
        }
        ids
    }

    /// Like `seed_pending`, and each receipt's image is in the bucket.
    pub async fn seed_uploaded(&self, user: &str, n: usize) -> Vec<i64> {
        let ids = self.seed_pending(user, n).await;
        for id in &ids {
            let key: String = sqlx::query_scalar("SELECT object_key FROM receipts WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .unwrap();
            self.put_png(&key).await;
        }
        ids
    }

    /// Puts the test PNG at `key` in the test's bucket (as a client
    /// uploading straight to S3 would).
    pub async fn put_png(&self, key: &str) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(png_bytes().into())
            .send()
            .await
            .unwrap();
    }

    /// Asks for a presigned PUT as `user` and uploads the test PNG to it;
    /// returns the upload-url answer.
    pub async fn upload_png_presigned(&self, user: &str) -> Value {
        let r = self
            .post_json(
                "/receipts/upload-url",
                Some(&self.token(user)),
                &serde_json::json!({"content_type": "image/png"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        assert!(post_presigned(&r.json, png_bytes()).await.is_success());
        r.json
    }

    pub async fn status_of(&self, id: i64) -> String {
        sqlx::query_scalar("SELECT ocr_status FROM receipts WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The OCR message the system sends for a receipt (from its row).
    pub async fn ocr_job(&self, id: i64) -> shared::message::OcrMessage {
        let (user, bucket, key): (String, String, String) =
            sqlx::query_as("SELECT user_id, bucket, object_key FROM receipts WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .unwrap();
        shared::message::OcrMessage::new(
            shared::domain::ReceiptId::new(id).unwrap(),
            shared::domain::UserId::parse(&user).unwrap(),
            bucket,
            key,
        )
    }

    /// Every (id, status, updated_at) row: to check that nothing changed.
    pub async fn snapshot(&self) -> Vec<(i64, String, chrono::DateTime<chrono::Utc>)> {
        sqlx::query_as("SELECT id, ocr_status, updated_at FROM receipts ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    pub async fn set_status(&self, id: i64, status: &str, last_error: Option<&str>) {
        sqlx::query("UPDATE receipts SET ocr_status = $2, last_error = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(last_error)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// Receives every message on `queue_url` (and deletes it); returns bodies.
    pub async fn drain(&self, queue_url: &str) -> Vec<Value> {
        self.drain_raw(queue_url)
            .await
            .into_iter()
            .map(|(body, _)| serde_json::from_str(&body).unwrap())
            .collect()
    }

    /// Receives every message on `queue_url` (and deletes it); returns each
    /// body with its string message attributes.
    pub async fn drain_raw(&self, queue_url: &str) -> Vec<(String, BTreeMap<String, String>)> {
        let mut out = Vec::new();
        let mut empty_polls = 0;
        while empty_polls < 2 {
            let resp = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let msgs = resp.messages();
            if msgs.is_empty() {
                empty_polls += 1;
                continue;
            }
            for m in msgs {
                let attrs = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((m.body().unwrap_or_default().to_owned(), attrs));
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out
    }

    pub async fn object_keys(&self) -> Vec<String> {
        let resp = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap();
        resp.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

/// Waits until `done` answers true; panics saying `what` after `within`.
pub async fn wait_until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A queue `name` with the test timeouts, redriving to `name-dlq` after
/// [`MAX_RECEIVE_COUNT`] receives; returns (queue URL, DLQ URL).
async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as Attr;
    let create = |name: String| async move {
        sqs.create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("LocalStack answers (create {name}): {e}"))
            .queue_url
            .unwrap()
    };
    let dlq_url = create(format!("{name}-dlq")).await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let url = create(name.to_owned()).await;
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            Attr::RedrivePolicy,
            format!(
                r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#
            ),
        )
        .attributes(Attr::VisibilityTimeout, VISIBILITY_TIMEOUT_SECS.to_string())
        .send()
        .await
        .expect("queue attributes");
    (url, dlq_url)
}

/// A number from a process's `/proc/<pid>/status` (`"self"` for this
/// process): the first figure of `field`, e.g. `Threads` or `VmHWM` (KiB).
pub fn proc_status(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Every attribute of a queue.
pub async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> HashMap<aws_sdk_sqs::types::QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    queue_attributes(sqs, url)
        .await
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .expect("a queue has an ARN")
}

/// POSTs `body` to a presigned upload (an upload-url answer) as the form
/// S3 expects: every field it names, then the file. Returns S3's status.
pub async fn post_presigned(upload: &Value, body: Vec<u8>) -> reqwest::StatusCode {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in upload["fields"].as_object().expect("fields") {
        form = form.text(k.clone(), v.as_str().unwrap().to_owned());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(body).file_name("upload"),
    );
    assert_eq!(upload["method"], "POST");
    reqwest::Client::new()
        .post(upload["upload_url"].as_str().expect("upload_url"))
        .multipart(form)
        .send()
        .await
        .expect("S3 answers the presigned POST")
        .status()
}

pub struct Response {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub json: Value,
}

impl Response {
    /// Asserts the design's error shape and returns the code.
    pub fn error_code(&self) -> &str {
        let code = self.json["error"]["code"].as_str();
        let msg = self.json["error"]["message"].as_str();
        assert!(
            code.is_some() && msg.is_some_and(|m| !m.is_empty()),
            "not the JSON error shape: {}",
            self.json
        );
        code.unwrap()
    }
}

pub enum Part<'a> {
    File {
        name: &'a str,
        file_name: &'a str,
        content_type: &'a str,
        bytes: &'a [u8],
    },
    Text {
        name: &'a str,
        value: &'a str,
    },
}

pub fn multipart_body(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = format!("----test{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match p {
            Part::File {
                name,
                file_name,
                content_type,
                bytes,
            } => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
            Part::Text { name, value } => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                        .as_bytes(),
                );
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A real 2×2 grayscale PNG, built here (signature, IHDR, IDAT, a tEXt
/// comment unique to the call, IEND, with CRCs).
pub fn png_bytes() -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &d in data {
            a = (a + u32::from(d)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    }
    // Two rows of two gray pixels, each row led by filter type 0.
    let raw = [0u8, 0x00, 0xFF, 0u8, 0xFF, 0x00];
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    zlib.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&2u32.to_be_bytes());
    ihdr.extend_from_slice(&2u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib);
    // A comment unique to this call: two calls are two different files
    // (of one length), as two photos are, and not duplicates of each other.
    let comment = format!("Comment\0{}", uuid::Uuid::new_v4().simple());
    chunk(&mut png, b"tEXt", comment.as_bytes());
    chunk(&mut png, b"IEND", &[]);
    png
}
