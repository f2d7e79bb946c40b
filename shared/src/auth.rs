//! Who is calling: verified JWT claims, never a query parameter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::domain::UserId;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid or expired token")]
    Invalid,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    iat: u64,
    /// Not valid before (seconds since the epoch), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

/// Verifies an HS256 token and returns its subject: the signature, `exp`
/// (required, in the future), `nbf` (if given, in the past), `sub`, and the
/// issuer and audience when configured; 30 s of leeway for clocks.
pub fn verify_hs256(
    token: &str,
    secret: &Secret,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<UserId, AuthError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 30;
    v.set_required_spec_claims(&["exp", "sub"]);
    v.validate_exp = true;
    v.validate_nbf = true;
    if let Some(iss) = issuer {
        v.set_issuer(&[iss]);
    }
    match audience {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    let key =
        DecodingKey::from_secret(secret.expose().as_bytes()).map_err(|_| AuthError::Invalid)?;
    let data = decode::<Claims>(token, &key, &v).map_err(|_| AuthError::Invalid)?;
    UserId::parse(&data.claims.sub).map_err(|_| AuthError::Invalid)
}

/// The token in an `Authorization: Bearer …` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Invalid);
    }
    Ok(token.trim())
}

/// Mints an HS256 token for local use (the walkthrough, tests).
pub fn mint_hs256(
    sub: &UserId,
    secret: &Secret,
    ttl: Duration,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        sub: sub.as_str().to_owned(),
        iat: now,
        exp: now + ttl.as_secs(),
        nbf: None,
        iss: issuer.map(str::to_owned),
        aud: audience.map(str::to_owned),
    };
    let key =
        EncodingKey::from_secret(secret.expose().as_bytes()).expect("an HMAC key takes any bytes");
    encode(&Header::new(Algorithm::HS256), &claims, &key).expect("HS256 signing does not fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("a-local-secret-that-is-long-enough-123")
    }

    #[test]
    fn minted_tokens_verify_to_their_subject() {
        let alice = UserId::parse("alice").unwrap();
        let t = mint_hs256(&alice, &secret(), Duration::from_secs(60), None, None);
        assert_eq!(verify_hs256(&t, &secret(), None, None), Ok(alice));
    }

    #[test]
    fn wrong_secret_expired_and_garbage_are_refused() {
        let alice = UserId::parse("alice").unwrap();
        let t = mint_hs256(&alice, &secret(), Duration::from_secs(60), None, None);
        let other = Secret::new("another-secret-that-is-long-enough-456");
        assert_eq!(
            verify_hs256(&t, &other, None, None),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            verify_hs256("not.a.jwt", &secret(), None, None),
            Err(AuthError::Invalid)
        );

        let expired = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "alice".into(),
                iat: 1,
                exp: 2,
                nbf: None,
                iss: None,
                aud: None,
            },
            &EncodingKey::from_secret(secret().expose().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            verify_hs256(&expired, &secret(), None, None),
            Err(AuthError::Invalid)
        );
    }

    fn signed(claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret().expose().as_bytes()).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_token_is_refused_before_its_nbf_and_without_an_exp() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let later =
            signed(&serde_json::json!({"sub": "alice", "exp": now + 7200, "nbf": now + 3600}));
        assert_eq!(
            verify_hs256(&later, &secret(), None, None),
            Err(AuthError::Invalid)
        );
        let begun =
            signed(&serde_json::json!({"sub": "alice", "exp": now + 7200, "nbf": now - 10}));
        assert!(verify_hs256(&begun, &secret(), None, None).is_ok());
        let forever = signed(&serde_json::json!({"sub": "alice", "iat": now}));
        assert_eq!(
            verify_hs256(&forever, &secret(), None, None),
            Err(AuthError::Invalid)
        );
        let no_subject = signed(&serde_json::json!({"exp": now + 60}));
        assert_eq!(
            verify_hs256(&no_subject, &secret(), None, None),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let alice = UserId::parse("alice").unwrap();
        let t = mint_hs256(
            &alice,
            &secret(),
            Duration::from_secs(60),
            Some("me"),
            Some("receipts"),
        );
        assert!(verify_hs256(&t, &secret(), Some("me"), Some("receipts")).is_ok());
        assert!(verify_hs256(&t, &secret(), Some("someone-else"), None).is_err());
        assert!(verify_hs256(&t, &secret(), None, Some("other-api")).is_err());
    }

    #[test]
    fn unsafe_subjects_are_refused() {
        let t = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "../bob".into(),
                iat: 1,
                exp: u64::MAX / 2,
                nbf: None,
                iss: None,
                aud: None,
            },
            &EncodingKey::from_secret(secret().expose().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            verify_hs256(&t, &secret(), None, None),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn bearer_header_is_parsed_strictly() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(None), Err(AuthError::Missing));
        assert_eq!(bearer_token(Some("Basic abc")), Err(AuthError::Invalid));
        assert_eq!(bearer_token(Some("Bearer")), Err(AuthError::Invalid));
    }
}
