//! Structured logs: JSON on Lambda (or with `LOG_FORMAT=json`), compact text
//! on a terminal. The filter comes from `RUST_LOG` (default `info`): a
//! default level and `target=level` pairs, e.g. `warn,shared=debug`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter of `RUST_LOG`; `info` when it is unset, and when it does not
/// parse (the error is returned, to be logged once logging is up).
pub fn filter(rust_log: Option<&str>) -> (Targets, Option<String>) {
    let default = Targets::new().with_default(LevelFilter::INFO);
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => (default, None),
        Some(s) => match s.parse::<Targets>() {
            Ok(t) => (t, None),
            Err(e) => (
                default,
                Some(format!(
                    "RUST_LOG={s:?} is not a filter ({e}); logging at info"
                )),
            ),
        },
    }
}

pub fn init() {
    let (filter, bad) = filter(std::env::var("RUST_LOG").ok().as_deref());
    let json = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        || std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_ansi(false),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .compact(),
            )
            .try_init()
    };
    if let Some(bad) = bad {
        tracing::warn!("{bad}");
    }
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    #[test]
    fn rust_log_sets_a_default_level_and_levels_per_target() {
        let (f, bad) = filter(Some("warn,shared::flow::worker=debug"));
        assert!(bad.is_none());
        assert!(f.would_enable("shared::flow::worker", &Level::DEBUG));
        assert!(!f.would_enable("shared::db", &Level::INFO));
        assert!(f.would_enable("shared::db", &Level::WARN));
    }

    #[test]
    fn no_or_a_bad_rust_log_logs_at_info_and_says_why() {
        let (f, bad) = filter(None);
        assert!(bad.is_none());
        assert!(f.would_enable("api", &Level::INFO));
        assert!(!f.would_enable("api", &Level::DEBUG));
        let (f, bad) = filter(Some("shared=loud"));
        assert!(bad.unwrap().contains("shared=loud"));
        assert!(f.would_enable("api", &Level::INFO));
    }
}
