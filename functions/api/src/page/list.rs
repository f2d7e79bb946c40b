//! The receipts list and the failed receipts, as fragments.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shared::db::ReceiptDetail;
use shared::domain::{OcrStatus, Page, UserId};
use utoipa::IntoParams;

use super::{money, or_dash, page_fragment};
use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::CurrentUser;
use crate::extract::{Query, param};

/// Receipts per page of the list.
const PER_PAGE: u32 = 20;

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
#[utoipa::path(
    get,
    path = "/ui/fragments/receipts",
    tag = "page",
    params(FragmentQuery),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        doc::BadInput,
        doc::NoToken,
    ),
)]
pub(crate) async fn receipts(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<FragmentQuery>,
) -> Result<Response, ApiError> {
    list_fragment(&state, &user, q, false).await
}

/// `GET /ui/fragments/failed?page=`: the caller's failed receipts with
/// their reasons, and "Retry all failed".
#[utoipa::path(
    get,
    path = "/ui/fragments/failed",
    tag = "page",
    params(PageQuery),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        doc::BadInput,
        doc::NoToken,
    ),
)]
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
