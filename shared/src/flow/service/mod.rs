//! The use cases behind the API: upload a receipt, queue OCR for many or
//! one, report progress. HTTP-free; the API maps `ServiceError` to answers.

mod delete;
mod queueing;
mod reads;
mod redrive;
mod status;
mod upload;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::aws::s3::{S3Storage, StorageError};
use crate::aws::sqs::{PriorityDepths, PriorityQueues, QueueDepth, QueueError};
use crate::db::events::EventLog;
use crate::db::limits::{LimitError, Limited, Limits};
use crate::db::{QueuedReceipt, Receipt, ReceiptRepository, RepoError, StatusCounts};
use crate::domain::message::OcrMessage;
use crate::domain::{ImageKind, InvalidInput, OcrStatus, Priority, ReceiptId};

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
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The outbox's events, read back per user.
    pub events: EventLog,
    pub upload_prefix: String,
    pub max_upload_bytes: u64,
    pub max_direct_upload_bytes: u64,
    pub presign_ttl: Duration,
}

fn message_for(r: &QueuedReceipt) -> Result<OcrMessage, RepoError> {
    r.message()
}
