//! The api function.
//!
//! - On Lambda (`AWS_LAMBDA_RUNTIME_API` set): serves the Router through `lambda_http`.
//! - `api` or `api serve`: serves the same Router on `API_BIND` (default 127.0.0.1:3000).
//! - `api migrate`: applies the database migrations to `DATABASE_URL`.
//! - `api mint-token SUB [TTL_SECS]`: prints an HS256 token for `SUB`, signed
//!   with `AUTH_JWT_SECRET` (for local use).

use std::process::ExitCode;
use std::time::Duration;

use api::AppState;
use shared::config::{ApiConfig, Secret};
use shared::domain::UserId;
use shared::wiring::Clients;

const USAGE: &str = "usage: api [serve | migrate | mint-token SUB [TTL_SECS]]";

fn main() -> ExitCode {
    // On Lambda one invocation runs at a time, and below 1,769 MB a function
    // has at most one vCPU of time: one thread does the work, and no worker
    // threads are started at init (they were a quarter of it, BENCHMARKS.md).
    // The server that runs for hours keeps a thread per core.
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let runtime = if on_lambda {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(on_lambda))
}

async fn run(on_lambda: bool) -> ExitCode {
    shared::runtime::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => serve(on_lambda).await,
        Some("migrate") => migrate().await,
        Some("mint-token") => mint_token(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(on_lambda: bool) -> anyhow::Result<()> {
    let config = ApiConfig::from_env()?;
    let bind = config.api.bind;
    let clients = Clients::new(&config.common).await?;
    if !on_lambda {
        // A server that runs for hours checks its database at start; a
        // function's init does not wait on it.
        shared::db::check(&clients.pool).await?;
    }
    let state = AppState::new(config, clients);
    if on_lambda {
        shared::runtime::metrics::Metrics::new("api").cold_start();
        return lambda_http::run(state.lambda_service())
            .await
            .map_err(|e| anyhow::anyhow!(e));
    }
    let app = state.router();
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "API listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    let url =
        std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("DATABASE_URL is not set"))?;
    let pool = shared::db::pool(&url, 1)?;
    shared::db::MIGRATOR.run(&pool).await?;
    tracing::info!("migrations applied");
    Ok(())
}

fn mint_token(args: &[String]) -> anyhow::Result<()> {
    let sub = args.first().ok_or_else(|| anyhow::anyhow!("{USAGE}"))?;
    let sub = UserId::parse(sub)?;
    let ttl = match args.get(1) {
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| anyhow::anyhow!("TTL_SECS must be a number of seconds"))?,
        None => 24 * 3600,
    };
    let secret = std::env::var("AUTH_JWT_SECRET")
        .map_err(|_| anyhow::anyhow!("AUTH_JWT_SECRET is not set"))?;
    if secret.len() < 32 {
        anyhow::bail!("AUTH_JWT_SECRET must be at least 32 characters");
    }
    let issuer = std::env::var("AUTH_JWT_ISSUER").ok();
    let audience = std::env::var("AUTH_JWT_AUDIENCE").ok();
    println!(
        "{}",
        shared::auth::mint_hs256(
            &sub,
            &Secret::new(secret),
            Duration::from_secs(ttl),
            issuer.as_deref(),
            audience.as_deref()
        )
    );
    Ok(())
}
