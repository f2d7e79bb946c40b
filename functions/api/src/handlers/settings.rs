//! `GET` and `PUT /users/me/settings`: the caller's own settings (the
//! locale hint their receipts are read with when an upload gives none).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::Deserialize;
use shared::db::settings::UserSettings;
use shared::domain::Locale;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::CurrentUser;

/// The settings as sent: every field is checked and named when refused.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SettingsRequest {
    /// A BCP 47 tag (`en-US`, `de-DE`), or `null` for none.
    #[serde(default)]
    locale: Option<String>,
}

/// `GET /users/me/settings`.
#[utoipa::path(
    get,
    path = "/users/me/settings",
    tag = "settings",
    responses(
        (status = 200, description = "The caller's settings", body = UserSettings),
        doc::NoToken,
        doc::Unavailable,
    ),
)]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<UserSettings>, ApiError> {
    Ok(Json(state.service.settings(&user).await?))
}

/// `PUT /users/me/settings` with `{"locale": "de-DE"}`.
#[utoipa::path(
    put,
    path = "/users/me/settings",
    tag = "settings",
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "Saved; the settings as they now are", body = UserSettings),
        doc::BadInput,
        doc::NoToken,
        doc::Unavailable,
    ),
)]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: Result<Json<SettingsRequest>, JsonRejection>,
) -> Result<Json<UserSettings>, ApiError> {
    let req = crate::extract::json_body(body, r#"{"locale":"de-DE"}"#)?;
    let s = UserSettings {
        locale: Locale::parse_optional(req.locale.as_deref())?,
    };
    state.service.save_settings(&user, &s).await?;
    Ok(Json(s))
}
