//! The one place where errors become HTTP answers:
//! `{"error": {"code": "...", "message": "..."}}` with a fitting status.
//! Internal error texts are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared::auth::AuthError;
use shared::domain::InvalidInput;
use shared::flow::service::ServiceError;
use shared::flow::webhooks::WebhookError;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("file is larger than {max_bytes} bytes")]
    PayloadTooLarge { max_bytes: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// A per-user limit; `Retry-After` says when to come back.
    #[error(transparent)]
    TooManyRequests(#[from] shared::db::limits::Limited),
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(i) => ApiError::Invalid(i),
            ServiceError::NotFound => ApiError::NotFound,
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::TooLarge { max_bytes } => ApiError::PayloadTooLarge { max_bytes },
            e @ ServiceError::UnsupportedType => ApiError::UnsupportedMediaType(e.to_string()),
            ServiceError::Limited(l) => ApiError::TooManyRequests(l),
            e @ ServiceError::IdempotencyKeyReused(_) => {
                ApiError::IdempotencyKeyReused(e.to_string())
            }
            ServiceError::QueueUnavailable(reason) => {
                tracing::error!(%reason, "OCR queue unavailable");
                ApiError::Unavailable(
                    "the OCR queue is unavailable; nothing was queued, try again later".into(),
                )
            }
            ServiceError::Repo(e) if e.is_transient() => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::Unavailable("the database is unavailable, try again later".into())
            }
            ServiceError::Queue(e) => {
                tracing::error!(error = %e, "queue failed");
                ApiError::Unavailable("the OCR queue is unavailable, try again later".into())
            }
            ServiceError::Storage(e) => {
                tracing::error!(error = %e, "storage failed");
                ApiError::Unavailable("receipt storage is unavailable, try again later".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Invalid(i) => ApiError::Invalid(i),
            WebhookError::NotFound => ApiError::NotFound,
            WebhookError::Conflict(m) => ApiError::Conflict(m),
            WebhookError::Repo(r) => ServiceError::from(r).into(),
        }
    }
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::IdempotencyKeyReused(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error".to_owned()
            }
            ApiError::NotFound => "not found".to_owned(),
            other => other.to_string(),
        };
        let mut resp = (status, error_json(code, message)).into_response();
        if let ApiError::TooManyRequests(l) = &self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(l.retry_after.as_secs()),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// Every error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `invalid_input`, `not_found`,
    /// `rate_limited`, …
    pub code: &'static str,
    /// For a person; never an internal error's text.
    pub message: String,
}

/// The error answer as the document names it, for the one place errors
/// become answers.
pub fn error_json(code: &'static str, message: String) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: ErrorDetail { code, message },
    })
}

/// The error answers as the handlers' annotations name them: one type per
/// kind, each the JSON error, so that a route lists
/// `responses((status = 200, …), doc::BadInput, doc::NoToken, …)`.
pub mod doc {
    #![allow(dead_code)] // read by the OpenAPI derive only

    use utoipa::IntoResponses;

    use super::ErrorBody;

    #[derive(IntoResponses)]
    #[response(
        status = 400,
        description = "Bad input (the JSON error names the field)"
    )]
    pub struct BadInput(ErrorBody);

    #[derive(IntoResponses)]
    #[response(status = 401, description = "No valid token")]
    pub struct NoToken(ErrorBody);

    #[derive(IntoResponses)]
    #[response(status = 403, description = "For operators only")]
    pub struct OperatorsOnly(ErrorBody);

    #[derive(IntoResponses)]
    #[response(status = 404, description = "Not found (or not the caller's)")]
    pub struct NotFound(ErrorBody);

    #[derive(IntoResponses)]
    #[response(status = 409, description = "Not in a status that allows it")]
    pub struct WrongStatus(ErrorBody);

    #[derive(IntoResponses)]
    #[response(status = 413, description = "File too large")]
    pub struct TooLarge(ErrorBody);

    #[derive(IntoResponses)]
    #[response(status = 415, description = "Not an image of an allowed type")]
    pub struct NotAnImage(ErrorBody);

    #[derive(IntoResponses)]
    #[response(
        status = 422,
        description = "Idempotency-Key used before with another request"
    )]
    pub struct KeyReused(ErrorBody);

    #[derive(IntoResponses)]
    #[response(
        status = 429,
        description = "Over a per-user limit; nothing changed",
        headers(("Retry-After" = u64, description = "Seconds until the request can succeed"))
    )]
    pub struct Limited(ErrorBody);

    #[derive(IntoResponses)]
    #[response(
        status = 503,
        description = "A backing service is unavailable; nothing changed"
    )]
    pub struct Unavailable(ErrorBody);
}
