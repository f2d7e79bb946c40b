//! The rows the repository reads and writes, as the rest of the code sees
//! them.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::FromRow;

use crate::domain::extraction::LineItem;
use crate::domain::message::OcrMessage;
use crate::domain::{OcrStatus, Priority, ReceiptId, UserId};

use super::RepoError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub id: ReceiptId,
    #[serde(skip)]
    pub user_id: UserId,
    #[serde(skip)]
    pub bucket: String,
    #[serde(skip)]
    pub object_key: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub purchase_date: Option<NaiveDate>,
    /// The locale hint it was uploaded with (BCP 47), if any.
    pub locale: Option<String>,
    pub status: OcrStatus,
    pub priority: Priority,
    /// Hex SHA-256 of the bytes, for uploads through the API.
    #[serde(skip)]
    pub content_sha256: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
    pub processed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
pub(super) struct ReceiptRow {
    id: i64,
    user_id: String,
    bucket: String,
    object_key: String,
    file_name: String,
    content_type: String,
    size_bytes: i64,
    purchase_date: Option<NaiveDate>,
    locale: Option<String>,
    ocr_status: String,
    priority: String,
    content_sha256: Option<String>,
    attempts: i32,
    last_error: Option<String>,
    queued_at: Option<DateTime<Utc>>,
    processed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(super) const RECEIPT_COLUMNS: &str = "id, user_id, bucket, object_key, file_name, content_type, size_bytes, \
     purchase_date, locale, ocr_status, priority, content_sha256, attempts, last_error, queued_at, processed_at, created_at, updated_at";

impl TryFrom<ReceiptRow> for Receipt {
    type Error = RepoError;
    fn try_from(r: ReceiptRow) -> Result<Self, RepoError> {
        Ok(Receipt {
            id: ReceiptId::new(r.id)
                .ok_or_else(|| RepoError::Corrupt(format!("receipt id {}", r.id)))?,
            user_id: UserId::parse(&r.user_id)
                .map_err(|e| RepoError::Corrupt(format!("receipt {}: {e}", r.id)))?,
            bucket: r.bucket,
            object_key: r.object_key,
            file_name: r.file_name,
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            purchase_date: r.purchase_date,
            locale: r.locale,
            status: r.ocr_status.parse().map_err(|_| {
                RepoError::Corrupt(format!("receipt {} status {:?}", r.id, r.ocr_status))
            })?,
            priority: r.priority.parse().map_err(|_| {
                RepoError::Corrupt(format!("receipt {} priority {:?}", r.id, r.priority))
            })?,
            content_sha256: r.content_sha256,
            attempts: r.attempts,
            last_error: r.last_error,
            queued_at: r.queued_at,
            processed_at: r.processed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// What OCR extracted, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredMetadata {
    #[serde(skip)]
    pub receipt_id: i64,
    pub merchant_name: Option<String>,
    pub merchant_address: Option<String>,
    pub purchase_date: Option<NaiveDate>,
    pub currency: Option<String>,
    pub subtotal: Option<Decimal>,
    pub tax: Option<Decimal>,
    pub total: Option<Decimal>,
    pub tip: Option<Decimal>,
    /// The locale the receipt was read with: `{"tag", "source", "currency_source"}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub locale: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub validation: serde_json::Value,
    pub confidence: Option<f64>,
    /// `{"merchant", "date", "total", "items"}`, each 0 to 1.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub field_confidence: Option<serde_json::Value>,
    pub engine: Option<String>,
    pub duration_ms: Option<i64>,
    pub raw_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredItem {
    #[serde(skip)]
    pub receipt_id: i64,
    pub position: i32,
    pub name: String,
    pub code: Option<String>,
    pub quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub amount: Option<Decimal>,
}

/// A receipt with what was extracted from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptDetail {
    #[serde(flatten)]
    pub receipt: Receipt,
    pub metadata: Option<StoredMetadata>,
    pub items: Vec<StoredItem>,
}

/// A receipt as the OCR queue needs it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Deserialize)]
pub struct QueuedReceipt {
    pub id: i64,
    pub user_id: String,
    pub bucket: String,
    pub object_key: String,
    pub priority: String,
}

impl QueuedReceipt {
    /// The OCR message of this receipt.
    pub fn message(&self) -> Result<OcrMessage, RepoError> {
        let corrupt = |what: String| RepoError::Corrupt(format!("receipt {}: {what}", self.id));
        let id = ReceiptId::new(self.id).ok_or_else(|| corrupt("id".to_owned()))?;
        let user = UserId::parse(&self.user_id).map_err(|e| corrupt(e.to_string()))?;
        let priority: Priority = self
            .priority
            .parse()
            .map_err(|_| corrupt(format!("priority {:?}", self.priority)))?;
        Ok(
            OcrMessage::new(id, user, self.bucket.clone(), self.object_key.clone())
                .with_priority(priority),
        )
    }
}

/// What [`ReceiptRepository::register_upload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub receipt: QueuedReceipt,
    /// A new receipt (a direct upload), not one the API had stored.
    pub created: bool,
    /// This call moved it to `queued`: its OCR job is to be sent.
    pub queued: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusCounts {
    pub total_tracked: i64,
    pub pending: i64,
    pub queued: i64,
    pub processing: i64,
    pub completed: i64,
    pub failed: i64,
}

impl StatusCounts {
    /// From `(status, count)` rows of a `GROUP BY ocr_status`.
    pub fn from_rows(rows: Vec<(String, i64)>) -> Result<Self, RepoError> {
        let mut c = StatusCounts::default();
        for (status, n) in rows {
            match status.parse::<OcrStatus>() {
                Ok(OcrStatus::Pending) => c.pending = n,
                Ok(OcrStatus::Queued) => c.queued = n,
                Ok(OcrStatus::Processing) => c.processing = n,
                Ok(OcrStatus::Completed) => c.completed = n,
                Ok(OcrStatus::Failed) => c.failed = n,
                Err(_) => return Err(RepoError::Corrupt(format!("status {status:?}"))),
            }
            c.total_tracked += n;
        }
        Ok(c)
    }
}

pub struct NewReceipt<'a> {
    pub user_id: &'a UserId,
    pub bucket: &'a str,
    pub object_key: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub purchase_date: Option<NaiveDate>,
    pub locale: Option<&'a str>,
    pub priority: Priority,
    /// Hex SHA-256 of the bytes, when the API saw them.
    pub content_sha256: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
}

/// Line items as the columns `UNNEST` takes.
pub(super) struct ItemColumns<'a> {
    pub(super) positions: Vec<i32>,
    pub(super) names: Vec<&'a str>,
    pub(super) quantities: Vec<Option<Decimal>>,
    pub(super) unit_prices: Vec<Option<Decimal>>,
    pub(super) amounts: Vec<Option<Decimal>>,
    pub(super) codes: Vec<Option<&'a str>>,
}

impl<'a> ItemColumns<'a> {
    pub(super) fn of(items: &'a [LineItem]) -> Self {
        Self {
            positions: (0..items.len() as i32).collect(),
            names: items.iter().map(|i| i.name.as_str()).collect(),
            quantities: items.iter().map(|i| i.quantity).collect(),
            unit_prices: items.iter().map(|i| i.unit_price).collect(),
            amounts: items.iter().map(|i| i.amount).collect(),
            codes: items.iter().map(|i| i.code.as_deref()).collect(),
        }
    }
}

/// A part of an answer as the JSON it is stored as.
pub(super) fn json_of(what: &str, v: &impl Serialize) -> Result<serde_json::Value, RepoError> {
    serde_json::to_value(v)
        .map_err(|e| RepoError::Corrupt(format!("{what} does not serialize: {e}")))
}

/// A presigned upload handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadIntent {
    pub bucket: String,
    pub object_key: String,
    pub user_id: UserId,
    pub idempotency_key: Option<String>,
    pub content_type: String,
    pub priority: Priority,
    pub locale: Option<String>,
}

#[derive(FromRow)]
pub(super) struct UploadIntentRow {
    bucket: String,
    object_key: String,
    user_id: String,
    idempotency_key: Option<String>,
    content_type: String,
    priority: String,
    locale: Option<String>,
}

impl TryFrom<UploadIntentRow> for UploadIntent {
    type Error = RepoError;
    fn try_from(r: UploadIntentRow) -> Result<Self, RepoError> {
        let corrupt =
            |what: &str| RepoError::Corrupt(format!("upload intent {}: {what}", r.object_key));
        Ok(UploadIntent {
            user_id: UserId::parse(&r.user_id).map_err(|_| corrupt("user"))?,
            priority: r.priority.parse().map_err(|_| corrupt("priority"))?,
            bucket: r.bucket,
            object_key: r.object_key,
            idempotency_key: r.idempotency_key,
            content_type: r.content_type,
            locale: r.locale,
        })
    }
}

/// Outcome of asking to re-queue one receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    /// Now `queued`; `previous` is the status to restore if sending fails.
    Queued {
        previous: OcrStatus,
        receipt: QueuedReceipt,
    },
    /// The receipt is not the caller's, or does not exist.
    NotFound,
    /// The receipt is in a status that cannot be re-queued.
    NotAllowed(OcrStatus),
}

/// A worker's hold on a receipt. `attempt` is the fencing value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub receipt_id: ReceiptId,
    pub attempt: i32,
    /// The locale hint for the reader: the receipt's own, else its
    /// owner's default.
    pub locale: Option<String>,
}

/// Outcome of a worker's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed(Claim),
    /// Already `completed`: acknowledge the message without OCR.
    AlreadyCompleted,
    /// `failed`, which is final until a retry or a redrive sets `queued`:
    /// acknowledge the message without OCR.
    AlreadyFailed,
    /// Held by another worker whose lease has not expired, or `pending`.
    Busy(OcrStatus),
    /// The message disagrees with the receipt's row on these fields (a
    /// forged or corrupted message): refused, the receipt untouched.
    Mismatch(Vec<&'static str>),
    NotFound,
}
