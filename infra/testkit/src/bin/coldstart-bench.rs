//! Cold starts of the Lambda functions, side by side with a bare
//! `lambda_runtime` function built with the same profile (see
//! `testkit::coldstart`). Run by `infra/coldstart-bench.sh`, which builds
//! the binaries first; the table goes in BENCHMARKS.md.
//!
//! ```text
//! coldstart-bench [--starts N] [--warm M] [--dir DIR] [--only api,worker,...]
//! ```
//!
//! Each of the N rounds starts every function once, in turn (so a noisy
//! moment of the machine falls on all of them; each round begins one
//! function later than the last), invokes it once cold and M times warm,
//! and stops it.

use std::path::PathBuf;
use std::time::Duration;

use testkit::coldstart::{Bench, Function, Start, median};

struct Args {
    starts: usize,
    warm: usize,
    dir: PathBuf,
    only: Vec<Function>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        starts: 15,
        warm: 10,
        dir: testkit::stack::repo_root().join("target/lambda"),
        only: Function::ALL.to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--starts" => a.starts = value()?.parse().map_err(|e| format!("--starts: {e}"))?,
            "--warm" => a.warm = value()?.parse().map_err(|e| format!("--warm: {e}"))?,
            "--dir" => a.dir = PathBuf::from(value()?),
            "--only" => {
                let mut only = vec![Function::Bare];
                for name in value()?.split(',') {
                    let f = Function::parse(name).ok_or(format!("no function {name:?}"))?;
                    if !only.contains(&f) {
                        only.push(f);
                    }
                }
                a.only = only;
            }
            _ => {
                return Err(format!(
                    "unknown argument {flag:?}\nusage: coldstart-bench [--starts N] [--warm M] [--dir DIR] [--only api,worker,...]"
                ));
            }
        }
    }
    if a.starts == 0 {
        return Err("--starts must be at least 1".into());
    }
    Ok(a)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn ratio(d: Duration, bare: Duration) -> String {
    if bare.is_zero() {
        return "–".into();
    }
    format!("{:.2}", d.as_secs_f64() / bare.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_048_576.0)
}

struct Row {
    f: Function,
    size: u64,
    init: Duration,
    first: Duration,
    warm: Duration,
    rss_kib: u64,
}

#[tokio::main]
async fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let binaries: Vec<(Function, PathBuf)> = a
        .only
        .iter()
        .map(|f| (*f, a.dir.join(f.package()).join("bootstrap")))
        .collect();
    for (_, b) in &binaries {
        if !b.is_file() {
            eprintln!(
                "{} is missing: build the functions first (infra/coldstart-bench.sh does)",
                b.display()
            );
            std::process::exit(2);
        }
    }
    let bench = Bench::setup().await;
    let mut starts: Vec<Vec<Start>> = vec![Vec::new(); binaries.len()];
    let n = binaries.len();
    for round in 0..a.starts {
        // Each round begins one function later: which function ran just
        // before a start changes its init (on this VM, a start right after
        // the events function's was 1–2 ms slower), so no function always
        // follows the same one.
        for i in (0..n).map(|k| (k + round) % n) {
            let (f, bin) = &binaries[i];
            match bench.start(*f, bin, a.warm).await {
                Ok(s) => starts[i].push(s),
                Err(e) => {
                    eprintln!("{} (round {}): {e}", f.name(), round + 1);
                    std::process::exit(1);
                }
            }
        }
        eprintln!("round {}/{} done", round + 1, a.starts);
    }

    let rows: Vec<Row> = binaries
        .iter()
        .zip(&starts)
        .map(|((f, bin), s)| Row {
            f: *f,
            size: std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0),
            init: median(&s.iter().map(|s| s.init).collect::<Vec<_>>()),
            first: median(&s.iter().map(|s| s.first).collect::<Vec<_>>()),
            warm: median(&s.iter().flat_map(|s| s.warm.clone()).collect::<Vec<_>>()),
            rss_kib: s.iter().filter_map(|s| s.peak_rss_kib).max().unwrap_or(0),
        })
        .collect();
    let bare = rows
        .iter()
        .find(|r| r.f == Function::Bare)
        .map(|r| (r.init, r.first, r.warm))
        .unwrap_or_default();

    println!(
        "{} starts per function, one cold and {} warm invocations each; medians (warm: of all warm invocations); × bare: ratio to the bare function in the same run.\n",
        a.starts, a.warm
    );
    println!(
        "| function | one invocation | binary MiB | init ms | × bare | first invocation ms | × bare | warm invocation ms | × bare | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.f.name(),
            r.f.work(),
            mib(r.size),
            ms(r.init),
            ratio(r.init, bare.0),
            ms(r.first),
            ratio(r.first, bare.1),
            ms(r.warm),
            ratio(r.warm, bare.2),
            mib(r.rss_kib * 1024),
        );
    }
    eprintln!(
        "webhook deliveries received: {} (at {})",
        bench.webhook_requests(),
        bench.receiver()
    );
}
