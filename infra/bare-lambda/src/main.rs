//! A bare `lambda_runtime` function: no configuration, no clients, no
//! logging; it answers `{"hello": <the event>}`. The cold-start benchmark
//! (`infra/coldstart-bench.sh`) starts it beside the real functions, built
//! with the same release profile, so each of their figures has a yardstick
//! measured in the same run.
//!
//! As built, it is the usual hello function (`#[tokio::main]`: a worker
//! thread per core). With `BARE_RUNTIME=current_thread` it runs on one
//! thread, as the functions other than `events` do, so the benchmark also
//! shows what that choice alone is worth.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn main() -> Result<(), Error> {
    let one_thread = std::env::var("BARE_RUNTIME").is_ok_and(|v| v == "current_thread");
    let mut builder = if one_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder
        .enable_all()
        .build()?
        .block_on(lambda_runtime::run(service_fn(
            |event: LambdaEvent<Value>| async move {
                Ok::<Value, Error>(json!({ "hello": event.payload }))
            },
        )))
}
