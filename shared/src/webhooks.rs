//! Webhooks to the Standard Webhooks v1 specification.
//!
//! - Endpoints: a user's `{url, events[]}` and a `whsec_` secret, shown once.
//! - Deliveries: one per event per subscribed endpoint, written with the
//!   event in the statement that makes the transition (the outbox, see
//!   [`crate::repo`]). Its id is the `webhook-id`, the same on every try.
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

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgPool};

use crate::domain::{InvalidInput, UserId};
use crate::events::EVENT_TYPES;
use crate::metrics::{Metrics, Unit};
use crate::queue::SqsQueue;
use crate::repo::RepoError;
use crate::ssrf::{RESOLVED_INSIDE, UrlRefused, WebhookUrlPolicy};

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
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// `whsec_` + base64 of 32 random bytes: receivers verify with it.
    pub secret: String,
}

/// One event for one endpoint, and how its tries went.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
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

const DELIVERY_COLUMNS: &str = "id, 'msg_' || id AS webhook_id, endpoint_id, event_type, event_seq AS event_id, \
     state, attempts, next_attempt_at, last_status, last_error, delivered_at, created_at";
const ENDPOINT_COLUMNS: &str =
    "id, url, event_types, enabled, disabled_reason, failing_since, created_at";

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

/// Endpoints and deliveries in Postgres.
#[derive(Clone, Debug)]
pub struct WebhookStore {
    pool: PgPool,
}

impl WebhookStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Registers an endpoint whose URL and events are already checked.
    pub async fn create(
        &self,
        user: &UserId,
        url: &str,
        events: &[String],
    ) -> Result<CreatedEndpoint, WebhookError> {
        let secret = new_secret();
        // One statement: the count and the insert cannot race past the cap.
        let endpoint: Option<Endpoint> = sqlx::query_as(&format!(
            "INSERT INTO webhook_endpoints (user_id, url, secret, event_types) \
             SELECT $1, $2, $3, $4 \
             WHERE (SELECT count(*) FROM webhook_endpoints WHERE user_id = $1) < $5 \
             RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(user.as_str())
        .bind(url)
        .bind(&secret)
        .bind(events)
        .bind(MAX_ENDPOINTS_PER_USER)
        .fetch_optional(&self.pool)
        .await?;
        let endpoint = endpoint.ok_or_else(|| {
            WebhookError::Conflict(format!(
                "a user may have at most {MAX_ENDPOINTS_PER_USER} webhook endpoints"
            ))
        })?;
        Ok(CreatedEndpoint { endpoint, secret })
    }

    pub async fn list(&self, user: &UserId) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE user_id = $1 ORDER BY id"
        ))
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes an endpoint and its deliveries.
    pub async fn delete(&self, user: &UserId, id: i64) -> Result<(), WebhookError> {
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(WebhookError::NotFound);
        }
        Ok(())
    }

    /// A `webhook.test` delivery to one of the user's enabled endpoints.
    pub async fn test(&self, user: &UserId, id: i64) -> Result<Delivery, WebhookError> {
        let row: Option<Delivery> = sqlx::query_as(&format!(
            "WITH d AS ( \
                 INSERT INTO webhook_deliveries (endpoint_id, user_id, event_type, payload) \
                 SELECT id, user_id, $3, jsonb_build_object('type', $3::text, \
                     'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                     'data', jsonb_build_object('endpoint_id', id, 'message', 'a test delivery')) \
                 FROM webhook_endpoints WHERE id = $1 AND user_id = $2 AND enabled \
                 RETURNING *) \
             SELECT {DELIVERY_COLUMNS} FROM d"
        ))
        .bind(id)
        .bind(user.as_str())
        .bind(TEST_EVENT)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(d) => Ok(d),
            None => Err(self.absent_or_disabled(user, id).await),
        }
    }

    async fn absent_or_disabled(&self, user: &UserId, id: i64) -> WebhookError {
        match self.list(user).await {
            Ok(all) if all.iter().any(|e| e.id == id) => WebhookError::Conflict(format!(
                "webhook endpoint {id} is disabled; register it again to receive deliveries"
            )),
            Ok(_) => WebhookError::NotFound,
            Err(e) => e,
        }
    }

    /// The latest deliveries of one of the user's endpoints, newest first.
    pub async fn deliveries(
        &self,
        user: &UserId,
        endpoint: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookError> {
        if !self.list(user).await?.iter().any(|e| e.id == endpoint) {
            return Err(WebhookError::NotFound);
        }
        Ok(sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE endpoint_id = $1 AND user_id = $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(endpoint)
        .bind(user.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sends a delivered or failed delivery again (same `webhook-id`, a
    /// fresh schedule), if its endpoint is enabled.
    pub async fn resend(&self, user: &UserId, id: i64) -> Result<Delivery, WebhookError> {
        let row: Option<Delivery> = sqlx::query_as(&format!(
            "WITH d AS ( \
                 UPDATE webhook_deliveries d SET state = 'pending', attempts = 0, next_attempt_at = now(), \
                     enqueued_at = NULL, delivered_at = NULL \
                 FROM webhook_endpoints e \
                 WHERE d.id = $1 AND d.user_id = $2 AND e.id = d.endpoint_id AND e.enabled \
                   AND d.state IN ('delivered', 'failed') \
                 RETURNING d.*) \
             SELECT {DELIVERY_COLUMNS} FROM d"
        ))
        .bind(id)
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(d) = row {
            return Ok(d);
        }
        let found: Option<(String, bool, i64)> = sqlx::query_as(
            "SELECT d.state, e.enabled, e.id FROM webhook_deliveries d \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1 AND d.user_id = $2",
        )
        .bind(id)
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Err(match found {
            None => WebhookError::NotFound,
            Some((_, false, endpoint)) => WebhookError::Conflict(format!(
                "webhook endpoint {endpoint} is disabled; register it again to receive deliveries"
            )),
            Some((state, ..)) => {
                WebhookError::Conflict(format!("delivery {id} is {state}: it is on its way"))
            }
        })
    }

    /// Marks up to `limit` deliveries that have no message yet as sent,
    /// oldest first; returns them with their delay in seconds.
    async fn take_unsent(&self, limit: u32) -> Result<Vec<(i64, i32)>, RepoError> {
        Ok(sqlx::query_as(
            "WITH picked AS MATERIALIZED ( \
                 SELECT id FROM webhook_deliveries WHERE state = 'pending' AND enqueued_at IS NULL \
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
             UPDATE webhook_deliveries d SET enqueued_at = now() FROM picked WHERE d.id = picked.id \
             RETURNING d.id, greatest(0, ceil(extract(epoch FROM d.next_attempt_at - now())))::int",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn unsend(&self, ids: &[i64]) -> Result<(), RepoError> {
        sqlx::query("UPDATE webhook_deliveries SET enqueued_at = NULL WHERE id = ANY($1) AND state = 'pending'")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deliveries whose message was lost (due long ago and still
    /// `pending`) or whose sender died (`sending` past its lease) go back
    /// to `pending` without a message, for the relay. Returns how many.
    pub async fn release_lost(&self, after: Duration) -> Result<u64, RepoError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', enqueued_at = NULL, lease_expires_at = NULL \
             WHERE (state = 'sending' AND lease_expires_at < now()) \
                OR (state = 'pending' AND enqueued_at < now() - make_interval(secs => $1) \
                    AND next_attempt_at < now() - make_interval(secs => $1))",
        )
        .bind(after.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn claim(&self, id: i64, lease: Duration) -> Result<Claim, RepoError> {
        let row: Option<(i32, i64, String, String, bool, serde_json::Value, String)> =
            sqlx::query_as(
                "UPDATE webhook_deliveries d SET state = 'sending', attempts = d.attempts + 1, \
                     lease_expires_at = now() + make_interval(secs => $2) \
                 FROM webhook_endpoints e \
                 WHERE d.id = $1 AND e.id = d.endpoint_id AND d.state = 'pending' \
                   AND d.next_attempt_at <= now() + interval '1 second' \
                 RETURNING d.attempts, e.id, e.url, e.secret, e.enabled, d.payload, d.user_id",
            )
            .bind(id)
            .bind(lease.as_secs_f64())
            .fetch_optional(&self.pool)
            .await?;
        if let Some((attempt, endpoint_id, url, secret, enabled, payload, user_id)) = row {
            return Ok(Claim::Claimed(Claimed {
                id,
                attempt,
                endpoint_id,
                url,
                secret,
                enabled,
                payload,
                user_id,
            }));
        }
        let due: Option<(String, i32)> = sqlx::query_as(
            "SELECT state, greatest(0, ceil(extract(epoch FROM next_attempt_at - now())))::int \
             FROM webhook_deliveries WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match due {
            Some((state, wait)) if state == "pending" => Claim::NotDue(wait),
            _ => Claim::Closed,
        })
    }

    /// Records a try, fenced by its attempt; updates the endpoint's health
    /// and disables it when it answered 410 or has failed for too long
    /// (then its waiting deliveries fail too). Returns whether the
    /// endpoint is still enabled.
    async fn record(
        &self,
        c: &Claimed,
        result: &TryResult,
        disable_after: Duration,
    ) -> Result<bool, RepoError> {
        let (state, wait, gone) = match &result.next {
            Next::Delivered => ("delivered", 0.0, false),
            Next::Retry(w) => ("pending", w.as_secs_f64(), false),
            Next::Fail => ("failed", 0.0, false),
            Next::Gone => ("failed", 0.0, true),
        };
        let enabled: Option<bool> = sqlx::query_scalar(
            "WITH d AS ( \
                 UPDATE webhook_deliveries SET state = $3, lease_expires_at = NULL, \
                     next_attempt_at = now() + make_interval(secs => $4), \
                     enqueued_at = CASE WHEN $3 = 'pending' THEN now() ELSE enqueued_at END, \
                     last_status = $5, last_error = $6, \
                     delivered_at = CASE WHEN $3 = 'delivered' THEN now() END \
                 WHERE id = $1 AND state = 'sending' AND attempts = $2 RETURNING endpoint_id) \
             UPDATE webhook_endpoints w SET \
                 failing_since = CASE WHEN $3 = 'delivered' THEN NULL ELSE coalesce(w.failing_since, now()) END, \
                 enabled = w.enabled AND NOT $7 AND NOT ($3 <> 'delivered' \
                     AND coalesce(w.failing_since < now() - make_interval(secs => $8), false)), \
                 disabled_reason = CASE \
                     WHEN NOT w.enabled THEN w.disabled_reason \
                     WHEN $7 THEN 'the endpoint answered 410 Gone' \
                     WHEN $3 <> 'delivered' AND w.failing_since < now() - make_interval(secs => $8) \
                         THEN 'every delivery failed since ' || w.failing_since::text \
                     ELSE w.disabled_reason END \
             FROM d WHERE w.id = d.endpoint_id RETURNING w.enabled",
        )
        .bind(c.id)
        .bind(c.attempt)
        .bind(state)
        .bind(wait)
        .bind(result.status.map(i32::from))
        .bind(&result.error)
        .bind(gone)
        .bind(disable_after.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        let enabled = enabled.unwrap_or(true);
        if !enabled {
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'failed', lease_expires_at = NULL, \
                     last_error = coalesce(last_error || '; ', '') || 'the endpoint is disabled' \
                 WHERE endpoint_id = $1 AND state = 'pending'",
            )
            .bind(c.endpoint_id)
            .execute(&self.pool)
            .await?;
        }
        Ok(enabled)
    }
}

/// What a claim found.
#[derive(Debug)]
enum Claim {
    Claimed(Claimed),
    /// Pending, due in this many seconds (the message came early).
    NotDue(i32),
    /// Delivered, failed, being sent, or gone: nothing to do.
    Closed,
}

#[derive(Debug)]
struct Claimed {
    id: i64,
    attempt: i32,
    endpoint_id: i64,
    url: String,
    secret: String,
    enabled: bool,
    payload: serde_json::Value,
    user_id: String,
}

/// What one try came to.
#[derive(Debug, Clone, PartialEq)]
struct TryResult {
    status: Option<u16>,
    error: Option<String>,
    next: Next,
}

#[derive(Debug, Clone, PartialEq)]
enum Next {
    Delivered,
    Retry(Duration),
    Fail,
    Gone,
}

/// The message of the webhook queue.
#[derive(Debug, Serialize, Deserialize)]
struct DeliveryMessage {
    delivery_id: i64,
}

fn message_body(id: i64) -> String {
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

#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// Waits between tries, after the first.
    pub schedule: Vec<Duration>,
    pub timeout: Duration,
    pub disable_after: Duration,
}

impl SenderSettings {
    pub fn from_config(cfg: &crate::config::Config) -> Self {
        Self {
            schedule: cfg.webhook_retry_schedule.clone(),
            timeout: cfg.webhook_timeout,
            disable_after: cfg.webhook_disable_after,
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

    /// A batch of the webhook queue; only database failures come back.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let results: Vec<(Option<String>, bool)> = stream::iter(event.records)
            .map(|msg| async move {
                let ok = match serde_json::from_str::<DeliveryMessage>(
                    msg.body.as_deref().unwrap_or(""),
                ) {
                    // Not ours to read: dropped (it names nothing).
                    Err(e) => {
                        tracing::error!(error = %e, "unreadable webhook queue message dropped");
                        true
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
                c.attempt,
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
