//! CloudWatch Embedded Metric Format: one JSON line on stdout per record,
//! which CloudWatch Logs turns into metrics without any API call.
//! Written on Lambda, or anywhere with `EMF_METRICS=1`.

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "ReceiptOcr";

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
pub struct Metrics {
    function: &'static str,
    enabled: bool,
}

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        let enabled = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
            || std::env::var("EMF_METRICS")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        Self { function, enabled }
    }

    pub fn disabled(function: &'static str) -> Self {
        Self {
            function,
            enabled: false,
        }
    }

    /// Emits the values under the `Function` dimension; `properties` are
    /// searchable context (receipt id, …), not metrics.
    pub fn emit(&self, values: &[(&str, f64, Unit)], properties: &[(&str, Value)]) {
        if self.enabled && !values.is_empty() {
            println!("{}", self.record(values, properties, now_millis()));
        }
    }

    /// The EMF document (public for tests).
    pub fn record(
        &self,
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
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Function"]],
                    "Metrics": values.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u.as_str()})).collect::<Vec<_>>(),
                }],
            }),
        );
        doc.insert("Function".into(), json!(self.function));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_follow_the_embedded_metric_format() {
        let m = Metrics::disabled("worker");
        let line = m.record(
            &[
                ("Processed", 1.0, Unit::Count),
                ("AgentLatency", 640.0, Unit::Milliseconds),
            ],
            &[("receipt_id", json!(17))],
            1_700_000_000_000,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"], json!([["Function"]]));
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "AgentLatency", "Unit": "Milliseconds"})
        );
        assert_eq!(v["Function"], "worker");
        assert_eq!(v["Processed"], 1.0);
        assert_eq!(v["AgentLatency"], 640.0);
        assert_eq!(v["receipt_id"], 17);
    }
}
