//! The use cases behind the API: upload a receipt, queue OCR for many or
//! one, report progress. HTTP-free; the API maps `ServiceError` to answers.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::{
    ImageKind, InvalidInput, OcrStatus, ReceiptId, UserId, clean_file_name, upload_key,
};
use crate::message::OcrMessage;
use crate::queue::{QueueDepth, QueueError, SQS_BATCH_MAX, SqsQueue};
use crate::repo::{
    NewReceipt, QueuedReceipt, Receipt, ReceiptRepository, RepoError, Requeue, StatusCounts,
};
use crate::storage::{S3Storage, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("receipt not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("file is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: u64 },
    #[error("file is not a {} image", ImageKind::ALLOWED)]
    UnsupportedType,
    #[error("the OCR queue refused the job: {0}")]
    QueueUnavailable(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Answer of process-all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessAllOutcome {
    /// Receipts whose OCR message is in the queue.
    pub queued: usize,
    /// Receipts whose message SQS refused; they are back to `pending`.
    pub not_queued: usize,
    pub receipt_ids: Vec<i64>,
}

/// Counts for the caller plus the queues' approximate depths.
#[derive(Debug, Clone, Serialize)]
pub struct QueueStatus {
    #[serde(flatten)]
    pub counts: StatusCounts,
    /// `None` when SQS could not be asked; counts still come from Postgres.
    pub queue: Option<QueueDepth>,
    pub dlq: Option<QueueDepth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReceiptStatus {
    pub receipt_id: ReceiptId,
    pub status: OcrStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Answer of a redrive.
#[derive(Debug, Clone, Serialize)]
pub struct Redrive {
    /// Messages in the DLQ when the redrive started.
    pub dlq_messages: i64,
    /// Receipts put back to `queued`, each with one fresh OCR message.
    pub receipt_ids: Vec<i64>,
    /// DLQ messages removed: their receipt was re-queued (or is gone).
    pub removed_from_dlq: usize,
    /// DLQ messages kept for a person: unreadable, or not matching their
    /// receipt.
    pub kept_in_dlq: usize,
}

/// An upload the client performs itself: a `multipart/form-data` POST to
/// `upload_url` with every one of `fields`, then the file as `file`. S3
/// refuses a file over `max_bytes`, or of another content type.
#[derive(Debug, Clone, Serialize)]
pub struct UploadUrl {
    pub upload_url: String,
    pub method: String,
    pub fields: std::collections::BTreeMap<String, String>,
    pub bucket: String,
    pub key: String,
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

pub struct Upload<'a> {
    pub bytes: Vec<u8>,
    pub file_name: Option<&'a str>,
    pub purchase_date: Option<NaiveDate>,
}

#[derive(Clone, Debug)]
pub struct ReceiptService {
    pub repo: ReceiptRepository,
    pub storage: S3Storage,
    pub ocr_queue: SqsQueue,
    pub ocr_dlq: SqsQueue,
    pub upload_prefix: String,
    pub max_upload_bytes: u64,
    pub max_direct_upload_bytes: u64,
    pub presign_ttl: Duration,
}

fn message_for(r: &QueuedReceipt) -> Result<OcrMessage, RepoError> {
    let id =
        ReceiptId::new(r.id).ok_or_else(|| RepoError::Corrupt(format!("receipt id {}", r.id)))?;
    let user = UserId::parse(&r.user_id)
        .map_err(|e| RepoError::Corrupt(format!("receipt {}: {e}", r.id)))?;
    Ok(OcrMessage::new(
        id,
        user,
        r.bucket.clone(),
        r.object_key.clone(),
    ))
}

impl ReceiptService {
    /// Stores the image in S3 and the receipt as `pending`. The row comes
    /// first, so that the S3 event finds it; if S3 refuses the object, the
    /// row is removed again and nothing remains.
    pub async fn upload(&self, user: &UserId, upload: Upload<'_>) -> Result<Receipt, ServiceError> {
        let size = upload.bytes.len() as u64;
        if size > self.max_upload_bytes {
            return Err(ServiceError::TooLarge {
                max_bytes: self.max_direct_upload_bytes,
            });
        }
        if size == 0 {
            return Err(InvalidInput::new("file", "is empty").into());
        }
        let kind = ImageKind::sniff(&upload.bytes).ok_or(ServiceError::UnsupportedType)?;
        let key = upload_key(&self.upload_prefix, user, kind);
        let file_name = clean_file_name(upload.file_name, kind);
        let receipt = self
            .repo
            .insert_pending(NewReceipt {
                user_id: user,
                bucket: self.storage.bucket(),
                object_key: &key,
                file_name: &file_name,
                content_type: kind.mime(),
                size_bytes: size as i64,
                purchase_date: upload.purchase_date,
            })
            .await?;
        if let Err(e) = self.storage.put(&key, upload.bytes, kind.mime()).await {
            tracing::error!(receipt_id = %receipt.id, error = %e, "upload to S3 failed; removing the receipt");
            if let Err(del) = self.repo.delete_pending(receipt.id).await {
                tracing::error!(receipt_id = %receipt.id, error = %del, "could not remove the receipt of a failed upload");
            }
            return Err(e.into());
        }
        tracing::info!(receipt_id = %receipt.id, user_id = %user, key, size, "receipt uploaded");
        Ok(receipt)
    }

    /// A presigned POST for a direct upload of at most
    /// `max_direct_upload_bytes`;
    /// the S3 event registers it.
    pub async fn upload_url(
        &self,
        user: &UserId,
        content_type: &str,
    ) -> Result<UploadUrl, ServiceError> {
        let kind = ImageKind::from_mime(content_type).ok_or_else(|| {
            InvalidInput::new(
                "content_type",
                "must be image/jpeg, image/png, image/webp, image/tiff or application/pdf",
            )
        })?;
        let key = upload_key(&self.upload_prefix, user, kind);
        let post = self
            .storage
            .presign_post(
                &key,
                kind.mime(),
                self.max_direct_upload_bytes,
                self.presign_ttl,
            )
            .await?;
        Ok(UploadUrl {
            upload_url: post.url,
            method: "POST".to_owned(),
            fields: post.fields,
            bucket: self.storage.bucket().to_owned(),
            key,
            max_bytes: self.max_upload_bytes,
            expires_at: Utc::now()
                + chrono::Duration::from_std(self.presign_ttl)
                    .unwrap_or(chrono::Duration::minutes(15)),
        })
    }

    /// Queues OCR for up to `limit` of the user's pending receipts: marks
    /// them `queued` in one statement, then sends one message each (ten to
    /// a batch, batches concurrently). Receipts whose message SQS refused go
    /// back to `pending`. Returns once the messages are sent; OCR runs later.
    pub async fn process_all(
        &self,
        user: &UserId,
        limit: u32,
    ) -> Result<ProcessAllOutcome, ServiceError> {
        self.queue_batch(user, OcrStatus::Pending, limit).await
    }

    /// Re-queues up to `limit` of the caller's failed receipts, oldest
    /// first, like [`Self::process_all`] does pending ones (those whose
    /// message SQS refused stay `failed`).
    pub async fn retry_failed(
        &self,
        user: &UserId,
        limit: u32,
    ) -> Result<ProcessAllOutcome, ServiceError> {
        self.queue_batch(user, OcrStatus::Failed, limit).await
    }

    async fn queue_batch(
        &self,
        user: &UserId,
        from: OcrStatus,
        limit: u32,
    ) -> Result<ProcessAllOutcome, ServiceError> {
        let marked = self.repo.mark_queued_batch(user, from, limit).await?;
        tracing::info!(user_id = %user, count = marked.len(), limit, "found {} {} receipts for user {}", marked.len(), from, user);
        if marked.is_empty() {
            return Ok(ProcessAllOutcome {
                queued: 0,
                not_queued: 0,
                receipt_ids: Vec::new(),
            });
        }
        let messages = marked
            .iter()
            .map(message_for)
            .collect::<Result<Vec<_>, _>>()?;
        let sent = self.ocr_queue.send_ocr_jobs(&messages).await;
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
        })
    }

    /// Re-queues one receipt: a failed or pending one, or a completed one
    /// when `force` is set. If SQS refuses, the receipt keeps its status.
    pub async fn retry(
        &self,
        user: &UserId,
        id: ReceiptId,
        force: bool,
    ) -> Result<ReceiptStatus, ServiceError> {
        let (previous, receipt) = match self.repo.requeue(user, id, force).await? {
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
            .ocr_queue
            .send_ocr_jobs(&[message_for(&receipt)?])
            .await;
        if let Some((_, reason)) = sent.failed.first() {
            if let Err(e) = self.repo.unqueue(&[receipt.id], previous).await {
                tracing::error!(receipt_id = receipt.id, error = %e, "could not restore the status of a refused retry");
            }
            return Err(ServiceError::QueueUnavailable(reason.clone()));
        }
        tracing::info!(receipt_id = receipt.id, user_id = %user, %previous, "receipt {} re-queued", receipt.id);
        self.status(user, id).await
    }

    /// Gives every dead-lettered receipt another go: each goes back to
    /// `queued` with one fresh OCR message (so a fresh receive count), and
    /// the DLQ copies of the messages of receipts are removed, so that each
    /// receipt is read once. Messages that name no receipt, or disagree
    /// with its row (poison, forged), stay in the DLQ for a person to read.
    pub async fn redrive(&self) -> Result<Redrive, ServiceError> {
        let depth = self.ocr_dlq.depth().await?;
        let requeued = self.repo.requeue_dead_lettered().await?;
        let messages = requeued
            .iter()
            .map(message_for)
            .collect::<Result<Vec<_>, _>>()?;
        let sent = self.ocr_queue.send_ocr_jobs(&messages).await;
        if !sent.failed.is_empty() {
            // Left `queued`: the reconciler re-sends them.
            tracing::warn!(
                count = sent.failed.len(),
                "redrive: some OCR messages were not sent; the reconciler will"
            );
        }
        let (removed, kept) = self.sweep_dlq(depth.visible).await?;
        let receipt_ids: Vec<i64> = requeued.iter().map(|r| r.id).collect();
        tracing::info!(
            dlq_messages = depth.visible,
            receipts = receipt_ids.len(),
            removed,
            kept,
            "redrive: {} receipts back to queued, {removed} DLQ messages removed, {kept} kept",
            receipt_ids.len()
        );
        Ok(Redrive {
            dlq_messages: depth.visible,
            receipt_ids,
            removed_from_dlq: removed,
            kept_in_dlq: kept,
        })
    }

    /// Removes from the DLQ the messages whose receipt the database now
    /// decides (it was just re-queued, or is gone); keeps the rest, a
    /// receipt dead-lettered again meanwhile included. Looks at
    /// about `expected` messages (the DLQ's depth before), each once.
    async fn sweep_dlq(&self, expected: i64) -> Result<(usize, usize), ServiceError> {
        // Seen messages stay hidden until the sweep ends, then kept ones
        // are made visible again.
        const HIDE: Duration = Duration::from_secs(120);
        let budget = usize::try_from(expected.max(0)).unwrap_or(0) + SQS_BATCH_MAX;
        let (mut removed, mut kept) = (0usize, Vec::new());
        let mut seen = 0usize;
        while seen < budget {
            let batch = self.ocr_dlq.receive(HIDE).await?;
            if batch.is_empty() {
                break;
            }
            seen += batch.len();
            let mut gone = Vec::new();
            for m in batch {
                let Some(handle) = m.receipt_handle().map(str::to_owned) else {
                    continue;
                };
                let decided = match OcrMessage::parse(m.body().unwrap_or("")) {
                    Ok(job) => self.repo.dead_letter_obsolete(&job).await?,
                    Err(_) => false,
                };
                if decided {
                    gone.push(handle);
                } else {
                    kept.push(handle);
                }
            }
            self.ocr_dlq.delete(&gone).await?;
            removed += gone.len();
        }
        if let Err(e) = self.ocr_dlq.release(&kept).await {
            // They come back on their own when HIDE runs out.
            tracing::warn!(error = %e, "redrive: could not make kept DLQ messages visible");
        }
        Ok((removed, kept.len()))
    }

    pub async fn status(
        &self,
        user: &UserId,
        id: ReceiptId,
    ) -> Result<ReceiptStatus, ServiceError> {
        let r = self
            .repo
            .get(user, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(ReceiptStatus {
            receipt_id: r.id,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            queued_at: r.queued_at,
            processed_at: r.processed_at,
            updated_at: r.updated_at,
        })
    }

    /// Counts by status from Postgres, and both queues' depths from SQS,
    /// asked concurrently. SQS being down does not hide the counts.
    pub async fn queue_status(&self, user: &UserId) -> Result<QueueStatus, ServiceError> {
        let (counts, queue, dlq) = tokio::join!(
            self.repo.status_counts(user),
            self.ocr_queue.depth(),
            self.ocr_dlq.depth()
        );
        let ok = |r: Result<QueueDepth, QueueError>| {
            r.map_err(|e| tracing::warn!(error = %e, "queue depth unavailable"))
                .ok()
        };
        Ok(QueueStatus {
            counts: counts?,
            queue: ok(queue),
            dlq: ok(dlq),
        })
    }
}
