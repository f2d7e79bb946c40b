//! The page's scripts and style sheet, built into the binary.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::error::doc;

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
        body: include_str!("../../assets/htmx.min.js"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/app.js"),
    },
    Asset {
        name: "delete.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/delete.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../assets/app.css"),
    },
];

/// A digest of the assets, in their URLs: a new build is a new URL, so
/// browsers may cache an asset for long.
pub(super) static ASSETS_VERSION: LazyLock<String> = LazyLock::new(|| {
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

#[utoipa::path(
    get,
    path = "/ui/assets/{name}",
    tag = "page",
    security(()),
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "A script or style sheet of the page", content((String = "text/javascript"), (String = "text/css"))),
        doc::BadInput,
        doc::NotFound,
    ),
)]
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
