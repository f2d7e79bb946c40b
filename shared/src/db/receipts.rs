//! Uploads, reads, queueing, cancel and requeue: what the API's use cases
//! ask of the receipts table.

use std::collections::HashMap;
use std::time::Duration;

use crate::domain::{OcrStatus, Page, Priority, ReceiptId, UserId};

use super::outbox::{mark_ctes, with_outbox};
use super::types::{
    NewReceipt, QueuedReceipt, RECEIPT_COLUMNS, Receipt, ReceiptDetail, ReceiptRow, Requeue,
    StatusCounts, StoredItem, StoredMetadata, UploadIntent, UploadIntentRow,
};
use super::{ReceiptRepository, RepoError};

impl ReceiptRepository {
    /// Stores a new `pending` receipt. `None`: the user already has a
    /// receipt of this idempotency key (see [`Self::by_idempotency_key`]).
    pub async fn insert_pending(&self, new: NewReceipt<'_>) -> Result<Option<Receipt>, RepoError> {
        let row: Option<ReceiptRow> = sqlx::query_as(&with_outbox(
            &format!(
                "ins AS (INSERT INTO receipts (user_id, bucket, object_key, file_name, content_type, \
                     size_bytes, purchase_date, priority, content_sha256, idempotency_key, locale) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
                     RETURNING {RECEIPT_COLUMNS}), \
                 moved AS (SELECT id, user_id, 'receipt.created' AS ev_type, ocr_status, attempts, \
                     last_error, 0 AS ev_rank FROM ins)"
            ),
            &format!("SELECT {RECEIPT_COLUMNS} FROM ins"),
        ))
        .bind(new.user_id.as_str())
        .bind(new.bucket)
        .bind(new.object_key)
        .bind(new.file_name)
        .bind(new.content_type)
        .bind(new.size_bytes)
        .bind(new.purchase_date)
        .bind(new.priority.as_str())
        .bind(new.content_sha256)
        .bind(new.idempotency_key)
        .bind(new.locale)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Receipt::try_from).transpose()
    }

    /// The user's receipt made by the upload of this idempotency key.
    pub async fn by_idempotency_key(
        &self,
        user: &UserId,
        key: &str,
    ) -> Result<Option<Receipt>, RepoError> {
        self.one_of(user, "idempotency_key = $2", &[key]).await
    }

    /// The user's oldest receipt of these bytes (hex SHA-256), if any.
    pub async fn by_content(
        &self,
        user: &UserId,
        sha256: &str,
    ) -> Result<Option<Receipt>, RepoError> {
        self.one_of(user, "content_sha256 = $2 ORDER BY id LIMIT 1", &[sha256])
            .await
    }

    /// The first of the user's receipts meeting `condition` (on `$2`…,
    /// bound to `args`).
    async fn one_of(
        &self,
        user: &UserId,
        condition: &str,
        args: &[&str],
    ) -> Result<Option<Receipt>, RepoError> {
        let sql =
            format!("SELECT {RECEIPT_COLUMNS} FROM receipts WHERE user_id = $1 AND {condition}");
        let mut q = sqlx::query_as::<_, ReceiptRow>(&sql).bind(user.as_str());
        for a in args {
            q = q.bind(*a);
        }
        q.fetch_optional(&self.pool)
            .await?
            .map(Receipt::try_from)
            .transpose()
    }

    /// Whether the receipt exists (of any user).
    pub async fn exists(&self, id: ReceiptId) -> Result<bool, RepoError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM receipts WHERE id = $1)")
                .bind(id.get())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn get(&self, user: &UserId, id: ReceiptId) -> Result<Option<Receipt>, RepoError> {
        let row: Option<ReceiptRow> = sqlx::query_as(&format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE id = $1 AND user_id = $2"
        ))
        .bind(id.get())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Receipt::try_from).transpose()
    }

    /// One of the user's receipts with its extracted data.
    pub async fn get_detail(
        &self,
        user: &UserId,
        id: ReceiptId,
    ) -> Result<Option<ReceiptDetail>, RepoError> {
        let Some(receipt) = self.get(user, id).await? else {
            return Ok(None);
        };
        Ok(self.with_details(vec![receipt]).await?.pop())
    }

    /// The user's receipts, newest first, with extracted data; and how many
    /// there are in all.
    pub async fn list(
        &self,
        user: &UserId,
        status: Option<OcrStatus>,
        page: Page,
    ) -> Result<(Vec<ReceiptDetail>, i64), RepoError> {
        let status = status.map(OcrStatus::as_str);
        let rows: Vec<ReceiptRow> = sqlx::query_as(&format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts \
             WHERE user_id = $1 AND ($2::text IS NULL OR ocr_status = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(user.as_str())
        .bind(status)
        .bind(i64::from(page.per_page))
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM receipts WHERE user_id = $1 AND ($2::text IS NULL OR ocr_status = $2)",
        )
        .bind(user.as_str())
        .bind(status)
        .fetch_one(&self.pool)
        .await?;
        let receipts = rows
            .into_iter()
            .map(Receipt::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((self.with_details(receipts).await?, total))
    }

    /// Loads metadata and items for many receipts in two queries.
    async fn with_details(&self, receipts: Vec<Receipt>) -> Result<Vec<ReceiptDetail>, RepoError> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = receipts.iter().map(|r| r.id.get()).collect();
        let metadata: Vec<StoredMetadata> = sqlx::query_as(
            "SELECT receipt_id, merchant_name, merchant_address, purchase_date, currency, subtotal, tax, total, \
                    tip, locale, validation, confidence, field_confidence, engine, duration_ms, raw_text \
             FROM receipt_metadata WHERE receipt_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let items: Vec<StoredItem> = sqlx::query_as(
            "SELECT receipt_id, position, name, code, quantity, unit_price, amount \
             FROM receipt_items WHERE receipt_id = ANY($1) ORDER BY receipt_id, position",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut metadata: HashMap<i64, StoredMetadata> =
            metadata.into_iter().map(|m| (m.receipt_id, m)).collect();
        let mut items_by: HashMap<i64, Vec<StoredItem>> = HashMap::new();
        for item in items {
            items_by.entry(item.receipt_id).or_default().push(item);
        }
        Ok(receipts
            .into_iter()
            .map(|r| ReceiptDetail {
                metadata: metadata.remove(&r.id.get()),
                items: items_by.remove(&r.id.get()).unwrap_or_default(),
                receipt: r,
            })
            .collect())
    }

    /// The user's pending receipts, oldest first (read only).
    pub async fn get_pending_ocr_receipts(
        &self,
        user: &UserId,
        limit: u32,
    ) -> Result<Vec<Receipt>, RepoError> {
        let rows: Vec<ReceiptRow> = sqlx::query_as(&format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE user_id = $1 AND ocr_status = 'pending' \
             ORDER BY created_at, id LIMIT $2"
        ))
        .bind(user.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Receipt::try_from).collect()
    }

    /// `from` (`pending`, or `failed` for a bulk retry) → `queued` for up
    /// to `limit` of the user's oldest such receipts, in one statement;
    /// returns exactly the receipts it moved. Concurrent callers never get
    /// the same receipt.
    pub async fn mark_queued_batch(
        &self,
        user: &UserId,
        from: OcrStatus,
        limit: u32,
        priority: Option<Priority>,
    ) -> Result<Vec<QueuedReceipt>, RepoError> {
        let rows: Vec<QueuedReceipt> = sqlx::query_as(
            // The CTE is materialized once (a locking subquery under `IN`
            // may be re-scanned by a nested loop, and its LIMIT with it).
            &with_outbox(
                &mark_ctes("$2"),
                "SELECT id, user_id, bucket, object_key, priority FROM done",
            ),
        )
        .bind(user.as_str())
        .bind(i64::from(limit))
        .bind(from.as_str())
        .bind(priority.map(Priority::as_str))
        .fetch_all(&self.pool)
        .await?;
        let mut rows = rows;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// `queued` → `status` for receipts whose message could not be sent.
    pub async fn unqueue(&self, ids: &[i64], status: OcrStatus) -> Result<u64, RepoError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let done: i64 = sqlx::query_scalar(&with_outbox(
            "done AS (UPDATE receipts SET ocr_status = $2, queued_at = NULL \
                 WHERE id = ANY($1) AND ocr_status = 'queued' \
                 RETURNING id, user_id, ocr_status, attempts, last_error), \
             moved AS (SELECT id, user_id, 'receipt.unqueued' AS ev_type, ocr_status, attempts, \
                 last_error, 0 AS ev_rank FROM done)",
            "SELECT count(*) FROM done",
        ))
        .bind(ids)
        .bind(status.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(done as u64)
    }

    /// Cancels the OCR of the user's queued receipts (`id`, or all of
    /// them): `queued` → `pending`, event `receipt.cancelled`. The message
    /// already sent is acknowledged without OCR, as the worker's claim
    /// finds nothing claimable. Returns the ids it moved.
    pub async fn cancel(
        &self,
        user: &UserId,
        id: Option<ReceiptId>,
    ) -> Result<Vec<i64>, RepoError> {
        let mut ids: Vec<i64> = sqlx::query_scalar(&with_outbox(
            "done AS (UPDATE receipts SET ocr_status = 'pending', queued_at = NULL \
                 WHERE user_id = $1 AND ($2::bigint IS NULL OR id = $2) AND ocr_status = 'queued' \
                 RETURNING id, user_id, ocr_status, attempts, last_error), \
             moved AS (SELECT id, user_id, 'receipt.cancelled' AS ev_type, ocr_status, attempts, \
                 last_error, 0 AS ev_rank FROM done)",
            "SELECT id FROM done",
        ))
        .bind(user.as_str())
        .bind(id.map(ReceiptId::get))
        .fetch_all(&self.pool)
        .await?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Records a presigned upload handed out, or, for an idempotency key
    /// the user has used before, returns the upload it was for (the same
    /// object). One statement; a concurrent twin is read once it commits.
    pub async fn upload_intent(&self, intent: &UploadIntent) -> Result<UploadIntent, RepoError> {
        for _ in 0..3 {
            let row: Option<UploadIntentRow> = sqlx::query_as(
                "WITH ins AS ( \
                     INSERT INTO upload_intents (bucket, object_key, user_id, idempotency_key, content_type, priority, locale) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING \
                     RETURNING bucket, object_key, user_id, idempotency_key, content_type, priority, locale) \
                 SELECT * FROM ins \
                 UNION ALL \
                 SELECT bucket, object_key, user_id, idempotency_key, content_type, priority, locale \
                 FROM upload_intents WHERE user_id = $3 AND idempotency_key = $4 \
                     AND NOT EXISTS (SELECT 1 FROM ins)",
            )
            .bind(&intent.bucket)
            .bind(&intent.object_key)
            .bind(intent.user_id.as_str())
            .bind(&intent.idempotency_key)
            .bind(&intent.content_type)
            .bind(intent.priority.as_str())
            .bind(&intent.locale)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                return row.try_into();
            }
            // The twin's row was not yet committed when this statement began.
        }
        Err(RepoError::Corrupt(
            "upload intent neither inserted nor found".to_owned(),
        ))
    }

    /// The receipt registered for an object, if its upload has arrived.
    pub async fn by_object(
        &self,
        user: &UserId,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Receipt>, RepoError> {
        self.one_of(user, "bucket = $2 AND object_key = $3", &[bucket, key])
            .await
    }

    /// Forgets presigned uploads handed out before `older_than` ago.
    pub async fn prune_upload_intents(&self, older_than: Duration) -> Result<u64, RepoError> {
        Ok(sqlx::query(
            "DELETE FROM upload_intents WHERE created_at < now() - make_interval(secs => $1)",
        )
        .bind(older_than.as_secs_f64())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// `failed` or `pending` (or `completed`, when `allow_completed`) →
    /// `queued`, for one of the user's receipts.
    pub async fn requeue(
        &self,
        user: &UserId,
        id: ReceiptId,
        allow_completed: bool,
        priority: Option<Priority>,
    ) -> Result<Requeue, RepoError> {
        let mut from = vec!["failed", "pending"];
        if allow_completed {
            from.push("completed");
        }
        let row: Option<(String, i64, String, String, String, String)> = sqlx::query_as(
            &with_outbox(
                "prev AS (SELECT id, ocr_status FROM receipts WHERE id = $1 AND user_id = $2 FOR UPDATE), \
                 done AS (UPDATE receipts r SET ocr_status = 'queued', queued_at = now(), dead_lettered_at = NULL, \
                     priority = coalesce($4, r.priority) \
                     FROM prev WHERE r.id = prev.id AND r.ocr_status = ANY($3) \
                     RETURNING prev.ocr_status AS previous, r.id, r.user_id, r.bucket, r.object_key, \
                         r.priority, r.ocr_status, r.attempts, r.last_error), \
                 moved AS (SELECT id, user_id, \
                     CASE WHEN previous = 'pending' THEN 'receipt.queued' ELSE 'receipt.requeued' END AS ev_type, \
                     ocr_status, attempts, last_error, 0 AS ev_rank FROM done)",
                "SELECT previous, id, user_id, bucket, object_key, priority FROM done",
            ),
        )
        .bind(id.get())
        .bind(user.as_str())
        .bind(&from)
        .bind(priority.map(Priority::as_str))
        .fetch_optional(&self.pool)
        .await?;
        if let Some((previous, id, user_id, bucket, object_key, priority)) = row {
            let previous = previous
                .parse()
                .map_err(|_| RepoError::Corrupt(format!("receipt {id} status {previous:?}")))?;
            return Ok(Requeue::Queued {
                previous,
                receipt: QueuedReceipt {
                    id,
                    user_id,
                    bucket,
                    object_key,
                    priority,
                },
            });
        }
        Ok(match self.get(user, id).await? {
            None => Requeue::NotFound,
            Some(r) => Requeue::NotAllowed(r.status),
        })
    }

    /// Counts of the user's receipts by status.
    pub async fn status_counts(&self, user: &UserId) -> Result<StatusCounts, RepoError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT ocr_status, count(*) FROM receipts WHERE user_id = $1 GROUP BY ocr_status",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?;
        StatusCounts::from_rows(rows)
    }
}
