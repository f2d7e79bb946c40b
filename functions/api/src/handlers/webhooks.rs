//! Webhook endpoints and their deliveries (Standard Webhooks v1):
//! `POST /webhooks`, `GET /webhooks`, `DELETE /webhooks/{id}`,
//! `POST /webhooks/{id}/test`, `GET /webhooks/{id}/deliveries`,
//! `POST /webhooks/deliveries/{id}/resend`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use shared::domain::InvalidInput;
use shared::flow::webhooks::{CreatedEndpoint, Delivery, Endpoint, Relay, parse_event_types};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::CurrentUser;
use crate::extract::{IdPath, Query, bounded, json_body, param};

/// Longest webhook URL accepted.
const MAX_URL_LEN: usize = 2048;

#[derive(Deserialize, ToSchema)]
pub struct NewEndpoint {
    /// An https URL (plain http to loopback in local mode only).
    url: String,
    /// Event types to deliver (at least one).
    #[schema(value_type = Vec<EventType>)]
    events: Vec<String>,
}

/// An event type a webhook can subscribe to: every type the outbox
/// writes (`shared::db::events::EVENT_TYPES`; a test keeps the two equal).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // only its schema is used: requests carry strings
pub enum EventType {
    #[serde(rename = "receipt.created")]
    Created,
    #[serde(rename = "receipt.queued")]
    Queued,
    #[serde(rename = "receipt.processing")]
    Processing,
    #[serde(rename = "receipt.completed")]
    Completed,
    #[serde(rename = "receipt.failed")]
    Failed,
    #[serde(rename = "receipt.dead_lettered")]
    DeadLettered,
    #[serde(rename = "receipt.requeued")]
    Requeued,
    #[serde(rename = "receipt.unqueued")]
    Unqueued,
    #[serde(rename = "receipt.cancelled")]
    Cancelled,
    #[serde(rename = "receipt.deleted")]
    Deleted,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub items: Vec<Endpoint>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<Delivery>,
}

/// `POST /webhooks {url, events[]}`: the secret is in this answer only.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    request_body = NewEndpoint,
    responses(
        (status = 201, description = "Registered; the secret is in this answer only", body = CreatedEndpoint),
        doc::BadInput,
        doc::NoToken,
        doc::Unavailable,
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: Result<Json<NewEndpoint>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let req = json_body(
        body,
        r#"{"url":"https://example.com/hook","events":["receipt.completed"]}"#,
    )?;
    if req.url.len() > MAX_URL_LEN {
        return Err(
            InvalidInput::new("url", format!("must be at most {MAX_URL_LEN} bytes")).into(),
        );
    }
    let events = parse_event_types(&req.events)?;
    let url = state
        .webhook_policy
        .check(&req.url)
        .await
        .map_err(|e| InvalidInput::new("url", e.to_string()))?;
    let created = state.webhooks.create(&user, url.as_str(), &events).await?;
    tracing::info!(endpoint_id = created.endpoint.id, user_id = %user, "webhook endpoint registered");
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /webhooks`.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "The caller's endpoints", body = EndpointList),
        doc::NoToken,
        doc::Unavailable,
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<EndpointList>, ApiError> {
    Ok(Json(EndpointList {
        items: state.webhooks.list(&user).await?,
    }))
}

/// `DELETE /webhooks/{id}`.
#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Removed"),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::Unavailable,
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.webhooks.delete(&user, id.get()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhooks/{id}/test`: a `webhook.test` delivery, sent at once.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/test",
    tag = "webhooks",
    params(("id" = i64, Path)),
    responses(
        (status = 202, description = "A webhook.test delivery, sent at once", body = Delivery),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::WrongStatus,
        doc::Unavailable,
    ),
)]
pub async fn test(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let delivery = state.webhooks.test(&user, id.get()).await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}

/// `GET /webhooks/{id}/deliveries[?limit=N]`: newest first.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = i64, Path), DeliveriesQuery),
    responses(
        (status = 200, description = "Newest first", body = DeliveryList),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::Unavailable,
    ),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = bounded("limit", q.limit, 50, 500)?;
    Ok(Json(DeliveryList {
        items: state.webhooks.deliveries(&user, id.get(), limit).await?,
    }))
}

/// `GET /webhooks/{id}/deliveries`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveriesQuery {
    /// At most this many (50, at most 500)
    #[serde(default, deserialize_with = "param::positive")]
    limit: Option<u32>,
}

/// `POST /webhooks/deliveries/{id}/resend`: the same `webhook-id`, tried
/// again on a fresh schedule.
#[utoipa::path(
    post,
    path = "/webhooks/deliveries/{id}/resend",
    tag = "webhooks",
    params(("id" = i64, Path)),
    responses(
        (status = 202, description = "Tried again with the same webhook-id", body = Delivery),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::WrongStatus,
        doc::Unavailable,
    ),
)]
pub async fn resend(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let delivery = state.webhooks.resend(&user, id.get()).await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
