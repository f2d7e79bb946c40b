//! What the benchmark commands share: counting the statements sent to
//! Postgres, and the process's peak memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::layer::SubscriberExt;

/// Counts every statement sqlx sends (its `sqlx::query` events).
struct QueryCounter(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for QueryCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Installs the process's tracing subscriber with a statement counter;
/// returns the count, for the benchmark to read as it goes.
pub fn count_statements() -> Arc<AtomicU64> {
    let queries = Arc::new(AtomicU64::new(0));
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(QueryCounter(queries.clone())),
    )
    .expect("the benchmark's only tracing subscriber");
    queries
}

/// This process's peak resident memory, KiB.
pub fn peak_rss_kib() -> u64 {
    crate::proc_status("self", "VmHWM").unwrap_or(0)
}
