//! The shell at `/` and signing in: the development sign-in, or the
//! hosted one's session.

use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use shared::config::{AuthConfig, HostedSignIn};
use shared::domain::{InvalidInput, UserId};

use super::page;
use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::{CurrentUser, is_admin};

/// How long a development sign-in's token lasts.
const DEV_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

use super::assets::ASSETS_VERSION;

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
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    security(()),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
    ),
)]
pub(crate) async fn shell(State(state): State<AppState>) -> Result<Response, ApiError> {
    let cfg = &state.config;
    page(
        &state,
        Shell {
            assets_version: &ASSETS_VERSION,
            dev_sign_in: cfg.api.dev_sign_in,
            hosted: cfg.api.hosted_sign_in.as_ref(),
            auto_ocr: cfg.common.processing.auto_ocr,
            max_upload_bytes: cfg.common.storage.max_upload_bytes,
            process_all_max: cfg.api.process_all_max,
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
#[utoipa::path(
    post,
    path = "/ui/dev-sign-in",
    tag = "page",
    security(()),
    request_body = DevSignIn,
    responses(
        (status = 200, description = "A token for that user (DEV_SIGN_IN=true only)", body = DevSession),
        doc::BadInput,
        doc::NotFound,
    ),
)]
pub(crate) async fn dev_sign_in(
    State(state): State<AppState>,
    body: Result<Json<DevSignIn>, JsonRejection>,
) -> Result<Json<DevSession>, ApiError> {
    let cfg = &state.config;
    let AuthConfig::Jwt {
        secret,
        issuer,
        audience,
    } = &cfg.api.auth
    else {
        return Err(ApiError::NotFound);
    };
    if !cfg.api.dev_sign_in {
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
#[utoipa::path(
    get,
    path = "/ui/fragments/session",
    tag = "page",
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        doc::NoToken,
    ),
)]
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
