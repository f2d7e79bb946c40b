//! The OCR worker Lambda (SQS event source, `ReportBatchItemFailures`).
//! `main` builds config, clients and the agent client once; the logic is
//! `shared::flow::worker`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::config::WorkerConfig;

// One thread: Lambda runs one invocation at a time (see the api's main).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let config = WorkerConfig::from_env()?;
    let clients = shared::wiring::Clients::new(&config.common).await?;
    let agent = shared::wiring::http_agent(&config.agent);
    let worker = Arc::new(shared::wiring::worker(
        &config.common,
        &clients,
        agent,
        config.agent.timeout,
    ));
    shared::runtime::metrics::Metrics::new("worker").cold_start();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<SqsBatchResponse, Error>(worker.handle(event.payload).await) }
    }))
    .await
}
