//! The ingest Lambda: S3 `ObjectCreated` events arrive through the ingest
//! queue; the logic is `shared::flow::ingest`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::config::Common;

// One thread: Lambda runs one invocation at a time (see the api's main).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let config = Common::from_env()?;
    let clients = shared::wiring::Clients::new(&config).await?;
    let ingest = Arc::new(shared::wiring::ingest(&config, &clients));
    shared::runtime::metrics::Metrics::new("ingest").cold_start();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ingest = ingest.clone();
        async move { Ok::<SqsBatchResponse, Error>(ingest.handle(event.payload).await) }
    }))
    .await
}
