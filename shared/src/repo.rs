//! The receipts repository: Postgres is the source of truth for a receipt's
//! status. Every status transition is one conditional `UPDATE … WHERE
//! ocr_status IN (…)`, so a duplicate or late caller cannot move a receipt
//! backwards or write twice.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::FromRow;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::domain::{OcrStatus, Page, Priority, ReceiptId, UserId};
use crate::extraction::{Extraction, LineItem};
use crate::message::OcrMessage;

/// Migrations of the schema, embedded in every binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The outbox, appended to every statement that changes a receipt's status.
/// The statement's CTE `moved` returns one row per event it makes
/// (`id, user_id, ev_type, ocr_status, attempts, last_error, ev_rank`;
/// `ev_rank` orders two events of one receipt). The events are numbered
/// per user under the lock of the user's `receipt_event_seq` row (taken in
/// user order, held to commit) and written, with one webhook delivery per
/// enabled endpoint of the user subscribed to the event's type. A
/// transition that did not happen returns no row, so it writes nothing.
const OUTBOX: &str = "\
 ev_seq AS ( \
     INSERT INTO receipt_event_seq AS s (user_id, last_seq) \
     SELECT user_id, count(*) FROM moved GROUP BY user_id ORDER BY user_id \
     ON CONFLICT (user_id) DO UPDATE SET last_seq = s.last_seq + EXCLUDED.last_seq \
     RETURNING user_id, last_seq), \
 numbered AS ( \
     SELECT m.user_id, m.id, m.ev_type, m.ocr_status, now() AS at, \
         ev_seq.last_seq - count(*) OVER (PARTITION BY m.user_id) \
             + row_number() OVER (PARTITION BY m.user_id ORDER BY m.id, m.ev_rank) AS seq, \
         jsonb_build_object('receipt_id', m.id, 'status', m.ocr_status, 'attempts', m.attempts, \
             'error', m.last_error) \
             || coalesce((SELECT jsonb_build_object('summary', su.data) FROM summary su \
                 WHERE su.id = m.id), '{}'::jsonb) AS data \
     FROM moved m JOIN ev_seq USING (user_id)), \
 ev_rows AS ( \
     INSERT INTO receipt_events (user_id, seq, receipt_id, type, status, data, created_at) \
     SELECT user_id, seq, id, ev_type, ocr_status, data, at FROM numbered), \
 ev_deliveries AS ( \
     INSERT INTO webhook_deliveries (endpoint_id, user_id, event_type, event_seq, payload) \
     SELECT e.id, n.user_id, n.ev_type, n.seq, jsonb_build_object('type', n.ev_type, \
         'timestamp', to_char(n.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
         'data', n.data || jsonb_build_object('event_id', n.seq)) \
     FROM numbered n JOIN webhook_endpoints e \
         ON e.user_id = n.user_id AND e.enabled AND n.ev_type = ANY (e.event_types)) ";

/// The CTEs that mark up to `limit` (an SQL expression) of user `$1`'s
/// oldest receipts in status `$3` as queued, at priority `$4` (or their
/// own), defining `done` and `moved` for the outbox.
pub(crate) fn mark_ctes(limit: &str) -> String {
    format!(
        "picked AS MATERIALIZED ( \
             SELECT id FROM receipts WHERE user_id = $1 AND ocr_status = $3 \
             ORDER BY created_at, id LIMIT {limit} FOR UPDATE SKIP LOCKED), \
         done AS (UPDATE receipts r SET ocr_status = 'queued', queued_at = now(), \
             dead_lettered_at = NULL, priority = coalesce($4, r.priority) \
             FROM picked WHERE r.id = picked.id AND r.ocr_status = $3 \
             RETURNING r.id, r.user_id, r.bucket, r.object_key, r.priority, r.ocr_status, \
                 r.attempts, r.last_error), \
         moved AS (SELECT id, user_id, \
             CASE WHEN $3 = 'pending' THEN 'receipt.queued' ELSE 'receipt.requeued' END AS ev_type, \
             ocr_status, attempts, last_error, 0 AS ev_rank FROM done)"
    )
}

/// `WITH {ctes}, <the outbox> {main}`: `ctes` defines `moved`.
pub(crate) fn with_outbox(ctes: &str, main: &str) -> String {
    with_outbox_summary(
        ctes,
        "SELECT NULL::bigint AS id, NULL::jsonb AS data WHERE false",
        main,
    )
}

/// [`with_outbox`], with `summary` (`id`, `data`): what an event of a
/// moved receipt says of it beyond its status (a completed receipt's
/// merchant, date, total…), as `data.summary`.
fn with_outbox_summary(ctes: &str, summary: &str, main: &str) -> String {
    format!("WITH {ctes}, summary AS ({summary}), {OUTBOX} {main}")
}

/// A completed receipt's summary in its event and webhook payload: what a
/// receiver needs without calling back. Decimals as strings, as the API
/// gives them.
const COMPLETED_SUMMARY: &str = "SELECT id, jsonb_build_object('merchant', $3::text, \
     'purchase_date', $5::date, 'total', $9::numeric::text, 'currency', $6::text, \
     'item_count', cardinality($15::int[]), 'confidence', $12::float8) AS data FROM held";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database holds an unexpected value: {0}")]
    Corrupt(String),
}

impl RepoError {
    /// Worth retrying: the database could not be reached or was overloaded.
    pub fn is_transient(&self) -> bool {
        match self {
            RepoError::Database(e) => matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
            ),
            RepoError::Corrupt(_) => false,
        }
    }
}

/// The pool of a process. It opens its connections as queries need them:
/// a function's init does not wait on the database (the first invocation
/// connects), and a database that is down fails the request that needs it,
/// with the JSON error, instead of the function's init. A malformed URL
/// fails here.
pub fn pool(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(database_url)
}

/// One round trip to the database: for a long-running server to fail at
/// start when the database is unreachable.
pub async fn check(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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
struct ReceiptRow {
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

const RECEIPT_COLUMNS: &str = "id, user_id, bucket, object_key, file_name, content_type, size_bytes, \
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
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, utoipa::ToSchema)]
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
    #[schema(value_type = Option<Object>)]
    pub locale: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub validation: serde_json::Value,
    pub confidence: Option<f64>,
    /// `{"merchant", "date", "total", "items"}`, each 0 to 1.
    #[schema(value_type = Option<Object>)]
    pub field_confidence: Option<serde_json::Value>,
    pub engine: Option<String>,
    pub duration_ms: Option<i64>,
    pub raw_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

/// Line items as the columns `UNNEST` takes.
struct ItemColumns<'a> {
    positions: Vec<i32>,
    names: Vec<&'a str>,
    quantities: Vec<Option<Decimal>>,
    unit_prices: Vec<Option<Decimal>>,
    amounts: Vec<Option<Decimal>>,
    codes: Vec<Option<&'a str>>,
}

impl<'a> ItemColumns<'a> {
    fn of(items: &'a [LineItem]) -> Self {
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
fn json_of(what: &str, v: &impl Serialize) -> Result<serde_json::Value, RepoError> {
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
struct UploadIntentRow {
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

#[derive(Clone, Debug)]
pub struct ReceiptRepository {
    pool: PgPool,
}

impl ReceiptRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

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

    /// Removes a receipt that never got its object (the S3 upload failed).
    pub async fn delete_pending(&self, id: ReceiptId) -> Result<bool, RepoError> {
        let deleted: i64 = sqlx::query_scalar(&with_outbox(
            "gone AS (DELETE FROM receipts WHERE id = $1 AND ocr_status = 'pending' \
                 RETURNING id, user_id, attempts, last_error), \
             moved AS (SELECT id, user_id, 'receipt.deleted' AS ev_type, 'deleted' AS ocr_status, \
                 attempts, last_error, 0 AS ev_rank FROM gone)",
            "SELECT count(*) FROM gone",
        ))
        .bind(id.get())
        .fetch_one(&self.pool)
        .await?;
        Ok(deleted == 1)
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

impl ReceiptRepository {
    /// The receipt an S3 upload event names, registered in one statement:
    /// created (a direct presigned upload) or found by bucket and key (an
    /// upload through the API, whose row is committed before its object is
    /// stored), and with `queue` moved `pending` → `queued` (AUTO_OCR).
    /// The same event twice gives one receipt and one job. `None`: another
    /// delivery of the event created it concurrently (and queues it).
    pub async fn register_upload(
        &self,
        new: NewReceipt<'_>,
        queue: bool,
    ) -> Result<Option<Registered>, RepoError> {
        let row: Option<(i64, String, String, String, String, bool, bool)> = sqlx::query_as(
            &with_outbox(
                "created AS ( \
                     INSERT INTO receipts (user_id, bucket, object_key, file_name, content_type, size_bytes, \
                                           ocr_status, queued_at, priority, locale) \
                     VALUES ($1, $2, $3, $4, $5, $6, \
                             CASE WHEN $7 THEN 'queued' ELSE 'pending' END, CASE WHEN $7 THEN now() END, \
                             coalesce((SELECT priority FROM upload_intents WHERE bucket = $2 AND object_key = $3), \
                                 $8), \
                             (SELECT locale FROM upload_intents WHERE bucket = $2 AND object_key = $3)) \
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
        .fetch_optional(&self.pool)
        .await?;
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
