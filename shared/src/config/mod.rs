//! Typed configuration, read once from the environment at start-up.
//!
//! Every problem is reported at once, naming the variable, and secrets
//! (the database password, the JWT secret) never appear in messages or in
//! `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

mod read;

use read::Reader;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the API learns who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthConfig {
    /// The server verifies `Authorization: Bearer <JWT>` itself (HS256).
    Jwt {
        secret: Secret,
        issuer: Option<String>,
        audience: Option<String>,
    },
    /// API Gateway's authorizer has verified the token; the function reads
    /// the verified claims from the request context.
    ApiGateway,
}

/// The per-user limits; 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    pub uploads_per_minute: u32,
    pub queued_per_minute: u32,
    pub max_in_flight: u32,
}

impl LimitSettings {
    pub const OFF: LimitSettings = LimitSettings {
        uploads_per_minute: 0,
        queued_per_minute: 0,
        max_in_flight: 0,
    };
}

/// Postgres (`DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`).
#[derive(Clone, Debug)]
pub struct Database {
    pub url: Secret,
    pub max_connections: u32,
}

/// Where the AWS SDK goes (`AWS_ENDPOINT_URL`: LocalStack) and its region.
#[derive(Clone, Debug)]
pub struct Aws {
    pub endpoint_url: Option<Url>,
    pub region: Option<String>,
}

/// The queues, and how often a message is received before its DLQ.
#[derive(Clone, Debug)]
pub struct Queues {
    /// The normal-priority OCR queue and its DLQ (`OCR_QUEUE_URL`, `OCR_DLQ_URL`).
    pub ocr: String,
    pub ocr_dlq: String,
    /// The high-priority OCR queue and its DLQ (`OCR_HIGH_QUEUE_URL`,
    /// `OCR_HIGH_DLQ_URL`).
    pub ocr_high: String,
    pub ocr_high_dlq: String,
    /// S3 events come through it (`INGEST_QUEUE_URL`; the local runner polls it).
    pub ingest: Option<String>,
    pub max_receive_count: u32,
}

/// The bucket, and how large an upload may be.
#[derive(Clone, Debug)]
pub struct Storage {
    pub bucket: String,
    /// Key prefix that uploads go under (and that the S3 notification watches).
    pub upload_prefix: String,
    pub max_upload_bytes: u64,
    /// Cap of a direct (presigned POST) upload, enforced by S3 through the
    /// policy and again by ingest (`MAX_DIRECT_UPLOAD_BYTES`, default
    /// `MAX_UPLOAD_BYTES`).
    pub max_direct_upload_bytes: u64,
    pub presign_ttl: Duration,
}

/// How receipts move through the pipeline.
#[derive(Clone, Debug)]
pub struct Processing {
    /// Messages of one batch the worker processes at once.
    pub worker_concurrency: usize,
    /// Backoff after a first failed receive; doubles with each receive.
    pub retry_backoff_base: Duration,
    /// A receipt `queued` for longer is re-sent by the reconciler.
    pub reconcile_queued_after: Duration,
    /// An upload is queued for OCR by itself (`AUTO_OCR`).
    pub auto_ocr: bool,
    /// Events and webhook deliveries older than this are pruned by the
    /// reconciler (`EVENT_RETENTION_HOURS`, default 7 days).
    pub event_retention: Duration,
    /// Receipts uploaded more than this many days ago are deleted by the
    /// reconciler, images included (`RECEIPT_RETENTION_DAYS`; default off).
    pub receipt_retention_days: Option<u32>,
}

/// Webhook delivery.
#[derive(Clone, Debug)]
pub struct Webhooks {
    /// The webhook queue (`WEBHOOK_QUEUE_URL`); without it no delivery
    /// leaves (they wait in the database).
    pub queue_url: Option<String>,
    /// Local mode: plain http to a loopback address is allowed for webhook
    /// URLs (`WEBHOOK_ALLOW_HTTP_LOOPBACK`, off by default).
    pub allow_http_loopback: bool,
    /// Waits between tries of a delivery (`WEBHOOK_RETRY_SCHEDULE`,
    /// Standard Webhooks' `5s,5m,30m,2h,5h,10h,10h`).
    pub retry_schedule: Vec<Duration>,
    /// An endpoint whose deliveries have all failed for this long is
    /// disabled (`WEBHOOK_DISABLE_AFTER_HOURS`, default 5 days).
    pub disable_after: Duration,
    /// One try's time limit (`WEBHOOK_TIMEOUT_SECS`, default 15).
    pub timeout: Duration,
}

/// What every function reads: ingest, the reconciler and the webhook
/// sender read nothing else.
#[derive(Clone, Debug)]
pub struct Common {
    pub database: Database,
    pub aws: Aws,
    pub queues: Queues,
    pub storage: Storage,
    pub processing: Processing,
    pub webhooks: Webhooks,
}

/// An open event stream's timing.
#[derive(Clone, Debug)]
pub struct Stream {
    /// How often an open event stream looks for new events.
    pub poll: Duration,
    /// A comment line at least this often keeps an idle stream open
    /// (API Gateway closes one idle for 5 minutes).
    pub keepalive: Duration,
    /// A stream ends after this long (below the stream function's
    /// timeout); the client reconnects with `Last-Event-ID`.
    pub max: Duration,
}

/// The API's own settings (the API and the event stream function).
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub auth: AuthConfig,
    pub bind: SocketAddr,
    /// Subjects allowed to run operator actions (redrive).
    pub admin_users: Vec<String>,
    /// The page's development sign-in (`DEV_SIGN_IN`): type a user name,
    /// get a token for it signed with the local secret. Off by default;
    /// refused with `AUTH_MODE=apigateway`, where there is no local secret.
    pub dev_sign_in: bool,
    /// The page's "Sign in with Cognito": the user pool's hosted sign-in
    /// (`COGNITO_DOMAIN`, e.g. `https://myapp.auth.eu-west-1.amazoncognito.com`)
    /// and a public app client of it (`COGNITO_CLIENT_ID`), both or neither.
    pub hosted_sign_in: Option<HostedSignIn>,
    pub process_all_max: u32,
    /// Per-user limits (`RATE_UPLOADS_PER_MINUTE`, default 120;
    /// `RATE_QUEUED_PER_MINUTE`, default 600; `MAX_IN_FLIGHT_PER_USER`,
    /// default 1000; 0 turns one off).
    pub limits: LimitSettings,
    pub stream: Stream,
}

/// The OCR agent the worker calls (`AGENT_URL`, `AGENT_TOKEN`,
/// `AGENT_TIMEOUT_SECS`).
#[derive(Clone, Debug)]
pub struct AgentSettings {
    pub url: Url,
    /// Bearer token the agent requires, if it requires one.
    pub token: Option<Secret>,
    pub timeout: Duration,
}

/// The API function's configuration (and the event stream function's).
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub common: Common,
    pub api: ApiSettings,
}

/// The OCR worker's configuration.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub common: Common,
    pub agent: AgentSettings,
}

/// The local runner's: it runs every function in one process.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    pub common: Common,
    pub api: ApiSettings,
    pub agent: AgentSettings,
}

/// An OAuth 2.0 authorization server the page signs in with (the
/// authorization code flow with PKCE, as Cognito's hosted sign-in runs it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostedSignIn {
    pub domain: Url,
    pub client_id: String,
}

impl HostedSignIn {
    pub fn authorize_url(&self) -> String {
        self.endpoint("oauth2/authorize")
    }
    pub fn token_url(&self) -> String {
        self.endpoint("oauth2/token")
    }
    fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.domain.as_str().trim_end_matches('/'))
    }
}

/// Standard Webhooks' retry schedule, after the first try.
pub const DEFAULT_WEBHOOK_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// `5s`, `5m`, `2h`, `1d`, or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (num, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Everything wrong with the environment, in one message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

pub const DEFAULT_AGENT_TIMEOUT_SECS: u64 = 300;
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
pub const DEFAULT_PROCESS_ALL_MAX: u32 = 500;
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_PRESIGN_TTL_SECS: u64 = 900;
pub const DEFAULT_UPLOAD_PREFIX: &str = "uploads/";
/// Shortest `AGENT_TOKEN` accepted (the template asks the same).
pub const MIN_AGENT_TOKEN_LEN: usize = 32;
/// Upper bound for `PROCESS_ALL_MAX`: one request never marks more.
pub const PROCESS_ALL_HARD_MAX: u32 = 10_000;

/// A variable lookup: the process environment, or a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads with `read`; every problem found is reported at once.
fn read_all<T>(
    lookup: Lookup<'_>,
    read: impl FnOnce(&mut Reader) -> Option<T>,
) -> Result<T, ConfigError> {
    let mut r = Reader {
        lookup,
        problems: Vec::new(),
    };
    let value = read(&mut r);
    match value {
        Some(v) if r.problems.is_empty() => Ok(v),
        _ => Err(ConfigError {
            problems: r.problems,
        }),
    }
}

impl Common {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        read_all(lookup, |r| Some(r.common()))
    }
}

impl ApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        read_all(lookup, |r| {
            Some(Self {
                common: r.common(),
                api: r.api(),
            })
        })
    }
}

impl WorkerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        read_all(lookup, |r| {
            let common = r.common();
            Some(Self {
                common,
                agent: r.agent()?,
            })
        })
    }
}

impl LocalConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env)
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        read_all(lookup, |r| {
            let common = r.common();
            let api = r.api();
            Some(Self {
                common,
                api,
                agent: r.agent()?,
            })
        })
    }

    /// The API's part of it.
    pub fn api_config(&self) -> ApiConfig {
        ApiConfig {
            common: self.common.clone(),
            api: self.api.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
