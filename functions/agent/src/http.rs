//! The agent's HTTP service: `POST /v1/extract` (JSON with `image_url`, or
//! the image bytes themselves) and `GET /health`. Bad input gets a 4xx with
//! the JSON error shape; an image URL that cannot be fetched gets a 502,
//! worth retrying. With a token set (`AGENT_TOKEN`), `/v1/extract` answers
//! 401 to a request without `Authorization: Bearer <token>`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use shared::outbound::ssrf::FetchPolicy;

use crate::extract::ExtractError;
use crate::pool::EnginePool;
use crate::prep::PrepError;

#[derive(Clone)]
pub struct AgentState {
    pub pool: EnginePool,
    pub http: reqwest::Client,
    pub max_image_bytes: usize,
    /// Where `image_url` may point.
    pub fetch: FetchPolicy,
    /// The bearer token callers must send, if any.
    pub token: Option<String>,
}

/// The hosts an `image_url` may name when `AGENT_FETCH_HOSTS` is not set:
/// the receipts bucket's S3 endpoints (virtual-host and path style), and
/// the S3 endpoint of `AWS_ENDPOINT_URL` when one is set (an emulator).
pub fn default_fetch_hosts(
    bucket: Option<&str>,
    region: Option<&str>,
    endpoint: Option<&str>,
) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(bucket) = bucket {
        if let Some(region) = region {
            hosts.push(format!("{bucket}.s3.{region}.amazonaws.com"));
            hosts.push(format!("s3.{region}.amazonaws.com"));
        }
        hosts.push(format!("{bucket}.s3.amazonaws.com"));
    }
    if let Some(url) = endpoint.and_then(|e| reqwest::Url::parse(e).ok())
        && let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default())
    {
        hosts.push(format!("{host}:{port}"));
    }
    hosts
}

impl AgentState {
    pub fn new(
        pool: EnginePool,
        max_image_bytes: usize,
        fetch_timeout: Duration,
        fetch: FetchPolicy,
    ) -> Self {
        let http = fetch
            .client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(fetch_timeout)
            .build()
            .expect("an HTTP client builds");
        Self {
            pool,
            http,
            max_image_bytes,
            fetch,
            token: None,
        }
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Whether the request carries the token (always, without one).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), expected.as_bytes())
    }
}

/// Compares without returning early at the first different byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug)]
pub struct AgentError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AgentError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<ExtractError> for AgentError {
    fn from(e: ExtractError) -> Self {
        let msg = e.to_string();
        match e {
            ExtractError::Input(PrepError::Empty) => {
                Self::new(StatusCode::BAD_REQUEST, "empty", msg)
            }
            ExtractError::Input(PrepError::TooLarge(_)) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", msg)
            }
            ExtractError::Input(PrepError::Pdf(_)) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unreadable_pdf", msg)
            }
            ExtractError::Input(PrepError::PdfRenderer) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "pdf_unavailable", msg)
            }
            ExtractError::Input(PrepError::Heic(_)) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unreadable_heic", msg)
            }
            ExtractError::Input(PrepError::HeicDecoder) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "heic_unavailable", msg)
            }
            ExtractError::Input(PrepError::NotAnImage | PrepError::Corrupt) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "not_an_image", msg)
            }
            ExtractError::Ocr(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "ocr_unavailable", msg)
            }
        }
    }
}

pub fn router(state: AgentState) -> axum::Router {
    let limit = state.max_image_bytes + 64 * 1024;
    axum::Router::new()
        .route("/health", get(health))
        .route("/v1/extract", post(extract))
        .fallback(|| async { AgentError::new(StatusCode::NOT_FOUND, "not_found", "not found") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(state))
}

async fn health(State(state): State<Arc<AgentState>>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "engine": state.pool.version, "engines": state.pool.size}))
}

#[derive(Deserialize)]
struct ExtractJson {
    image_url: String,
    #[serde(default)]
    receipt_id: Option<serde_json::Value>,
    /// The caller's locale hint (BCP 47).
    #[serde(default)]
    locale: Option<String>,
}

/// A locale hint, checked: `None` when absent, a 400 naming `locale` when
/// it is not a BCP 47 tag.
fn checked_locale(tag: Option<String>) -> Result<Option<String>, AgentError> {
    match tag.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) if crate::parse::valid_tag(&t) => Ok(Some(t)),
        Some(t) => Err(AgentError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("locale must be a BCP 47 tag such as en-US or de-DE, not {t:?}"),
        )),
    }
}

async fn extract(
    State(state): State<Arc<AgentState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AgentError> {
    if !state.authorized(&headers) {
        return Err(AgentError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (image, receipt, locale) = if content_type == "application/json" {
        let req: ExtractJson = serde_json::from_slice(&body).map_err(|e| {
            AgentError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("expected {{\"image_url\": \"…\"}}: {e}"),
            )
        })?;
        let locale = checked_locale(req.locale)?;
        (fetch(&state, &req.image_url).await?, req.receipt_id, locale)
    } else if content_type.starts_with("image/")
        || content_type == "application/pdf"
        || content_type == "application/octet-stream"
        || content_type.is_empty()
    {
        if body.len() > state.max_image_bytes {
            return Err(AgentError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the image is larger than {} bytes", state.max_image_bytes),
            ));
        }
        // With the bytes, the hint comes as the request's Content-Language.
        let locale = headers
            .get(header::CONTENT_LANGUAGE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        (body.to_vec(), None, checked_locale(locale)?)
    } else {
        return Err(AgentError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON with image_url, or the image bytes with an image/* or application/pdf content type",
        ));
    };
    let today = chrono::Utc::now().date_naive();
    let result = state
        .pool
        .run(move |engine| crate::extract::extract(engine, &image, today, locale.as_deref()))
        .await;
    match result {
        Ok(extraction) => {
            tracing::info!(
                receipt_id = ?receipt,
                total = ?extraction.total,
                validation = ?extraction.validation.status,
                duration_ms = extraction.duration_ms,
                "receipt extracted"
            );
            Ok(Json(extraction).into_response())
        }
        Err(e) => {
            tracing::warn!(receipt_id = ?receipt, error = %e, "extraction refused");
            Err(e.into())
        }
    }
}

/// Fetches the image, refusing more than the cap. A URL that cannot be
/// fetched is the caller's retry (502); one that answers 4xx too, since a
/// presigned URL may have expired and a fresh one works.
async fn fetch(state: &AgentState, url: &str) -> Result<Vec<u8>, AgentError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| {
        AgentError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "image_url is not a URL",
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(AgentError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "image_url must be http(s)",
        ));
    }
    // 403, like a wrong token: the caller's configuration (the hosts the
    // agent trusts) is at fault, not the receipt, so the worker retries.
    let forbidden = |why: String| {
        tracing::warn!(url = %parsed.origin().ascii_serialization(), %why, "image_url refused");
        AgentError::new(
            StatusCode::FORBIDDEN,
            "forbidden_url",
            format!("image_url refused: {why}"),
        )
    };
    state
        .fetch
        .check(&parsed)
        .map_err(|e| forbidden(e.to_string()))?;
    let resp = state.http.get(parsed.clone()).send().await.map_err(|e| {
        // The resolver refused every address the name has.
        if format!("{e:?}").contains(shared::outbound::ssrf::RESOLVED_INSIDE) {
            return forbidden(format!(
                "{} {}",
                parsed.host_str().unwrap_or(""),
                shared::outbound::ssrf::RESOLVED_INSIDE
            ));
        }
        AgentError::new(
            StatusCode::BAD_GATEWAY,
            "fetch_failed",
            format!(
                "image_url could not be fetched: {}",
                if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    "connection failed".to_owned()
                }
            ),
        )
    })?;
    if matches!(resp.status().as_u16(), 404 | 410) {
        // The object is gone (S3 is strongly consistent, and a receipt is
        // queued only after its image is stored): no retry will find it.
        return Err(AgentError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_not_found",
            format!("there is no image at image_url ({})", resp.status()),
        ));
    }
    if resp.status().is_redirection() {
        return Err(forbidden(format!(
            "it answered {} and redirects are not followed",
            resp.status()
        )));
    }
    if !resp.status().is_success() {
        return Err(AgentError::new(
            StatusCode::BAD_GATEWAY,
            "fetch_failed",
            format!("image_url answered {}", resp.status()),
        ));
    }
    read_capped(resp, state.max_image_bytes).await
}

/// The answer's body, refused as `too_large` past `max` bytes (by its
/// length if it says one, else as it streams in).
async fn read_capped(resp: reqwest::Response, max: usize) -> Result<Vec<u8>, AgentError> {
    if resp.content_length().is_some_and(|n| n as usize > max) {
        return Err(AgentError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the image is larger than {} bytes", max),
        ));
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            AgentError::new(
                StatusCode::BAD_GATEWAY,
                "fetch_failed",
                "image_url stopped answering mid-download",
            )
        })?;
        if body.len() + chunk.len() > max {
            return Err(AgentError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the image is larger than {} bytes", max),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
