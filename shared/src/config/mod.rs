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

/// Which process reads the configuration: each needs only some of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API: needs the auth settings.
    Api,
    /// The OCR worker: needs `AGENT_URL`.
    Worker,
    /// Ingest and the reconciler.
    Background,
    /// The local runner: everything.
    All,
}

impl Role {
    fn needs_auth(self) -> bool {
        matches!(self, Role::Api | Role::All)
    }
    fn needs_agent(self) -> bool {
        matches!(self, Role::Worker | Role::All)
    }
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

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: Secret,
    pub database_max_connections: u32,
    /// The normal-priority OCR queue and its DLQ.
    pub ocr_queue_url: String,
    pub ocr_dlq_url: String,
    /// The high-priority OCR queue and its DLQ (`OCR_HIGH_QUEUE_URL`,
    /// `OCR_HIGH_DLQ_URL`).
    pub ocr_high_queue_url: String,
    pub ocr_high_dlq_url: String,
    pub ingest_queue_url: Option<String>,
    pub receipts_bucket: String,
    /// Key prefix that uploads go under (and that the S3 notification watches).
    pub upload_prefix: String,
    pub agent_url: Option<Url>,
    pub agent_timeout: Duration,
    /// Bearer token the agent requires (`AGENT_TOKEN`), if it requires one.
    pub agent_token: Option<Secret>,
    pub max_receive_count: u32,
    pub process_all_max: u32,
    pub auto_ocr: bool,
    pub max_upload_bytes: u64,
    /// Cap of a direct (presigned POST) upload, enforced by S3 through the
    /// policy and again by ingest (`MAX_DIRECT_UPLOAD_BYTES`, default
    /// `MAX_UPLOAD_BYTES`).
    pub max_direct_upload_bytes: u64,
    pub presign_ttl: Duration,
    pub auth: AuthConfig,
    pub aws_endpoint_url: Option<Url>,
    pub aws_region: Option<String>,
    pub api_bind: SocketAddr,
    /// Messages of one batch the worker processes at once.
    pub worker_concurrency: usize,
    /// Backoff after a first failed receive; doubles with each receive.
    pub retry_backoff_base: Duration,
    /// A receipt `queued` for longer is re-sent by the reconciler.
    pub reconcile_queued_after: Duration,
    /// Subjects allowed to run operator actions (redrive).
    pub admin_users: Vec<String>,
    /// Events and webhook deliveries older than this are pruned by the
    /// reconciler (`EVENT_RETENTION_HOURS`, default 7 days).
    pub event_retention: Duration,
    /// How often an open event stream looks for new events.
    pub events_poll: Duration,
    /// A comment line at least this often keeps an idle stream open
    /// (API Gateway closes one idle for 5 minutes).
    pub events_keepalive: Duration,
    /// A stream ends after this long (below the stream function's
    /// timeout); the client reconnects with `Last-Event-ID`.
    pub events_stream_max: Duration,
    /// The webhook queue (`WEBHOOK_QUEUE_URL`); without it no delivery
    /// leaves (they wait in the database).
    pub webhook_queue_url: Option<String>,
    /// Local mode: plain http to a loopback address is allowed for webhook
    /// URLs (`WEBHOOK_ALLOW_HTTP_LOOPBACK`, off by default).
    pub webhook_allow_http_loopback: bool,
    /// Waits between tries of a delivery (`WEBHOOK_RETRY_SCHEDULE`,
    /// Standard Webhooks' `5s,5m,30m,2h,5h,10h,10h`).
    pub webhook_retry_schedule: Vec<Duration>,
    /// An endpoint whose deliveries have all failed for this long is
    /// disabled (`WEBHOOK_DISABLE_AFTER_HOURS`, default 5 days).
    pub webhook_disable_after: Duration,
    /// One try's time limit (`WEBHOOK_TIMEOUT_SECS`, default 15).
    pub webhook_timeout: Duration,
    /// The page's development sign-in (`DEV_SIGN_IN`): type a user name,
    /// get a token for it signed with the local secret. Off by default;
    /// refused with `AUTH_MODE=apigateway`, where there is no local secret.
    pub dev_sign_in: bool,
    /// The page's "Sign in with Cognito": the user pool's hosted sign-in
    /// (`COGNITO_DOMAIN`, e.g. `https://myapp.auth.eu-west-1.amazoncognito.com`)
    /// and a public app client of it (`COGNITO_CLIENT_ID`), both or neither.
    pub hosted_sign_in: Option<HostedSignIn>,
    /// Per-user limits (`RATE_UPLOADS_PER_MINUTE`, default 120;
    /// `RATE_QUEUED_PER_MINUTE`, default 600; `MAX_IN_FLIGHT_PER_USER`,
    /// default 1000; 0 turns one off).
    pub limits: LimitSettings,
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

impl Config {
    /// Reads the process environment.
    pub fn from_env(role: Role) -> Result<Self, ConfigError> {
        Self::from_lookup(role, &|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        role: Role,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let (database_url, database_max_connections) = r.database();
        let (ocr_queue_url, ocr_dlq_url, ocr_high_queue_url, ocr_high_dlq_url) = r.ocr_queues();
        let (
            receipts_bucket,
            upload_prefix,
            max_upload_bytes,
            max_direct_upload_bytes,
            presign_ttl,
        ) = r.storage();
        let (agent_url, agent_token, agent_timeout) = r.agent(role);
        let (max_receive_count, process_all_max, auto_ocr) = r.queueing();
        let (worker_concurrency, retry_backoff_base, reconcile_queued_after) = r.processing();
        let auth = r.auth(role);
        let (aws_endpoint_url, aws_region, api_bind) = r.runtime();
        let (event_retention, events_poll, events_keepalive, events_stream_max) = r.events();
        let webhooks = r.webhooks();
        let (dev_sign_in, hosted_sign_in) = r.sign_in(&auth);
        let config = Self {
            database_url: Secret::new(database_url),
            database_max_connections,
            ocr_queue_url,
            ocr_dlq_url,
            ocr_high_queue_url,
            ocr_high_dlq_url,
            ingest_queue_url: r.optional("INGEST_QUEUE_URL"),
            receipts_bucket,
            upload_prefix,
            agent_url,
            agent_timeout,
            agent_token,
            max_receive_count,
            process_all_max,
            auto_ocr,
            max_upload_bytes,
            max_direct_upload_bytes,
            presign_ttl,
            auth,
            aws_endpoint_url,
            aws_region,
            api_bind,
            worker_concurrency,
            retry_backoff_base,
            reconcile_queued_after,
            admin_users: r.admin_users(),
            event_retention,
            events_poll,
            events_keepalive,
            events_stream_max,
            webhook_queue_url: webhooks.queue_url,
            webhook_allow_http_loopback: webhooks.allow_http_loopback,
            webhook_retry_schedule: webhooks.retry_schedule,
            webhook_disable_after: webhooks.disable_after,
            webhook_timeout: webhooks.timeout,
            dev_sign_in,
            hosted_sign_in,
            limits: r.limits(),
        };
        if r.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                problems: r.problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                "DATABASE_URL",
                "postgres://u:hunter2@localhost/db".to_owned(),
            ),
            (
                "OCR_QUEUE_URL",
                "http://localhost:4566/000000000000/ocr".to_owned(),
            ),
            (
                "OCR_DLQ_URL",
                "http://localhost:4566/000000000000/ocr-dlq".to_owned(),
            ),
            (
                "OCR_HIGH_QUEUE_URL",
                "http://localhost:4566/000000000000/ocr-high".to_owned(),
            ),
            (
                "OCR_HIGH_DLQ_URL",
                "http://localhost:4566/000000000000/ocr-high-dlq".to_owned(),
            ),
            ("RECEIPTS_BUCKET", "receipts".to_owned()),
            ("AUTH_JWT_SECRET", SECRET.to_owned()),
        ])
    }

    fn load(env: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(Role::Api, &|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_design() {
        let cfg = load(&base()).unwrap();
        assert_eq!(cfg.agent_timeout, Duration::from_secs(300));
        assert!(cfg.auto_ocr);
        assert_eq!(cfg.process_all_max, DEFAULT_PROCESS_ALL_MAX);
        assert_eq!(cfg.upload_prefix, "uploads/");
        assert!(matches!(cfg.auth, AuthConfig::Jwt { .. }));
        assert_eq!(
            cfg.webhook_retry_schedule,
            [5, 300, 1800, 7200, 18000, 36000, 36000].map(Duration::from_secs)
        );
        assert!(!cfg.webhook_allow_http_loopback);
        assert_eq!(cfg.events_keepalive, Duration::from_secs(15));
    }

    #[test]
    fn the_dev_sign_in_is_off_by_default_and_refused_behind_api_gateway() {
        assert!(!load(&base()).unwrap().dev_sign_in);
        let mut env = base();
        env.insert("DEV_SIGN_IN", "true".to_owned());
        assert!(load(&env).unwrap().dev_sign_in);
        env.insert("AUTH_MODE", "apigateway".to_owned());
        env.remove("AUTH_JWT_SECRET");
        let err = load(&env).unwrap_err().to_string();
        assert!(
            err.contains("DEV_SIGN_IN=true needs AUTH_MODE=jwt"),
            "{err}"
        );
        env.insert("DEV_SIGN_IN", "false".to_owned());
        assert!(load(&env).is_ok());
    }

    #[test]
    fn the_hosted_sign_in_needs_both_settings_and_https() {
        assert_eq!(load(&base()).unwrap().hosted_sign_in, None);
        let mut env = base();
        env.insert("COGNITO_CLIENT_ID", "abc123".to_owned());
        let err = load(&env).unwrap_err().to_string();
        assert!(err.contains("go together"), "{err}");
        env.insert("COGNITO_DOMAIN", "http://login.example.com".to_owned());
        let err = load(&env).unwrap_err().to_string();
        assert!(err.contains("COGNITO_DOMAIN must be an https URL"), "{err}");
        env.insert("COGNITO_DOMAIN", "https://login.example.com/".to_owned());
        let h = load(&env).unwrap().hosted_sign_in.unwrap();
        assert_eq!(
            h.authorize_url(),
            "https://login.example.com/oauth2/authorize"
        );
        assert_eq!(h.token_url(), "https://login.example.com/oauth2/token");
        assert_eq!(h.client_id, "abc123");
    }

    #[test]
    fn a_bad_webhook_schedule_is_refused() {
        let mut env = base();
        env.insert("WEBHOOK_RETRY_SCHEDULE", "5s,soon".to_owned());
        let err = load(&env).unwrap_err();
        assert!(err.to_string().contains("WEBHOOK_RETRY_SCHEDULE"), "{err}");
        env.insert("WEBHOOK_RETRY_SCHEDULE", "1s, 2s,500ms".to_owned());
        assert_eq!(
            load(&env).unwrap().webhook_retry_schedule,
            [
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_millis(500)
            ]
        );
    }

    #[test]
    fn an_agent_token_is_optional_but_never_short_or_printed() {
        assert!(load(&base()).unwrap().agent_token.is_none());
        let mut env = base();
        env.insert("AGENT_TOKEN", "short".to_owned());
        let err = load(&env).unwrap_err().to_string();
        assert!(err.contains("AGENT_TOKEN must be at least 32"), "{err}");
        assert!(!err.contains("short"), "{err}");
        env.insert("AGENT_TOKEN", "t".repeat(40));
        let cfg = load(&env).unwrap();
        assert_eq!(cfg.agent_token.as_ref().unwrap().expose(), "t".repeat(40));
        assert!(!format!("{cfg:?}").contains(&"t".repeat(40)));
    }

    #[test]
    fn reports_every_missing_variable_by_name() {
        let err = load(&HashMap::new()).unwrap_err();
        let msg = err.to_string();
        for name in [
            "DATABASE_URL",
            "OCR_QUEUE_URL",
            "OCR_DLQ_URL",
            "OCR_HIGH_QUEUE_URL",
            "OCR_HIGH_DLQ_URL",
            "RECEIPTS_BUCKET",
            "AUTH_JWT_SECRET",
        ] {
            assert!(msg.contains(name), "{msg} should name {name}");
        }
    }

    #[test]
    fn rejects_bad_values_by_name() {
        let mut env = base();
        env.insert("AGENT_TIMEOUT_SECS", "soon".to_owned());
        env.insert("PROCESS_ALL_MAX", "0".to_owned());
        env.insert("AUTO_OCR", "maybe".to_owned());
        env.insert("RATE_QUEUED_PER_MINUTE", "-1".to_owned());
        env.insert("AGENT_URL", "not a url".to_owned());
        let err = load(&env).unwrap_err();
        assert_eq!(err.problems.len(), 5, "{err}");
        let msg = err.to_string();
        for name in [
            "AGENT_TIMEOUT_SECS",
            "PROCESS_ALL_MAX",
            "AUTO_OCR",
            "RATE_QUEUED_PER_MINUTE",
            "AGENT_URL",
        ] {
            assert!(msg.contains(name), "{msg} should name {name}");
        }
    }

    #[test]
    fn secrets_are_never_printed() {
        let mut env = base();
        env.insert("DATABASE_URL", "mysql://u:hunter2@h/db".to_owned());
        let err = load(&env).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");

        let cfg = load(&base()).unwrap();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!dbg.contains(SECRET), "{dbg}");
    }

    #[test]
    fn each_role_needs_only_its_own_settings() {
        let mut env = base();
        env.remove("AUTH_JWT_SECRET");
        let worker = Config::from_lookup(Role::Worker, &|k| env.get(k).cloned()).unwrap_err();
        assert_eq!(worker.problems, vec!["AGENT_URL is not set".to_owned()]);
        env.insert("AGENT_URL", "http://127.0.0.1:8002".to_owned());
        assert!(Config::from_lookup(Role::Worker, &|k| env.get(k).cloned()).is_ok());
        assert!(Config::from_lookup(Role::Background, &|k| env.get(k).cloned()).is_ok());
        let all = Config::from_lookup(Role::All, &|k| env.get(k).cloned()).unwrap_err();
        assert!(all.to_string().contains("AUTH_JWT_SECRET"));
    }

    #[test]
    fn short_jwt_secret_is_refused_and_apigateway_mode_needs_none() {
        let mut env = base();
        env.insert("AUTH_JWT_SECRET", "short".to_owned());
        assert!(load(&env).unwrap_err().to_string().contains("at least 32"));
        env.remove("AUTH_JWT_SECRET");
        env.insert("AUTH_MODE", "apigateway".to_owned());
        assert_eq!(load(&env).unwrap().auth, AuthConfig::ApiGateway);
    }
}
