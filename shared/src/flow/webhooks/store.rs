//! Endpoints and deliveries in Postgres: registration, the relay's and the
//! reconciler's queries, and the sender's claim and record of a try.

use std::time::Duration;

use sqlx::PgPool;

use super::{
    CreatedEndpoint, Delivery, Endpoint, MAX_ENDPOINTS_PER_USER, TEST_EVENT, WebhookError,
    new_secret,
};
use crate::db::RepoError;
use crate::domain::UserId;

const DELIVERY_COLUMNS: &str = "id, 'msg_' || id AS webhook_id, endpoint_id, event_type, event_seq AS event_id, \
     state, attempts, next_attempt_at, last_status, last_error, delivered_at, created_at";
const ENDPOINT_COLUMNS: &str =
    "id, url, event_types, enabled, disabled_reason, failing_since, created_at";

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
    pub(super) async fn take_unsent(&self, limit: u32) -> Result<Vec<(i64, i32)>, RepoError> {
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

    pub(super) async fn unsend(&self, ids: &[i64]) -> Result<(), RepoError> {
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

    pub(super) async fn claim(&self, id: i64, lease: Duration) -> Result<Claim, RepoError> {
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
    pub(super) async fn record(
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
pub(super) enum Claim {
    Claimed(Claimed),
    /// Pending, due in this many seconds (the message came early).
    NotDue(i32),
    /// Delivered, failed, being sent, or gone: nothing to do.
    Closed,
}

#[derive(Debug)]
pub(super) struct Claimed {
    pub(super) id: i64,
    pub(super) attempt: i32,
    pub(super) endpoint_id: i64,
    pub(super) url: String,
    pub(super) secret: String,
    pub(super) enabled: bool,
    pub(super) payload: serde_json::Value,
    pub(super) user_id: String,
}

/// What one try came to.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TryResult {
    pub(super) status: Option<u16>,
    pub(super) error: Option<String>,
    pub(super) next: Next,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Next {
    Delivered,
    Retry(Duration),
    Fail,
    Gone,
}
