//! The OpenAPI document's `webhooks` section: what each event type's
//! delivery carries. utoipa describes paths only, so [`section`] builds the
//! section from the outbox's own list of event types, and the payload's
//! types here give its schemas. The outbox writes the payload in SQL
//! (`shared::db`); the worker's webhook tests check a real delivery
//! against these schemas.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::handlers::webhooks::EventType;

/// The body of every receipt event's delivery (POSTed, signed by the
/// Standard Webhooks headers `webhook-id`, `webhook-timestamp`,
/// `webhook-signature`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // only its schema is used: the outbox writes it in SQL
pub struct WebhookPayload {
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the transition happened, UTC.
    pub timestamp: DateTime<Utc>,
    pub data: WebhookEventData,
}

/// What the event says of its receipt.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // only its schema is used: the outbox writes it in SQL
pub struct WebhookEventData {
    /// The event's id in the user's event stream (the SSE `id:`).
    pub event_id: i64,
    pub receipt_id: i64,
    /// The receipt's status after the transition (`deleted` for
    /// `receipt.deleted`).
    pub status: String,
    /// OCR attempts so far (`null` for `receipt.deleted`, which carries
    /// nothing of the receipt but its id).
    pub attempts: Option<i32>,
    /// Why the last attempt failed, if it did.
    pub error: Option<String>,
    /// `receipt.completed` only: what was read, so that a receiver need not
    /// call back. The whole receipt is `GET /receipts/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<ReceiptSummary>,
}

/// A completed receipt in brief.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // only its schema is used: the outbox writes it in SQL
pub struct ReceiptSummary {
    pub merchant: Option<String>,
    pub purchase_date: Option<NaiveDate>,
    /// A decimal as a string, as the API gives amounts (`"9.00"`).
    pub total: Option<String>,
    /// ISO 4217.
    pub currency: Option<String>,
    /// How many line items were read.
    pub item_count: i32,
    /// The reader's confidence in the whole receipt, 0–1.
    pub confidence: Option<f64>,
}

/// What an event type's delivery means.
fn meaning(event_type: &str) -> &'static str {
    match event_type {
        "receipt.created" => {
            "A receipt was registered (an upload, or a file landing in the bucket)."
        }
        "receipt.queued" => "A pending receipt was queued for OCR.",
        "receipt.processing" => "A worker claimed the receipt and is reading it.",
        "receipt.completed" => {
            "The receipt was read; `data.summary` says what was read (merchant, date, total, currency, item count, confidence)."
        }
        "receipt.failed" => "Reading failed for good; `data.error` says why.",
        "receipt.dead_lettered" => {
            "The receipt failed and its message went to the dead-letter queue."
        }
        "receipt.requeued" => {
            "The receipt was queued again: a retry, a passing failure, a redrive or the reconciler."
        }
        "receipt.unqueued" => "The receipt's message could not be sent; it is pending again.",
        "receipt.cancelled" => "Its owner cancelled the queued OCR; it is pending again.",
        "receipt.deleted" => {
            "The receipt was deleted (by its owner, an erasure or the retention), or an upload whose image could not be stored was removed. `data` holds its id and nothing else of it; the deliveries of its earlier events are deleted with it."
        }
        _ => "A receipt event.",
    }
}

/// The `webhooks` section: one POST per event type, each with the payload's
/// schema.
pub fn section() -> Value {
    let mut hooks = serde_json::Map::new();
    for event_type in shared::db::events::EVENT_TYPES {
        hooks.insert(
            event_type.to_string(),
            json!({
                "post": {
                    "tags": ["webhooks"],
                    "summary": format!("`{event_type}`"),
                    "description": meaning(event_type),
                    "operationId": format!("webhook_{}", event_type.replace('.', "_")),
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/WebhookPayload"}
                        }}
                    },
                    "responses": {
                        "2XX": {"description": "Delivered; any other answer is tried again with backoff"}
                    }
                }
            }),
        );
    }
    Value::Object(hooks)
}
