//! Reading the environment: each variable with its checks, by group.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::{
    AuthConfig, DEFAULT_AGENT_TIMEOUT_SECS, DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PRESIGN_TTL_SECS, DEFAULT_PROCESS_ALL_MAX, DEFAULT_UPLOAD_PREFIX,
    DEFAULT_WEBHOOK_RETRY_SCHEDULE, HostedSignIn, MIN_AGENT_TOKEN_LEN, PROCESS_ALL_HARD_MAX, Role,
    Secret, parse_duration,
};

pub(super) struct Reader<'a> {
    pub(super) lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(super) problems: Vec<String>,
}

impl Reader<'_> {
    pub(super) fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn required(&mut self, name: &str) -> String {
        match self.optional(name) {
            Some(v) => v,
            None => {
                self.problems.push(format!("{name} is not set"));
                String::new()
            }
        }
    }

    pub(super) fn parsed<T>(
        &mut self,
        name: &str,
        default: T,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        match self.optional(name) {
            None => default,
            Some(raw) => match check(&raw) {
                Ok(v) => v,
                Err(why) => {
                    self.problems.push(format!("{name} {why}"));
                    default
                }
            },
        }
    }

    pub(super) fn url(&mut self, name: &str, value: Option<String>) -> Option<Url> {
        let raw = value?;
        match Url::parse(&raw) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Some(u),
            _ => {
                self.problems.push(format!("{name} must be an http(s) URL"));
                None
            }
        }
    }
}

fn positive_int<T: TryFrom<u64>>(min: u64, max: u64) -> impl Fn(&str) -> Result<T, String> {
    move |raw| {
        let n: u64 = raw
            .parse()
            .map_err(|_| format!("must be an integer between {min} and {max}"))?;
        if n < min || n > max {
            return Err(format!("must be an integer between {min} and {max}"));
        }
        T::try_from(n).map_err(|_| "is out of range".to_owned())
    }
}

fn boolean(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".to_owned()),
    }
}

/// The webhook settings, read together.
pub(super) struct WebhookSettings {
    pub(super) queue_url: Option<String>,
    pub(super) allow_http_loopback: bool,
    pub(super) retry_schedule: Vec<Duration>,
    pub(super) disable_after: Duration,
    pub(super) timeout: Duration,
}

/// The settings by group, each read with its checks (a problem is noted,
/// and a default stands in so the others are still read).
impl Reader<'_> {
    pub(super) fn database(&mut self) -> (String, u32) {
        let database_url = self.required("DATABASE_URL");
        let is_postgres =
            database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
        if !database_url.is_empty() && !is_postgres {
            self.problems
                .push("DATABASE_URL must be a postgres:// URL".to_owned());
        }
        let database_max_connections =
            self.parsed("DATABASE_MAX_CONNECTIONS", 5, positive_int(1, 1000));
        (database_url, database_max_connections)
    }

    pub(super) fn ocr_queues(&mut self) -> (String, String, String, String) {
        (
            self.required("OCR_QUEUE_URL"),
            self.required("OCR_DLQ_URL"),
            self.required("OCR_HIGH_QUEUE_URL"),
            self.required("OCR_HIGH_DLQ_URL"),
        )
    }

    pub(super) fn storage(&mut self) -> (String, String, u64, u64, Duration) {
        let receipts_bucket = self.required("RECEIPTS_BUCKET");
        let mut upload_prefix = self
            .optional("UPLOAD_PREFIX")
            .unwrap_or_else(|| DEFAULT_UPLOAD_PREFIX.to_owned());
        if !upload_prefix.ends_with('/') {
            upload_prefix.push('/');
        }
        let max_upload_bytes = self.parsed(
            "MAX_UPLOAD_BYTES",
            DEFAULT_MAX_UPLOAD_BYTES,
            positive_int(1, 5 * 1024 * 1024 * 1024),
        );
        let max_direct_upload_bytes = self.parsed(
            "MAX_DIRECT_UPLOAD_BYTES",
            max_upload_bytes,
            positive_int(1, 5 * 1024 * 1024 * 1024),
        );
        let presign_ttl = Duration::from_secs(self.parsed(
            "PRESIGN_TTL_SECS",
            DEFAULT_PRESIGN_TTL_SECS,
            positive_int(1, 7 * 24 * 3600),
        ));

        (
            receipts_bucket,
            upload_prefix,
            max_upload_bytes,
            max_direct_upload_bytes,
            presign_ttl,
        )
    }

    pub(super) fn agent(&mut self, role: Role) -> (Option<Url>, Option<Secret>, Duration) {
        let agent_url = if role.needs_agent() {
            Some(self.required("AGENT_URL")).filter(|u| !u.is_empty())
        } else {
            self.optional("AGENT_URL")
        };
        let agent_url = self.url("AGENT_URL", agent_url);
        let agent_token = self.optional("AGENT_TOKEN").map(Secret::new);
        if agent_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < MIN_AGENT_TOKEN_LEN)
        {
            self.problems.push(format!(
                "AGENT_TOKEN must be at least {MIN_AGENT_TOKEN_LEN} characters"
            ));
        }
        let agent_timeout = Duration::from_secs(self.parsed(
            "AGENT_TIMEOUT_SECS",
            DEFAULT_AGENT_TIMEOUT_SECS,
            positive_int(1, 900),
        ));
        (agent_url, agent_token, agent_timeout)
    }

    pub(super) fn queueing(&mut self) -> (u32, u32, bool) {
        let max_receive_count = self.parsed(
            "MAX_RECEIVE_COUNT",
            DEFAULT_MAX_RECEIVE_COUNT,
            positive_int(1, 1000),
        );
        let process_all_max = self.parsed(
            "PROCESS_ALL_MAX",
            DEFAULT_PROCESS_ALL_MAX,
            positive_int(1, PROCESS_ALL_HARD_MAX as u64),
        );
        let auto_ocr = self.parsed("AUTO_OCR", true, boolean);
        (max_receive_count, process_all_max, auto_ocr)
    }

    pub(super) fn auth(&mut self, role: Role) -> AuthConfig {
        let auth_mode = self
            .optional("AUTH_MODE")
            .unwrap_or_else(|| "jwt".to_owned());
        match auth_mode.as_str() {
            "jwt" => {
                let secret = self.optional("AUTH_JWT_SECRET");
                match secret {
                    _ if !role.needs_auth() => {}
                    None => {
                        self.problems.push(
                            "AUTH_JWT_SECRET is not set (needed when AUTH_MODE=jwt)".to_owned(),
                        );
                    }
                    Some(ref s) if s.len() < 32 => {
                        self.problems
                            .push("AUTH_JWT_SECRET must be at least 32 characters".to_owned());
                    }
                    Some(_) => {}
                }
                AuthConfig::Jwt {
                    secret: Secret::new(secret.unwrap_or_default()),
                    issuer: self.optional("AUTH_JWT_ISSUER"),
                    audience: self.optional("AUTH_JWT_AUDIENCE"),
                }
            }
            "apigateway" => AuthConfig::ApiGateway,
            _ => {
                self.problems
                    .push("AUTH_MODE must be `jwt` or `apigateway`".to_owned());
                AuthConfig::ApiGateway
            }
        }
    }

    pub(super) fn runtime(&mut self) -> (Option<Url>, Option<String>, SocketAddr) {
        let endpoint = self.optional("AWS_ENDPOINT_URL");
        let aws_endpoint_url = self.url("AWS_ENDPOINT_URL", endpoint);
        let aws_region = self
            .optional("AWS_REGION")
            .or_else(|| self.optional("AWS_DEFAULT_REGION"));
        let api_bind = self.parsed(
            "API_BIND",
            SocketAddr::from(([127, 0, 0, 1], 3000)),
            |raw| {
                raw.parse()
                    .map_err(|_| "must be host:port, e.g. 127.0.0.1:3000".to_owned())
            },
        );

        (aws_endpoint_url, aws_region, api_bind)
    }

    pub(super) fn processing(&mut self) -> (usize, Duration, Duration) {
        let worker_concurrency = self.parsed("WORKER_CONCURRENCY", 10usize, positive_int(1, 100));
        let retry_backoff_base =
            Duration::from_secs(self.parsed("RETRY_BACKOFF_BASE_SECS", 15, |raw| {
                raw.parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 900)
                    .ok_or_else(|| "must be 0 to 900 seconds".to_owned())
            }));
        let reconcile_queued_after = Duration::from_secs(self.parsed(
            "RECONCILE_QUEUED_AFTER_SECS",
            1800,
            positive_int(1, 7 * 24 * 3600),
        ));
        (
            worker_concurrency,
            retry_backoff_base,
            reconcile_queued_after,
        )
    }

    pub(super) fn admin_users(&mut self) -> Vec<String> {
        self.optional("ADMIN_USERS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn events(&mut self) -> (Duration, Duration, Duration, Duration) {
        let event_retention = Duration::from_secs(
            3600 * self.parsed("EVENT_RETENTION_HOURS", 7 * 24, positive_int(1, 24 * 365)),
        );
        let events_poll =
            Duration::from_millis(self.parsed("EVENTS_POLL_MILLIS", 500, positive_int(50, 60_000)));
        let events_keepalive =
            Duration::from_secs(self.parsed("EVENTS_KEEPALIVE_SECS", 15, positive_int(1, 240)));
        let events_stream_max = Duration::from_secs(self.parsed(
            "EVENTS_STREAM_MAX_SECS",
            840,
            positive_int(1, 24 * 3600),
        ));
        (
            event_retention,
            events_poll,
            events_keepalive,
            events_stream_max,
        )
    }

    pub(super) fn webhooks(&mut self) -> WebhookSettings {
        let webhook_queue_url = self.optional("WEBHOOK_QUEUE_URL");
        let webhook_allow_http_loopback =
            self.parsed("WEBHOOK_ALLOW_HTTP_LOOPBACK", false, boolean);
        let webhook_retry_schedule = self.parsed(
            "WEBHOOK_RETRY_SCHEDULE",
            parse_schedule(DEFAULT_WEBHOOK_RETRY_SCHEDULE).unwrap_or_default(),
            |raw| {
                parse_schedule(raw).ok_or_else(|| {
                    "must be a comma-separated list of waits like 5s,5m,2h (at most 20)".to_owned()
                })
            },
        );
        let webhook_disable_after = Duration::from_secs(
            3600 * self.parsed(
                "WEBHOOK_DISABLE_AFTER_HOURS",
                5 * 24,
                positive_int(1, 24 * 365),
            ),
        );
        let webhook_timeout =
            Duration::from_secs(self.parsed("WEBHOOK_TIMEOUT_SECS", 15, positive_int(1, 60)));
        WebhookSettings {
            queue_url: webhook_queue_url,
            allow_http_loopback: webhook_allow_http_loopback,
            retry_schedule: webhook_retry_schedule,
            disable_after: webhook_disable_after,
            timeout: webhook_timeout,
        }
    }

    pub(super) fn limits(&mut self) -> super::LimitSettings {
        super::LimitSettings {
            uploads_per_minute: self.parsed(
                "RATE_UPLOADS_PER_MINUTE",
                120,
                positive_int(0, 1_000_000),
            ),
            queued_per_minute: self.parsed(
                "RATE_QUEUED_PER_MINUTE",
                600,
                positive_int(0, 1_000_000),
            ),
            max_in_flight: self.parsed("MAX_IN_FLIGHT_PER_USER", 1000, positive_int(0, 10_000_000)),
        }
    }

    pub(super) fn sign_in(&mut self, auth: &AuthConfig) -> (bool, Option<HostedSignIn>) {
        let dev_sign_in = self.parsed("DEV_SIGN_IN", false, boolean);
        let cognito_domain = self.optional("COGNITO_DOMAIN");
        let cognito_domain = self.url("COGNITO_DOMAIN", cognito_domain);
        let hosted_sign_in = match (cognito_domain, self.optional("COGNITO_CLIENT_ID")) {
            (None, None) => None,
            (Some(domain), Some(client_id)) => {
                let loopback = matches!(domain.host_str(), Some("127.0.0.1" | "localhost"));
                if domain.scheme() != "https" && !loopback {
                    self.problems
                        .push("COGNITO_DOMAIN must be an https URL".to_owned());
                }
                Some(HostedSignIn { domain, client_id })
            }
            _ => {
                self.problems.push(
                    "COGNITO_DOMAIN and COGNITO_CLIENT_ID go together (the page's hosted sign-in)"
                        .to_owned(),
                );
                None
            }
        };
        if dev_sign_in && matches!(auth, AuthConfig::ApiGateway) {
            self.problems.push(
                "DEV_SIGN_IN=true needs AUTH_MODE=jwt (its tokens are signed with AUTH_JWT_SECRET); \
                 behind API Gateway's authorizer people sign in with Cognito"
                    .to_owned(),
            );
        }

        (dev_sign_in, hosted_sign_in)
    }
}

fn parse_schedule(raw: &str) -> Option<Vec<Duration>> {
    let waits: Option<Vec<Duration>> = raw
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse_duration)
        .collect();
    waits.filter(|w| w.len() <= 20 && w.iter().all(|d| *d <= Duration::from_secs(86_400)))
}
