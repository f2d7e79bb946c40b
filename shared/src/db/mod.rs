//! The receipts repository: Postgres is the source of truth for a receipt's
//! status. Every status transition is one conditional `UPDATE … WHERE
//! ocr_status IN (…)`, so a duplicate or late caller cannot move a receipt
//! backwards or write twice.

pub mod erase;
pub mod events;
mod ingest;
pub mod limits;
mod outbox;
mod receipts;
pub mod settings;
pub mod stats;
mod types;
mod worker;

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

pub(crate) use outbox::{mark_ctes, with_outbox};
pub use types::{
    Claim, ClaimOutcome, NewReceipt, QueuedReceipt, Receipt, ReceiptDetail, Registered, Requeue,
    StatusCounts, StoredItem, StoredMetadata, UploadIntent,
};

/// Migrations of the schema, embedded in every binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database holds an unexpected value: {0}")]
    Corrupt(String),
}

impl RepoError {
    /// Worth retrying: the database could not be reached or was overloaded.
    pub fn is_transient(&self) -> bool {
        match self {
            RepoError::Database(e) => matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
            ),
            RepoError::Corrupt(_) => false,
        }
    }
}

/// The pool of a process. It opens its connections as queries need them:
/// a function's init does not wait on the database (the first invocation
/// connects), and a database that is down fails the request that needs it,
/// with the JSON error, instead of the function's init. A malformed URL
/// fails here.
pub fn pool(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(database_url)
}

/// One round trip to the database: for a long-running server to fail at
/// start when the database is unreachable.
pub async fn check(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

#[derive(Clone, Debug)]
pub struct ReceiptRepository {
    pool: PgPool,
}

impl ReceiptRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
