//! The seed's metrics, computed in Postgres: success rate, processing time
//! (average and p95), receipts per hour, the top failure reasons and the
//! queue depth — for one user, or for every user (operators).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::db::{RepoError, StatusCounts};
use crate::domain::UserId;

/// Whose receipts the figures are of.
#[derive(Clone, Copy, Debug)]
pub enum StatsScope<'a> {
    User(&'a UserId),
    AllUsers,
}

/// The window the figures cover, in hours (`?hours=`).
pub const DEFAULT_WINDOW_HOURS: u32 = 24;
pub const MAX_WINDOW_HOURS: u32 = 24 * 90;
/// Failure reasons listed, most frequent first.
pub const TOP_REASONS: i64 = 5;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OcrStats {
    /// `user` or `all`.
    pub scope: &'static str,
    pub window_hours: u32,
    pub since: DateTime<Utc>,
    /// Receipts that finished (completed or failed) in the window.
    pub finished: i64,
    pub completed: i64,
    pub failed: i64,
    /// completed / finished; `None` when nothing finished.
    pub success_rate: Option<f64>,
    /// From queued to completed, over the receipts completed in the window.
    pub avg_processing_ms: Option<f64>,
    pub p95_processing_ms: Option<f64>,
    /// The OCR agent's own time (its `duration_ms`), averaged likewise.
    pub avg_ocr_ms: Option<f64>,
    /// finished / window_hours.
    pub receipts_per_hour: f64,
    /// The last errors of the receipts that failed in the window.
    pub top_failure_reasons: Vec<FailureReason>,
    /// Receipts by status now (not limited to the window); `queued` plus
    /// `processing` is the queue depth as Postgres sees it.
    pub now: StatusCounts,
    pub queue_depth: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailureReason {
    pub reason: String,
    pub count: i64,
}

#[derive(sqlx::FromRow)]
struct Window {
    since: DateTime<Utc>,
    completed: i64,
    failed: i64,
    avg_ms: Option<f64>,
    p95_ms: Option<f64>,
    avg_ocr_ms: Option<f64>,
}

/// `$1` is the user (NULL: everyone), `$2` the window in hours.
const WINDOW_SQL: &str = "\
    SELECT now() - make_interval(hours => $2) AS since, \
           count(*) FILTER (WHERE r.ocr_status = 'completed') AS completed, \
           count(*) FILTER (WHERE r.ocr_status = 'failed') AS failed, \
           avg(EXTRACT(EPOCH FROM r.processed_at - r.queued_at) * 1000) \
               FILTER (WHERE r.ocr_status = 'completed')::float8 AS avg_ms, \
           percentile_cont(0.95) WITHIN GROUP \
               (ORDER BY EXTRACT(EPOCH FROM r.processed_at - r.queued_at) * 1000) \
               FILTER (WHERE r.ocr_status = 'completed')::float8 AS p95_ms, \
           avg(m.duration_ms) FILTER (WHERE r.ocr_status = 'completed')::float8 AS avg_ocr_ms \
    FROM receipts r LEFT JOIN receipt_metadata m ON m.receipt_id = r.id \
    WHERE ($1::text IS NULL OR r.user_id = $1) \
      AND r.ocr_status IN ('completed', 'failed') \
      AND r.processed_at >= now() - make_interval(hours => $2)";

const REASONS_SQL: &str = "\
    SELECT coalesce(last_error, 'unknown') AS reason, count(*) AS count \
    FROM receipts \
    WHERE ($1::text IS NULL OR user_id = $1) \
      AND ocr_status = 'failed' \
      AND processed_at >= now() - make_interval(hours => $2) \
    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $3";

const COUNTS_SQL: &str = "\
    SELECT ocr_status, count(*) FROM receipts \
    WHERE ($1::text IS NULL OR user_id = $1) GROUP BY ocr_status";

/// The figures for `scope` over the last `window_hours`: three reads of
/// one snapshot's worth (they run side by side on the pool).
pub async fn ocr_stats(
    pool: &PgPool,
    scope: StatsScope<'_>,
    window_hours: u32,
) -> Result<OcrStats, RepoError> {
    let user = match scope {
        StatsScope::User(u) => Some(u.as_str()),
        StatsScope::AllUsers => None,
    };
    let hours = i32::try_from(window_hours).unwrap_or(i32::MAX);
    let window = sqlx::query_as::<_, Window>(WINDOW_SQL)
        .bind(user)
        .bind(hours)
        .fetch_one(pool);
    let reasons = sqlx::query_as::<_, FailureReason>(REASONS_SQL)
        .bind(user)
        .bind(hours)
        .bind(TOP_REASONS)
        .fetch_all(pool);
    let counts = sqlx::query_as::<_, (String, i64)>(COUNTS_SQL)
        .bind(user)
        .fetch_all(pool);
    let (window, reasons, counts) = tokio::try_join!(window, reasons, counts)?;
    let now = StatusCounts::from_rows(counts)?;
    let finished = window.completed + window.failed;
    Ok(OcrStats {
        scope: match scope {
            StatsScope::User(_) => "user",
            StatsScope::AllUsers => "all",
        },
        window_hours,
        since: window.since,
        finished,
        completed: window.completed,
        failed: window.failed,
        success_rate: (finished > 0).then(|| window.completed as f64 / finished as f64),
        avg_processing_ms: window.avg_ms,
        p95_processing_ms: window.p95_ms,
        avg_ocr_ms: window.avg_ocr_ms,
        receipts_per_hour: finished as f64 / f64::from(window_hours.max(1)),
        top_failure_reasons: reasons,
        queue_depth: now.queued + now.processing,
        now,
    })
}
