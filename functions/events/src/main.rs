//! The event stream function: `GET /receipts/events` behind API Gateway's
//! REST API with `ResponseTransferMode: RESPONSE_STREAM`. `main` builds the
//! config and the pool once; the route is the API's own
//! ([`api::AppState::lambda_stream_service`]). The function's timeout bounds
//! one stream (`EVENTS_STREAM_MAX_SECS` ends it a minute before).

use api::AppState;
use shared::config::ApiConfig;

// The one function that keeps a thread per core: with one thread its
// streamed response's first bytes came ~40 ms later (BENCHMARKS.md).
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::telemetry::init();
    let config = ApiConfig::from_env()?;
    let state = AppState::build(config).await?;
    shared::runtime::metrics::Metrics::new("events").cold_start();
    lambda_http::run_with_streaming_response(state.lambda_stream_service()).await
}
