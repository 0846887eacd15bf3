//! What every subcommand hands back: a table for people, the same figures as JSON for
//! scripts, and the errors it met (any error makes the exit status non-zero).

use serde_json::{json, Map, Value};
use std::fmt::Display;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How many error messages are kept as examples; the rest are only counted.
const SAMPLES: usize = 20;

/// Errors counted across tasks, with the first few messages kept.
#[derive(Default)]
pub struct Errors {
    count: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Errors {
    pub fn record(&self, what: impl Display) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap();
        if samples.len() < SAMPLES {
            samples.push(what.to_string());
        }
    }

    /// Counts an error without keeping its message.
    pub fn count_only(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn samples(&self) -> Vec<String> {
        self.samples.lock().unwrap().clone()
    }
}

pub struct Report {
    pub title: String,
    rows: Vec<(String, String)>,
    json: Map<String, Value>,
    pub errors: u64,
    error_samples: Vec<String>,
}

impl Report {
    pub fn new(title: &str) -> Report {
        let mut json = Map::new();
        json.insert("benchmark".into(), json!(title));
        Report {
            title: title.to_string(),
            rows: Vec::new(),
            json,
            errors: 0,
            error_samples: Vec::new(),
        }
    }

    /// A row of the table (`shown`) that is also a JSON field (`key`: `value`).
    pub fn add(&mut self, key: &str, shown: impl Display, value: impl Into<Value>) {
        self.rows.push((key.replace('_', " "), shown.to_string()));
        self.json.insert(key.to_string(), value.into());
    }

    /// A number shown with `decimals` and a unit.
    pub fn number(&mut self, key: &str, value: f64, decimals: usize, unit: &str) {
        let shown = format!("{value:.decimals$} {unit}");
        self.add(key, shown.trim_end(), value);
    }

    pub fn count(&mut self, key: &str, value: u64) {
        self.add(key, value, value);
    }

    /// A JSON-only field (parameters, raw samples).
    pub fn field(&mut self, key: &str, value: impl Into<Value>) {
        self.json.insert(key.to_string(), value.into());
    }

    pub fn set_errors(&mut self, errors: &Errors) {
        self.errors = errors.count();
        self.error_samples = errors.samples();
    }

    pub fn print(&self) {
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        println!("{}", self.title);
        for (key, value) in &self.rows {
            println!("  {key:<width$}  {value}");
        }
        println!("  {:<width$}  {}", "errors", self.errors);
        for sample in &self.error_samples {
            println!("    {sample}");
        }
    }

    pub fn to_json(&self) -> Value {
        let mut json = self.json.clone();
        json.insert("errors".into(), json!(self.errors));
        json.insert("error_samples".into(), json!(self.error_samples));
        Value::Object(json)
    }

    pub fn write_json(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(&self.to_json()).unwrap() + "\n";
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// The nearest-rank percentile `p` (0-100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Percentiles of durations in milliseconds, as table rows and JSON fields `<key>_p50_ms`...
pub fn latency_rows(report: &mut Report, key: &str, samples: &[Duration]) {
    let mut ms: Vec<f64> = samples.iter().map(|d| millis(*d)).collect();
    ms.sort_by(f64::total_cmp);
    for (name, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
        report.number(&format!("{key}_{name}_ms"), percentile(&ms, p), 3, "ms");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&values, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 90.0), 7.0);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
