//! Deleting: `DELETE /receipts/{id}` at once; `DELETE /receipts?before=`,
//! `DELETE /users/me` and, for operators, `DELETE /users/{user_id}` as an
//! erasure (202) whose progress `GET /erasures/{id}` shows.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use shared::db::erase::Erasure;
use shared::domain::InvalidInput;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;
use crate::error::doc;
use crate::extract::auth::{AdminUser, CurrentUser, is_admin};
use crate::extract::{IdPath, Query, UserPath, param};

/// `DELETE /receipts/{id}`: the receipt, what was read from it, its image
/// and the data of its events, whatever its status. A worker reading it
/// writes nothing afterwards.
#[utoipa::path(
    delete,
    path = "/receipts/{id}",
    tag = "deletion",
    params(("id" = i64, Path, description = "The receipt's id")),
    responses(
        (status = 204, description = "Deleted; the event receipt.deleted follows"),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::Unavailable,
    ),
)]
pub async fn delete_receipt(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.service.delete(&user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /receipts`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BeforeQuery {
    /// Receipts uploaded before this day (UTC), YYYY-MM-DD; required
    #[serde(default, deserialize_with = "param::date")]
    before: Option<chrono::NaiveDate>,
}

/// `DELETE /receipts?before=YYYY-MM-DD`: every receipt of the caller
/// uploaded before that day, as an erasure in the background.
#[utoipa::path(
    delete,
    path = "/receipts",
    tag = "deletion",
    params(BeforeQuery),
    responses(
        (status = 202, description = "The erasure, started; GET its `Location` for progress", body = Erasure),
        doc::BadInput,
        doc::NoToken,
        doc::Unavailable,
    ),
)]
pub async fn delete_before(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<BeforeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let before = q.before.ok_or_else(|| {
        InvalidInput::new(
            "before",
            "is required (YYYY-MM-DD); DELETE /users/me erases everything",
        )
    })?;
    let erasure = state.service.erase(&user, Some(before), &user).await?;
    Ok(accepted(erasure))
}

/// `DELETE /users/me`: everything of the caller (receipts, images,
/// events, webhook endpoints, settings), as an erasure in the background.
#[utoipa::path(
    delete,
    path = "/users/me",
    tag = "deletion",
    responses(
        (status = 202, description = "The erasure, started; GET its `Location` for progress", body = Erasure),
        doc::NoToken,
        doc::Unavailable,
    ),
)]
pub async fn delete_me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<impl IntoResponse, ApiError> {
    let erasure = state.service.erase(&user, None, &user).await?;
    Ok(accepted(erasure))
}

/// `DELETE /users/{user_id}` (operators): everything of that user, as
/// `DELETE /users/me` would, for a support request. Who asked is logged
/// and kept on the erasure.
#[utoipa::path(
    delete,
    path = "/users/{user_id}",
    tag = "deletion",
    params(("user_id" = String, Path, description = "Whose data")),
    responses(
        (status = 202, description = "The erasure, started; GET its `Location` for progress", body = Erasure),
        doc::BadInput,
        doc::NoToken,
        doc::OperatorsOnly,
        doc::Unavailable,
    ),
)]
pub async fn delete_user(
    State(state): State<AppState>,
    AdminUser(operator): AdminUser,
    UserPath(user): UserPath,
) -> Result<impl IntoResponse, ApiError> {
    tracing::info!(operator = %operator, user_id = %user, "operator erases a user");
    let erasure = state.service.erase(&user, None, &operator).await?;
    Ok(accepted(erasure))
}

/// `GET /erasures/{id}`: an erasure's progress, for the user it erases,
/// the one who asked, and operators.
#[utoipa::path(
    get,
    path = "/erasures/{id}",
    tag = "deletion",
    params(("id" = i64, Path, description = "The erasure's id")),
    responses(
        (status = 200, description = "The erasure as it stands", body = Erasure),
        doc::BadInput,
        doc::NoToken,
        doc::NotFound,
        doc::Unavailable,
    ),
)]
pub async fn get_erasure(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    IdPath(id): IdPath,
) -> Result<Json<Erasure>, ApiError> {
    let operator = is_admin(&state, &user);
    Ok(Json(
        state.service.erasure(&user, operator, id.get()).await?,
    ))
}

/// 202 with the erasure and where to follow it.
fn accepted(erasure: Erasure) -> impl IntoResponse {
    let location = HeaderValue::from_str(&format!("/erasures/{}", erasure.id))
        .expect("a path of digits is a header value");
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(erasure),
    )
}
