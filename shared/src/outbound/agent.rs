//! The OCR agent contract and its HTTP client.
//!
//! `POST {AGENT_URL}/v1/extract` with `{"receipt_id":…,"user_id":…,"image_url":"…"}`
//! answers an [`Extraction`]. 4xx means the input is bad (do not retry);
//! 5xx, 429, a timeout or a refused connection mean try again. 401 and 403
//! mean the worker's `AGENT_TOKEN` is wrong: a configuration problem, not a
//! bad receipt, so it is retried too (and ends in the DLQ, redrivable once
//! the token is fixed).

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use url::Url;

use crate::domain::extraction::Extraction;

#[derive(Debug, Clone, Serialize)]
pub struct ExtractRequest {
    pub receipt_id: i64,
    pub user_id: String,
    pub image_url: String,
    /// The locale hint (BCP 47): the receipt's, else its owner's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AgentError {
    #[error("agent timed out after {0} s")]
    Timeout(u64),
    #[error("agent unreachable: {0}")]
    Unreachable(String),
    #[error("agent error {status}: {message}")]
    Server { status: u16, message: String },
    #[error("agent refused the receipt ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("agent answer is not valid: {0}")]
    BadAnswer(String),
}

impl AgentError {
    /// Worth another try later.
    pub fn is_transient(&self) -> bool {
        !matches!(self, AgentError::Rejected { .. })
    }
}

/// Anything that reads a receipt: the HTTP agent, or a test's stand-in.
pub trait Agent: Send + Sync {
    fn extract(
        &self,
        req: &ExtractRequest,
    ) -> impl Future<Output = Result<Extraction, AgentError>> + Send;
}

#[derive(Debug, Clone)]
pub struct HttpAgent {
    client: reqwest::Client,
    endpoint: Url,
    timeout: Duration,
    bearer: Option<crate::config::Secret>,
}

impl HttpAgent {
    pub fn new(base: &Url, timeout: Duration) -> Self {
        let mut endpoint = base.clone();
        if !endpoint.path().ends_with('/') {
            endpoint.set_path(&format!("{}/", endpoint.path()));
        }
        let endpoint = endpoint.join("v1/extract").expect("a relative path joins");
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client with rustls builds");
        Self {
            client,
            endpoint,
            timeout,
            bearer: None,
        }
    }

    /// Sends `Authorization: Bearer <token>` (the agent's `AGENT_TOKEN`).
    pub fn with_bearer(mut self, token: Option<crate::config::Secret>) -> Self {
        self.bearer = token;
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }
}

/// The message of the design's error shape, or the start of the body.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect::<String>().trim().to_owned())
}

impl Agent for HttpAgent {
    async fn extract(&self, req: &ExtractRequest) -> Result<Extraction, AgentError> {
        let mut request = self.client.post(self.endpoint.clone()).json(req);
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token.expose());
        }
        let resp = request.send().await.map_err(|e| {
            if e.is_timeout() {
                AgentError::Timeout(self.timeout.as_secs())
            } else {
                AgentError::Unreachable(if e.is_connect() {
                    "connection refused or failed".to_owned()
                } else {
                    e.without_url().to_string()
                })
            }
        })?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| {
            if e.is_timeout() {
                AgentError::Timeout(self.timeout.as_secs())
            } else {
                AgentError::Unreachable(e.without_url().to_string())
            }
        })?;
        if status.is_success() {
            return serde_json::from_str(&body).map_err(|e| AgentError::BadAnswer(e.to_string()));
        }
        let message = error_message(&body);
        let status = status.as_u16();
        if (400..500).contains(&status) && ![401, 403, 408, 429].contains(&status) {
            Err(AgentError::Rejected { status, message })
        } else {
            Err(AgentError::Server { status, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_4xx_is_permanent() {
        let rejected = AgentError::Rejected {
            status: 422,
            message: "x".into(),
        };
        assert!(!rejected.is_transient());
        assert!(AgentError::Timeout(1).is_transient());
        assert!(
            AgentError::Server {
                status: 503,
                message: "x".into()
            }
            .is_transient()
        );
        assert!(AgentError::Unreachable("x".into()).is_transient());
    }

    #[test]
    fn endpoint_keeps_a_base_path() {
        let a = HttpAgent::new(
            &Url::parse("http://h:1/ocr").unwrap(),
            Duration::from_secs(1),
        );
        assert_eq!(a.endpoint().as_str(), "http://h:1/ocr/v1/extract");
        let a = HttpAgent::new(&Url::parse("http://h:1").unwrap(), Duration::from_secs(1));
        assert_eq!(a.endpoint().as_str(), "http://h:1/v1/extract");
    }

    #[test]
    fn error_messages_come_from_the_error_shape() {
        assert_eq!(
            error_message(r#"{"error":{"code":"not_an_image","message":"not an image"}}"#),
            "not an image"
        );
        assert_eq!(error_message("Bad Gateway"), "Bad Gateway");
    }
}
