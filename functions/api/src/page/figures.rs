//! The figures: the caller's, and the operators' view of every user
//! and the queues.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use shared::aws::sqs::{PriorityDepths, QueueDepth};
use shared::db::stats::{self, OcrStats, StatsScope};

use super::{DASH, page_fragment};
use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::{AdminUser, CurrentUser};

// ---- figures -------------------------------------------------------------------

struct ReasonRow {
    reason: String,
    count: i64,
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPanel {
    title: &'static str,
    scope: &'static str,
    window_hours: u32,
    finished: i64,
    success_rate: String,
    avg: String,
    p95: String,
    per_hour: String,
    queue_depth: i64,
    reasons: Vec<ReasonRow>,
}

fn millis(ms: Option<f64>) -> String {
    match ms {
        None => DASH.to_owned(),
        Some(ms) if ms >= 1000.0 => format!("{:.1} s", ms / 1000.0),
        Some(ms) => format!("{ms:.0} ms"),
    }
}

fn stats_panel(title: &'static str, s: OcrStats) -> StatsPanel {
    StatsPanel {
        title,
        scope: s.scope,
        window_hours: s.window_hours,
        finished: s.finished,
        success_rate: s
            .success_rate
            .map_or_else(|| DASH.to_owned(), |r| format!("{:.0} %", r * 100.0)),
        avg: millis(s.avg_processing_ms),
        p95: millis(s.p95_processing_ms),
        per_hour: format!("{:.1}", s.receipts_per_hour),
        queue_depth: s.queue_depth,
        reasons: s
            .top_failure_reasons
            .into_iter()
            .map(|r| ReasonRow {
                reason: r.reason,
                count: r.count,
            })
            .collect(),
    }
}

async fn figures(state: &AppState, scope: StatsScope<'_>) -> Result<OcrStats, ApiError> {
    Ok(state
        .service
        .stats(scope, stats::DEFAULT_WINDOW_HOURS)
        .await?)
}

/// `GET /ui/fragments/stats`: the caller's figures of the last 24 hours.
#[utoipa::path(
    get,
    path = "/ui/fragments/stats",
    tag = "page",
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        doc::NoToken,
    ),
)]
pub(crate) async fn user_stats(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    let s = figures(&state, StatsScope::User(&user)).await?;
    page_fragment(&state, stats_panel("Your last 24 hours", s))
}

#[derive(Template)]
#[template(path = "ops.html")]
struct Ops {
    queue_visible: String,
    queue_in_flight: String,
    dlq_visible: String,
    stats: String,
}

/// `GET /ui/fragments/ops`: the queues' depths, Redrive, and every user's
/// figures; for operators (`ADMIN_USERS`).
#[utoipa::path(
    get,
    path = "/ui/fragments/ops",
    tag = "page",
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        doc::NoToken,
        doc::OperatorsOnly,
    ),
)]
pub(crate) async fn ops(State(state): State<AppState>, _: AdminUser) -> Result<Response, ApiError> {
    let ((queue, dlq), s) = tokio::join!(
        state.service.queue_depths(),
        figures(&state, StatsScope::AllUsers)
    );
    // SQS unreachable: the view still shows the figures from Postgres.
    for e in [&queue, &dlq].into_iter().filter_map(|d| d.as_ref().err()) {
        tracing::warn!(error = %e, "queue depth unavailable");
    }
    // Both priorities' queues together.
    let depth = |d: &Result<PriorityDepths, _>, f: fn(&QueueDepth) -> i64| {
        d.as_ref()
            .map_or_else(|_| "unknown".to_owned(), |d| f(&d.total()).to_string())
    };
    let stats = stats_panel("Every user, last 24 hours", s?)
        .render()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    page_fragment(
        &state,
        Ops {
            queue_visible: depth(&queue, |d| d.visible),
            queue_in_flight: depth(&queue, |d| d.in_flight),
            dlq_visible: depth(&dlq, |d| d.visible),
            stats,
        },
    )
}
