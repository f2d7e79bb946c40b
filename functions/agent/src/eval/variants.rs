//! `agent eval --variants`: every receipt of a dataset read as the scan
//! and as each phone-photo version of it (`damage`), side by side in one
//! run, with the time each version costs against the scan's.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::NaiveDate;
use shared::domain::extraction::Extraction;

use super::damage::{self, Variant};
use super::{FIELDS, Report, Sample, load};
use crate::pool::EnginePool;

pub struct VariantOptions {
    pub limit: Option<usize>,
    pub variants: Vec<Variant>,
    /// Receipts read at once (one engine each).
    pub jobs: usize,
    /// Keeps each version's image here, to look at.
    pub save: Option<PathBuf>,
    pub show_misses: bool,
}

/// One reading: which version of which receipt, and what came of it.
struct Done {
    variant: usize,
    sample: usize,
    out: Option<Extraction>,
    secs: f64,
}

fn read_one(
    s: &Sample,
    v: Variant,
    pool: &EnginePool,
    opts: &VariantOptions,
    today: NaiveDate,
) -> anyhow::Result<(Option<Extraction>, f64)> {
    let original = std::fs::read(&s.image)?;
    let bytes = damage::make(v, &original, damage::seed_of(&s.id))?;
    if let Some(dir) = &opts.save {
        let dir = dir.join(v.name());
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{}.jpg", s.id)), &bytes)?;
    }
    let started = Instant::now();
    let out = pool.run_here(|engine| crate::extract::extract(engine, &bytes, today, None));
    Ok((out.ok(), started.elapsed().as_secs_f64()))
}

/// Reads every version of every receipt on `jobs` threads; prints the
/// versions side by side; answers each version's report.
pub fn run(dir: &Path, opts: &VariantOptions) -> anyhow::Result<Vec<(Variant, Report)>> {
    let mut samples = load(dir)?;
    if let Some(n) = opts.limit {
        samples.truncate(n);
    }
    anyhow::ensure!(
        !samples.is_empty(),
        "no labelled receipts in {}",
        dir.display()
    );
    let pool = EnginePool::from_env(opts.jobs.max(1))?;
    let today = chrono::Utc::now().date_naive();
    let work: Vec<(usize, usize)> = (0..samples.len())
        .flat_map(|s| (0..opts.variants.len()).map(move |v| (v, s)))
        .collect();
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(work.len()));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..opts.jobs.max(1))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    while let Some(&(v, s)) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let (out, secs) =
                            read_one(&samples[s], opts.variants[v], &pool, opts, today)?;
                        let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                        d.push(Done {
                            variant: v,
                            sample: s,
                            out,
                            secs,
                        });
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().expect("a variant reader does not panic")?;
        }
        Ok(())
    })?;
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|d| (d.variant, d.sample));
    let mut reports: Vec<(Variant, Report)> = opts
        .variants
        .iter()
        .map(|&v| (v, Report::new(false)))
        .collect();
    for d in &done {
        let (v, report) = &mut reports[d.variant];
        if opts.show_misses {
            println!("-- {}", v.name());
        }
        report.add_agent(&samples[d.sample], d.out.as_ref(), d.secs, opts.show_misses);
    }
    println!(
        "receipts: {} from {}, {} at a time",
        samples.len(),
        dir.display(),
        opts.jobs.max(1)
    );
    print(&reports);
    Ok(reports)
}

/// The versions side by side: each field's accuracy, the items, the mean
/// time and its ratio to the scan's.
pub fn print(reports: &[(Variant, Report)]) {
    let scan_secs = reports
        .iter()
        .find(|(v, _)| *v == Variant::Scan)
        .map(|(_, r)| r.agent.mean_secs());
    let mut head = format!("{:<13}", "version");
    for f in FIELDS {
        head.push_str(&format!("{f:>9}"));
    }
    head.push_str(&format!(
        "{:>10}{:>8}{:>10}{:>8}{:>10}",
        "item F1", "whole", "articles", "ECE", "s/receipt"
    ));
    if scan_secs.is_some() {
        head.push_str(&format!("{:>8}", "× scan"));
    }
    println!("{head}");
    for (v, r) in reports {
        let mut row = format!("{:<13}", v.name());
        for i in 0..FIELDS.len() {
            if r.agent.counted[i] == 0 {
                row.push_str(&format!("{:>9}", "-"));
            } else {
                row.push_str(&format!("{:>9.3}", r.agent.accuracy(i)));
            }
        }
        let whole = if r.item_receipts == 0 {
            "-".to_owned()
        } else {
            format!("{}/{}", r.whole_lists, r.item_receipts)
        };
        let f1 = if r.item_receipts == 0 {
            "-".to_owned()
        } else {
            format!("{:.3}", r.items.f1())
        };
        let articles = match r.article_counts {
            (0, _) => "-".to_owned(),
            (n, right) => format!("{right}/{n}"),
        };
        let ece = r.calibration_ece();
        row.push_str(&format!(
            "{f1:>10}{whole:>8}{articles:>10}{ece:>8.3}{:>10.2}",
            r.agent.mean_secs()
        ));
        if let Some(base) = scan_secs.filter(|s| *s > 0.0) {
            row.push_str(&format!("{:>8.2}", r.agent.mean_secs() / base));
        }
        println!("{row}");
    }
}
