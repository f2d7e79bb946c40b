//! The webhooks Lambda (SQS event source on the webhook queue,
//! `ReportBatchItemFailures`). `main` builds config, the pool and the
//! guarded HTTP client once; the logic is `shared::flow::webhooks::Sender`.

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
    let sender = Arc::new(
        shared::wiring::webhook_sender(&config, &clients)?.ok_or("WEBHOOK_QUEUE_URL is not set")?,
    );
    shared::runtime::metrics::Metrics::new("webhooks").cold_start();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let sender = sender.clone();
        async move { Ok::<SqsBatchResponse, Error>(sender.handle(event.payload).await) }
    }))
    .await
}
