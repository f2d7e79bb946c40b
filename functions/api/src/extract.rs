//! What the handlers share to read a request: the receipt id of the path,
//! query parameters, JSON bodies, headers, and the operator check. Every
//! rejection is the JSON error.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use shared::domain::{InvalidInput, Priority, ReceiptId};
use shared::service::parse_idempotency_key;

use crate::error::ApiError;

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

pub(crate) fn parse_bool(field: &'static str, raw: Option<&String>) -> Result<bool, ApiError> {
    match raw.map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(_) => Err(InvalidInput::new(field, "must be true or false").into()),
    }
}

/// The `Idempotency-Key` header, if sent.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
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
pub(crate) fn priority_param(q: &HashMap<String, String>) -> Result<Option<Priority>, ApiError> {
    q.get("priority")
        .map(|p| p.parse::<Priority>())
        .transpose()
        .map_err(ApiError::from)
}
