//! What the handlers share to read a request: the receipt id of the path,
//! typed query parameters, JSON bodies and headers. Every rejection is the
//! JSON error.

pub(crate) mod auth;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use shared::domain::{InvalidInput, ReceiptId, UserId};
use shared::flow::service::parse_idempotency_key;

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

/// The user id of the path.
pub(crate) struct UserPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| InvalidInput::new("user_id", "must be a user id"))?;
        Ok(UserPath(UserId::parse(&raw)?))
    }
}

/// The query string as a typed struct (`T` derives `Deserialize`, and
/// `IntoParams` for the document). A repeated name: the last one wins.
/// Names `T` does not know are ignored. Values reach `T` as strings: its
/// fields read them with [`param`] (or are unit enums). A value `T` refuses
/// is the JSON error naming the parameter.
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or_default();
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()).into_owned() {
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
        }
        let reader = MapDeserializer::<_, serde::de::value::Error>::new(pairs.into_iter());
        serde_path_to_error::deserialize(reader)
            .map(Query)
            .map_err(|e| {
                let field = e.path().to_string();
                InvalidInput::new(field, e.into_inner().to_string()).into()
            })
    }
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

/// An event id (`after`, `Last-Event-ID`): an integer, 0 or more.
pub(crate) fn parse_cursor(field: &'static str, raw: &str) -> Result<i64, InvalidInput> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| InvalidInput::new(field, "must be an event id (an integer, 0 or more)"))
}

/// A count of the query (`limit`, `hours`): absent → `default`, else at
/// most `max`, or the JSON error naming `field`.
pub(crate) fn bounded(
    field: &'static str,
    value: Option<u32>,
    default: u32,
    max: u32,
) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if n <= max => Ok(n),
        Some(_) => {
            Err(InvalidInput::new(field, format!("must be an integer from 1 to {max}")).into())
        }
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

/// How query values are read: by the domain's own parsers, whose message
/// becomes the JSON error's (the field is the parameter's name). For
/// `#[serde(default, deserialize_with = "param::…")]` on `Option` fields.
pub(crate) mod param {
    use serde::de::{Deserialize, Deserializer, Error};
    use shared::domain::{InvalidInput, OcrStatus, Priority, ReceiptId, parse_positive};

    fn parsed<'de, D, T>(
        d: D,
        parse: impl FnOnce(&str) -> Result<T, InvalidInput>,
    ) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
    {
        let raw = String::deserialize(d)?;
        parse(&raw).map_err(|e| D::Error::custom(e.message))
    }

    pub(crate) fn priority<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Priority>, D::Error> {
        parsed(d, str::parse).map(Some)
    }

    pub(crate) fn status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OcrStatus>, D::Error> {
        parsed(d, str::parse).map(Some)
    }

    /// A status, where empty means "every status" (the page's filter).
    pub(crate) fn status_or_all<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OcrStatus>, D::Error> {
        parsed(d, |s| (!s.is_empty()).then(|| s.parse()).transpose())
    }

    pub(crate) fn receipt_id<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ReceiptId>, D::Error> {
        parsed(d, |s| ReceiptId::parse(s, "receipt_id")).map(Some)
    }

    /// An integer of 1 or more (`limit`, `page`, `per_page`).
    pub(crate) fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        parsed(d, |s| parse_positive("value", s)).map(Some)
    }

    /// A day, as YYYY-MM-DD.
    pub(crate) fn date<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<chrono::NaiveDate>, D::Error> {
        parsed(d, shared::domain::parse_purchase_date).map(Some)
    }

    /// An event id: an integer, 0 or more.
    pub(crate) fn cursor<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        parsed(d, |s| super::parse_cursor("after", s)).map(Some)
    }

    /// `true`, `1` or nothing (`?force`) is yes; `false` or `0` is no.
    pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        parsed(d, |s| match s.to_ascii_lowercase().as_str() {
            "false" | "0" => Ok(false),
            "true" | "1" | "" => Ok(true),
            _ => Err(InvalidInput::new("flag", "must be true or false")),
        })
    }
}
