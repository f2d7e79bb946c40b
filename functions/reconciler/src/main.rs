//! The reconciler Lambda, run on a schedule: re-sends the OCR message of
//! receipts stuck in `queued` or `processing`. The logic is `shared::flow::reconcile`.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use shared::config::Common;

// One thread: Lambda runs one invocation at a time (see the api's main).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let config = Common::from_env()?;
    let clients = shared::wiring::Clients::new(&config).await?;
    let reconciler = Arc::new(shared::wiring::reconciler(&config, &clients));
    shared::runtime::metrics::Metrics::new("reconciler").cold_start();
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
        let reconciler = reconciler.clone();
        async move {
            let report = reconciler.run_once().await?;
            Ok::<Value, Error>(
                json!({"requeued": report.requeued.len(), "not_sent": report.not_sent}),
            )
        }
    }))
    .await
}
