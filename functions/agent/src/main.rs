//! `agent [serve]`              the HTTP service on AGENT_BIND (default 127.0.0.1:8002),
//!                              or, on Lambda (container image, function URL), the
//!                              same Router through `lambda_http`
//! `agent extract [--locale TAG] FILE...`  prints the extraction JSON of each file
//! `agent parse [--locale TAG] TEXTFILE...` the same for OCR text already read (parsing alone)
//! `agent eval [DIR] [--limit N] [--no-baseline] [--misses] [--text-cache DIR]`
//!                              scores the agent (and the naive baseline) on a dataset
//! `agent eval [DIR] --variants [scan,exif,upside-down,skewed,photo,low-res] [--jobs N]
//!             [--save-variants DIR]`  the same for phone-photo versions of each receipt,
//!                              side by side with the scans

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agent::http::{AgentState, router};
use agent::pool::EnginePool;

const USAGE: &str = "usage: agent [serve] | agent extract [--locale TAG] FILE... | agent parse [--locale TAG] TEXTFILE... | agent eval [DIR] [--limit N] [--no-baseline] [--misses] [--text-cache DIR] [--variants [LIST] [--jobs N] [--save-variants DIR]]";
const DEFAULT_DATASET: &str = "../shared/datasets/sroie-dev";

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} has a bad value: {v:?}")),
    }
}

/// Where `image_url` may point: `AGENT_FETCH_HOSTS` (comma-separated;
/// `host`, `host:port`, `*.domain`, `*`), by default the receipts bucket's
/// S3 endpoints; internal addresses only with `AGENT_FETCH_ALLOW_INTERNAL`
/// (local mode, off by default).
fn fetch_policy() -> anyhow::Result<shared::outbound::ssrf::FetchPolicy> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    let hosts = match var("AGENT_FETCH_HOSTS") {
        Some(list) => list.split(',').map(str::to_owned).collect(),
        None => agent::http::default_fetch_hosts(
            var("RECEIPTS_BUCKET").as_deref(),
            var("AWS_REGION").as_deref(),
            var("AWS_ENDPOINT_URL").as_deref(),
        ),
    };
    let internal = match var("AGENT_FETCH_ALLOW_INTERNAL").as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(v) => anyhow::bail!("AGENT_FETCH_ALLOW_INTERNAL must be true or false, not {v:?}"),
    };
    Ok(shared::outbound::ssrf::FetchPolicy::new(hosts, internal))
}

fn main() -> ExitCode {
    shared::runtime::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match args.first().map(String::as_str) {
            None | Some("serve") => serve().await,
            Some("extract") => extract_files(&args[1..]),
            Some("parse") => parse_files(&args[1..]),
            Some("eval") => eval(&args[1..]),
            Some("-h" | "--help" | "help") => {
                println!("{USAGE}");
                Ok(())
            }
            Some(other) => Err(anyhow::anyhow!("unknown command {other:?}\n{USAGE}")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn engines_default() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

async fn serve() -> anyhow::Result<()> {
    let bind: std::net::SocketAddr = env_parse("AGENT_BIND", "127.0.0.1:8002".parse().unwrap())?;
    let engines = env_parse("AGENT_ENGINES", engines_default())?;
    let max_bytes = env_parse("AGENT_MAX_IMAGE_BYTES", 20 * 1024 * 1024usize)?;
    let pool = EnginePool::from_env(engines)?;
    let pool_version = pool.version.clone();
    let token = std::env::var("AGENT_TOKEN").ok();
    let fetch = fetch_policy()?;
    tracing::info!(hosts = ?fetch.hosts(), internal = fetch.allows_internal(), "image_url may point at these hosts");
    let state = AgentState::new(pool, max_bytes, Duration::from_secs(30), fetch).with_token(token);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        tracing::info!(engines, engine = %pool_version, "agent on Lambda");
        shared::runtime::metrics::Metrics::new("agent").cold_start();
        return lambda_http::run(router(state))
            .await
            .map_err(|e| anyhow::anyhow!(e));
    }
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(addr = %listener.local_addr()?, engines, engine = %pool_version, "agent listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// `--locale TAG` among the arguments, and the rest.
fn locale_arg(args: &[String]) -> anyhow::Result<(Option<String>, Vec<String>)> {
    let mut locale = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--locale" {
            let tag = it.next().ok_or_else(|| anyhow::anyhow!("--locale TAG"))?;
            anyhow::ensure!(
                agent::parse::valid_tag(tag),
                "--locale: {tag:?} is not a BCP 47 tag"
            );
            locale = Some(tag.clone());
        } else {
            rest.push(a.clone());
        }
    }
    Ok((locale, rest))
}

fn extract_files(args: &[String]) -> anyhow::Result<()> {
    let (locale, files) = locale_arg(args)?;
    anyhow::ensure!(!files.is_empty(), "{USAGE}");
    let pool = EnginePool::from_env(1)?;
    let today = chrono::Utc::now().date_naive();
    let mut failed = false;
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| anyhow::anyhow!("{f}: {e}"))?;
        match pool
            .run_here(|engine| agent::extract::extract(engine, &bytes, today, locale.as_deref()))
        {
            Ok(e) => println!("{}", serde_json::to_string_pretty(&e)?),
            Err(e) => {
                eprintln!("{f}: {e}");
                failed = true;
            }
        }
    }
    anyhow::ensure!(!failed, "some files could not be read");
    Ok(())
}

fn parse_files(args: &[String]) -> anyhow::Result<()> {
    let (locale, files) = locale_arg(args)?;
    anyhow::ensure!(!files.is_empty(), "{USAGE}");
    let today = chrono::Utc::now().date_naive();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{f}: {e}"))?;
        let e =
            agent::extract::from_text(&text, today, locale.as_deref(), std::time::Instant::now());
        println!("{}", serde_json::to_string_pretty(&e)?);
    }
    Ok(())
}

fn eval(args: &[String]) -> anyhow::Result<()> {
    use agent::eval::damage::Variant;
    let mut dir = PathBuf::from(DEFAULT_DATASET);
    let mut opts = agent::eval::Options {
        limit: None,
        baseline: true,
        show_misses: false,
        text_cache: None,
    };
    let mut variants: Option<Vec<Variant>> = None;
    let (mut jobs, mut save) = (1usize, None);
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{a} {what}\n{USAGE}"))
        };
        match a.as_str() {
            "--limit" => opts.limit = Some(value("N")?.parse()?),
            "--no-baseline" => opts.baseline = false,
            "--misses" => opts.show_misses = true,
            "--text-cache" => opts.text_cache = Some(PathBuf::from(value("DIR")?)),
            "--jobs" => jobs = value("N")?.parse()?,
            "--save-variants" => save = Some(PathBuf::from(value("DIR")?)),
            "--variants" => {
                let list = match it.peek() {
                    Some(l) if !l.starts_with('-') && !std::path::Path::new(l).is_dir() => {
                        it.next().cloned()
                    }
                    _ => None,
                };
                variants = Some(variant_list(list.as_deref())?);
            }
            other if !other.starts_with('-') => dir = PathBuf::from(other),
            other => anyhow::bail!("unknown option {other}\n{USAGE}"),
        }
    }
    if let Some(variants) = variants {
        let vopts = agent::eval::variants::VariantOptions {
            limit: opts.limit,
            variants,
            jobs,
            save,
            show_misses: opts.show_misses,
        };
        agent::eval::variants::run(&dir, &vopts)?;
        return Ok(());
    }
    let pool = EnginePool::from_env(1)?;
    agent::eval::run(&dir, &pool, &opts)?;
    Ok(())
}

/// `scan,exif,...`; every version when not given. The scan is always
/// read, as the versions' reference.
fn variant_list(list: Option<&str>) -> anyhow::Result<Vec<agent::eval::damage::Variant>> {
    use agent::eval::damage::Variant;
    let Some(list) = list else {
        return Ok(Variant::ALL.to_vec());
    };
    let mut out = vec![Variant::Scan];
    for name in list.split(',').filter(|n| !n.is_empty()) {
        let v = Variant::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
            anyhow::anyhow!("unknown version {name:?}; one of {}", names.join(", "))
        })?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}
