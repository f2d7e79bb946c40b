//! Reading the environment: each variable with its checks, by group.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::{
    AgentSettings, ApiSettings, AuthConfig, Aws, Common, DEFAULT_AGENT_TIMEOUT_SECS,
    DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_PRESIGN_TTL_SECS,
    DEFAULT_PROCESS_ALL_MAX, DEFAULT_UPLOAD_PREFIX, DEFAULT_WEBHOOK_RETRY_SCHEDULE, Database,
    HostedSignIn, LimitSettings, MIN_AGENT_TOKEN_LEN, PROCESS_ALL_HARD_MAX, Processing, Queues,
    Secret, Storage, Stream, Webhooks, parse_duration,
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

/// The settings by group, each read with its checks (a problem is noted,
/// and a default stands in so the others are still read).
impl Reader<'_> {
    pub(super) fn common(&mut self) -> Common {
        Common {
            database: self.database(),
            aws: self.aws(),
            queues: self.queues(),
            storage: self.storage(),
            processing: self.processing(),
            webhooks: self.webhooks(),
        }
    }

    pub(super) fn api(&mut self) -> ApiSettings {
        let auth = self.auth();
        let (dev_sign_in, hosted_sign_in) = self.sign_in(&auth);
        ApiSettings {
            auth,
            bind: self.parsed(
                "API_BIND",
                SocketAddr::from(([127, 0, 0, 1], 3000)),
                |raw| {
                    raw.parse()
                        .map_err(|_| "must be host:port, e.g. 127.0.0.1:3000".to_owned())
                },
            ),
            admin_users: self.admin_users(),
            dev_sign_in,
            hosted_sign_in,
            process_all_max: self.parsed(
                "PROCESS_ALL_MAX",
                DEFAULT_PROCESS_ALL_MAX,
                positive_int(1, PROCESS_ALL_HARD_MAX as u64),
            ),
            limits: self.limits(),
            stream: self.stream(),
        }
    }

    fn database(&mut self) -> Database {
        let url = self.required("DATABASE_URL");
        let is_postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !url.is_empty() && !is_postgres {
            self.problems
                .push("DATABASE_URL must be a postgres:// URL".to_owned());
        }
        Database {
            url: Secret::new(url),
            max_connections: self.parsed("DATABASE_MAX_CONNECTIONS", 5, positive_int(1, 1000)),
        }
    }

    fn aws(&mut self) -> Aws {
        let endpoint = self.optional("AWS_ENDPOINT_URL");
        Aws {
            endpoint_url: self.url("AWS_ENDPOINT_URL", endpoint),
            region: self
                .optional("AWS_REGION")
                .or_else(|| self.optional("AWS_DEFAULT_REGION")),
        }
    }

    fn queues(&mut self) -> Queues {
        Queues {
            ocr: self.required("OCR_QUEUE_URL"),
            ocr_dlq: self.required("OCR_DLQ_URL"),
            ocr_high: self.required("OCR_HIGH_QUEUE_URL"),
            ocr_high_dlq: self.required("OCR_HIGH_DLQ_URL"),
            ingest: self.optional("INGEST_QUEUE_URL"),
            max_receive_count: self.parsed(
                "MAX_RECEIVE_COUNT",
                DEFAULT_MAX_RECEIVE_COUNT,
                positive_int(1, 1000),
            ),
        }
    }

    fn storage(&mut self) -> Storage {
        let bucket = self.required("RECEIPTS_BUCKET");
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
        Storage {
            bucket,
            upload_prefix,
            max_upload_bytes,
            max_direct_upload_bytes: self.parsed(
                "MAX_DIRECT_UPLOAD_BYTES",
                max_upload_bytes,
                positive_int(1, 5 * 1024 * 1024 * 1024),
            ),
            presign_ttl: Duration::from_secs(self.parsed(
                "PRESIGN_TTL_SECS",
                DEFAULT_PRESIGN_TTL_SECS,
                positive_int(1, 7 * 24 * 3600),
            )),
        }
    }

    /// The agent's settings; `None` (and a problem noted) without a
    /// usable `AGENT_URL`.
    pub(super) fn agent(&mut self) -> Option<AgentSettings> {
        let raw = Some(self.required("AGENT_URL")).filter(|u| !u.is_empty());
        let url = self.url("AGENT_URL", raw);
        let token = self.optional("AGENT_TOKEN").map(Secret::new);
        if token
            .as_ref()
            .is_some_and(|t| t.expose().len() < MIN_AGENT_TOKEN_LEN)
        {
            self.problems.push(format!(
                "AGENT_TOKEN must be at least {MIN_AGENT_TOKEN_LEN} characters"
            ));
        }
        let timeout = Duration::from_secs(self.parsed(
            "AGENT_TIMEOUT_SECS",
            DEFAULT_AGENT_TIMEOUT_SECS,
            positive_int(1, 900),
        ));
        Some(AgentSettings {
            url: url?,
            token,
            timeout,
        })
    }

    fn auth(&mut self) -> AuthConfig {
        let auth_mode = self
            .optional("AUTH_MODE")
            .unwrap_or_else(|| "jwt".to_owned());
        match auth_mode.as_str() {
            "jwt" => {
                let secret = self.optional("AUTH_JWT_SECRET");
                match secret {
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

    fn processing(&mut self) -> Processing {
        Processing {
            worker_concurrency: self.parsed("WORKER_CONCURRENCY", 10usize, positive_int(1, 100)),
            retry_backoff_base: Duration::from_secs(self.parsed(
                "RETRY_BACKOFF_BASE_SECS",
                15,
                |raw| {
                    raw.parse::<u64>()
                        .ok()
                        .filter(|n| *n <= 900)
                        .ok_or_else(|| "must be 0 to 900 seconds".to_owned())
                },
            )),
            reconcile_queued_after: Duration::from_secs(self.parsed(
                "RECONCILE_QUEUED_AFTER_SECS",
                1800,
                positive_int(1, 7 * 24 * 3600),
            )),
            auto_ocr: self.parsed("AUTO_OCR", true, boolean),
            event_retention: Duration::from_secs(
                3600 * self.parsed("EVENT_RETENTION_HOURS", 7 * 24, positive_int(1, 24 * 365)),
            ),
            // 0 (the template's default) keeps receipts, as unset does.
            receipt_retention_days: Some(self.parsed(
                "RECEIPT_RETENTION_DAYS",
                0,
                positive_int::<u32>(0, 36_500),
            ))
            .filter(|&days| days > 0),
        }
    }

    fn admin_users(&mut self) -> Vec<String> {
        self.optional("ADMIN_USERS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn stream(&mut self) -> Stream {
        Stream {
            poll: Duration::from_millis(self.parsed(
                "EVENTS_POLL_MILLIS",
                500,
                positive_int(50, 60_000),
            )),
            keepalive: Duration::from_secs(self.parsed(
                "EVENTS_KEEPALIVE_SECS",
                15,
                positive_int(1, 240),
            )),
            max: Duration::from_secs(self.parsed(
                "EVENTS_STREAM_MAX_SECS",
                840,
                positive_int(1, 24 * 3600),
            )),
        }
    }

    fn webhooks(&mut self) -> Webhooks {
        Webhooks {
            queue_url: self.optional("WEBHOOK_QUEUE_URL"),
            allow_http_loopback: self.parsed("WEBHOOK_ALLOW_HTTP_LOOPBACK", false, boolean),
            retry_schedule: self.parsed(
                "WEBHOOK_RETRY_SCHEDULE",
                parse_schedule(DEFAULT_WEBHOOK_RETRY_SCHEDULE).unwrap_or_default(),
                |raw| {
                    parse_schedule(raw).ok_or_else(|| {
                        "must be a comma-separated list of waits like 5s,5m,2h (at most 20)"
                            .to_owned()
                    })
                },
            ),
            disable_after: Duration::from_secs(
                3600 * self.parsed(
                    "WEBHOOK_DISABLE_AFTER_HOURS",
                    5 * 24,
                    positive_int(1, 24 * 365),
                ),
            ),
            timeout: Duration::from_secs(self.parsed(
                "WEBHOOK_TIMEOUT_SECS",
                15,
                positive_int(1, 60),
            )),
        }
    }

    fn limits(&mut self) -> LimitSettings {
        LimitSettings {
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

    fn sign_in(&mut self, auth: &AuthConfig) -> (bool, Option<HostedSignIn>) {
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
