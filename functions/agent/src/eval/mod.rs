//! Scores the agent on a labelled dataset folder (`img/NNN.jpg`,
//! `key/NNN.json` with `company`, `date`, `address`, `total`, optionally
//! `items/NNN.json` with line items) and, in the same run, a naive
//! baseline: the plain `tesseract` command and "the last amount on a TOTAL
//! line". It reports each field's accuracy, the items' precision, recall
//! and F1, and how well the agent's confidences are calibrated.

pub mod calibration;
pub mod damage;
pub mod items;
mod report;
pub mod variants;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use shared::domain::extraction::Extraction;

use crate::parse::{amounts, dates, parse_amount, parse_date};
use crate::pool::EnginePool;

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub total: String,
    /// How many articles the receipt lists (de-dev).
    #[serde(default)]
    pub items_count: Option<usize>,
}

pub struct Sample {
    pub id: String,
    pub image: PathBuf,
    pub label: Label,
    pub items: Option<items::ItemLabels>,
}

pub fn load(dir: &Path) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::new();
    let mut keys: Vec<PathBuf> = std::fs::read_dir(dir.join("key"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    keys.sort();
    for k in keys {
        let id = k.file_stem().unwrap().to_string_lossy().into_owned();
        let image = dir.join("img").join(format!("{id}.jpg"));
        if !image.exists() {
            continue;
        }
        let label: Label = serde_json::from_str(&std::fs::read_to_string(&k)?)?;
        let items_path = dir.join("items").join(format!("{id}.json"));
        let items = match std::fs::read_to_string(&items_path) {
            Ok(text) => Some(serde_json::from_str(&text)?),
            Err(_) => None,
        };
        out.push(Sample {
            id,
            image,
            label,
            items,
        });
    }
    Ok(out)
}

/// What a reader made of a receipt, as the scoring compares it.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub company: Option<String>,
    pub date: Option<NaiveDate>,
    pub address: Option<String>,
    pub total: Option<Decimal>,
}

impl From<&Extraction> for Fields {
    fn from(e: &Extraction) -> Self {
        Self {
            company: e.merchant.name.clone(),
            date: e.purchase_date,
            address: e.merchant.address.clone(),
            total: e.total,
        }
    }
}

fn alnum_upper(s: &str) -> String {
    s.to_uppercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

fn spaced_upper(s: &str) -> String {
    s.to_uppercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A company label that is a brand (`marktkauf`, as de-dev gives them):
/// one lower-case word, scored as "the brand appears in the name read".
fn is_brand(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Per field: `Some(hit)`, or `None` when the label has no value.
pub fn score(f: &Fields, l: &Label) -> [Option<bool>; 4] {
    let total = parse_amount(&l.total).map(|want| f.total == Some(want.round_dp(2)));
    let date = parse_date(&l.date).map(|want| f.date == Some(want));
    let company = (!l.company.trim().is_empty()).then(|| {
        f.company.as_deref().is_some_and(|c| {
            if is_brand(l.company.trim()) {
                alnum_upper(c).contains(&alnum_upper(&l.company))
            } else {
                alnum_upper(c) == alnum_upper(&l.company)
            }
        })
    });
    let address = (!l.address.trim().is_empty()).then(|| {
        f.address.as_deref().is_some_and(|a| {
            let (a, b) = (spaced_upper(a), spaced_upper(&l.address));
            a == b || strsim::normalized_levenshtein(&a, &b) >= 0.8
        })
    });
    [total, date, company, address]
}

/// The naive baseline's reading of `tesseract IMAGE -` output.
pub fn baseline_fields(text: &str) -> Fields {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Fields {
        company: lines.first().map(|l| (*l).to_owned()),
        address: (lines.len() > 1).then(|| lines[1..lines.len().min(4)].join(" ")),
        date: lines.iter().find_map(|l| dates(l).into_iter().next()),
        total: lines
            .iter()
            .rev()
            .find(|l| l.to_uppercase().contains("TOTAL"))
            .and_then(|l| amounts(l).last().map(|a| a.0)),
    }
}

pub const FIELDS: [&str; 4] = ["total", "date", "company", "address"];

pub struct Options {
    pub limit: Option<usize>,
    pub baseline: bool,
    pub show_misses: bool,
    /// Keeps each receipt's OCR text here and, when it is already there,
    /// parses it instead of reading the image again: for tuning the
    /// parser in seconds (times then measure parsing alone).
    pub text_cache: Option<PathBuf>,
}

pub use report::{Report, Tally};

/// The agent's answer for one sample: from the text cache when it holds
/// the receipt, else read from the image (and kept in the cache).
fn read_sample(
    s: &Sample,
    pool: &EnginePool,
    opts: &Options,
    today: NaiveDate,
) -> anyhow::Result<Option<Extraction>> {
    let started = Instant::now();
    let cached = opts
        .text_cache
        .as_ref()
        .map(|dir| dir.join(format!("{}.txt", s.id)));
    if let Some(path) = cached.as_ref().filter(|p| p.is_file()) {
        let text = std::fs::read_to_string(path)?;
        return Ok(Some(crate::extract::from_text(&text, today, None, started)));
    }
    let bytes = std::fs::read(&s.image)?;
    let out = pool.run_here(|engine| crate::extract::extract(engine, &bytes, today, None));
    if let (Some(path), Ok(e)) = (&cached, &out) {
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(path, e.raw_text.as_deref().unwrap_or_default())?;
    }
    Ok(out.ok())
}

fn run_baseline(s: &Sample) -> anyhow::Result<(Fields, f64)> {
    let started = Instant::now();
    let out = Command::new("tesseract")
        .arg(&s.image)
        .arg("-")
        .env("OMP_THREAD_LIMIT", "1")
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "the baseline runs the tesseract command ({e}): apt-get install tesseract-ocr, or pass --no-baseline"
            )
        })?;
    let secs = started.elapsed().as_secs_f64();
    Ok((baseline_fields(&String::from_utf8_lossy(&out.stdout)), secs))
}

/// Runs both readers over the dataset; prints a report; returns it.
pub fn run(dir: &Path, pool: &EnginePool, opts: &Options) -> anyhow::Result<Report> {
    let mut samples = load(dir)?;
    if let Some(n) = opts.limit {
        samples.truncate(n);
    }
    anyhow::ensure!(
        !samples.is_empty(),
        "no labelled receipts in {}",
        dir.display()
    );
    let today = chrono::Utc::now().date_naive();
    let mut report = Report::new(opts.baseline);
    for s in &samples {
        let started = Instant::now();
        let out = read_sample(s, pool, opts, today)?;
        let secs = started.elapsed().as_secs_f64();
        report.add_agent(s, out.as_ref(), secs, opts.show_misses);
        if opts.baseline {
            let (fields, secs) = run_baseline(s)?;
            report.add_baseline(s, &fields, secs);
        }
    }
    println!("receipts: {} from {}", samples.len(), dir.display());
    report.print();
    if let Some(kib) = peak_rss_kib() {
        println!(
            "{:<22}{:>10.0}  (the agent process: engines, models, decoded images)",
            "peak RSS MiB",
            kib as f64 / 1024.0
        );
    }
    Ok(report)
}

/// The process's peak resident set (`VmHWM`), on Linux.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(total: &str, date: &str, company: &str, address: &str) -> Label {
        Label {
            total: total.into(),
            date: date.into(),
            company: company.into(),
            address: address.into(),
            items_count: None,
        }
    }

    #[test]
    fn scoring_follows_the_dataset_rules() {
        let l = label(
            "RM9.00",
            "25/12/2018",
            "BOOK TA .K (TAMAN DAYA) SDN BHD",
            "NO.53, JALAN SAGU 18, TAMAN DAYA",
        );
        let f = Fields {
            total: Some("9.00".parse().unwrap()),
            date: NaiveDate::from_ymd_opt(2018, 12, 25),
            company: Some("Book Ta.K (Taman Daya) Sdn Bhd".into()),
            address: Some("NO.53, JALAN SAGU 18, TAMAN DAIA".into()),
        };
        assert_eq!(score(&f, &l), [Some(true); 4]);
        let wrong = Fields {
            total: Some("9.60".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(score(&wrong, &l), [Some(false); 4]);
        assert_eq!(
            score(&wrong, &label("", "", "", ""))[0],
            None,
            "an empty label is not scored"
        );
    }

    #[test]
    fn the_baseline_takes_the_last_amount_on_a_total_line() {
        let f = baseline_fields("SHOP\n1 ROAD\nTOTAL 8.00\nTotal 9.00 RM\nCASH 10.00");
        assert_eq!(f.total, Some("9.00".parse().unwrap()));
        assert_eq!(f.company.as_deref(), Some("SHOP"));
    }
}
