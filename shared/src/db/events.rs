//! Receipt events: the outbox every status transition writes (see
//! [`crate::db`]), read back per user in order. Event ids are numbered
//! per user (1, 2, 3, …) and committed in that order, so "everything after
//! N" never skips an event that commits later.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use crate::db::RepoError;
use crate::domain::{ReceiptId, UserId};

/// Every event type, in the order a receipt usually meets them.
pub const EVENT_TYPES: [&str; 10] = [
    "receipt.created",
    "receipt.queued",
    "receipt.processing",
    "receipt.completed",
    "receipt.failed",
    "receipt.dead_lettered",
    "receipt.requeued",
    "receipt.unqueued",
    "receipt.cancelled",
    "receipt.deleted",
];

/// One status transition of one receipt.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptEvent {
    /// The event's number among the user's events; the SSE `id:`.
    #[sqlx(rename = "seq")]
    pub id: i64,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub receipt_id: i64,
    /// The receipt's status after the transition.
    pub status: String,
    /// `{receipt_id, status, attempts, error}`, and for `receipt.completed`
    /// the receipt's `summary` (as the webhook payload's). Once the receipt
    /// is deleted, its events keep only `{receipt_id, status}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Reads and prunes the outbox.
#[derive(Clone, Debug)]
pub struct EventLog {
    pool: PgPool,
}

impl EventLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The user's events after `after`, oldest first, at most `limit`,
    /// optionally of one receipt.
    pub async fn after(
        &self,
        user: &UserId,
        after: i64,
        receipt: Option<ReceiptId>,
        limit: u32,
    ) -> Result<Vec<ReceiptEvent>, RepoError> {
        Ok(sqlx::query_as(
            "SELECT seq, type, receipt_id, status, data, created_at FROM receipt_events \
             WHERE user_id = $1 AND seq > $2 AND ($3::bigint IS NULL OR receipt_id = $3) \
             ORDER BY seq LIMIT $4",
        )
        .bind(user.as_str())
        .bind(after)
        .bind(receipt.map(ReceiptId::get))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The number of the user's latest event (0: none yet): where a stream
    /// that wants only what happens from now on starts.
    pub async fn latest(&self, user: &UserId) -> Result<i64, RepoError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM receipt_event_seq WHERE user_id = $1")
                .bind(user.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(last.unwrap_or(0))
    }

    /// Deletes events, and finished webhook deliveries, older than
    /// `retention`, at most `batch` of each; returns how many events went.
    pub async fn prune(&self, retention: Duration, batch: u32) -> Result<u64, RepoError> {
        let events = sqlx::query(
            "DELETE FROM receipt_events WHERE ctid = ANY (ARRAY( \
                 SELECT ctid FROM receipt_events WHERE created_at < now() - make_interval(secs => $1) \
                 LIMIT $2))",
        )
        .bind(retention.as_secs_f64())
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id = ANY (ARRAY( \
                 SELECT id FROM webhook_deliveries \
                 WHERE created_at < now() - make_interval(secs => $1) AND state IN ('delivered', 'failed') \
                 LIMIT $2))",
        )
        .bind(retention.as_secs_f64())
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        Ok(events.rows_affected())
    }
}
