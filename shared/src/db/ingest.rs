//! What ingest and the reconciler ask: registering an uploaded object,
//! requeueing the dead-lettered and the stuck.

use std::time::Duration;

use super::outbox::with_outbox;
use super::types::{NewReceipt, QueuedReceipt, Registered};
use super::{ReceiptRepository, RepoError};

impl ReceiptRepository {
    /// The receipt an S3 upload event names, registered in one statement:
    /// created (a direct presigned upload) or found by bucket and key (an
    /// upload through the API, whose row is committed before its object is
    /// stored), and with `queue` moved `pending` → `queued` (AUTO_OCR).
    /// The same event twice gives one receipt and one job. `None`: another
    /// delivery of the event created it concurrently (and queues it), or
    /// the object's receipt was deleted (a late copy of its event).
    pub async fn register_upload(
        &self,
        new: NewReceipt<'_>,
        queue: bool,
    ) -> Result<Option<Registered>, RepoError> {
        // A deletion of this object's receipt that is committing now is
        // waited for first, so that the statement below (a new snapshot)
        // sees its tombstone and does not make the receipt again. KEY
        // SHARE is the weakest lock a DELETE waits out: process-all's
        // NO KEY UPDATE ... SKIP LOCKED must not skip the receipt meanwhile.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM receipts WHERE bucket = $1 AND object_key = $2 FOR KEY SHARE")
            .bind(new.bucket)
            .bind(new.object_key)
            .fetch_optional(&mut *tx)
            .await?;
        let row: Option<(i64, String, String, String, String, bool, bool)> = sqlx::query_as(
            &with_outbox(
                "created AS ( \
                     INSERT INTO receipts (user_id, bucket, object_key, file_name, content_type, size_bytes, \
                                           ocr_status, queued_at, priority, locale) \
                     SELECT $1, $2, $3, $4, $5, $6, \
                             CASE WHEN $7 THEN 'queued' ELSE 'pending' END, CASE WHEN $7 THEN now() END, \
                             coalesce((SELECT priority FROM upload_intents WHERE bucket = $2 AND object_key = $3), \
                                 $8), \
                             (SELECT locale FROM upload_intents WHERE bucket = $2 AND object_key = $3) \
                     WHERE NOT EXISTS (SELECT 1 FROM storage_deletions WHERE bucket = $2 AND object_key = $3) \
                     ON CONFLICT (bucket, object_key) DO NOTHING \
                     RETURNING id, user_id, bucket, object_key, priority, ocr_status, attempts, last_error), \
                 found AS ( \
                     SELECT id, user_id, bucket, object_key, priority FROM receipts \
                     WHERE bucket = $2 AND object_key = $3 AND NOT EXISTS (SELECT 1 FROM created)), \
                 queued AS ( \
                     UPDATE receipts r SET ocr_status = 'queued', queued_at = now() FROM found \
                     WHERE $7 AND r.id = found.id AND r.ocr_status = 'pending' \
                     RETURNING r.id, r.user_id, r.ocr_status, r.attempts, r.last_error), \
                 moved AS ( \
                     SELECT id, user_id, 'receipt.created' AS ev_type, 'pending' AS ocr_status, attempts, \
                         last_error, 0 AS ev_rank FROM created \
                     UNION ALL \
                     SELECT id, user_id, 'receipt.queued', ocr_status, attempts, last_error, 1 \
                         FROM created WHERE ocr_status = 'queued' \
                     UNION ALL \
                     SELECT id, user_id, 'receipt.queued', ocr_status, attempts, last_error, 1 FROM queued)",
                "SELECT id, user_id, bucket, object_key, priority, true, ocr_status = 'queued' FROM created \
                 UNION ALL \
                 SELECT id, user_id, bucket, object_key, priority, false, EXISTS (SELECT 1 FROM queued) FROM found",
            ),
        )
        .bind(new.user_id.as_str())
        .bind(new.bucket)
        .bind(new.object_key)
        .bind(new.file_name)
        .bind(new.content_type)
        .bind(new.size_bytes)
        .bind(queue)
        .bind(new.priority.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(
            |(id, user_id, bucket, object_key, priority, created, queued)| Registered {
                receipt: QueuedReceipt {
                    id,
                    user_id,
                    bucket,
                    object_key,
                    priority,
                },
                created,
                queued,
            },
        ))
    }

    /// `failed` → `queued` for the receipts whose message went to the DLQ
    /// (a redrive, which then sends each a fresh message).
    pub async fn requeue_dead_lettered(&self) -> Result<Vec<QueuedReceipt>, RepoError> {
        let mut rows: Vec<QueuedReceipt> = sqlx::query_as(
            &with_outbox(
                "done AS (UPDATE receipts SET ocr_status = 'queued', queued_at = now(), dead_lettered_at = NULL \
                     WHERE dead_lettered_at IS NOT NULL AND ocr_status = 'failed' \
                     RETURNING id, user_id, bucket, object_key, priority, ocr_status, attempts, last_error), \
                 moved AS (SELECT id, user_id, 'receipt.requeued' AS ev_type, ocr_status, attempts, \
                     last_error, 0 AS ev_rank FROM done)",
                "SELECT id, user_id, bucket, object_key, priority FROM done",
            ),
        )
        .fetch_all(&self.pool)
        .await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Receipts `queued` or `processing`: each has a message in the OCR
    /// queue unless it was lost.
    pub async fn count_in_flight(&self) -> Result<i64, RepoError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM receipts WHERE ocr_status IN ('queued', 'processing')",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Receipts that may have lost their message: `processing` past their
    /// lease (the worker died), or `queued` for longer than `queued_for`.
    /// Moves up to `limit` of them, oldest first, to a fresh `queued` and
    /// returns them, to be sent again.
    pub async fn take_stuck(
        &self,
        queued_for: Duration,
        limit: u32,
    ) -> Result<Vec<QueuedReceipt>, RepoError> {
        let mut rows: Vec<QueuedReceipt> = sqlx::query_as(
            &with_outbox(
                "stuck AS MATERIALIZED ( \
                     SELECT id FROM receipts \
                     WHERE (ocr_status = 'processing' AND lease_expires_at < now()) \
                        OR (ocr_status = 'queued' AND queued_at < now() - make_interval(secs => $1)) \
                     ORDER BY coalesce(lease_expires_at, queued_at), id LIMIT $2 FOR UPDATE SKIP LOCKED), \
                 done AS (UPDATE receipts r SET ocr_status = 'queued', queued_at = now(), lease_expires_at = NULL \
                     FROM stuck WHERE r.id = stuck.id \
                     RETURNING r.id, r.user_id, r.bucket, r.object_key, r.priority, r.ocr_status, \
                         r.attempts, r.last_error), \
                 moved AS (SELECT id, user_id, 'receipt.requeued' AS ev_type, ocr_status, attempts, \
                     last_error, 0 AS ev_rank FROM done)",
                "SELECT id, user_id, bucket, object_key, priority FROM done",
            ),
        )
        .bind(queued_for.as_secs_f64())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }
}
