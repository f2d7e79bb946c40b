//! The webhooks function's handler: claims a due delivery, signs it
//! (Standard Webhooks v1, the `standardwebhooks` crate), POSTs it through
//! the SSRF guard, and records the try.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use sqlx::PgPool;

use super::store::{Claim, Claimed, Next, TryResult};
use super::{DeliveryMessage, WebhookStore, message_body};
use crate::aws::sqs::SqsQueue;
use crate::db::RepoError;
use crate::outbound::ssrf::{RESOLVED_INSIDE, UrlRefused, WebhookUrlPolicy};
use crate::runtime::metrics::{Metrics, Unit};

#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// Waits between tries, after the first.
    pub schedule: Vec<Duration>,
    pub timeout: Duration,
    pub disable_after: Duration,
}

impl SenderSettings {
    pub fn from_config(cfg: &crate::config::Webhooks) -> Self {
        Self {
            schedule: cfg.retry_schedule.clone(),
            timeout: cfg.timeout,
            disable_after: cfg.disable_after,
        }
    }
}

/// What the sender did with one delivery (for tests and logs).
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    Delivered(u16),
    Retrying {
        status: Option<u16>,
        wait: Duration,
    },
    Failed {
        status: Option<u16>,
        error: String,
    },
    /// The message came before the delivery was due; sent again delayed.
    NotDue,
    /// Nothing to do (delivered already, or another copy is sending it).
    Closed,
}

/// The webhooks function's handler.
pub struct Sender {
    pub store: WebhookStore,
    /// The webhook queue: retries are sent back to it, delayed.
    pub queue: SqsQueue,
    pub policy: WebhookUrlPolicy,
    pub client: reqwest::Client,
    pub settings: SenderSettings,
    pub metrics: Metrics,
}

impl Sender {
    pub fn new(
        pool: PgPool,
        queue: SqsQueue,
        policy: WebhookUrlPolicy,
        settings: SenderSettings,
    ) -> reqwest::Result<Self> {
        Ok(Self {
            store: WebhookStore::new(pool),
            queue,
            client: policy.client(settings.timeout)?,
            policy,
            settings,
            metrics: Metrics::new("webhooks"),
        })
    }

    /// A batch of the webhook queue; database failures and unreadable
    /// messages come back (the latter end in the DLQ).
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let results: Vec<(Option<String>, bool)> = stream::iter(event.records)
            .map(|msg| async move {
                let ok = match serde_json::from_str::<DeliveryMessage>(
                    msg.body.as_deref().unwrap_or(""),
                ) {
                    // Only the relay writes this queue: an unreadable
                    // message is kept for a person (the redrive policy
                    // moves it to the webhook DLQ, whose alarm fires).
                    Err(e) => {
                        tracing::error!(error = %e, "unreadable webhook queue message");
                        false
                    }
                    Ok(m) => match self.deliver(m.delivery_id).await {
                        Ok(_) => true,
                        Err(e) => {
                            tracing::warn!(delivery_id = m.delivery_id, error = %e, "delivery will be retried");
                            false
                        }
                    },
                };
                (msg.message_id, ok)
            })
            .buffer_unordered(10)
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        for (id, ok) in results {
            if !ok && let Some(id) = id {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                response.batch_item_failures.push(f);
            }
        }
        response
    }

    /// One delivery: claims it, tries it, records the try.
    pub async fn deliver(&self, id: i64) -> Result<Sent, RepoError> {
        let lease = self.settings.timeout + Duration::from_secs(60);
        let c = match self.store.claim(id, lease).await? {
            Claim::Claimed(c) => c,
            Claim::NotDue(wait) => {
                let out = self
                    .queue
                    .send_delayed(&[(id, message_body(id), wait)])
                    .await;
                if !out.failed.is_empty() {
                    // The reconciler will find it once it is due.
                    tracing::warn!(delivery_id = id, "could not re-send an early message");
                }
                return Ok(Sent::NotDue);
            }
            Claim::Closed => return Ok(Sent::Closed),
        };
        let span = tracing::info_span!("webhook", delivery_id = id, endpoint_id = c.endpoint_id, user_id = %c.user_id, attempt = c.attempt);
        let _enter = span.enter();
        let started = Instant::now();
        let result = if c.enabled {
            self.try_once(&c).await
        } else {
            TryResult {
                status: None,
                error: Some("the endpoint is disabled".into()),
                next: Next::Fail,
            }
        };
        let enabled = self
            .store
            .record(&c, &result, self.settings.disable_after)
            .await?;
        let latency = started.elapsed().as_secs_f64() * 1000.0;
        let sent = match result.next {
            Next::Delivered => {
                self.metrics.emit(
                    &[
                        ("WebhookDelivered", 1.0, Unit::Count),
                        ("WebhookLatency", latency, Unit::Milliseconds),
                    ],
                    &[],
                );
                Sent::Delivered(result.status.unwrap_or(200))
            }
            Next::Retry(wait) if enabled => {
                self.metrics
                    .emit(&[("WebhookRetried", 1.0, Unit::Count)], &[]);
                let delay = i32::try_from(wait.as_secs()).unwrap_or(i32::MAX);
                let out = self
                    .queue
                    .send_delayed(&[(id, message_body(id), delay)])
                    .await;
                if !out.failed.is_empty() {
                    tracing::warn!("could not queue the next try; the reconciler will");
                }
                Sent::Retrying {
                    status: result.status,
                    wait,
                }
            }
            _ => {
                self.metrics
                    .emit(&[("WebhookFailed", 1.0, Unit::Count)], &[]);
                Sent::Failed {
                    status: result.status,
                    error: result.error.clone().unwrap_or_default(),
                }
            }
        };
        tracing::info!(outcome = ?sent, enabled, "webhook try");
        Ok(sent)
    }

    /// The wait before try `attempt + 1`, if there is one.
    fn wait_after(&self, attempt: i32, retry_after: Option<Duration>) -> Option<Duration> {
        let planned = *self
            .settings
            .schedule
            .get(usize::try_from(attempt).ok()?.checked_sub(1)?)?;
        Some(retry_after.map_or(planned, |r| r.max(planned).min(Duration::from_secs(86_400))))
    }

    fn retry_or_fail(
        &self,
        attempt: i32,
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    ) -> TryResult {
        let next = match self.wait_after(attempt, retry_after) {
            Some(w) => Next::Retry(w),
            None => Next::Fail,
        };
        TryResult {
            status,
            error: Some(error),
            next,
        }
    }

    async fn try_once(&self, c: &Claimed) -> TryResult {
        let fail = |error: String| TryResult {
            status: None,
            error: Some(error),
            next: Next::Fail,
        };
        match self.policy.check(&c.url).await {
            Ok(_) => {}
            Err(e @ UrlRefused::Unresolved(_)) => {
                return self.retry_or_fail(c.attempt, None, format!("refused: {e}"), None);
            }
            Err(e) => return fail(format!("refused: the URL {e}")),
        }
        let body = match serde_json::to_string(&c.payload) {
            Ok(b) => b,
            Err(e) => return fail(format!("payload: {e}")),
        };
        let signer = match standardwebhooks::Webhook::new(&c.secret) {
            Ok(s) => s,
            Err(e) => return fail(format!("secret: {e}")),
        };
        let msg_id = format!("msg_{}", c.id);
        let ts = Utc::now().timestamp();
        let signature = match signer.sign(&msg_id, ts, body.as_bytes()) {
            Ok(s) => s,
            Err(e) => return fail(format!("signing: {e}")),
        };
        let resp = self
            .client
            .post(&c.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(standardwebhooks::HEADER_WEBHOOK_ID, &msg_id)
            .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, ts.to_string())
            .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
            .body(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                let text = error_chain(&e);
                if text.contains(RESOLVED_INSIDE) {
                    return fail(format!("refused: {text}"));
                }
                let what = if e.is_timeout() {
                    format!("no answer within {:?}", self.settings.timeout)
                } else {
                    text
                };
                return self.retry_or_fail(c.attempt, None, what, None);
            }
        };
        self.judge(c.attempt, &resp)
    }

    /// What an endpoint's answer means: delivered (2xx), gone (410), tried
    /// again (429, 5xx; not sooner than a `Retry-After` asks) or failed.
    fn judge(&self, attempt: i32, resp: &reqwest::Response) -> TryResult {
        let status = resp.status();
        let code = status.as_u16();
        if status.is_success() {
            return TryResult {
                status: Some(code),
                error: None,
                next: Next::Delivered,
            };
        }
        if code == 410 {
            return TryResult {
                status: Some(code),
                error: Some("410 Gone: the endpoint is disabled".into()),
                next: Next::Gone,
            };
        }
        if code == 429 || status.is_server_error() {
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return self.retry_or_fail(
                attempt,
                Some(code),
                format!("the endpoint answered {status}"),
                retry_after,
            );
        }
        TryResult {
            status: Some(code),
            error: Some(format!("the endpoint answered {status}; not retried")),
            next: Next::Fail,
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `Retry-After`: seconds, or an HTTP date.
pub fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(raw).ok()?;
    let secs = (at.with_timezone(&Utc) - Utc::now()).num_seconds();
    Some(Duration::from_secs(secs.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
