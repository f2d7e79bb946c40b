//! The local runner: one process that runs, against LocalStack and the local
//! Postgres, the API, and the worker and ingest handlers fed the way AWS's
//! event source mappings feed them (long polling, batches of up to 10,
//! bounded concurrency, deleting only what the partial batch response says
//! succeeded), plus the reconciler on a timer.
//!
//! `local-runner [--no-api]`; configuration from the environment (see README).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use api::AppState;
use shared::config::LocalConfig;
use shared::runtime::runner::{Poller, PollerSettings};
use shared::wiring::{Clients, RECONCILE_EVERY};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    shared::runtime::telemetry::init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| anyhow::anyhow!("{name} must be an integer from 1 to 64")),
    }
}

async fn run() -> anyhow::Result<()> {
    let with_api = !std::env::args().any(|a| a == "--no-api");
    let config = LocalConfig::from_env()?;
    let ingest_url = config
        .common
        .queues
        .ingest
        .clone()
        .ok_or_else(|| anyhow::anyhow!("INGEST_QUEUE_URL is not set"))?;
    let clients = Clients::new(&config.common).await?;
    shared::db::MIGRATOR.run(&clients.pool).await?;

    check_agent(&config).await?;

    let stop = CancellationToken::new();
    let worker = Arc::new(shared::wiring::worker(
        &config.common,
        &clients,
        shared::wiring::http_agent(&config.agent),
        config.agent.timeout,
    ));
    let ingest = Arc::new(shared::wiring::ingest(&config.common, &clients));
    let reconciler = shared::wiring::reconciler(&config.common, &clients);

    // One poller per OCR queue, each with its own concurrency, as the two
    // event source mappings have theirs on AWS: high-priority work has
    // capacity of its own.
    let worker_poller = poller(
        &clients,
        config.common.queues.ocr.clone(),
        env_usize("WORKER_MAX_CONCURRENCY", 2)?,
    )
    .await?;
    let high_poller = poller(
        &clients,
        config.common.queues.ocr_high.clone(),
        env_usize("WORKER_HIGH_MAX_CONCURRENCY", 1)?,
    )
    .await?;
    let ingest_poller = poller(&clients, ingest_url, 1).await?;

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(worker_poller.serve(
        worker.clone(),
        |w, ev| async move { w.handle(ev).await },
        stop.clone(),
    ));
    tasks.spawn(high_poller.serve(
        worker,
        |w, ev| async move { w.handle(ev).await },
        stop.clone(),
    ));
    tasks.spawn(ingest_poller.serve(
        ingest,
        |i, ev| async move { i.handle(ev).await },
        stop.clone(),
    ));
    tasks.spawn(reconcile_every(reconciler, stop.clone()));
    spawn_webhook_sender(&mut tasks, &config, &clients, &stop).await?;
    if with_api {
        tasks.spawn(serve_api(&config, &clients, stop.clone()).await?);
    }
    tracing::info!("local runner started: worker and ingest are polling their queues");

    tokio::signal::ctrl_c().await?;
    tracing::info!("stopping: finishing the batches in hand");
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Webhook deliveries, when the stack has a webhook queue.
async fn spawn_webhook_sender(
    tasks: &mut tokio::task::JoinSet<()>,
    config: &LocalConfig,
    clients: &Clients,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let Some(sender) = shared::wiring::webhook_sender(&config.common, clients)? else {
        tracing::warn!("WEBHOOK_QUEUE_URL is not set: webhook deliveries wait in the database");
        return Ok(());
    };
    let sender = Arc::new(sender);
    let poller = poller(clients, sender.queue.url().to_owned(), 2).await?;
    tasks.spawn(poller.serve(
        sender,
        |s, ev| async move { s.handle(ev).await },
        stop.clone(),
    ));
    Ok(())
}

/// Says whether an OCR agent answers at `AGENT_URL`: without one,
/// receipts are retried with backoff and end `failed`.
async fn check_agent(config: &LocalConfig) -> anyhow::Result<()> {
    let agent_url = config.agent.url.clone();
    let health = agent_url.join("health")?;
    match reqwest::Client::new()
        .get(health.clone())
        .timeout(Duration::from_secs(3))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => tracing::info!(agent = %agent_url, "OCR agent answers"),
        _ => tracing::warn!(
            agent = %agent_url,
            "no OCR agent answers at {health}: receipts will be retried with backoff and end `failed` until one does"
        ),
    }

    Ok(())
}

/// A poller of one queue, as an event source mapping: batches of 10, long
/// polling, `concurrency` batches at once.
async fn poller(
    clients: &Clients,
    queue_url: impl Into<String>,
    concurrency: usize,
) -> anyhow::Result<Poller> {
    Poller::new(
        clients.sqs.clone(),
        PollerSettings {
            queue_url: queue_url.into(),
            batch_size: 10,
            wait: Duration::from_secs(10),
            concurrency,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))
}

/// The reconciler every `RECONCILE_EVERY`, as its schedule runs it on AWS.
async fn reconcile_every(reconciler: shared::flow::reconcile::Reconciler, stop: CancellationToken) {
    let mut tick = tokio::time::interval(RECONCILE_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = reconciler.run_once().await {
                    tracing::error!(error = %e, "reconciler pass failed");
                }
            }
        }
    }
}

/// The API on `API_BIND`, until `stop`: bound now, served by the future.
async fn serve_api(
    config: &LocalConfig,
    clients: &Clients,
    stop: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()> + use<>> {
    let state = AppState::new(config.api_config(), clients.clone());
    let listener = tokio::net::TcpListener::bind(config.api.bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "API listening");
    Ok(async move {
        if let Err(e) = axum::serve(listener, state.router())
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "API server stopped");
        }
    })
}
