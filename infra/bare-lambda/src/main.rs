//! A bare `lambda_runtime` function: no configuration, no clients, no
//! logging; it answers `{"hello": <the event>}`. The cold-start benchmark
//! (`infra/coldstart-bench.sh`) starts it beside the real functions, built
//! with the same release profile, so each of their figures has a yardstick
//! measured in the same run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(json!({ "hello": event.payload }))
    }))
    .await
}
