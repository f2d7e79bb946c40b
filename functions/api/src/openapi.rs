//! The API's OpenAPI 3.1 document, generated from the handlers' own
//! annotations and their typed request and answer structs: the Router is
//! built from the same route list (utoipa-axum), so a route cannot exist
//! without being described.
//!
//! `GET /openapi.json` serves `functions/api/openapi.json`, the generated
//! document committed beside the code (compiled in), so the functions do
//! not carry the code that generates it, and a change to the API shows as
//! a change to that file. The api's tests fail when the file is not what
//! [`generate_openapi`](crate::generate_openapi) makes; `UPDATE_OPENAPI=1 cargo test
//! -p api --test suite openapi` writes it.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A Cognito ID token on AWS; locally an HS256 token (./infra/token.sh)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Receipt OCR",
        description = "Upload receipts, have them read (merchant, date, total, items), follow them live. \
            Every answer that is not a success is the JSON error. Operations without a lock need no token."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorBody, crate::webhook_doc::WebhookPayload)),
    tags(
        (name = "receipts", description = "Uploads and the receipts read from them"),
        (name = "ocr", description = "Queueing, priority, cancel, retries and progress"),
        (name = "events", description = "Every status change, as a stream or in pages"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks)"),
        (name = "deletion", description = "Deleting receipts, or everything of a user, and following an erasure"),
        (name = "settings", description = "The caller's own settings: the locale hint for their receipts"),
        (name = "page", description = "The web page: its shell, assets and HTML fragments"),
        (name = "meta", description = "Liveness and this document"),
    )
)]
pub struct ApiDoc;

/// The document served: the committed one.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// `GET /openapi.json`: this API's OpenAPI 3.1 document. Public.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn document() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT,
    )
        .into_response()
}
