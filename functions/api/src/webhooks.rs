//! Webhook endpoints and their deliveries (Standard Webhooks v1):
//! `POST /webhooks`, `GET /webhooks`, `DELETE /webhooks/{id}`,
//! `POST /webhooks/{id}/test`, `GET /webhooks/{id}/deliveries`,
//! `POST /webhooks/deliveries/{id}/resend`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use shared::domain::InvalidInput;
use shared::webhooks::{Delivery, Endpoint, Relay, parse_event_types};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::routes::{IdPath, json_body, parse_limit, query_params};

/// Longest webhook URL accepted.
const MAX_URL_LEN: usize = 2048;

#[derive(Deserialize)]
pub struct NewEndpoint {
    url: String,
    events: Vec<String>,
}

#[derive(Serialize)]
pub struct EndpointList {
    pub items: Vec<Endpoint>,
}

#[derive(Serialize)]
pub struct DeliveryList {
    pub items: Vec<Delivery>,
}

/// `POST /webhooks {url, events[]}`: the secret is in this answer only.
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
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<EndpointList>, ApiError> {
    Ok(Json(EndpointList {
        items: state.webhooks.list(&user).await?,
    }))
}

/// `DELETE /webhooks/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.webhooks.delete(&user, id.get()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhooks/{id}/test`: a `webhook.test` delivery, sent at once.
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
pub async fn deliveries(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    RawQuery(raw): RawQuery,
) -> Result<Json<DeliveryList>, ApiError> {
    let q = query_params(raw);
    let limit = parse_limit(q.get("limit"), 50, 500)?;
    Ok(Json(DeliveryList {
        items: state.webhooks.deliveries(&user, id.get(), limit).await?,
    }))
}

/// `POST /webhooks/deliveries/{id}/resend`: the same `webhook-id`, tried
/// again on a fresh schedule.
pub async fn resend(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let delivery = state.webhooks.resend(&user, id.get()).await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
