//! The worker's transitions: claim, complete, fail, release; each one
//! conditional statement with its outbox.

use std::time::Duration;

use crate::domain::OcrStatus;
use crate::domain::extraction::Extraction;
use crate::domain::message::OcrMessage;

use super::outbox::{COMPLETED_SUMMARY, with_outbox, with_outbox_summary};
use super::types::{Claim, ClaimOutcome, ItemColumns, json_of};
use super::{ReceiptRepository, RepoError};

/// `complete`'s statement before its outbox: the transition, the
/// metadata, and the items upserted by position (those past the new count
/// deleted).
const COMPLETE: &str = "held AS ( \
     UPDATE receipts SET ocr_status = 'completed', last_error = NULL, lease_expires_at = NULL, \
         processed_at = now(), dead_lettered_at = NULL \
     WHERE id = $1 AND ocr_status = 'processing' AND attempts = $2 \
     RETURNING id, user_id, ocr_status, attempts, last_error), \
 moved AS (SELECT id, user_id, 'receipt.completed' AS ev_type, ocr_status, attempts, \
     last_error, 0 AS ev_rank FROM held), \
 meta AS ( \
     INSERT INTO receipt_metadata (receipt_id, merchant_name, merchant_address, purchase_date, \
         currency, subtotal, tax, total, validation, raw_text, confidence, engine, duration_ms, \
         tip, locale, field_confidence) \
     SELECT id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $21, $22, $23 FROM held \
     ON CONFLICT (receipt_id) DO UPDATE SET merchant_name = EXCLUDED.merchant_name, \
         merchant_address = EXCLUDED.merchant_address, purchase_date = EXCLUDED.purchase_date, \
         currency = EXCLUDED.currency, subtotal = EXCLUDED.subtotal, tax = EXCLUDED.tax, \
         total = EXCLUDED.total, validation = EXCLUDED.validation, raw_text = EXCLUDED.raw_text, \
         confidence = EXCLUDED.confidence, engine = EXCLUDED.engine, duration_ms = EXCLUDED.duration_ms, \
         tip = EXCLUDED.tip, locale = EXCLUDED.locale, field_confidence = EXCLUDED.field_confidence), \
 gone AS ( \
     DELETE FROM receipt_items WHERE receipt_id IN (SELECT id FROM held) \
         AND position >= cardinality($15::int[])), \
 items AS ( \
     INSERT INTO receipt_items (receipt_id, position, name, quantity, unit_price, amount, code) \
     SELECT held.id, u.* FROM held, \
         UNNEST($15::int[], $16::text[], $17::numeric[], $18::numeric[], $19::numeric[], $20::text[]) AS u \
     ON CONFLICT (receipt_id, position) DO UPDATE SET name = EXCLUDED.name, \
         quantity = EXCLUDED.quantity, unit_price = EXCLUDED.unit_price, amount = EXCLUDED.amount, \
         code = EXCLUDED.code)";

impl ReceiptRepository {
    /// A worker claims the receipt a message names: from `queued`, or from
    /// `processing` whose lease has expired. `failed` is final until a
    /// retry or a redrive sets `queued`. The message must agree with the
    /// row (owner, bucket, key): a message that does not is refused and the
    /// receipt left untouched. The attempt number it returns fences every
    /// later write of this claim.
    pub async fn claim(
        &self,
        job: &OcrMessage,
        lease: Duration,
    ) -> Result<ClaimOutcome, RepoError> {
        let id = job.receipt_id;
        let claimed: Option<(i32, Option<String>)> = sqlx::query_as(&with_outbox(
            "done AS (UPDATE receipts SET ocr_status = 'processing', attempts = attempts + 1, \
                 lease_expires_at = now() + make_interval(secs => $2) \
                 WHERE id = $1 AND user_id = $3 AND bucket = $4 AND object_key = $5 \
                   AND (ocr_status = 'queued' OR (ocr_status = 'processing' AND lease_expires_at < now())) \
                 RETURNING id, user_id, ocr_status, attempts, last_error, locale), \
             moved AS (SELECT id, user_id, 'receipt.processing' AS ev_type, ocr_status, attempts, \
                 last_error, 0 AS ev_rank FROM done)",
            "SELECT done.attempts, coalesce(done.locale, s.locale) FROM done \
             LEFT JOIN user_settings s ON s.user_id = done.user_id",
        ))
        .bind(id.get())
        .bind(lease.as_secs_f64())
        .bind(job.user_id.as_str())
        .bind(&job.bucket)
        .bind(&job.key)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((attempt, locale)) = claimed {
            return Ok(ClaimOutcome::Claimed(Claim {
                receipt_id: id,
                attempt,
                locale,
            }));
        }
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT ocr_status, user_id, bucket, object_key FROM receipts WHERE id = $1",
        )
        .bind(id.get())
        .fetch_optional(&self.pool)
        .await?;
        let Some((status, user_id, bucket, key)) = row else {
            return Ok(ClaimOutcome::NotFound);
        };
        let mut differs = Vec::new();
        if user_id != job.user_id.as_str() {
            differs.push("user_id");
        }
        if bucket != job.bucket {
            differs.push("bucket");
        }
        if key != job.key {
            differs.push("key");
        }
        if !differs.is_empty() {
            return Ok(ClaimOutcome::Mismatch(differs));
        }
        Ok(match status.parse::<OcrStatus>() {
            Ok(OcrStatus::Completed) => ClaimOutcome::AlreadyCompleted,
            Ok(OcrStatus::Failed) => ClaimOutcome::AlreadyFailed,
            Ok(st) => ClaimOutcome::Busy(st),
            Err(_) => {
                return Err(RepoError::Corrupt(format!(
                    "receipt {id} status {status:?}"
                )));
            }
        })
    }

    /// Whether a dead-lettered copy of this message is of no more use: its
    /// receipt is gone, or agrees with it (owner, bucket, key) and is no
    /// longer dead-lettered (re-queued, or since decided). A copy that does
    /// not agree with its row, or whose receipt is dead-lettered, is not.
    pub async fn dead_letter_obsolete(&self, job: &OcrMessage) -> Result<bool, RepoError> {
        let row: Option<bool> = sqlx::query_scalar(
            "SELECT user_id = $2 AND bucket = $3 AND object_key = $4 \
                    AND NOT (ocr_status = 'failed' AND dead_lettered_at IS NOT NULL) \
             FROM receipts WHERE id = $1",
        )
        .bind(job.receipt_id.get())
        .bind(job.user_id.as_str())
        .bind(&job.bucket)
        .bind(&job.key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.unwrap_or(true))
    }

    /// Saves the extraction and marks the receipt `completed` in one
    /// statement (atomic by itself) that writes only while the claim holds.
    /// Returns false (and writes nothing) when the claim was lost. Items
    /// are upserted by position and the ones past the new count deleted, so
    /// the sub-statements touch different rows whatever order they run in.
    pub async fn complete(
        &self,
        claim: &Claim,
        extraction: &Extraction,
    ) -> Result<bool, RepoError> {
        let e = extraction;
        let validation = json_of("validation", &e.validation)?;
        let currency = e
            .currency
            .as_deref()
            .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
        let confidence = e
            .confidence
            .filter(|c| c.is_finite())
            .map(|c| c.clamp(0.0, 1.0));
        let locale = e
            .locale
            .as_ref()
            .map(|l| json_of("locale", l))
            .transpose()?;
        let field_confidence = e
            .field_confidence
            .as_ref()
            .map(|f| json_of("field confidence", f))
            .transpose()?;
        let items = ItemColumns::of(&e.items);
        let held: i64 = sqlx::query_scalar(&with_outbox_summary(
            COMPLETE,
            COMPLETED_SUMMARY,
            "SELECT count(*) FROM held",
        ))
        .bind(claim.receipt_id.get())
        .bind(claim.attempt)
        .bind(&e.merchant.name)
        .bind(&e.merchant.address)
        .bind(e.purchase_date)
        .bind(currency)
        .bind(e.subtotal)
        .bind(e.tax)
        .bind(e.total)
        .bind(validation)
        .bind(&e.raw_text)
        .bind(confidence)
        .bind(&e.engine)
        .bind(e.duration_ms)
        .bind(&items.positions)
        .bind(&items.names)
        .bind(&items.quantities)
        .bind(&items.unit_prices)
        .bind(&items.amounts)
        .bind(&items.codes)
        .bind(e.tip)
        .bind(locale)
        .bind(field_confidence)
        .fetch_one(&self.pool)
        .await?;
        Ok(held == 1)
    }

    /// `processing` → `failed` with the reason, if the claim still holds.
    /// `dead_lettered` records that the message is on its way to the DLQ,
    /// so that a redrive puts the receipt back to `queued`.
    pub async fn fail(
        &self,
        claim: &Claim,
        reason: &str,
        dead_lettered: bool,
    ) -> Result<bool, RepoError> {
        let done: i64 = sqlx::query_scalar(&with_outbox(
            "done AS (UPDATE receipts SET ocr_status = 'failed', last_error = $3, lease_expires_at = NULL, \
                 processed_at = now(), dead_lettered_at = CASE WHEN $4 THEN now() END \
                 WHERE id = $1 AND ocr_status = 'processing' AND attempts = $2 \
                 RETURNING id, user_id, ocr_status, attempts, last_error), \
             moved AS (SELECT id, user_id, \
                 CASE WHEN $4 THEN 'receipt.dead_lettered' ELSE 'receipt.failed' END AS ev_type, \
                 ocr_status, attempts, last_error, 0 AS ev_rank FROM done)",
            "SELECT count(*) FROM done",
        ))
        .bind(claim.receipt_id.get())
        .bind(claim.attempt)
        .bind(reason)
        .bind(dead_lettered)
        .fetch_one(&self.pool)
        .await?;
        Ok(done == 1)
    }

    /// `processing` → `queued` after a passing failure, keeping the error,
    /// if the claim still holds (the message will come back).
    pub async fn release(&self, claim: &Claim, error: &str) -> Result<bool, RepoError> {
        let done: i64 = sqlx::query_scalar(&with_outbox(
            "done AS (UPDATE receipts SET ocr_status = 'queued', last_error = $3, lease_expires_at = NULL, \
                 queued_at = now() \
                 WHERE id = $1 AND ocr_status = 'processing' AND attempts = $2 \
                 RETURNING id, user_id, ocr_status, attempts, last_error), \
             moved AS (SELECT id, user_id, 'receipt.requeued' AS ev_type, ocr_status, attempts, \
                 last_error, 0 AS ev_rank FROM done)",
            "SELECT count(*) FROM done",
        ))
        .bind(claim.receipt_id.get())
        .bind(claim.attempt)
        .bind(error)
        .fetch_one(&self.pool)
        .await?;
        Ok(done == 1)
    }
}
