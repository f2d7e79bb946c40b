//! Deleting receipts: one, a batch of a user's (an erasure), or the
//! expired ones (retention); and the S3 objects they leave to delete.
//!
//! Every deletion is one statement: the rows (metadata and items by
//! cascade), the webhook deliveries of the receipt's events, its upload
//! intent, the `data` of its earlier events, its object written to
//! `storage_deletions`, and the event `receipt.deleted` (which carries no
//! receipt data) through the outbox.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use super::outbox::with_outbox;
use super::{ReceiptRepository, RepoError};
use crate::domain::{ReceiptId, UserId};

/// An S3 object a deleted receipt leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, FromRow)]
pub struct StoredObject {
    pub bucket: String,
    #[sqlx(rename = "object_key")]
    pub key: String,
}

/// `{picked}` selects the `id`s to delete; the statement's result is the
/// objects of what it deleted.
fn delete_sql(picked: &str, main: &str) -> String {
    with_outbox(
        &format!(
            "picked AS MATERIALIZED ({picked}), \
             gone AS (DELETE FROM receipts r USING picked WHERE r.id = picked.id \
                 RETURNING r.id, r.user_id, r.bucket, r.object_key), \
             moved AS (SELECT id, user_id, 'receipt.deleted' AS ev_type, 'deleted' AS ocr_status, \
                 NULL::int AS attempts, NULL::text AS last_error, 0 AS ev_rank FROM gone), \
             forgotten AS (UPDATE receipt_events e \
                 SET data = jsonb_build_object('receipt_id', e.receipt_id, 'status', e.status) \
                 FROM gone WHERE e.user_id = gone.user_id AND e.receipt_id = gone.id), \
             undelivered AS (DELETE FROM webhook_deliveries d USING receipt_events e, gone \
                 WHERE e.user_id = gone.user_id AND e.receipt_id = gone.id \
                   AND d.user_id = e.user_id AND d.event_seq = e.seq), \
             intents AS (DELETE FROM upload_intents i USING gone \
                 WHERE i.bucket = gone.bucket AND i.object_key = gone.object_key), \
             objects AS (INSERT INTO storage_deletions (bucket, object_key) \
                 SELECT bucket, object_key FROM gone ON CONFLICT DO NOTHING)"
        ),
        main,
    )
}

/// What one batch of an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedBatch {
    /// The objects of the receipts it deleted.
    pub objects: Vec<StoredObject>,
    /// The erasure is done (by this batch or before it).
    pub finished: bool,
}

/// An erasure: what was asked, by whom, and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Erasure {
    pub id: i64,
    /// Whose data.
    pub user_id: String,
    /// Receipts uploaded before this day (UTC); `null`: everything of the
    /// user, the account's webhooks, settings and events included.
    pub before: Option<NaiveDate>,
    /// Who asked: the user, an operator, or `retention`.
    pub requested_by: String,
    /// `running` or `done`.
    pub state: String,
    /// Receipts deleted so far.
    pub receipts_deleted: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const ERASURE_COLUMNS: &str = "id, user_id, before, requested_by, state, receipts_deleted, \
     created_at, updated_at, finished_at";

impl ReceiptRepository {
    /// Deletes one of the user's receipts, whatever its status. `None`: the
    /// user has no such receipt (another user's, or already deleted).
    pub async fn delete_receipt(
        &self,
        user: &UserId,
        id: ReceiptId,
    ) -> Result<Option<StoredObject>, RepoError> {
        Ok(sqlx::query_as(&delete_sql(
            "SELECT id FROM receipts WHERE id = $1 AND user_id = $2",
            "SELECT bucket, object_key FROM gone",
        ))
        .bind(id.get())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Removes a receipt that never got its object (the API's S3 upload
    /// failed), as any deletion does. Its key is listed for deletion all
    /// the same: a PUT that failed on the way back may have stored it.
    pub async fn delete_pending(&self, id: ReceiptId) -> Result<bool, RepoError> {
        let deleted: i64 = sqlx::query_scalar(&delete_sql(
            "SELECT id FROM receipts WHERE id = $1 AND ocr_status = 'pending'",
            "SELECT count(*) FROM gone",
        ))
        .bind(id.get())
        .fetch_one(&self.pool)
        .await?;
        Ok(deleted == 1)
    }

    /// Asks for an erasure; one already running for the same user and
    /// scope is answered instead of a second.
    pub async fn request_erasure(
        &self,
        user: &UserId,
        before: Option<NaiveDate>,
        requested_by: &str,
    ) -> Result<Erasure, RepoError> {
        for _ in 0..3 {
            let row: Option<Erasure> = sqlx::query_as(&format!(
                "WITH ins AS ( \
                     INSERT INTO erasures (user_id, before, requested_by) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, coalesce(before, 'infinity'::date)) WHERE state = 'running' \
                     DO NOTHING RETURNING {ERASURE_COLUMNS}) \
                 SELECT {ERASURE_COLUMNS} FROM ins \
                 UNION ALL \
                 SELECT {ERASURE_COLUMNS} FROM erasures WHERE user_id = $1 \
                     AND before IS NOT DISTINCT FROM $2 AND state = 'running' \
                     AND NOT EXISTS (SELECT 1 FROM ins)"
            ))
            .bind(user.as_str())
            .bind(before)
            .bind(requested_by)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(e) = row {
                return Ok(e);
            }
            // The running one finished between the two reads: ask again.
        }
        Err(RepoError::Corrupt(format!(
            "no erasure of {user} could be recorded"
        )))
    }

    pub async fn erasure(&self, id: i64) -> Result<Option<Erasure>, RepoError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ERASURE_COLUMNS} FROM erasures WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Erasures still running, oldest first.
    pub async fn running_erasures(&self, limit: u32) -> Result<Vec<Erasure>, RepoError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ERASURE_COLUMNS} FROM erasures WHERE state = 'running' ORDER BY id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// One batch of an erasure, in one transaction: up to `limit` of its
    /// receipts deleted and counted on the erasure; when fewer were left,
    /// the erasure ends in the same transaction. Erasing everything of a
    /// user deletes, first, their webhook endpoints (so that the deletions
    /// are not sent to them one by one) and, at the end, the rest of the
    /// account: events, deliveries, settings, rate-limit state, presigned
    /// uploads handed out. The erasure's row is locked first, so two runs
    /// of one erasure (the request's and the reconciler's) take turns, and
    /// its end cannot pass a batch still in flight.
    pub async fn erase_batch(
        &self,
        erasure: &Erasure,
        limit: u32,
    ) -> Result<ErasedBatch, RepoError> {
        let everything = erasure.before.is_none();
        if everything {
            // On its own, before the batch's locks: a worker writing a
            // delivery for an endpoint while the batch waits for that
            // worker's receipt would otherwise deadlock with it.
            sqlx::query(
                "DELETE FROM webhook_endpoints WHERE user_id = $1 \
                 AND EXISTS (SELECT 1 FROM erasures WHERE id = $2 AND state = 'running')",
            )
            .bind(&erasure.user_id)
            .bind(erasure.id)
            .execute(&self.pool)
            .await?;
        }
        let mut tx = self.pool.begin().await?;
        let running: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM erasures WHERE id = $1 AND state = 'running' FOR UPDATE",
        )
        .bind(erasure.id)
        .fetch_optional(&mut *tx)
        .await?;
        if running.is_none() {
            return Ok(ErasedBatch {
                objects: Vec::new(),
                finished: true,
            });
        }
        // Locked receipts (a worker writing one) are waited for, not
        // skipped: the end of the erasure must not pass one.
        let objects: Vec<StoredObject> = sqlx::query_as(&delete_sql(
            "SELECT id FROM receipts WHERE user_id = $1 \
                 AND ($2::date IS NULL OR created_at < $2::date::timestamp AT TIME ZONE 'UTC') \
                 ORDER BY id LIMIT $3 FOR UPDATE",
            "SELECT bucket, object_key FROM gone",
        ))
        .bind(&erasure.user_id)
        .bind(erasure.before)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let finished = objects.len() < limit as usize;
        if finished && everything {
            for table in ACCOUNT_TABLES {
                sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                    .bind(&erasure.user_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "UPDATE erasures SET receipts_deleted = receipts_deleted + $2, \
                 state = CASE WHEN $3 THEN 'done' ELSE state END, \
                 finished_at = CASE WHEN $3 THEN now() END \
             WHERE id = $1",
        )
        .bind(erasure.id)
        .bind(objects.len() as i64)
        .bind(finished)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ErasedBatch { objects, finished })
    }

    /// Deletes up to `limit` receipts, of any user, uploaded more than
    /// `days` days ago (retention). Returns their objects.
    pub async fn delete_expired(
        &self,
        days: u32,
        limit: u32,
    ) -> Result<Vec<StoredObject>, RepoError> {
        Ok(sqlx::query_as(&delete_sql(
            "SELECT id FROM receipts WHERE created_at < now() - make_interval(days => $1) \
                 ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
            "SELECT bucket, object_key FROM gone",
        ))
        .bind(i32::try_from(days).unwrap_or(i32::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}

/// What an account holds beyond its receipts and webhook endpoints, in the
/// order it is deleted.
const ACCOUNT_TABLES: [&str; 7] = [
    "webhook_deliveries",
    "webhook_endpoints",
    "receipt_events",
    "receipt_event_seq",
    "user_settings",
    "rate_limit_buckets",
    "upload_intents",
];

/// The objects of deleted receipts, until S3 confirms them gone.
pub struct StorageDeletions<'a>(pub &'a PgPool);

impl StorageDeletions<'_> {
    /// Up to `limit` objects whose deletion is due (never tried, or tried
    /// and failed long enough ago).
    pub async fn due(&self, limit: u32) -> Result<Vec<StoredObject>, RepoError> {
        Ok(sqlx::query_as(
            "SELECT bucket, object_key FROM storage_deletions \
             WHERE next_attempt_at <= now() AND deleted_at IS NULL \
             ORDER BY next_attempt_at LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.0)
        .await?)
    }

    /// S3 confirmed these gone: kept as tombstones until [`Self::prune`].
    pub async fn done(&self, objects: &[StoredObject]) -> Result<(), RepoError> {
        let (buckets, keys) = columns(objects);
        sqlx::query(
            "UPDATE storage_deletions s SET deleted_at = now(), last_error = NULL \
             FROM UNNEST($1::text[], $2::text[]) AS u(b, k) \
             WHERE s.bucket = u.b AND s.object_key = u.k AND s.deleted_at IS NULL",
        )
        .bind(buckets)
        .bind(keys)
        .execute(self.0)
        .await?;
        Ok(())
    }

    /// S3 refused these: tried again later, each time waiting longer (1
    /// minute doubling, up to a day).
    pub async fn failed(&self, objects: &[StoredObject], error: &str) -> Result<(), RepoError> {
        let (buckets, keys) = columns(objects);
        sqlx::query(
            "UPDATE storage_deletions s SET attempts = attempts + 1, last_error = $3, \
                 next_attempt_at = now() + least(interval '1 day', \
                     interval '1 minute' * power(2, least(attempts, 11))) \
             FROM UNNEST($1::text[], $2::text[]) AS u(b, k) \
             WHERE s.bucket = u.b AND s.object_key = u.k",
        )
        .bind(buckets)
        .bind(keys)
        .bind(error)
        .execute(self.0)
        .await?;
        Ok(())
    }
}

impl StorageDeletions<'_> {
    /// Forgets up to `limit` objects deleted longer than `after` ago.
    pub async fn prune(&self, after: std::time::Duration, limit: u32) -> Result<u64, RepoError> {
        Ok(sqlx::query(
            "DELETE FROM storage_deletions WHERE (bucket, object_key) IN ( \
                 SELECT bucket, object_key FROM storage_deletions \
                 WHERE deleted_at < now() - make_interval(secs => $1) LIMIT $2)",
        )
        .bind(after.as_secs_f64())
        .bind(i64::from(limit))
        .execute(self.0)
        .await?
        .rows_affected())
    }
}

fn columns(objects: &[StoredObject]) -> (Vec<&str>, Vec<&str>) {
    objects
        .iter()
        .map(|o| (o.bucket.as_str(), o.key.as_str()))
        .unzip()
}
