//! The page's view of one receipt: the image beside what was read (the
//! fields, the locale used, the confidence per field, the items with
//! their codes), and its raw OCR text on demand.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use shared::db::{ReceiptDetail, StoredItem};
use shared::domain::extraction::ValidationIssue;
use shared::domain::{OcrStatus, UserId};

use super::{DASH, IMAGE_URL_TTL, money, or_dash, page_fragment};
use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::IdPath;
use crate::extract::auth::CurrentUser;

struct ItemRow {
    name: String,
    code: String,
    quantity: String,
    unit_price: String,
    amount: String,
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    id: i64,
    status: &'static str,
    file_name: String,
    size: String,
    image_url: Option<String>,
    is_pdf: bool,
    /// Most browsers cannot show a HEIC photo: the page links to it.
    is_heic: bool,
    merchant: String,
    address: String,
    date: String,
    total: String,
    subtotal: String,
    tax: String,
    confidence: String,
    /// `merchant 90 % · date 96 % · …`, when the reader gave them.
    field_confidence: String,
    tip: String,
    /// `de-DE (read from the receipt) · EUR (printed)`.
    locale: String,
    attempts: i32,
    engine: String,
    last_error: Option<String>,
    validation_status: String,
    issues: Vec<ValidationIssue>,
    items: Vec<ItemRow>,
    can_retry: bool,
    retry_force: bool,
    /// Queued, not yet being read: its OCR can be cancelled.
    can_cancel: bool,
    has_text: bool,
}

fn size_text(bytes: i64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{:.0} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// Where a setting came from, as a person reads it.
fn source_text(v: &serde_json::Value) -> &'static str {
    match v.as_str() {
        Some("hint") => "your hint",
        Some("printed") => "printed",
        Some("inferred") => "read from the receipt",
        _ => "",
    }
}

/// The locale and currency used, and where each came from.
fn locale_text(m: &shared::db::StoredMetadata) -> String {
    let currency = m.currency.clone().unwrap_or_else(|| DASH.to_owned());
    match &m.locale {
        Some(l) => {
            let tag = l["tag"].as_str().unwrap_or(DASH);
            let cur = source_text(&l["currency_source"]);
            let cur = if cur.is_empty() {
                currency
            } else {
                format!("{currency} ({cur})")
            };
            format!("{tag} ({}) · {cur}", source_text(&l["source"]))
        }
        None => format!("not known · {currency}"),
    }
}

fn field_confidence_text(v: Option<&serde_json::Value>) -> String {
    let Some(v) = v else { return DASH.to_owned() };
    ["merchant", "date", "total", "items"]
        .iter()
        .filter_map(|f| v[*f].as_f64().map(|c| format!("{f} {:.0} %", c * 100.0)))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn decimal(d: Option<rust_decimal::Decimal>) -> String {
    d.map_or_else(|| DASH.to_owned(), |d| d.to_string())
}

async fn detail(state: &AppState, user: &UserId, id: IdPath) -> Result<ReceiptDetail, ApiError> {
    Ok(state.service.detail(user, id.0).await?)
}

/// A short-lived link to the receipt's image, if one can be signed.
async fn image_link(state: &AppState, r: &shared::db::Receipt) -> Option<String> {
    match state.service.image_link(r, IMAGE_URL_TTL).await {
        Ok(url) => Some(url),
        Err(e) => {
            tracing::warn!(receipt_id = r.id.get(), error = %e, "no image link for the receipt page");
            None
        }
    }
}

/// `GET /ui/fragments/receipts/{id}`: the receipt's page.
#[utoipa::path(
    get,
    path = "/ui/fragments/receipts/{id}",
    tag = "page",
    params(("id" = i64, Path, description = "The receipt's id")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
    ),
)]
pub(crate) async fn receipt(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    id: IdPath,
) -> Result<Response, ApiError> {
    let d = detail(&state, &user, id).await?;
    let r = &d.receipt;
    let image_url = image_link(&state, r).await;
    let m = d.metadata.as_ref();
    let currency = m.and_then(|m| m.currency.as_deref());
    let validation: shared::domain::extraction::Validation = m
        .and_then(|m| serde_json::from_value(m.validation.clone()).ok())
        .unwrap_or_default();
    let validation_status = serde_json::to_value(validation.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let status = r.status;
    page_fragment(
        &state,
        ReceiptPage {
            id: r.id.get(),
            status: status.as_str(),
            file_name: r.file_name.clone(),
            size: size_text(r.size_bytes),
            image_url,
            is_pdf: r.content_type == "application/pdf",
            is_heic: r.content_type == "image/heic",
            merchant: or_dash(m.and_then(|m| m.merchant_name.clone())),
            address: or_dash(m.and_then(|m| m.merchant_address.clone())),
            date: m
                .and_then(|m| m.purchase_date)
                .or(r.purchase_date)
                .map_or_else(|| DASH.to_owned(), |d| d.to_string()),
            total: money(currency, m.and_then(|m| m.total)),
            subtotal: decimal(m.and_then(|m| m.subtotal)),
            tax: decimal(m.and_then(|m| m.tax)),
            confidence: m
                .and_then(|m| m.confidence)
                .map_or_else(|| DASH.to_owned(), |c| format!("{:.0} %", c * 100.0)),
            field_confidence: field_confidence_text(m.and_then(|m| m.field_confidence.as_ref())),
            tip: money(currency, m.and_then(|m| m.tip)),
            locale: m.map_or_else(|| DASH.to_owned(), locale_text),
            attempts: r.attempts,
            engine: or_dash(m.and_then(|m| m.engine.clone())),
            last_error: (status == OcrStatus::Failed)
                .then(|| r.last_error.clone().unwrap_or_else(|| "unknown".into())),
            validation_status,
            issues: validation.issues,
            items: d
                .items
                .iter()
                .map(|i: &StoredItem| ItemRow {
                    name: i.name.clone(),
                    code: i.code.clone().unwrap_or_default(),
                    quantity: decimal(i.quantity),
                    unit_price: decimal(i.unit_price),
                    amount: decimal(i.amount),
                })
                .collect(),
            can_retry: matches!(
                status,
                OcrStatus::Failed | OcrStatus::Pending | OcrStatus::Completed
            ),
            retry_force: status == OcrStatus::Completed,
            can_cancel: status == OcrStatus::Queued,
            has_text: m.is_some_and(|m| m.raw_text.as_deref().is_some_and(|t| !t.is_empty())),
        },
    )
}

#[derive(Template)]
#[template(path = "text.html")]
struct RawText {
    text: String,
}

/// `GET /ui/fragments/receipts/{id}/text`: the raw OCR text, on demand.
#[utoipa::path(
    get,
    path = "/ui/fragments/receipts/{id}/text",
    tag = "page",
    params(("id" = i64, Path, description = "The receipt's id")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
    ),
)]
pub(crate) async fn raw_text(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    id: IdPath,
) -> Result<Response, ApiError> {
    let d = detail(&state, &user, id).await?;
    let text = d
        .metadata
        .and_then(|m| m.raw_text)
        .unwrap_or_else(|| "(no text)".to_owned());
    page_fragment(&state, RawText { text })
}
