//! The use cases behind the API: upload a receipt, queue OCR for many or
//! one, report progress. HTTP-free; the API maps `ServiceError` to answers.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::{
    ImageKind, InvalidInput, OcrStatus, Priority, ReceiptId, UserId, clean_file_name, upload_key,
};
use crate::limits::{Bucket, LimitError, Limited, Limits};
use crate::message::OcrMessage;
use crate::queue::{PriorityDepths, PriorityQueues, QueueDepth, QueueError, SQS_BATCH_MAX};
use crate::repo::{
    NewReceipt, QueuedReceipt, Receipt, ReceiptRepository, RepoError, Requeue, StatusCounts,
    UploadIntent,
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
    /// A per-user limit: nothing was changed.
    #[error(transparent)]
    Limited(#[from] Limited),
    /// An Idempotency-Key the user sent before with another request.
    #[error("Idempotency-Key was used before with a different request ({0})")]
    IdempotencyKeyReused(&'static str),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<LimitError> for ServiceError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited(l) => ServiceError::Limited(l),
            LimitError::Repo(r) => ServiceError::Repo(r),
        }
    }
}

/// Answer of process-all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessAllOutcome {
    /// Receipts whose OCR message is in the queue.
    pub queued: usize,
    /// Receipts whose message SQS refused; they are back to `pending`.
    pub not_queued: usize,
    pub receipt_ids: Vec<i64>,
    /// Set when the per-user limits let fewer than `limit` be queued now:
    /// how many they allowed.
    pub limited_to: Option<u32>,
}

/// Counts for the caller plus the queues' approximate depths.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueStatus {
    #[serde(flatten)]
    pub counts: StatusCounts,
    /// Both OCR queues together; `None` when SQS could not be asked
    /// (counts still come from Postgres).
    pub queue: Option<QueueDepth>,
    /// Both dead-letter queues together.
    pub dlq: Option<QueueDepth>,
    /// Each priority's queue.
    pub queues: Option<PriorityDepths>,
    /// Each priority's dead-letter queue.
    pub dlqs: Option<PriorityDepths>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadUrl {
    /// The receipt of this upload, once the object has arrived (a repeated
    /// Idempotency-Key).
    pub receipt_id: Option<i64>,
    pub priority: Priority,
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
    /// The locale hint for the reader (BCP 47).
    pub locale: Option<&'a crate::domain::Locale>,
    pub priority: Priority,
    /// The client's `Idempotency-Key`: the same key again answers the
    /// receipt it made.
    pub idempotency_key: Option<&'a str>,
    /// Store the bytes even if the user already has a receipt of them.
    pub allow_duplicate: bool,
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq)]
pub enum Uploaded {
    Created(Receipt),
    /// The Idempotency-Key was seen before: its receipt, unchanged.
    Replayed(Receipt),
    /// The user already has a receipt of these bytes: that one, unchanged.
    Duplicate(Receipt),
}

/// An idempotency key: 1 to 255 visible ASCII characters.
pub fn parse_idempotency_key(raw: &str) -> Result<&str, InvalidInput> {
    let ok = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(raw)
    } else {
        Err(InvalidInput::new(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ))
    }
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[derive(Clone, Debug)]
pub struct ReceiptService {
    pub repo: ReceiptRepository,
    pub storage: S3Storage,
    /// The OCR queues, one per priority.
    pub ocr_queues: PriorityQueues,
    /// Their dead-letter queues.
    pub ocr_dlqs: PriorityQueues,
    pub limits: Limits,
    pub upload_prefix: String,
    pub max_upload_bytes: u64,
    pub max_direct_upload_bytes: u64,
    pub presign_ttl: Duration,
}

fn message_for(r: &QueuedReceipt) -> Result<OcrMessage, RepoError> {
    r.message()
}

impl ReceiptService {
    /// Stores the image in S3 and the receipt as `pending`. The row comes
    /// first, so that the S3 event finds it; if S3 refuses the object, the
    /// row is removed again and nothing remains.
    ///
    /// Before anything is stored: an `Idempotency-Key` seen before answers
    /// its receipt (the same bytes) or is refused (other bytes); bytes the
    /// user uploaded before answer that receipt unless `allow_duplicate`;
    /// then the uploads-per-minute limit is taken.
    pub async fn upload(
        &self,
        user: &UserId,
        upload: Upload<'_>,
    ) -> Result<Uploaded, ServiceError> {
        let size = upload.bytes.len() as u64;
        if size > self.max_upload_bytes {
            return Err(ServiceError::TooLarge {
                max_bytes: self.max_upload_bytes,
            });
        }
        if size == 0 {
            return Err(InvalidInput::new("file", "is empty").into());
        }
        let kind = ImageKind::sniff(&upload.bytes).ok_or(ServiceError::UnsupportedType)?;
        let sha = sha256_hex(&upload.bytes);
        let asked = (sha.as_str(), upload.purchase_date, upload.priority);
        if let Some(key) = upload.idempotency_key
            && let Some(r) = self.repo.by_idempotency_key(user, key).await?
        {
            return replayed(r, asked);
        }
        if !upload.allow_duplicate
            && let Some(r) = self.repo.by_content(user, &sha).await?
        {
            tracing::info!(receipt_id = %r.id, user_id = %user, "same bytes as receipt {}: not stored again", r.id);
            return Ok(Uploaded::Duplicate(r));
        }
        self.limits.take(user, Bucket::Uploads, 1).await?;
        let key = upload_key(&self.upload_prefix, user, kind);
        let file_name = clean_file_name(upload.file_name, kind);
        let inserted = self
            .repo
            .insert_pending(NewReceipt {
                user_id: user,
                bucket: self.storage.bucket(),
                object_key: &key,
                file_name: &file_name,
                content_type: kind.mime(),
                size_bytes: size as i64,
                purchase_date: upload.purchase_date,
                locale: upload.locale.map(crate::domain::Locale::as_str),
                priority: upload.priority,
                content_sha256: Some(&sha),
                idempotency_key: upload.idempotency_key,
            })
            .await?;
        let Some(receipt) = inserted else {
            // A twin request with the same key stored its receipt first.
            self.limits.give_back(user, Bucket::Uploads, 1).await?;
            let key = upload.idempotency_key.unwrap_or_default();
            let r = self
                .repo
                .by_idempotency_key(user, key)
                .await?
                .ok_or_else(|| RepoError::Corrupt(format!("idempotency key {key:?} vanished")))?;
            return replayed(r, (&sha, upload.purchase_date, upload.priority));
        };
        if let Err(e) = self.storage.put(&key, upload.bytes, kind.mime()).await {
            tracing::error!(receipt_id = %receipt.id, error = %e, "upload to S3 failed; removing the receipt");
            if let Err(del) = self.repo.delete_pending(receipt.id).await {
                tracing::error!(receipt_id = %receipt.id, error = %del, "could not remove the receipt of a failed upload");
            }
            // Nothing was stored: the upload does not count.
            self.limits.give_back(user, Bucket::Uploads, 1).await?;
            return Err(e.into());
        }
        tracing::info!(receipt_id = %receipt.id, user_id = %user, key, size, priority = %upload.priority, "receipt uploaded");
        Ok(Uploaded::Created(receipt))
    }

    /// A presigned POST for a direct upload of at most
    /// `max_direct_upload_bytes`; the S3 event registers it, at the
    /// priority asked for here. The same `Idempotency-Key` again answers the
    /// same object (and its receipt once it has arrived), so a repeated
    /// request never makes a second object.
    pub async fn upload_url(
        &self,
        user: &UserId,
        content_type: &str,
        priority: Priority,
        idempotency_key: Option<&str>,
        locale: Option<&crate::domain::Locale>,
    ) -> Result<UploadUrl, ServiceError> {
        let kind = ImageKind::from_mime(content_type).ok_or_else(|| {
            InvalidInput::new(
                "content_type",
                format!("must be {}", ImageKind::ALLOWED_TYPES),
            )
        })?;
        self.limits.take(user, Bucket::Uploads, 1).await?;
        let asked = UploadIntent {
            bucket: self.storage.bucket().to_owned(),
            object_key: upload_key(&self.upload_prefix, user, kind),
            user_id: user.clone(),
            idempotency_key: idempotency_key.map(str::to_owned),
            content_type: kind.mime().to_owned(),
            priority,
            locale: locale.map(|l| l.as_str().to_owned()),
        };
        let intent = match self.repo.upload_intent(&asked).await {
            Ok(i) => i,
            Err(e) => {
                self.limits.give_back(user, Bucket::Uploads, 1).await?;
                return Err(e.into());
            }
        };
        let mut receipt_id = None;
        if intent.object_key != asked.object_key {
            // A repeat: it costs nothing, and must ask for the same thing.
            self.limits.give_back(user, Bucket::Uploads, 1).await?;
            if intent.content_type != asked.content_type || intent.priority != priority {
                return Err(ServiceError::IdempotencyKeyReused(
                    "another content_type or priority",
                ));
            }
            receipt_id = self
                .repo
                .by_object(user, &intent.bucket, &intent.object_key)
                .await?
                .map(|r| r.id.get());
        }
        let post = self
            .storage
            .presign_post(
                &intent.object_key,
                &intent.content_type,
                self.max_direct_upload_bytes,
                self.presign_ttl,
            )
            .await?;
        Ok(UploadUrl {
            receipt_id,
            priority: intent.priority,
            upload_url: post.url,
            method: "POST".to_owned(),
            fields: post.fields,
            bucket: intent.bucket,
            key: intent.object_key,
            // What the policy signed for this path: the direct-upload cap.
            max_bytes: self.max_direct_upload_bytes,
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
        let crate::limits::Charged { marked, cut } = self
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
        marked: Vec<crate::repo::QueuedReceipt>,
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

    /// Gives every dead-lettered receipt another go: each goes back to
    /// `queued` with one fresh OCR message (so a fresh receive count) in the
    /// queue of its priority, and the DLQ copies of the messages of
    /// receipts are removed from both DLQs, so that each receipt is read
    /// once. Messages that name no receipt, or disagree with its row
    /// (poison, forged), stay in the DLQ for a person to read.
    pub async fn redrive(&self) -> Result<Redrive, ServiceError> {
        let depth = self.ocr_dlqs.depths().await?;
        let requeued = self.repo.requeue_dead_lettered().await?;
        let messages = requeued
            .iter()
            .map(message_for)
            .collect::<Result<Vec<_>, _>>()?;
        let sent = self.ocr_queues.send_ocr_jobs(&messages).await;
        if !sent.failed.is_empty() {
            // Left `queued`: the reconciler re-sends them.
            tracing::warn!(
                count = sent.failed.len(),
                "redrive: some OCR messages were not sent; the reconciler will"
            );
        }
        let (mut removed, mut kept) = (0, 0);
        for (priority, dlq) in self.ocr_dlqs.both() {
            let expected = match priority {
                Priority::High => depth.high.visible,
                Priority::Normal => depth.normal.visible,
            };
            let (r, k) = self.sweep_dlq(dlq, expected).await?;
            removed += r;
            kept += k;
        }
        let dlq_messages = depth.total().visible;
        let receipt_ids: Vec<i64> = requeued.iter().map(|r| r.id).collect();
        tracing::info!(
            dlq_messages,
            receipts = receipt_ids.len(),
            removed,
            kept,
            "redrive: {} receipts back to queued, {removed} DLQ messages removed, {kept} kept",
            receipt_ids.len()
        );
        Ok(Redrive {
            dlq_messages,
            receipt_ids,
            removed_from_dlq: removed,
            kept_in_dlq: kept,
        })
    }

    /// Removes from the DLQ the messages whose receipt the database now
    /// decides (it was just re-queued, or is gone); keeps the rest, a
    /// receipt dead-lettered again meanwhile included. Looks at
    /// about `expected` messages (the DLQ's depth before), each once.
    async fn sweep_dlq(
        &self,
        dlq: &crate::queue::SqsQueue,
        expected: i64,
    ) -> Result<(usize, usize), ServiceError> {
        // Seen messages stay hidden until the sweep ends, then kept ones
        // are made visible again.
        const HIDE: Duration = Duration::from_secs(120);
        let budget = usize::try_from(expected.max(0)).unwrap_or(0) + SQS_BATCH_MAX;
        let (mut removed, mut kept) = (0usize, Vec::new());
        let mut seen = 0usize;
        while seen < budget {
            let batch = dlq.receive(HIDE).await?;
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
            dlq.delete(&gone).await?;
            removed += gone.len();
        }
        if let Err(e) = dlq.release(&kept).await {
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

    /// Counts by status from Postgres, and every queue's depth from SQS,
    /// asked concurrently. SQS being down does not hide the counts.
    pub async fn queue_status(&self, user: &UserId) -> Result<QueueStatus, ServiceError> {
        let (counts, queues, dlqs) = tokio::join!(
            self.repo.status_counts(user),
            self.ocr_queues.depths(),
            self.ocr_dlqs.depths()
        );
        let ok = |r: Result<PriorityDepths, QueueError>| {
            r.map_err(|e| tracing::warn!(error = %e, "queue depth unavailable"))
                .ok()
        };
        let (queues, dlqs) = (ok(queues), ok(dlqs));
        Ok(QueueStatus {
            counts: counts?,
            queue: queues.map(|d| d.total()),
            dlq: dlqs.map(|d| d.total()),
            queues,
            dlqs,
        })
    }
}

/// The answer to a repeated Idempotency-Key: its receipt, if the request
/// asks for the same thing (the same bytes, purchase date and priority).
fn replayed(
    r: Receipt,
    (sha, purchase_date, priority): (&str, Option<NaiveDate>, Priority),
) -> Result<Uploaded, ServiceError> {
    if r.content_sha256.as_deref() != Some(sha) {
        Err(ServiceError::IdempotencyKeyReused("another file"))
    } else if r.purchase_date != purchase_date || r.priority != priority {
        Err(ServiceError::IdempotencyKeyReused(
            "another purchase_date or priority",
        ))
    } else {
        Ok(Uploaded::Replayed(r))
    }
}
