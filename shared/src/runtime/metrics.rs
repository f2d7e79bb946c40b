//! CloudWatch Embedded Metric Format: one JSON line on stdout per record,
//! which CloudWatch Logs turns into metrics without any API call.
//! Written on Lambda, or anywhere with `EMF_METRICS=1`.
//!
//! Powertools' conventions: the namespace from `POWERTOOLS_METRICS_NAMESPACE`
//! (default `ReceiptOcr`), one `service` dimension from
//! `POWERTOOLS_SERVICE_NAME` (default `receipt-ocr`), the function as the
//! `function_name` property, and a `ColdStart` metric once per process,
//! under the `function_name` and `service` dimensions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

pub const DEFAULT_NAMESPACE: &str = "ReceiptOcr";
pub const DEFAULT_SERVICE: &str = "receipt-ocr";

/// Every metric the functions emit (the dashboard and alarms use these).
pub const METRIC_NAMES: &[&str] = &[
    "ColdStart",
    "Processed",
    "Failed",
    "Retried",
    "Refused",
    "ProcessingTime",
    "AgentLatency",
    "Ingested",
    "IngestFailed",
    "IngestRefused",
    "WebhookDelivered",
    "WebhookRetried",
    "WebhookFailed",
    "WebhookLatency",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

#[derive(Debug, Clone)]
enum Sink {
    Off,
    Stdout,
    /// Lines kept in memory (tests).
    Capture(Arc<Mutex<Vec<String>>>),
}

#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    service: String,
    function: &'static str,
    sink: Sink,
}

/// Whether this process has emitted its `ColdStart` yet.
static COLD_START_SEEN: AtomicBool = AtomicBool::new(false);

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        let enabled = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
            || std::env::var("EMF_METRICS")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            namespace: var("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE),
            service: var("POWERTOOLS_SERVICE_NAME", DEFAULT_SERVICE),
            function,
            sink: if enabled { Sink::Stdout } else { Sink::Off },
        }
    }

    pub fn disabled(function: &'static str) -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            service: DEFAULT_SERVICE.to_owned(),
            function,
            sink: Sink::Off,
        }
    }

    /// Metrics whose lines are kept in memory, and those lines.
    pub fn capture(function: &'static str) -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let m = Self {
            sink: Sink::Capture(lines.clone()),
            ..Self::disabled(function)
        };
        (m, lines)
    }

    fn write(&self, line: String) {
        match &self.sink {
            Sink::Off => {}
            Sink::Stdout => println!("{line}"),
            Sink::Capture(lines) => lines.lock().expect("metrics lines").push(line),
        }
    }

    /// Emits the values under the `service` dimension; `properties` are
    /// searchable context (receipt id, …), not metrics.
    pub fn emit(&self, values: &[(&str, f64, Unit)], properties: &[(&str, Value)]) {
        if !matches!(self.sink, Sink::Off) && !values.is_empty() {
            self.write(self.record(&["service"], values, properties, now_millis()));
        }
    }

    /// `ColdStart` = 1, the first time a process calls it (its `main`, once
    /// the function is initialised); later calls do nothing.
    pub fn cold_start(&self) {
        if !matches!(self.sink, Sink::Off) && !COLD_START_SEEN.swap(true, Ordering::SeqCst) {
            self.write(self.record(
                &["function_name", "service"],
                &[("ColdStart", 1.0, Unit::Count)],
                &[],
                now_millis(),
            ));
        }
    }

    /// The EMF document (public for tests).
    pub fn record(
        &self,
        dimensions: &[&str],
        values: &[(&str, f64, Unit)],
        properties: &[(&str, Value)],
        timestamp_ms: u64,
    ) -> String {
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions],
                    "Metrics": values.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u.as_str()})).collect::<Vec<_>>(),
                }],
            }),
        );
        doc.insert("service".into(), json!(self.service));
        doc.insert("function_name".into(), json!(self.function));
        for (k, v) in properties {
            doc.insert((*k).into(), v.clone());
        }
        for (n, v, _) in values {
            doc.insert((*n).into(), json!(v));
        }
        Value::Object(doc).to_string()
    }
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The units CloudWatch knows.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one line against the Embedded Metric Format specification
/// (AWS, "Specification: Embedded metric format"); the first rule broken.
pub fn check_emf(line: &str) -> Result<(), String> {
    let doc: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = doc.as_object().ok_or("the root is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    if !aws.get("Timestamp").is_some_and(Value::is_u64) {
        return Err("_aws.Timestamp is not a number of milliseconds".into());
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    for d in directives {
        check_directive(root, d)?;
    }
    Ok(())
}

/// One `CloudWatchMetrics` directive: its namespace, its dimension sets
/// (each name with a string value at the root) and its metrics (each with
/// a known unit and a number, or up to 100, at the root).
fn check_directive(root: &serde_json::Map<String, Value>, d: &Value) -> Result<(), String> {
    let ns = d["Namespace"]
        .as_str()
        .ok_or("a directive has no Namespace")?;
    if ns.is_empty() || ns.len() > 255 || ns.starts_with(':') {
        return Err(format!("bad namespace {ns:?}"));
    }
    let sets = d["Dimensions"]
        .as_array()
        .ok_or("Dimensions is not an array")?;
    for set in sets {
        let set = set.as_array().ok_or("a dimension set is not an array")?;
        if set.len() > 30 {
            return Err("more than 30 dimensions in a set".into());
        }
        for dim in set {
            let name = dim.as_str().ok_or("a dimension name is not a string")?;
            match root.get(name) {
                Some(Value::String(v)) if !v.is_empty() && v.len() <= 1024 => {}
                _ => return Err(format!("dimension {name} has no string value at the root")),
            }
        }
    }
    let metrics = d["Metrics"].as_array().ok_or("Metrics is not an array")?;
    if metrics.len() > 100 {
        return Err("more than 100 metrics in a directive".into());
    }
    for m in metrics {
        let name = m["Name"].as_str().ok_or("a metric has no Name")?;
        if name.is_empty() || name.len() > 255 {
            return Err(format!("bad metric name {name:?}"));
        }
        if let Some(unit) = m.get("Unit")
            && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
        {
            return Err(format!(
                "metric {name} has unit {unit}, not a CloudWatch unit"
            ));
        }
        match root.get(name) {
            Some(Value::Number(_)) => {}
            Some(Value::Array(vs)) if vs.len() <= 100 && vs.iter().all(Value::is_number) => {}
            _ => return Err(format!("metric {name} has no numeric value at the root")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_follow_powertools_conventions_and_the_specification() {
        let m = Metrics::disabled("worker");
        let line = m.record(
            &["service"],
            &[
                ("Processed", 1.0, Unit::Count),
                ("AgentLatency", 640.0, Unit::Milliseconds),
            ],
            &[("receipt_id", json!(17))],
            1_700_000_000_000,
        );
        check_emf(&line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], DEFAULT_NAMESPACE);
        assert_eq!(cw["Dimensions"], json!([["service"]]));
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "AgentLatency", "Unit": "Milliseconds"})
        );
        assert_eq!(v["service"], DEFAULT_SERVICE);
        assert_eq!(v["function_name"], "worker");
        assert_eq!(v["Processed"], 1.0);
        assert_eq!(v["receipt_id"], 17);
    }

    #[test]
    fn the_checker_refuses_what_the_specification_forbids() {
        let ok = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["service"]],"Metrics":[{"Name":"X","Unit":"Count"}]}]},"service":"s","X":1}"#;
        check_emf(ok).unwrap();
        for bad in [
            ok.replace(r#""service":"s","#, ""),  // dimension without a value
            ok.replace(r#","X":1"#, ""),          // metric without a value
            ok.replace(r#""X":1"#, r#""X":"1""#), // metric value not a number
            ok.replace("Count", "Things"),        // not a CloudWatch unit
            ok.replace(r#""Timestamp":1,"#, ""),  // no timestamp
            ok.replace(r#""Namespace":"N","#, ""),
        ] {
            assert!(check_emf(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cold_start_is_emitted_once_per_process() {
        let (m, lines) = Metrics::capture("api");
        m.cold_start();
        m.cold_start();
        Metrics::capture("api").0.cold_start();
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        check_emf(&lines[0]).unwrap();
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["ColdStart"], 1.0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["function_name", "service"]])
        );
        assert_eq!(v["function_name"], "api");
    }
}
