//! The agent's integration tests, one binary (linked once): the reader on
//! rendered receipts, locales, and photos, with the real OCR models
//! (fetched by ./infra/fetch-models.sh). One engine serves every module.

use std::sync::OnceLock;

use agent::pool::EnginePool;

mod locales;
mod photos;
mod rendered;

/// The engine every test reads with, loaded once.
fn pool() -> EnginePool {
    static POOL: OnceLock<EnginePool> = OnceLock::new();
    POOL.get_or_init(|| {
        EnginePool::from_env(1).expect("the OCR models (fetched by ./infra/fetch-models.sh)")
    })
    .clone()
}

/// The day the tests read receipts on (a receipt's year-less date falls
/// before it).
fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
}
