//! Queueing OCR: every pending receipt, the failed ones, one receipt;
//! cancel.

use crate::db::Requeue;
use crate::db::limits::Bucket;
use crate::domain::{OcrStatus, Priority, ReceiptId, UserId};

use super::{ProcessAllOutcome, ReceiptService, ReceiptStatus, ServiceError, message_for};

impl ReceiptService {
    /// Queues OCR for up to `limit` of the user's pending receipts: marks
    /// them `queued` in one statement, then sends one message each (ten to
    /// a batch, batches concurrently). Receipts whose message SQS refused go
    /// back to `pending`. Returns once the messages are sent; OCR runs later.
    pub async fn process_all(
        &self,
        user: &UserId,
        limit: u32,
        priority: Option<Priority>,
    ) -> Result<ProcessAllOutcome, ServiceError> {
        self.queue_batch(user, OcrStatus::Pending, limit, priority)
            .await
    }

    /// Re-queues up to `limit` of the caller's failed receipts, oldest
    /// first, like [`Self::process_all`] does pending ones (those whose
    /// message SQS refused stay `failed`).
    pub async fn retry_failed(
        &self,
        user: &UserId,
        limit: u32,
        priority: Option<Priority>,
    ) -> Result<ProcessAllOutcome, ServiceError> {
        self.queue_batch(user, OcrStatus::Failed, limit, priority)
            .await
    }

    /// Queues up to `limit` receipts `from` a status, within the limits:
    /// the in-flight cap cuts `limit` (to nothing: 429); the receipts are
    /// marked and the queued-per-minute bucket charged for exactly those in
    /// one statement (429 only when receipts were waiting and no token
    /// was left). Tokens of messages SQS refused are given back.
    async fn queue_batch(
        &self,
        user: &UserId,
        from: OcrStatus,
        limit: u32,
        priority: Option<Priority>,
    ) -> Result<ProcessAllOutcome, ServiceError> {
        let room = self.limits.in_flight_room(user, limit).await?;
        let crate::db::limits::Charged { marked, cut } = self
            .limits
            .mark_queued_charged(user, from, room, priority)
            .await?;
        let granted = marked.len() as u32;
        let out = self.send_marked(user, from, marked).await;
        let used = out.as_ref().map_or(0, |o| o.queued as u32);
        self.limits
            .give_back(user, Bucket::Queued, granted - used.min(granted))
            .await?;
        let mut out = out?;
        // Cut by a limit, not by what there was: the caller may come back.
        out.limited_to = if cut {
            Some(granted)
        } else {
            (room < limit).then_some(room)
        };
        Ok(out)
    }

    /// Sends the OCR messages of receipts marked queued; those SQS refuses
    /// go back to `from`.
    async fn send_marked(
        &self,
        user: &UserId,
        from: OcrStatus,
        marked: Vec<crate::db::QueuedReceipt>,
    ) -> Result<ProcessAllOutcome, ServiceError> {
        tracing::info!(user_id = %user, count = marked.len(), "found {} {} receipts for user {}", marked.len(), from, user);
        if marked.is_empty() {
            return Ok(ProcessAllOutcome {
                queued: 0,
                not_queued: 0,
                receipt_ids: Vec::new(),
                limited_to: None,
            });
        }
        let messages = marked
            .iter()
            .map(message_for)
            .collect::<Result<Vec<_>, _>>()?;
        let sent = self.ocr_queues.send_ocr_jobs(&messages).await;
        if !sent.failed.is_empty() {
            let ids: Vec<i64> = sent.failed.iter().map(|(id, _)| *id).collect();
            match self.repo.unqueue(&ids, from).await {
                Ok(n) => {
                    tracing::warn!(user_id = %user, count = n, "receipts back to {from}: SQS refused their messages")
                }
                // Left `queued` without a message: the reconciler re-enqueues them.
                Err(e) => {
                    tracing::error!(user_id = %user, error = %e, "could not put refused receipts back to pending")
                }
            }
        }
        tracing::info!(
            user_id = %user,
            queued = sent.sent.len(),
            not_queued = sent.failed.len(),
            batch_calls = sent.batch_calls,
            "queued {} {from} receipts, {} not queued", sent.sent.len(), sent.failed.len()
        );
        if sent.sent.is_empty() {
            let reason = sent
                .failed
                .first()
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            return Err(ServiceError::QueueUnavailable(reason));
        }
        Ok(ProcessAllOutcome {
            queued: sent.sent.len(),
            not_queued: sent.failed.len(),
            receipt_ids: sent.sent,
            limited_to: None,
        })
    }

    /// Re-queues one receipt: a failed or pending one, or a completed one
    /// when `force` is set; at `priority`, or the one it had. If SQS
    /// refuses, the receipt keeps its status.
    pub async fn retry(
        &self,
        user: &UserId,
        id: ReceiptId,
        force: bool,
        priority: Option<Priority>,
    ) -> Result<ReceiptStatus, ServiceError> {
        self.limits.in_flight_room(user, 1).await?;
        self.limits.take(user, Bucket::Queued, 1).await?;
        let requeued = self.repo.requeue(user, id, force, priority).await;
        if !matches!(requeued, Ok(Requeue::Queued { .. })) {
            self.limits.give_back(user, Bucket::Queued, 1).await?;
        }
        let (previous, receipt) = match requeued? {
            Requeue::Queued { previous, receipt } => (previous, receipt),
            Requeue::NotFound => return Err(ServiceError::NotFound),
            Requeue::NotAllowed(OcrStatus::Completed) => {
                return Err(ServiceError::Conflict(
                    "receipt is already completed; retry with force=true to read it again"
                        .to_owned(),
                ));
            }
            Requeue::NotAllowed(st) => {
                return Err(ServiceError::Conflict(format!("receipt is already {st}")));
            }
        };
        let sent = self
            .ocr_queues
            .send_ocr_jobs(&[message_for(&receipt)?])
            .await;
        if let Some((_, reason)) = sent.failed.first() {
            if let Err(e) = self.repo.unqueue(&[receipt.id], previous).await {
                tracing::error!(receipt_id = receipt.id, error = %e, "could not restore the status of a refused retry");
            }
            return Err(ServiceError::QueueUnavailable(reason.clone()));
        }
        tracing::info!(receipt_id = receipt.id, user_id = %user, %previous, priority = %receipt.priority, "receipt {} re-queued", receipt.id);
        self.status(user, id).await
    }

    /// Cancels the OCR of one queued receipt: back to `pending`; its
    /// message is acknowledged without OCR when a worker gets it. A
    /// receipt being read (`processing`) can no longer be cancelled (409).
    pub async fn cancel(
        &self,
        user: &UserId,
        id: ReceiptId,
    ) -> Result<ReceiptStatus, ServiceError> {
        if self.repo.cancel(user, Some(id)).await?.is_empty() {
            let r = self
                .repo
                .get(user, id)
                .await?
                .ok_or(ServiceError::NotFound)?;
            return Err(ServiceError::Conflict(match r.status {
                OcrStatus::Processing => {
                    "receipt is being read (processing); it can no longer be cancelled".to_owned()
                }
                st => format!("receipt is {st}, not queued; there is nothing to cancel"),
            }));
        }
        tracing::info!(receipt_id = %id, user_id = %user, "OCR of receipt {id} cancelled");
        self.status(user, id).await
    }

    /// Cancels the OCR of all the user's queued receipts (those being read
    /// finish); returns the ids now `pending`.
    pub async fn cancel_all(&self, user: &UserId) -> Result<Vec<i64>, ServiceError> {
        let ids = self.repo.cancel(user, None).await?;
        tracing::info!(user_id = %user, count = ids.len(), "OCR of {} receipts cancelled", ids.len());
        Ok(ids)
    }
}
