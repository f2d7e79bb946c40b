use std::collections::HashMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::domain::UserId;
use shared::domain::{
    InvalidInput, Locale, OcrStatus, Page, Priority, ReceiptId, parse_process_all_limit,
    parse_purchase_date,
};
use shared::repo::ReceiptDetail;
use shared::service::{QueueStatus, ReceiptStatus, UploadUrl};
use shared::service::{Upload, Uploaded, parse_idempotency_key};
use shared::stats::{self, OcrStats, StatsScope};
use tower_http::trace::TraceLayer;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::openapi::ErrorBody;
use crate::webhooks;
use shared::webhooks::Relay;

/// Room for the multipart envelope around a file of the maximum size.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Every route of the API and its page, as the handlers at each path, each routed by its
/// OpenAPI annotation (path and methods). [`documented_router`] builds the
/// Router with the OpenAPI document from it (for [`crate::openapi::generate`]),
/// [`router`] the same Router alone: a function's init has no use for the
/// document, and building it was 40% of the api's init.
macro_rules! api_routes {
    ($add:ident, $r:ident) => {
        $add!($r: health);
        $add!($r: crate::openapi::document);
        $add!($r: upload, list);
        $add!($r: upload_url);
        $add!($r: process_all);
        $add!($r: queue_status);
        $add!($r: redrive);
        $add!($r: retry_failed);
        $add!($r: cancel_all);
        $add!($r: stats);
        $add!($r: crate::events::events);
        $add!($r: get_receipt);
        $add!($r: retry);
        $add!($r: cancel);
        $add!($r: crate::settings::get_settings, crate::settings::put_settings);
        $add!($r: webhooks::create, webhooks::list);
        $add!($r: webhooks::delete);
        $add!($r: webhooks::test);
        $add!($r: webhooks::deliveries);
        $add!($r: webhooks::resend);
        $add!($r: crate::ui::shell);
        $add!($r: crate::ui::asset);
        $add!($r: crate::ui::dev_sign_in);
        $add!($r: crate::ui::session);
        $add!($r: crate::ui::receipts);
        $add!($r: crate::ui::failed);
        $add!($r: crate::receipt_page::receipt);
        $add!($r: crate::receipt_page::raw_text);
        $add!($r: crate::ui::user_stats);
        $add!($r: crate::ui::ops);
    };
}

/// Adds the handlers of one path to an `OpenApiRouter`, with their part of
/// the document.
macro_rules! documented {
    ($r:ident: $($handler:tt)+) => {
        $r = $r.routes(utoipa_axum::routes!($($handler)+));
    };
}

/// Adds the handlers of one path to a plain `Router`: only their
/// annotations' path and methods are read.
macro_rules! served {
    ($r:ident: $($first:ident $(:: $rest:ident)*),+) => {
        $(
            let path = <$crate::routes::annotation!(@in [] $first $(:: $rest)*) as utoipa::Path>::path();
            let mut methods = axum::routing::MethodRouter::new();
            for method in <$crate::routes::annotation!(@in [] $first $(:: $rest)*) as utoipa::Path>::methods() {
                methods = methods.on(
                    utoipa_axum::PathItemExt::to_method_filter(&method),
                    $first $(:: $rest)*,
                );
            }
            $r = $r.route(&path, methods);
        )+
    };
}

/// The type `#[utoipa::path]` makes for a handler: `a::b::f` → `a::b::__path_f`.
macro_rules! annotation {
    (@in [$($module:ident)*] $handler:ident) => {
        utoipa_axum::paste! { $($module ::)* [<__path_ $handler>] }
    };
    (@in [$($module:ident)*] $next:ident :: $($rest:tt)+) => {
        $crate::routes::annotation!(@in [$($module)* $next] $($rest)+)
    };
}

use annotation;

/// The Router with the OpenAPI document (see [`api_routes`]).
pub(crate) fn documented_router() -> OpenApiRouter<AppState> {
    let mut r = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi());
    api_routes!(documented, r);
    r
}

/// The API's Router: every route of [`api_routes`], without the document.
pub fn router(state: AppState) -> Router {
    let body_limit =
        usize::try_from(state.config.max_upload_bytes + MULTIPART_OVERHEAD).unwrap_or(usize::MAX);
    let mut r = Router::new();
    api_routes!(served, r);
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The event stream's route alone, for the streaming function.
pub fn events_router(state: AppState) -> Router {
    Router::new()
        .route("/receipts/events", get(crate::events::events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The receipt id of the path. Every rejection, a segment that is not
/// UTF-8 once decoded (`%FF`) included, is the JSON error naming `id`.
pub(crate) struct IdPath(pub ReceiptId);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| InvalidInput::new("id", "must be a positive integer"))?;
        Ok(IdPath(ReceiptId::parse(&raw, "id")?))
    }
}

/// Query parameters, decoded; the last of a repeated name wins.
pub(crate) fn query_params(raw: Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A JSON body, or the JSON error showing what one looks like.
pub(crate) fn json_body<T>(
    body: Result<Json<T>, JsonRejection>,
    example: &str,
) -> Result<T, ApiError> {
    body.map(|Json(t)| t).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected a JSON body like {example}: {}",
            e.body_text()
        ))
    })
}

/// `limit`: absent → `default`, else an integer from 1 to `max`.
pub(crate) fn parse_limit(raw: Option<&String>, default: u32, max: u32) -> Result<u32, ApiError> {
    parse_count("limit", raw, default, max)
}

/// A query parameter counting something: absent → `default`, else an
/// integer from 1 to `max`, or the JSON error naming `field`.
pub(crate) fn parse_count(
    field: &'static str,
    raw: Option<&String>,
    default: u32,
    max: u32,
) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                InvalidInput::new(field, format!("must be an integer from 1 to {max}")).into()
            }),
    }
}

fn parse_bool(field: &'static str, raw: Option<&String>) -> Result<bool, ApiError> {
    match raw.map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(_) => Err(InvalidInput::new(field, "must be true or false").into()),
    }
}

/// Answer of `GET /health`.
#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// `GET /health`: liveness, no token.
#[utoipa::path(get, path = "/health", tag = "meta", security(()), responses((status = 200, description = "The API is up", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The `Idempotency-Key` header, if sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map_err(|_| InvalidInput::new("Idempotency-Key", "must be visible ASCII"))
                .and_then(parse_idempotency_key)
        })
        .transpose()
        .map_err(ApiError::from)
}

/// `priority` of the query: absent → `None` (keep the receipt's own).
fn priority_param(q: &HashMap<String, String>) -> Result<Option<Priority>, ApiError> {
    q.get("priority")
        .map(|p| p.parse::<Priority>())
        .transpose()
        .map_err(ApiError::from)
}

/// Answer of `POST /receipts`: the receipt, and when the same bytes were
/// uploaded before, which receipt they made.
#[derive(Serialize, ToSchema)]
struct UploadAnswer {
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
struct UploadForm {
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
#[utoipa::path(post, path = "/receipts", tag = "receipts", params(("priority" = Option<Priority>, Query, description = "high or normal (default: the receipt's own; normal for a new upload)"), ("allow_duplicate" = Option<bool>, Query, description = "Store bytes the caller uploaded before again"), ("Idempotency-Key" = Option<String>, Header, description = "The same key again answers the first request's result")), request_body(content = UploadForm, content_type = "multipart/form-data"), responses((status = 201, description = "Stored, pending", body = UploadAnswer), (status = 200, description = "A repeated Idempotency-Key, or bytes uploaded before (duplicate_of): that receipt, unchanged", body = UploadAnswer, headers(("Idempotent-Replayed" = String, description = "true when this answers a repeated Idempotency-Key"))), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 413, description = "File too large", body = ErrorBody), (status = 415, description = "Not an image of an allowed type", body = ErrorBody), (status = 422, description = "Idempotency-Key used before with another request", body = ErrorBody), (status = 429, description = "Over a per-user limit; nothing changed", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the request can succeed"))), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let q = query_params(raw);
    let priority = priority_param(&q)?.unwrap_or_default();
    let allow_duplicate = parse_bool("allow_duplicate", q.get("allow_duplicate"))?;
    let idempotency_key = idempotency_key(&headers)?;
    let mut multipart = multipart.map_err(|_| {
        ApiError::BadRequest("expected a multipart/form-data body with a `file` field".into())
    })?;
    let max = state.config.max_upload_bytes;
    let mut file: Option<(Vec<u8>, Option<String>)> = None;
    let mut purchase_date = None;
    let mut locale = None;

    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { max_bytes: max }
        } else {
            ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
        }
    };

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
            // Other fields (a seed client's `user_id`, say) are ignored: the
            // owner comes from the token only.
            _ => {}
        }
    }

    let (bytes, file_name) = file.ok_or_else(|| InvalidInput::new("file", "is required"))?;
    let uploaded = state
        .service
        .upload(
            &user,
            Upload {
                bytes,
                file_name: file_name.as_deref(),
                purchase_date,
                locale: locale.as_ref(),
                priority,
                idempotency_key,
                allow_duplicate,
            },
        )
        .await?;
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
        shared::repo::ReceiptDetail {
            receipt,
            metadata: None,
            items: Vec::new(),
        }
    } else {
        state
            .service
            .repo
            .get_detail(&user, receipt.id)
            .await
            .map_err(shared::service::ServiceError::from)?
            .ok_or(ApiError::NotFound)?
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
struct UploadUrlRequest {
    /// image/jpeg, image/png, image/webp, image/tiff, image/heic, image/heif
    /// or application/pdf.
    content_type: String,
    /// The receipt's locale hint (BCP 47), as for `POST /receipts`.
    #[serde(default)]
    locale: Option<String>,
}

/// `POST /receipts/upload-url[?priority=high]`: a presigned POST for a
/// direct upload; an `Idempotency-Key` header gives the same object again.
#[utoipa::path(post, path = "/receipts/upload-url", tag = "receipts", params(("priority" = Option<Priority>, Query, description = "high or normal (default: the receipt's own; normal for a new upload)"), ("Idempotency-Key" = Option<String>, Header, description = "The same key again answers the first request's result")), request_body = UploadUrlRequest, responses((status = 201, description = "A presigned POST to S3; the S3 event registers the receipt", body = UploadUrl), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 422, description = "Idempotency-Key used before with another request", body = ErrorBody), (status = 429, description = "Over a per-user limit; nothing changed", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the request can succeed"))), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn upload_url(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Json<UploadUrlRequest>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let q = query_params(raw);
    let priority = priority_param(&q)?.unwrap_or_default();
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
#[utoipa::path(get, path = "/receipts", tag = "receipts", params(("page" = Option<u32>, Query), ("per_page" = Option<u32>, Query), ("status" = Option<OcrStatus>, Query)), responses((status = 200, description = "The caller's receipts, newest first", body = ReceiptList), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<ReceiptList>, ApiError> {
    let q = query_params(raw);
    let page = Page::parse(
        q.get("page").map(String::as_str),
        q.get("per_page").map(String::as_str),
    )?;
    let status = q
        .get("status")
        .map(|s| s.parse::<OcrStatus>())
        .transpose()?;
    let (items, total) = state
        .service
        .repo
        .list(&user, status, page)
        .await
        .map_err(shared::service::ServiceError::from)?;
    let has_more = page.offset() + (items.len() as i64) < total;
    Ok(Json(ReceiptList {
        items,
        page: page.page,
        per_page: page.per_page,
        total,
        has_more,
    }))
}

/// Answer of `GET /receipts`: one page of the caller's receipts.
#[derive(Serialize, ToSchema)]
struct ReceiptList {
    items: Vec<ReceiptDetail>,
    page: u32,
    per_page: u32,
    /// Receipts (of the status asked for) in all.
    total: i64,
    has_more: bool,
}

/// `GET /receipts/{id}`: status, attempts, last error, metadata and items.
#[utoipa::path(get, path = "/receipts/{id}", tag = "receipts", params(("id" = i64, Path, description = "The receipt's id")), responses((status = 200, description = "The receipt and what was read from it", body = ReceiptDetail), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 404, description = "Not found (or not the caller's)", body = ErrorBody), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn get_receipt(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let detail = state
        .service
        .repo
        .get_detail(&user, id)
        .await
        .map_err(shared::service::ServiceError::from)?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(detail))
}

/// Answer of `POST /receipts/ocr/process-all`.
#[derive(Serialize, ToSchema)]
struct ProcessAllAnswer {
    status: &'static str,
    message: String,
    user_id: UserId,
    /// The `limit` asked for, if one was.
    limit: Option<u32>,
    /// Receipts whose OCR message is in the queue.
    queued: usize,
    /// Receipts whose message SQS refused; they are back to `pending`.
    not_queued: usize,
    receipt_ids: Vec<i64>,
    /// Set when the per-user limits let fewer than `limit` be queued now.
    #[serde(skip_serializing_if = "Option::is_none")]
    limited_to: Option<u32>,
}

/// `POST /receipts/ocr/process-all?limit=N[&priority=high]`: queues OCR
/// for the caller's pending receipts and returns at once.
#[utoipa::path(post, path = "/receipts/ocr/process-all", tag = "ocr", params(("limit" = Option<u32>, Query, description = "At most this many"), ("priority" = Option<Priority>, Query, description = "high or normal (default: the receipt's own; normal for a new upload)")), responses((status = 200, description = "Queued; OCR runs later", body = ProcessAllAnswer), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Over a per-user limit; nothing changed", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the request can succeed"))), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn process_all(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<ProcessAllAnswer>, ApiError> {
    let q = query_params(raw);
    let requested = q.get("limit");
    let limit =
        parse_process_all_limit(requested.map(String::as_str), state.config.process_all_max)?;
    let priority = priority_param(&q)?;
    let out = state.service.process_all(&user, limit, priority).await?;
    Relay::kick(state.relay.as_ref()).await;
    let message = if out.queued == 0 {
        "no pending receipts to queue".to_owned()
    } else {
        format!("OCR queued for {} receipts of user {}", out.queued, user)
    };
    Ok(Json(ProcessAllAnswer {
        status: "queued",
        message,
        user_id: user,
        limit: requested.map(|_| limit),
        queued: out.queued,
        not_queued: out.not_queued,
        receipt_ids: out.receipt_ids,
        limited_to: out.limited_to,
    }))
}

/// `GET /receipts/ocr/queue-status[?receipt_id=N]`.
#[utoipa::path(get, path = "/receipts/ocr/queue-status", tag = "ocr", params(("receipt_id" = Option<i64>, Query, description = "One receipt's status instead")), responses((status = 200, description = "Counts by status and every queue's depth, or one receipt's status", body = QueueStatusAnswer), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 404, description = "Not found (or not the caller's)", body = ErrorBody), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn queue_status(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<QueueStatusAnswer>, ApiError> {
    let q = query_params(raw);
    if let Some(raw_id) = q.get("receipt_id") {
        let id = ReceiptId::parse(raw_id, "receipt_id")?;
        let st = state.service.status(&user, id).await?;
        return Ok(Json(QueueStatusAnswer::Receipt(st)));
    }
    let status = state.service.queue_status(&user).await?;
    Ok(Json(QueueStatusAnswer::User(UserQueueStatus {
        user_id: user,
        status,
    })))
}

/// Answer of `GET /receipts/ocr/queue-status`: the caller's counts and the
/// queues, or one receipt's status (`?receipt_id=`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum QueueStatusAnswer {
    User(UserQueueStatus),
    Receipt(ReceiptStatus),
}

#[derive(Serialize, ToSchema)]
struct UserQueueStatus {
    user_id: UserId,
    #[serde(flatten)]
    status: QueueStatus,
}

/// `POST /receipts/{id}/ocr/retry[?force=true]`.
#[utoipa::path(post, path = "/receipts/{id}/ocr/retry", tag = "ocr", params(("id" = i64, Path, description = "The receipt's id"), ("force" = Option<bool>, Query, description = "Read a completed receipt again"), ("priority" = Option<Priority>, Query, description = "high or normal (default: the receipt's own; normal for a new upload)")), responses((status = 202, description = "Queued again", body = ReceiptStatus), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 404, description = "Not found (or not the caller's)", body = ErrorBody), (status = 409, description = "Not in a status that allows it", body = ErrorBody), (status = 429, description = "Over a per-user limit; nothing changed", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the request can succeed"))), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn retry(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let q = query_params(raw);
    let force = parse_bool("force", q.get("force"))?;
    let priority = priority_param(&q)?;
    let st = state.service.retry(&user, id, force, priority).await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok((StatusCode::ACCEPTED, Json(st)))
}

/// `POST /receipts/{id}/ocr/cancel`: a queued receipt goes back to
/// `pending`; its message is acknowledged without OCR. 409 once it is
/// being read.
#[utoipa::path(post, path = "/receipts/{id}/ocr/cancel", tag = "ocr", params(("id" = i64, Path, description = "The receipt's id")), responses((status = 200, description = "Back to pending; its message is acknowledged without OCR", body = ReceiptStatus), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 404, description = "Not found (or not the caller's)", body = ErrorBody), (status = 409, description = "Not in a status that allows it", body = ErrorBody), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn cancel(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<Json<ReceiptStatus>, ApiError> {
    let st = state.service.cancel(&user, id).await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok(Json(st))
}

/// Answer of `POST /receipts/ocr/cancel-all`.
#[derive(Serialize, ToSchema)]
struct CancelAllAnswer {
    /// Queued receipts now back to `pending`.
    cancelled: usize,
    receipt_ids: Vec<i64>,
}

/// `POST /receipts/ocr/cancel-all`: every queued receipt of the caller
/// goes back to `pending` (those being read finish).
#[utoipa::path(post, path = "/receipts/ocr/cancel-all", tag = "ocr", responses((status = 200, description = "Every queued receipt of the caller back to pending", body = CancelAllAnswer), (status = 401, description = "No valid token", body = ErrorBody), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn cancel_all(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<CancelAllAnswer>, ApiError> {
    let ids = state.service.cancel_all(&user).await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok(Json(CancelAllAnswer {
        cancelled: ids.len(),
        receipt_ids: ids,
    }))
}

/// Answer of `POST /receipts/ocr/retry-failed`.
#[derive(Serialize, ToSchema)]
struct RetryFailedAnswer {
    status: &'static str,
    /// Failed receipts put back to `queued`, each with a fresh message.
    requeued: usize,
    /// Receipts whose message SQS refused; they stay `failed`.
    not_requeued: usize,
    receipt_ids: Vec<i64>,
    /// Set when the per-user limits let fewer than `limit` be queued now.
    #[serde(skip_serializing_if = "Option::is_none")]
    limited_to: Option<u32>,
}

/// `POST /receipts/ocr/retry-failed?limit=N`: re-queues the caller's
/// failed receipts (oldest first), one statement and one message each.
#[utoipa::path(post, path = "/receipts/ocr/retry-failed", tag = "ocr", params(("limit" = Option<u32>, Query, description = "At most this many"), ("priority" = Option<Priority>, Query, description = "high or normal (default: the receipt's own; normal for a new upload)")), responses((status = 202, description = "Failed receipts re-queued, oldest first", body = RetryFailedAnswer), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Over a per-user limit; nothing changed", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the request can succeed"))), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn retry_failed(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let q = query_params(raw);
    let limit = parse_process_all_limit(
        q.get("limit").map(String::as_str),
        state.config.process_all_max,
    )?;
    let priority = priority_param(&q)?;
    let out = state.service.retry_failed(&user, limit, priority).await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(RetryFailedAnswer {
            status: "queued",
            requeued: out.queued,
            not_requeued: out.not_queued,
            receipt_ids: out.receipt_ids,
            limited_to: out.limited_to,
        }),
    ))
}

/// `GET /receipts/ocr/stats[?hours=N][&scope=all]`: the caller's figures
/// over the last N hours (24 by default); `scope=all` is every user's, for
/// operators.
#[utoipa::path(get, path = "/receipts/ocr/stats", tag = "ocr", params(("hours" = Option<u32>, Query, description = "The window, 1 to 2160 (24)"), ("scope" = Option<String>, Query, description = "user (default) or all (operators)")), responses((status = 200, description = "Figures of the window", body = OcrStats), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "For operators only", body = ErrorBody), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn stats(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<OcrStats>, ApiError> {
    let q = query_params(raw);
    let hours = parse_count(
        "hours",
        q.get("hours"),
        stats::DEFAULT_WINDOW_HOURS,
        stats::MAX_WINDOW_HOURS,
    )?;
    let scope = match q.get("scope").map(String::as_str) {
        None | Some("user") => StatsScope::User(&user),
        Some("all") => {
            require_admin(&state, &user, "stats of every user")?;
            StatsScope::AllUsers
        }
        Some(_) => return Err(InvalidInput::new("scope", "must be user or all").into()),
    };
    let figures = stats::ocr_stats(state.service.repo.pool(), scope, hours)
        .await
        .map_err(shared::service::ServiceError::from)?;
    Ok(Json(figures))
}

/// Whether the caller is an operator (`ADMIN_USERS`).
pub(crate) fn is_admin(state: &AppState, user: &UserId) -> bool {
    state.config.admin_users.iter().any(|a| a == user.as_str())
}

/// Operator actions are for the subjects in `ADMIN_USERS`.
pub(crate) fn require_admin(state: &AppState, user: &UserId, what: &str) -> Result<(), ApiError> {
    if is_admin(state, user) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{what} are for operators (ADMIN_USERS)"
        )))
    }
}

/// `POST /receipts/ocr/redrive`: re-queues the dead-lettered receipts, one
/// fresh message each, and clears their DLQ copies. For operators (`ADMIN_USERS`): the DLQ holds
/// every user's messages.
#[utoipa::path(post, path = "/receipts/ocr/redrive", tag = "ocr", responses((status = 202, description = "Dead-lettered receipts re-queued", body = RedriveAnswer), (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "For operators only", body = ErrorBody), (status = 503, description = "A backing service is unavailable; nothing changed", body = ErrorBody)))]
async fn redrive(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &user, "redrive and the DLQ")?;
    let r = state.service.redrive().await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(RedriveAnswer {
            status: "started",
            dlq_messages: r.dlq_messages,
            requeued: r.receipt_ids.len(),
            receipt_ids: r.receipt_ids,
            removed_from_dlq: r.removed_from_dlq,
            kept_in_dlq: r.kept_in_dlq,
        }),
    ))
}

/// Answer of `POST /receipts/ocr/redrive`.
#[derive(Serialize, ToSchema)]
struct RedriveAnswer {
    status: &'static str,
    /// Messages in both DLQs when the redrive started.
    dlq_messages: i64,
    /// Receipts put back to `queued`, each with one fresh OCR message.
    requeued: usize,
    receipt_ids: Vec<i64>,
    /// DLQ messages removed: their receipt was re-queued (or is gone).
    removed_from_dlq: usize,
    /// DLQ messages kept for a person: unreadable, or not matching their
    /// receipt.
    kept_in_dlq: usize,
}
