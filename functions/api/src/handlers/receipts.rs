//! Receipts: uploads (multipart or a presigned POST), the list, one
//! receipt, and liveness.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use shared::db::ReceiptDetail;
use shared::domain::{
    InvalidInput, Locale, OcrStatus, Page, Priority, UserId, parse_purchase_date,
};
use shared::flow::service::UploadUrl;
use shared::flow::service::{Upload, Uploaded};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::CurrentUser;
use shared::flow::webhooks::Relay;

use crate::extract::{IdPath, Query, idempotency_key, json_body, param};

/// Room for the multipart envelope around a file of the maximum size.
pub(crate) const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Answer of `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    version: &'static str,
}

/// `GET /health`: liveness, no token.
#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The API is up", body = Health)),
)]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Answer of `POST /receipts`: the receipt, and when the same bytes were
/// uploaded before, which receipt they made.
#[derive(Serialize, ToSchema)]
pub struct UploadAnswer {
    #[serde(flatten)]
    receipt: ReceiptDetail,
    /// Set when these bytes are already the caller's receipt: that one is
    /// answered and nothing is stored (upload with `allow_duplicate=true`
    /// to store them again).
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_of: Option<i64>,
}

/// The multipart form of `POST /receipts` (described for the document;
/// read field by field by the handler).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The image: JPEG, PNG, WebP, TIFF or PDF.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// When the purchase was, if the client knows (YYYY-MM-DD).
    purchase_date: Option<chrono::NaiveDate>,
    /// How the receipt writes dates and money, if the client knows (BCP 47:
    /// `en-US`, `de-DE`); else the caller's default, else what it prints.
    locale: Option<String>,
}

/// `POST /receipts[?priority=high][&allow_duplicate=true]`: multipart
/// with `file`, an optional `purchase_date` and `locale`; an `Idempotency-Key` header
/// makes it safe to repeat.
#[utoipa::path(
    post,
    path = "/receipts",
    tag = "receipts",
    params(
        UploadQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "The same key again answers the first request's result"),
    ),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored, pending", body = UploadAnswer),
        (status = 200, description = "A repeated Idempotency-Key, or bytes uploaded before (duplicate_of): that receipt, unchanged", body = UploadAnswer, headers(("Idempotent-Replayed" = String, description = "true when this answers a repeated Idempotency-Key"))),
        doc::BadInput,
        doc::NoToken,
        doc::TooLarge,
        doc::NotAnImage,
        doc::KeyReused,
        doc::Limited,
        doc::Unavailable,
    ),
)]
pub async fn upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let form = read_form(multipart, state.config.common.storage.max_upload_bytes).await?;
    let uploaded = state
        .service
        .upload(
            &user,
            Upload {
                bytes: form.bytes,
                file_name: form.file_name.as_deref(),
                purchase_date: form.purchase_date,
                locale: form.locale.as_ref(),
                priority: q.priority.unwrap_or_default(),
                idempotency_key,
                allow_duplicate: q.allow_duplicate,
            },
        )
        .await?;
    answer(&state, &user, uploaded).await
}

/// `POST /receipts`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// high or normal (default: the receipt's own; normal for a new upload)
    #[serde(default, deserialize_with = "param::priority")]
    priority: Option<Priority>,
    /// Store bytes the caller uploaded before again
    #[serde(default, deserialize_with = "param::flag")]
    allow_duplicate: bool,
}

/// `POST /receipts/upload-url`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PriorityQuery {
    /// high or normal (default: the receipt's own; normal for a new upload)
    #[serde(default, deserialize_with = "param::priority")]
    priority: Option<Priority>,
}

/// What `POST /receipts`'s form carries.
struct UploadFields {
    bytes: Vec<u8>,
    file_name: Option<String>,
    purchase_date: Option<chrono::NaiveDate>,
    locale: Option<Locale>,
}

/// Reads the multipart form: exactly one `file` (at most `max` bytes),
/// and optionally `purchase_date` and `locale`. Other fields (a seed
/// client's `user_id`, say) are ignored: the owner comes from the token
/// only.
async fn read_form(
    multipart: Result<Multipart, MultipartRejection>,
    max: u64,
) -> Result<UploadFields, ApiError> {
    let mut multipart = multipart.map_err(|_| {
        ApiError::BadRequest("expected a multipart/form-data body with a `file` field".into())
    })?;
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { max_bytes: max }
        } else {
            ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
        }
    };
    let mut file: Option<(Vec<u8>, Option<String>)> = None;
    let (mut purchase_date, mut locale) = (None, None);
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                if file.is_some() {
                    return Err(ApiError::BadRequest("send exactly one `file` field".into()));
                }
                let name = field.file_name().map(str::to_owned);
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if (bytes.len() + chunk.len()) as u64 > max {
                        return Err(ApiError::PayloadTooLarge { max_bytes: max });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                file = Some((bytes, name));
            }
            Some("purchase_date") => {
                let text = field.text().await.map_err(multipart_error)?;
                if !text.trim().is_empty() {
                    purchase_date = Some(parse_purchase_date(&text)?);
                }
            }
            Some("locale") => {
                let text = field.text().await.map_err(multipart_error)?;
                locale = Locale::parse_optional(Some(&text))?;
            }
            _ => {}
        }
    }
    let (bytes, file_name) = file.ok_or_else(|| InvalidInput::new("file", "is required"))?;
    Ok(UploadFields {
        bytes,
        file_name,
        purchase_date,
        locale,
    })
}

/// `POST /receipts`'s answer: 201 for a new receipt, 200 with
/// `Idempotent-Replayed` or `duplicate_of` for one made before (as it is
/// now: it may have been read since).
async fn answer(
    state: &AppState,
    user: &UserId,
    uploaded: Uploaded,
) -> Result<(StatusCode, HeaderMap, Json<UploadAnswer>), ApiError> {
    let mut headers = HeaderMap::new();
    let (status, receipt, duplicate_of) = match uploaded {
        Uploaded::Created(r) => {
            Relay::kick(state.relay.as_ref()).await;
            (StatusCode::CREATED, r, None)
        }
        Uploaded::Replayed(r) => {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            (StatusCode::OK, r, None)
        }
        Uploaded::Duplicate(r) => {
            let id = r.id.get();
            (StatusCode::OK, r, Some(id))
        }
    };
    if let Ok(loc) = HeaderValue::from_str(&format!("/receipts/{}", receipt.id)) {
        headers.insert(header::LOCATION, loc);
    }
    // A receipt made before may have been read since: answer it as it is.
    let detail = if status == StatusCode::CREATED {
        shared::db::ReceiptDetail {
            receipt,
            metadata: None,
            items: Vec::new(),
        }
    } else {
        state.service.detail(user, receipt.id).await?
    };
    Ok((
        status,
        headers,
        Json(UploadAnswer {
            receipt: detail,
            duplicate_of,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct UploadUrlRequest {
    /// image/jpeg, image/png, image/webp, image/tiff, image/heic, image/heif
    /// or application/pdf.
    content_type: String,
    /// The receipt's locale hint (BCP 47), as for `POST /receipts`.
    #[serde(default)]
    locale: Option<String>,
}

/// `POST /receipts/upload-url[?priority=high]`: a presigned POST for a
/// direct upload; an `Idempotency-Key` header gives the same object again.
#[utoipa::path(
    post,
    path = "/receipts/upload-url",
    tag = "receipts",
    params(
        PriorityQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "The same key again answers the first request's result"),
    ),
    request_body = UploadUrlRequest,
    responses(
        (status = 201, description = "A presigned POST to S3; the S3 event registers the receipt", body = UploadUrl),
        doc::BadInput,
        doc::NoToken,
        doc::KeyReused,
        doc::Limited,
        doc::Unavailable,
    ),
)]
pub async fn upload_url(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<PriorityQuery>,
    headers: HeaderMap,
    body: Result<Json<UploadUrlRequest>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let priority = q.priority.unwrap_or_default();
    let key = idempotency_key(&headers)?;
    let req = json_body(body, r#"{"content_type":"image/jpeg"}"#)?;
    let locale = Locale::parse_optional(req.locale.as_deref())?;
    let url = state
        .service
        .upload_url(&user, &req.content_type, priority, key, locale.as_ref())
        .await?;
    Ok((StatusCode::CREATED, Json(url)))
}

/// `GET /receipts?page=&per_page=&status=`: the caller's receipts, newest first.
#[utoipa::path(
    get,
    path = "/receipts",
    tag = "receipts",
    params(ListQuery),
    responses(
        (status = 200, description = "The caller's receipts, newest first", body = ReceiptList),
        doc::BadInput,
        doc::NoToken,
        doc::Unavailable,
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<ReceiptList>, ApiError> {
    let page = Page::new(q.page, q.per_page)?;
    let (items, total) = state.service.list(&user, q.status, page).await?;
    let has_more = page.offset() + (items.len() as i64) < total;
    Ok(Json(ReceiptList {
        items,
        page: page.page,
        per_page: page.per_page,
        total,
        has_more,
    }))
}

/// `GET /receipts`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// The page, from 1
    #[serde(default, deserialize_with = "param::positive")]
    page: Option<u32>,
    /// Receipts per page, 1 to 100 (20)
    #[serde(default, deserialize_with = "param::positive")]
    per_page: Option<u32>,
    /// Only receipts of this status
    #[serde(default, deserialize_with = "param::status")]
    status: Option<OcrStatus>,
}

/// Answer of `GET /receipts`: one page of the caller's receipts.
#[derive(Serialize, ToSchema)]
pub struct ReceiptList {
    items: Vec<ReceiptDetail>,
    page: u32,
    per_page: u32,
    /// Receipts (of the status asked for) in all.
    total: i64,
    has_more: bool,
}

/// `GET /receipts/{id}`: status, attempts, last error, metadata and items.
#[utoipa::path(
    get,
    path = "/receipts/{id}",
    tag = "receipts",
    params(("id" = i64, Path, description = "The receipt's id")),
    responses(
        (status = 200, description = "The receipt and what was read from it", body = ReceiptDetail),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::Unavailable,
    ),
)]
pub async fn get_receipt(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let detail = state.service.detail(&user, id).await?;
    Ok(Json(detail))
}
