//! The `CurrentUser` extractor: the caller's identity from a verified token;
//! `AdminUser`: the same, for operators only.
//!
//! With `AUTH_MODE=jwt` the server verifies `Authorization: Bearer <JWT>`
//! (HS256) itself. With `AUTH_MODE=apigateway`, API Gateway's authorizer has
//! verified it and the claims come from the Lambda request context, which
//! only API Gateway can set.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use serde_json::Value;
use shared::auth::{AuthError, bearer_token, verify_hs256};
use shared::config::AuthConfig;
use shared::domain::UserId;

use crate::AppState;
use crate::error::ApiError;

pub struct CurrentUser(pub UserId);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = match &state.config.api.auth {
            AuthConfig::Jwt {
                secret,
                issuer,
                audience,
            } => {
                let header = parts
                    .headers
                    .get(axum::http::header::AUTHORIZATION)
                    .map(|v| v.to_str().map_err(|_| AuthError::Invalid))
                    .transpose()?;
                let token = bearer_token(header)?;
                verify_hs256(token, secret, issuer.as_deref(), audience.as_deref())?
            }
            AuthConfig::ApiGateway => {
                let ctx = parts
                    .extensions
                    .get::<RequestContext>()
                    .ok_or(AuthError::Missing)?;
                subject_from_context(ctx).ok_or(AuthError::Missing)?
            }
        };
        Ok(CurrentUser(user))
    }
}

/// The caller, an operator (`ADMIN_USERS`): a route that takes it is for
/// operators only, and answers anyone else 403.
pub struct AdminUser(pub UserId);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        require_admin(state, &user, parts.uri.path())?;
        Ok(AdminUser(user))
    }
}

/// Whether the caller is an operator (`ADMIN_USERS`).
pub(crate) fn is_admin(state: &AppState, user: &UserId) -> bool {
    state
        .config
        .api
        .admin_users
        .iter()
        .any(|a| a == user.as_str())
}

/// Operator actions are for the subjects in `ADMIN_USERS`.
pub(crate) fn require_admin(state: &AppState, user: &UserId, what: &str) -> Result<(), ApiError> {
    if is_admin(state, user) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{what}: for operators only (ADMIN_USERS)"
        )))
    }
}

/// The verified subject in an API Gateway request context: a Cognito user
/// pool authorizer's `claims.sub`, a Lambda authorizer's `principalId`, or
/// an HTTP API JWT authorizer's `jwt.claims.sub`.
pub fn subject_from_context(ctx: &RequestContext) -> Option<UserId> {
    let auth = ctx.authorizer()?;
    let from_fields = || {
        let claims_sub = auth.fields.get("claims").and_then(|c| match c {
            Value::Object(m) => m.get("sub").and_then(Value::as_str).map(str::to_owned),
            // API Gateway sometimes passes claims as a JSON string.
            Value::String(s) => serde_json::from_str::<Value>(s)
                .ok()?
                .get("sub")?
                .as_str()
                .map(str::to_owned),
            _ => None,
        });
        claims_sub.or_else(|| {
            auth.fields
                .get("principalId")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    };
    let sub = auth
        .jwt
        .as_ref()
        .and_then(|j| j.claims.get("sub").cloned())
        .or_else(from_fields)?;
    UserId::parse(&sub).ok()
}
