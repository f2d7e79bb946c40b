//! The page: a shell at `/` (public, no user data), its vendored assets
//! under `/ui/assets/`, and server-rendered fragments under
//! `/ui/fragments/` that htmx loads with the bearer token in the
//! `Authorization` header, like every other data request. Actions (upload,
//! Process all, retry, redrive) call the JSON API from `app.js`; live
//! progress reads `GET /receipts/events` with `fetch`.
//!
//! No cookie is set: the token lives in the tab's `sessionStorage` and
//! never appears in a URL. Every page answer carries a strict
//! Content-Security-Policy (scripts and styles from this origin only).

use std::sync::LazyLock;
use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::config::{AuthConfig, HostedSignIn};
use shared::domain::{InvalidInput, OcrStatus, Page, UserId};
use shared::queue::{PriorityDepths, QueueDepth};
use shared::repo::ReceiptDetail;
use shared::stats::{self, OcrStats, StatsScope};
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::{AdminUser, CurrentUser, is_admin};
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{Query, param};

/// How long a development sign-in's token lasts.
const DEV_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long the receipt page's image link works.
pub(crate) const IMAGE_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// Receipts per page of the list.
const PER_PAGE: u32 = 20;

// ---- assets ----------------------------------------------------------------

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Vendored and own assets, built into the binary. `htmx.min.js` is
/// htmx.org 2.0.8 from the npm registry (infra/vendor-htmx.sh checks it
/// against its pinned sha256).
const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/htmx.min.js"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/app.css"),
    },
];

/// A digest of the assets, in their URLs: a new build is a new URL, so
/// browsers may cache an asset for long.
static ASSETS_VERSION: LazyLock<String> = LazyLock::new(|| {
    // FNV-1a: stable across builds and platforms, no dependency.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for a in ASSETS {
        for b in a.body.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
});

#[utoipa::path(get, path = "/ui/assets/{name}", tag = "page", security(()), params(("name" = String, Path)), responses((status = 200, description = "A script or style sheet of the page", content((String = "text/javascript"), (String = "text/css"))), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 404, description = "Not found (or not the caller's)", body = ErrorBody)))]
pub(crate) async fn asset(
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    // A name that is not even UTF-8 (`%FF`) is the JSON error too.
    let Path(name) = name.map_err(|_| {
        shared::domain::InvalidInput::new("name", "must be the name of one of the page's assets")
    })?;
    let a = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or(ApiError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, a.content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        a.body,
    )
        .into_response())
}

// ---- the shell and sign-in -----------------------------------------------

#[derive(Template)]
#[template(path = "shell.html")]
struct Shell<'a> {
    assets_version: &'a str,
    dev_sign_in: bool,
    hosted: Option<&'a HostedSignIn>,
    /// Uploads are read by themselves (`AUTO_OCR`): the progress bar
    /// follows them without Process all.
    auto_ocr: bool,
    max_upload_bytes: u64,
    process_all_max: u32,
}

/// `GET /`: the page. Public: it holds no user data; the data comes in
/// fragments requested with the token.
#[utoipa::path(get, path = "/", tag = "page", security(()), responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub(crate) async fn shell(State(state): State<AppState>) -> Result<Response, ApiError> {
    let cfg = &state.config;
    page(
        &state,
        Shell {
            assets_version: &ASSETS_VERSION,
            dev_sign_in: cfg.dev_sign_in,
            hosted: cfg.hosted_sign_in.as_ref(),
            auto_ocr: cfg.auto_ocr,
            max_upload_bytes: cfg.max_upload_bytes,
            process_all_max: cfg.process_all_max,
        },
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct DevSignIn {
    user: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DevSession {
    token: String,
    user_id: UserId,
    expires_in: u64,
}

/// `POST /ui/dev-sign-in {"user": "alice"}`: a token for any user name,
/// signed with the local secret. Exists only with `DEV_SIGN_IN=true`
/// (which the configuration refuses behind API Gateway's authorizer).
#[utoipa::path(post, path = "/ui/dev-sign-in", tag = "page", security(()), request_body = DevSignIn, responses((status = 200, description = "A token for that user (DEV_SIGN_IN=true only)", body = DevSession), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 404, description = "Not found (or not the caller's)", body = ErrorBody)))]
pub(crate) async fn dev_sign_in(
    State(state): State<AppState>,
    body: Result<Json<DevSignIn>, JsonRejection>,
) -> Result<Json<DevSession>, ApiError> {
    let cfg = &state.config;
    let AuthConfig::Jwt {
        secret,
        issuer,
        audience,
    } = &cfg.auth
    else {
        return Err(ApiError::NotFound);
    };
    if !cfg.dev_sign_in {
        return Err(ApiError::NotFound);
    }
    let req = crate::extract::json_body(body, r#"{"user":"alice"}"#)?;
    let user = UserId::parse(req.user.trim()).map_err(|_| {
        InvalidInput::new(
            "user",
            "must be 1 to 128 letters, digits or . _ @ : - characters",
        )
    })?;
    let token = shared::auth::mint_hs256(
        &user,
        secret,
        DEV_SESSION_TTL,
        issuer.as_deref(),
        audience.as_deref(),
    );
    tracing::info!(user_id = %user, "development sign-in");
    Ok(Json(DevSession {
        token,
        user_id: user,
        expires_in: DEV_SESSION_TTL.as_secs(),
    }))
}

#[derive(Template)]
#[template(
    source = r#"<span id="session" data-user="{{ user }}" data-admin="{{ admin }}">{{ user }}</span>"#,
    ext = "html"
)]
struct Session<'a> {
    user: &'a str,
    admin: bool,
}

/// `GET /ui/fragments/session`: who the token is for (the page checks a
/// pasted token with it) and whether they see the operators' view.
#[utoipa::path(get, path = "/ui/fragments/session", tag = "page", responses((status = 200, description = "HTML", content_type = "text/html", body = String), (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn session(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    let admin = is_admin(&state, &user);
    page(
        &state,
        Session {
            user: user.as_str(),
            admin,
        },
    )
}

// ---- the receipts list -----------------------------------------------------

struct Row {
    id: i64,
    file_name: String,
    status: &'static str,
    high: bool,
    merchant: String,
    total: String,
    reason: String,
    created: String,
}

#[derive(Template)]
#[template(path = "list.html")]
struct List {
    failed_view: bool,
    statuses: Vec<&'static str>,
    status: String,
    rows: Vec<Row>,
    total: i64,
    page: u32,
    pages: i64,
    prev_page: Option<u32>,
    next_page: Option<u32>,
    /// The pager's URL up to `page=`.
    base_query: String,
}

pub(crate) const DASH: &str = "—";

pub(crate) fn or_dash(s: Option<String>) -> String {
    s.filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DASH.to_owned())
}

pub(crate) fn money(currency: Option<&str>, amount: Option<rust_decimal::Decimal>) -> String {
    match (currency, amount) {
        (Some(c), Some(a)) => format!("{c} {a}"),
        (None, Some(a)) => a.to_string(),
        _ => DASH.to_owned(),
    }
}

fn row(d: ReceiptDetail) -> Row {
    let m = d.metadata.as_ref();
    Row {
        id: d.receipt.id.get(),
        file_name: d.receipt.file_name.clone(),
        status: d.receipt.status.as_str(),
        high: d.receipt.priority == shared::domain::Priority::High,
        merchant: or_dash(m.and_then(|m| m.merchant_name.clone())),
        total: money(
            m.and_then(|m| m.currency.as_deref()),
            m.and_then(|m| m.total),
        ),
        reason: or_dash(d.receipt.last_error.clone()),
        created: d
            .receipt
            .created_at
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
    }
}

/// The receipts fragment's query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FragmentQuery {
    /// The page, from 1
    #[serde(default, deserialize_with = "param::positive")]
    page: Option<u32>,
    /// Only receipts of this status (empty: all)
    #[serde(default, deserialize_with = "param::status_or_all")]
    status: Option<OcrStatus>,
}

/// The failed receipts fragment's query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// The page, from 1
    #[serde(default, deserialize_with = "param::positive")]
    page: Option<u32>,
}

async fn list_fragment(
    state: &AppState,
    user: &UserId,
    q: FragmentQuery,
    failed_view: bool,
) -> Result<Response, ApiError> {
    let page = Page::new(q.page, Some(PER_PAGE))?;
    let status = if failed_view {
        Some(OcrStatus::Failed)
    } else {
        q.status
    };
    let (items, total) = state.service.list(user, status, page).await?;
    let pages = ((total + i64::from(PER_PAGE) - 1) / i64::from(PER_PAGE)).max(1);
    let status_name = status.map(|s| s.as_str().to_owned()).unwrap_or_default();
    let base_query = if failed_view {
        "ui/fragments/failed?".to_owned()
    } else if status_name.is_empty() {
        "ui/fragments/receipts?".to_owned()
    } else {
        format!("ui/fragments/receipts?status={status_name}&")
    };
    page_fragment(
        state,
        List {
            failed_view,
            statuses: OcrStatus::ALL.iter().map(|s| s.as_str()).collect(),
            status: status_name,
            rows: items.into_iter().map(row).collect(),
            total,
            page: page.page,
            pages,
            prev_page: (page.page > 1).then(|| page.page - 1),
            next_page: (i64::from(page.page) < pages).then(|| page.page + 1),
            base_query,
        },
    )
}

/// `GET /ui/fragments/receipts?status=&page=`: the caller's receipts.
#[utoipa::path(get, path = "/ui/fragments/receipts", tag = "page", params(FragmentQuery), responses((status = 200, description = "HTML", content_type = "text/html", body = String), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn receipts(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<FragmentQuery>,
) -> Result<Response, ApiError> {
    list_fragment(&state, &user, q, false).await
}

/// `GET /ui/fragments/failed?page=`: the caller's failed receipts with
/// their reasons, and "Retry all failed".
#[utoipa::path(get, path = "/ui/fragments/failed", tag = "page", params(PageQuery), responses((status = 200, description = "HTML", content_type = "text/html", body = String), (status = 400, description = "Bad input (the JSON error names the field)", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn failed(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let q = FragmentQuery {
        page: q.page,
        status: None,
    };
    list_fragment(&state, &user, q, true).await
}

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
#[utoipa::path(get, path = "/ui/fragments/stats", tag = "page", responses((status = 200, description = "HTML", content_type = "text/html", body = String), (status = 401, description = "No valid token", body = ErrorBody)))]
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
#[utoipa::path(get, path = "/ui/fragments/ops", tag = "page", responses((status = 200, description = "HTML", content_type = "text/html", body = String), (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "For operators only", body = ErrorBody)))]
pub(crate) async fn ops(State(state): State<AppState>, _: AdminUser) -> Result<Response, ApiError> {
    let svc = &state.service;
    let (queue, dlq, s) = tokio::join!(
        svc.ocr_queues.depths(),
        svc.ocr_dlqs.depths(),
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

// ---- rendering -------------------------------------------------------------------

/// An HTML answer with the page's security headers.
fn page(state: &AppState, t: impl Template) -> Result<Response, ApiError> {
    let body = t.render().map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut resp = Html(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, state.page_csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Presigned image links must not leak to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A fragment: the same headers, and never cached (it is a user's data).
pub(crate) fn page_fragment(state: &AppState, t: impl Template) -> Result<Response, ApiError> {
    let mut resp = page(state, t)?;
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    Ok(resp)
}

/// The page's Content-Security-Policy, built once from the config (in
/// `AppState::new`): scripts and styles from this origin only; images and
/// uploads may also go to S3 (the presigned links), which is LocalStack's
/// endpoint locally; the hosted sign-in's code is exchanged at its token
/// endpoint.
pub(crate) fn content_security_policy(config: &shared::config::Config) -> HeaderValue {
    let s3 = match &config.aws_endpoint_url {
        Some(u) => u.origin().ascii_serialization(),
        None => "https://*.amazonaws.com".to_owned(),
    };
    let sign_in = config
        .hosted_sign_in
        .as_ref()
        .map(|h| format!(" {}", h.domain.origin().ascii_serialization()))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: {s3}; \
         connect-src 'self' {s3}{sign_in}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}
