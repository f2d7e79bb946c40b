//! OCR: queueing every pending receipt, priority, cancel, retries, the
//! queues' status, figures and the operators' redrive.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use shared::db::stats::{self, OcrStats, StatsScope};
use shared::domain::UserId;
use shared::domain::{Priority, ReceiptId, process_all_limit};
use shared::flow::service::{QueueStatus, ReceiptStatus};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::{AdminUser, CurrentUser, require_admin};
use shared::flow::webhooks::Relay;

use crate::extract::{IdPath, Query, bounded, param};

/// Answer of `POST /receipts/ocr/process-all`.
#[derive(Serialize, ToSchema)]
pub struct ProcessAllAnswer {
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
#[utoipa::path(
    post,
    path = "/receipts/ocr/process-all",
    tag = "ocr",
    params(LimitQuery),
    responses(
        (status = 200, description = "Queued; OCR runs later", body = ProcessAllAnswer),
        doc::BadInput,
        doc::NoToken,
        doc::Limited,
        doc::Unavailable,
    ),
)]
pub async fn process_all(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<LimitQuery>,
) -> Result<Json<ProcessAllAnswer>, ApiError> {
    let limit = process_all_limit(q.limit, state.config.api.process_all_max)?;
    let out = state.service.process_all(&user, limit, q.priority).await?;
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
        limit: q.limit.map(|_| limit),
        queued: out.queued,
        not_queued: out.not_queued,
        receipt_ids: out.receipt_ids,
        limited_to: out.limited_to,
    }))
}

/// `GET /receipts/ocr/queue-status[?receipt_id=N]`.
#[utoipa::path(
    get,
    path = "/receipts/ocr/queue-status",
    tag = "ocr",
    params(QueueStatusQuery),
    responses(
        (status = 200, description = "Counts by status and every queue's depth, or one receipt's status", body = QueueStatusAnswer),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::Unavailable,
    ),
)]
pub async fn queue_status(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<QueueStatusQuery>,
) -> Result<Json<QueueStatusAnswer>, ApiError> {
    if let Some(id) = q.receipt_id {
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
pub enum QueueStatusAnswer {
    User(UserQueueStatus),
    Receipt(ReceiptStatus),
}

#[derive(Serialize, ToSchema)]
pub struct UserQueueStatus {
    user_id: UserId,
    #[serde(flatten)]
    status: QueueStatus,
}

/// `POST /receipts/{id}/ocr/retry[?force=true]`.
#[utoipa::path(
    post,
    path = "/receipts/{id}/ocr/retry",
    tag = "ocr",
    params(("id" = i64, Path, description = "The receipt's id"), RetryQuery),
    responses(
        (status = 202, description = "Queued again", body = ReceiptStatus),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::WrongStatus,
        doc::Limited,
        doc::Unavailable,
    ),
)]
pub async fn retry(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
    Query(q): Query<RetryQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let st = state.service.retry(&user, id, q.force, q.priority).await?;
    Relay::kick(state.relay.as_ref()).await;
    Ok((StatusCode::ACCEPTED, Json(st)))
}

/// `POST /receipts/{id}/ocr/cancel`: a queued receipt goes back to
/// `pending`; its message is acknowledged without OCR. 409 once it is
/// being read.
#[utoipa::path(
    post,
    path = "/receipts/{id}/ocr/cancel",
    tag = "ocr",
    params(("id" = i64, Path, description = "The receipt's id")),
    responses(
        (status = 200, description = "Back to pending; its message is acknowledged without OCR", body = ReceiptStatus),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::WrongStatus,
        doc::Unavailable,
    ),
)]
pub async fn cancel(
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
pub struct CancelAllAnswer {
    /// Queued receipts now back to `pending`.
    cancelled: usize,
    receipt_ids: Vec<i64>,
}

/// `POST /receipts/ocr/cancel-all`: every queued receipt of the caller
/// goes back to `pending` (those being read finish).
#[utoipa::path(
    post,
    path = "/receipts/ocr/cancel-all",
    tag = "ocr",
    responses(
        (status = 200, description = "Every queued receipt of the caller back to pending", body = CancelAllAnswer),
        doc::NoToken,
        doc::Unavailable,
    ),
)]
pub async fn cancel_all(
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
pub struct RetryFailedAnswer {
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
#[utoipa::path(
    post,
    path = "/receipts/ocr/retry-failed",
    tag = "ocr",
    params(LimitQuery),
    responses(
        (status = 202, description = "Failed receipts re-queued, oldest first", body = RetryFailedAnswer),
        doc::BadInput,
        doc::NoToken,
        doc::Limited,
        doc::Unavailable,
    ),
)]
pub async fn retry_failed(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<LimitQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = process_all_limit(q.limit, state.config.api.process_all_max)?;
    let out = state.service.retry_failed(&user, limit, q.priority).await?;
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
#[utoipa::path(
    get,
    path = "/receipts/ocr/stats",
    tag = "ocr",
    params(StatsQuery),
    responses(
        (status = 200, description = "Figures of the window", body = OcrStats),
        doc::BadInput,
        doc::NoToken,
        doc::OperatorsOnly,
        doc::Unavailable,
    ),
)]
pub async fn stats(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<StatsQuery>,
) -> Result<Json<OcrStats>, ApiError> {
    let hours = bounded(
        "hours",
        q.hours,
        stats::DEFAULT_WINDOW_HOURS,
        stats::MAX_WINDOW_HOURS,
    )?;
    let scope = match q.scope {
        Scope::User => StatsScope::User(&user),
        Scope::All => {
            require_admin(&state, &user, "the stats of every user")?;
            StatsScope::AllUsers
        }
    };
    let figures = state.service.stats(scope, hours).await?;
    Ok(Json(figures))
}

/// `POST /receipts/ocr/redrive`: re-queues the dead-lettered receipts, one
/// fresh message each, and clears their DLQ copies. For operators (`ADMIN_USERS`): the DLQ holds
/// every user's messages.
#[utoipa::path(
    post,
    path = "/receipts/ocr/redrive",
    tag = "ocr",
    responses(
        (status = 202, description = "Dead-lettered receipts re-queued", body = RedriveAnswer),
        doc::NoToken,
        doc::OperatorsOnly,
        doc::Unavailable,
    ),
)]
pub async fn redrive(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<impl IntoResponse, ApiError> {
    let r = state.service.redrive().await?;
    // An operator's action on every user's receipts: who asked is logged.
    tracing::info!(
        operator = %admin,
        requeued = r.receipt_ids.len(),
        dlq_messages = r.dlq_messages,
        "redrive"
    );
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
pub struct RedriveAnswer {
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

/// The query of process-all and retry-failed.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitQuery {
    /// At most this many
    #[serde(default, deserialize_with = "param::positive")]
    limit: Option<u32>,
    /// high or normal (default: the receipt's own; normal for a new upload)
    #[serde(default, deserialize_with = "param::priority")]
    priority: Option<Priority>,
}

/// `GET /receipts/ocr/queue-status`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QueueStatusQuery {
    /// One receipt's status instead
    #[serde(default, deserialize_with = "param::receipt_id")]
    #[param(value_type = Option<i64>)]
    receipt_id: Option<ReceiptId>,
}

/// `POST /receipts/{id}/ocr/retry`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RetryQuery {
    /// Read a completed receipt again
    #[serde(default, deserialize_with = "param::flag")]
    force: bool,
    /// high or normal (default: the receipt's own; normal for a new upload)
    #[serde(default, deserialize_with = "param::priority")]
    priority: Option<Priority>,
}

/// `GET /receipts/ocr/stats`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsQuery {
    /// The window, 1 to 2160 (24)
    #[serde(default, deserialize_with = "param::positive")]
    hours: Option<u32>,
    /// user (default) or all (operators)
    #[serde(default)]
    #[param(inline)]
    scope: Scope,
}

/// Whose figures: the caller's, or every user's (operators).
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scope {
    #[default]
    User,
    All,
}
