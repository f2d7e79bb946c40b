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

pub(crate) mod assets;
pub(crate) mod figures;
pub(crate) mod list;
pub(crate) mod receipt;
pub(crate) mod shell;

use std::time::Duration;

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// How long the receipt page's image link works.
pub(crate) const IMAGE_URL_TTL: Duration = Duration::from_secs(15 * 60);

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

// ---- rendering -------------------------------------------------------------------

/// An HTML answer with the page's security headers.
pub(crate) fn page(state: &AppState, t: impl Template) -> Result<Response, ApiError> {
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
pub(crate) fn content_security_policy(config: &shared::config::ApiConfig) -> HeaderValue {
    let s3 = match &config.common.aws.endpoint_url {
        Some(u) => u.origin().ascii_serialization(),
        None => "https://*.amazonaws.com".to_owned(),
    };
    let sign_in = config
        .api
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
