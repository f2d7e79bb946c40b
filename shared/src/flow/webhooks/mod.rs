//! Webhooks to the Standard Webhooks v1 specification.
//!
//! - Endpoints: a user's `{url, events[]}` and a `whsec_` secret, shown once.
//! - Deliveries: one per event per subscribed endpoint, written with the
//!   event in the statement that makes the transition (the outbox, see
//!   [`crate::db`]). Its id is the `webhook-id`, the same on every try.
//! - The [`Relay`] sends each new delivery's id to the webhook queue; the
//!   functions that make transitions run it after their work, and the
//!   reconciler finds what a crash left behind.
//! - The [`Sender`] (the webhooks function) claims a due delivery, signs it
//!   with the `standardwebhooks` crate, and POSTs it through the SSRF guard
//!   with a time limit and no redirects. 2xx: delivered. 429, 5xx, a time
//!   out or a network error: tried again on the schedule (honouring
//!   `Retry-After`). 410: the endpoint is disabled. Other answers fail the
//!   delivery. An endpoint whose deliveries all fail for
//!   `WEBHOOK_DISABLE_AFTER_HOURS` is disabled.
//!
//! `store.rs` holds the SQL, `sender.rs` the handler; the relay is here.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgPool};

use crate::aws::sqs::SqsQueue;
use crate::db::RepoError;
use crate::db::events::EVENT_TYPES;
use crate::domain::InvalidInput;

mod sender;
mod store;

pub use sender::{Sender, SenderSettings, Sent, parse_retry_after};
pub use store::WebhookStore;

/// The type of the delivery `POST /webhooks/{id}/test` makes.
pub const TEST_EVENT: &str = "webhook.test";
/// Endpoints one user may have.
pub const MAX_ENDPOINTS_PER_USER: i64 = 20;
/// A delivery left `pending` this long after its message was sent, or
/// `sending` past its lease, is handed to the queue again.
pub const LOST_AFTER: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<sqlx::Error> for WebhookError {
    fn from(e: sqlx::Error) -> Self {
        WebhookError::Repo(RepoError::Database(e))
    }
}

/// An endpoint, as its owner sees it (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    #[sqlx(rename = "event_types")]
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The answer to a registration: the endpoint and, this once, its secret.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// `whsec_` + base64 of 32 random bytes: receivers verify with it.
    pub secret: String,
}

/// One event for one endpoint, and how its tries went.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    /// The `webhook-id` header of every try.
    pub webhook_id: String,
    pub endpoint_id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event's id in the user's event stream (none for a test).
    pub event_id: Option<i64>,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A new random secret.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the system's random source");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// Checks the event types of a registration.
pub fn parse_event_types(raw: &[String]) -> Result<Vec<String>, InvalidInput> {
    if raw.is_empty() {
        return Err(InvalidInput::new(
            "events",
            format!("name at least one of {}", EVENT_TYPES.join(", ")),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in raw {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(InvalidInput::new(
                "events",
                format!("{t:?} is not one of {}", EVENT_TYPES.join(", ")),
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// The message of the webhook queue.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DeliveryMessage {
    pub(super) delivery_id: i64,
}

pub(super) fn message_body(id: i64) -> String {
    serde_json::to_string(&DeliveryMessage { delivery_id: id }).unwrap_or_default()
}

/// Sends new deliveries' ids to the webhook queue.
#[derive(Clone, Debug)]
pub struct Relay {
    pub store: WebhookStore,
    pub queue: SqsQueue,
}

impl Relay {
    pub fn new(pool: PgPool, queue: SqsQueue) -> Self {
        Self {
            store: WebhookStore::new(pool),
            queue,
        }
    }

    /// Sends every delivery that has no message yet; returns how many
    /// were sent. What SQS refuses waits for the next run.
    pub async fn run(&self) -> Result<usize, RepoError> {
        const BATCH: u32 = 100;
        let mut sent = 0;
        loop {
            let taken = self.store.take_unsent(BATCH).await?;
            if taken.is_empty() {
                return Ok(sent);
            }
            let entries: Vec<(i64, String, i32)> = taken
                .iter()
                .map(|(id, delay)| (*id, message_body(*id), *delay))
                .collect();
            let out = self.queue.send_delayed(&entries).await;
            sent += out.sent.len();
            if !out.failed.is_empty() {
                let ids: Vec<i64> = out.failed.iter().map(|(id, _)| *id).collect();
                tracing::warn!(
                    count = ids.len(),
                    "webhook queue refused deliveries; the next run retries"
                );
                self.store.unsend(&ids).await?;
                return Ok(sent);
            }
            if taken.len() < BATCH as usize {
                return Ok(sent);
            }
        }
    }

    /// Runs the relay, logging (not returning) what goes wrong: the
    /// deliveries wait in the database for the next run.
    pub async fn kick(relay: Option<&Relay>) {
        if let Some(r) = relay
            && let Err(e) = r.run().await
        {
            tracing::warn!(error = %e, "webhook relay failed; deliveries wait for the next run");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_must_be_known_and_named() {
        assert!(parse_event_types(&[]).is_err());
        assert!(parse_event_types(&["receipt.done".into()]).is_err());
        assert_eq!(
            parse_event_types(&["receipt.completed".into(), "receipt.completed".into()]).unwrap(),
            vec!["receipt.completed".to_owned()]
        );
    }

    #[test]
    fn a_secret_is_whsec_and_32_random_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let key = base64::engine::general_purpose::STANDARD
            .decode(a.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert!(standardwebhooks::Webhook::new(&a).is_ok());
    }
}
