//! Per-user limits: token buckets in Postgres (one statement per check),
//! and a cap on one user's receipts in flight. Over a limit the caller is
//! told when to come back, and nothing is changed.
//!
//! A bucket holds up to a minute's worth of tokens and refills at the
//! per-minute rate, continuously: a user may burst a minute's allowance,
//! then goes at the rate. API Gateway's stage throttling stays the outer
//! shield; these limits are per user, which it cannot be.

use std::time::Duration;

use sqlx::PgPool;

use crate::config::LimitSettings;
use crate::db::{QueuedReceipt, RepoError};
use crate::domain::UserId;
use crate::domain::{OcrStatus, Priority};

/// What a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Uploads (`POST /receipts`, `POST /receipts/upload-url`) per minute.
    Uploads,
    /// Receipts put in the OCR queue per minute (process-all, retry,
    /// retry-failed).
    Queued,
}

impl Bucket {
    fn name(self) -> &'static str {
        match self {
            Bucket::Uploads => "uploads",
            Bucket::Queued => "queued",
        }
    }
}

/// A bucket's allowance per minute (0: off).
fn per_minute(settings: &LimitSettings, bucket: Bucket) -> u32 {
    match bucket {
        Bucket::Uploads => settings.uploads_per_minute,
        Bucket::Queued => settings.queued_per_minute,
    }
}

/// A limit was reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}; try again in {} s", retry_after.as_secs())]
pub struct Limited {
    pub what: String,
    /// When the request could succeed (whole seconds, at least 1).
    pub retry_after: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    Limited(#[from] Limited),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<sqlx::Error> for LimitError {
    fn from(e: sqlx::Error) -> Self {
        LimitError::Repo(e.into())
    }
}

/// What a charged batch marked, and whether the bucket cut it short of
/// the receipts that were waiting.
#[derive(Debug)]
pub struct Charged {
    pub marked: Vec<QueuedReceipt>,
    pub cut: bool,
}

/// How long the in-flight cap asks a caller to wait: about one receipt's
/// OCR.
const IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Limits {
    pool: PgPool,
    settings: LimitSettings,
}

/// Seconds (rounded up, at least 1) until `missing` tokens have dripped in
/// at `per_minute`.
fn wait_for(missing: f64, per_minute: u32) -> Duration {
    let secs = (missing.max(0.0) * 60.0 / f64::from(per_minute.max(1))).ceil();
    Duration::from_secs((secs as u64).max(1))
}

impl Limits {
    pub fn new(pool: PgPool, settings: LimitSettings) -> Self {
        Self { pool, settings }
    }

    pub fn settings(&self) -> LimitSettings {
        self.settings
    }

    /// Takes up to `want` tokens (at least one) from the user's bucket, in
    /// one statement: as many as it holds, whole. Fewer than one → the
    /// bucket is untouched and the answer says when one will be there.
    pub async fn take(&self, user: &UserId, bucket: Bucket, want: u32) -> Result<u32, LimitError> {
        let rate = per_minute(&self.settings, bucket);
        if rate == 0 || want == 0 {
            return Ok(want);
        }
        let capacity = f64::from(rate);
        // `level` is what the bucket holds now: its tokens plus what
        // dripped in since, at most a minute's worth. A missing bucket is
        // full. The update happens only when a whole token is there; the
        // row is locked either way, so twins queue and each sees the other.
        let (granted, level): (i64, f64) = sqlx::query_as(
            "WITH cur AS ( \
                 SELECT least($3, b.tokens + extract(epoch FROM now() - b.refilled_at) * $3 / 60.0) AS level \
                 FROM rate_limit_buckets b WHERE b.user_id = $1 AND b.name = $2 FOR UPDATE), \
             lvl AS (SELECT coalesce((SELECT level FROM cur), $3) AS level), \
             grant_ AS (SELECT least($4, floor(level))::bigint AS n, level FROM lvl), \
             upd AS ( \
                 INSERT INTO rate_limit_buckets AS b (user_id, name, tokens, refilled_at) \
                 SELECT $1, $2, level - n, now() FROM grant_ WHERE n >= 1 \
                 ON CONFLICT (user_id, name) DO UPDATE SET tokens = EXCLUDED.tokens, refilled_at = now() \
                 RETURNING 1) \
             SELECT CASE WHEN n >= 1 THEN n ELSE 0 END, level FROM grant_",
        )
        .bind(user.as_str())
        .bind(bucket.name())
        .bind(capacity)
        .bind(i64::from(want))
        .fetch_one(&self.pool)
        .await?;
        if granted >= 1 {
            return Ok(granted as u32);
        }
        Err(Limited {
            what: format!(
                "rate limit: at most {rate} {} per minute",
                match bucket {
                    Bucket::Uploads => "uploads",
                    Bucket::Queued => "receipts queued",
                }
            ),
            retry_after: wait_for(1.0 - level, rate),
        }
        .into())
    }

    /// Marks up to `want` of the user's receipts in status `from` as
    /// queued and charges the queued-per-minute bucket for exactly those,
    /// in one statement: the bucket's row is locked first, so concurrent
    /// calls take turns and each marks what the others left. Only when
    /// receipts were waiting and the bucket held no whole token is the
    /// answer "limited".
    pub async fn mark_queued_charged(
        &self,
        user: &UserId,
        from: OcrStatus,
        want: u32,
        priority: Option<Priority>,
    ) -> Result<Charged, LimitError> {
        let rate = per_minute(&self.settings, Bucket::Queued);
        let ctes = format!(
            "cur AS ( \
                 SELECT least($5, b.tokens + extract(epoch FROM now() - b.refilled_at) * $5 / 60.0) AS level \
                 FROM rate_limit_buckets b WHERE b.user_id = $1 AND b.name = 'queued' FOR UPDATE), \
             lvl AS (SELECT coalesce((SELECT level FROM cur), $5) AS level), \
             {}, \
             charged AS ( \
                 INSERT INTO rate_limit_buckets AS b (user_id, name, tokens, refilled_at) \
                 SELECT $1, 'queued', level - (SELECT count(*) FROM done), now() FROM lvl \
                 WHERE $5 > 0 AND EXISTS (SELECT 1 FROM done) \
                 ON CONFLICT (user_id, name) DO UPDATE SET tokens = EXCLUDED.tokens, refilled_at = now() \
                 RETURNING 1)",
            crate::db::mark_ctes(
                "CASE WHEN $5 = 0 THEN $2 ELSE least($2, floor((SELECT level FROM lvl))::bigint) END"
            )
        );
        let (level, waiting, rows): (f64, i64, sqlx::types::Json<Vec<QueuedReceipt>>) =
            sqlx::query_as(&crate::db::with_outbox(
                &ctes,
                "SELECT (SELECT level FROM lvl)::float8, \
                     (SELECT count(*) FROM receipts WHERE user_id = $1 AND ocr_status = $3), \
                     coalesce((SELECT json_agg(json_build_object('id', id, 'user_id', user_id, \
                         'bucket', bucket, 'object_key', object_key, 'priority', priority) ORDER BY id) \
                         FROM done), '[]')",
            ))
            .bind(user.as_str())
            .bind(i64::from(want))
            .bind(from.as_str())
            .bind(priority.map(Priority::as_str))
            .bind(f64::from(rate))
            .fetch_one(&self.pool)
            .await?;
        let marked = rows.0;
        let waiting = u32::try_from(waiting).unwrap_or(u32::MAX).min(want);
        let cut = rate > 0 && level.floor() < f64::from(waiting);
        if marked.is_empty() && waiting > 0 && cut {
            return Err(Limited {
                what: format!("rate limit: at most {rate} receipts queued per minute"),
                retry_after: wait_for(1.0 - level, rate),
            }
            .into());
        }
        Ok(Charged { marked, cut })
    }

    /// Puts back tokens taken and not used (fewer receipts were there to
    /// queue than were granted). Never above a full bucket.
    pub async fn give_back(&self, user: &UserId, bucket: Bucket, n: u32) -> Result<(), LimitError> {
        let rate = per_minute(&self.settings, bucket);
        if rate == 0 || n == 0 {
            return Ok(());
        }
        sqlx::query(
            "UPDATE rate_limit_buckets SET tokens = least($3, tokens + $4) \
             WHERE user_id = $1 AND name = $2",
        )
        .bind(user.as_str())
        .bind(bucket.name())
        .bind(f64::from(rate))
        .bind(f64::from(n))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many more receipts the user may have in flight (`queued` or
    /// `processing`), at most `want`; none → limited.
    pub async fn in_flight_room(&self, user: &UserId, want: u32) -> Result<u32, LimitError> {
        let cap = self.settings.max_in_flight;
        if cap == 0 {
            return Ok(want);
        }
        let in_flight: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM receipts WHERE user_id = $1 AND ocr_status IN ('queued', 'processing')",
        )
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await?;
        let room = (i64::from(cap) - in_flight).clamp(0, i64::from(want)) as u32;
        if room == 0 {
            return Err(Limited {
                what: format!(
                    "limit: at most {cap} receipts in flight (queued or processing) per user"
                ),
                retry_after: IN_FLIGHT_RETRY_AFTER,
            }
            .into());
        }
        Ok(room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_the_missing_part_at_the_rate_rounded_up() {
        // 60 a minute: one a second.
        assert_eq!(wait_for(1.0, 60), Duration::from_secs(1));
        assert_eq!(wait_for(0.25, 60), Duration::from_secs(1));
        // 6 a minute: one every ten seconds; 0.3 of a token is there.
        assert_eq!(wait_for(0.7, 6), Duration::from_secs(7));
        assert_eq!(wait_for(1.0, 1), Duration::from_secs(60));
    }
}
