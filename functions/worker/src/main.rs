//! The OCR worker Lambda (SQS event source, `ReportBatchItemFailures`).
//! `main` builds config, clients and the agent client once; the logic is
//! `shared::flow::worker`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::config::{Config, Role};

// One thread: Lambda runs one invocation at a time (see the api's main).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let config = Config::from_env(Role::Worker)?;
    let clients = shared::wiring::Clients::new(&config).await?;
    let agent = shared::wiring::http_agent(&config).ok_or("AGENT_URL is not set")?;
    let worker = Arc::new(shared::wiring::worker(&config, &clients, agent));
    shared::runtime::metrics::Metrics::new("worker").cold_start();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<SqsBatchResponse, Error>(worker.handle(event.payload).await) }
    }))
    .await
}
