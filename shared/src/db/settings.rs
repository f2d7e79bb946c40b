//! A user's own settings: for now the locale hint their receipts are read
//! with when an upload does not give one.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::db::RepoError;
use crate::domain::{Locale, UserId};

/// `GET` and `PUT /users/me/settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSettings {
    /// The default locale hint (BCP 47) for this user's receipts; `null`
    /// lets the reader infer each receipt's country from what it prints.
    pub locale: Option<Locale>,
}

pub async fn get(pool: &PgPool, user: &UserId) -> Result<UserSettings, RepoError> {
    let locale: Option<Option<String>> =
        sqlx::query_scalar("SELECT locale FROM user_settings WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(pool)
            .await?;
    let locale = locale
        .flatten()
        .map(|l| Locale::parse(&l))
        .transpose()
        .map_err(|e| RepoError::Corrupt(format!("settings of {user}: {e}")))?;
    Ok(UserSettings { locale })
}

pub async fn put(pool: &PgPool, user: &UserId, s: &UserSettings) -> Result<(), RepoError> {
    sqlx::query(
        "INSERT INTO user_settings (user_id, locale) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET locale = EXCLUDED.locale, updated_at = now()",
    )
    .bind(user.as_str())
    .bind(s.locale.as_ref().map(Locale::as_str))
    .execute(pool)
    .await?;
    Ok(())
}
