//! What a run measures and how it is written: one [`Report`] per system and
//! scenario, the same JSON shape for asynctasq and the apalis peer, a plain
//! text table, and side-by-side comparisons.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughput: more is better.
    Higher,
    /// Latency, size: less is better.
    Lower,
    /// A diagnostic figure with no direction.
    Info,
}

/// One measured figure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Metric {
    /// A stable name, e.g. `jobs_per_sec`, `single.p99_ms`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit, e.g. `jobs/s`, `ms`, `bytes`.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
}

/// What one system measured in one scenario on one driver. The apalis peer
/// writes the same shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// `asynctasq` or `apalis`.
    pub system: String,
    /// The system's version.
    pub version: String,
    /// The scenario (`drain`, `enqueue`, ...).
    pub scenario: String,
    /// The driver (`sqlite`, `postgres`, `redis`, ...).
    pub driver: String,
    /// The parameters it ran with (jobs, concurrency, batch sizes, ...).
    pub params: BTreeMap<String, serde_json::Value>,
    /// The figures, in display order.
    pub metrics: Vec<Metric>,
    /// Remarks worth keeping with the numbers.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Set when the scenario failed; the metrics are then partial or empty.
    #[serde(default)]
    pub error: Option<String>,
}

impl Report {
    /// An empty report for asynctasq.
    pub fn new(scenario: &str, driver: &str) -> Self {
        Report {
            system: "asynctasq".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            scenario: scenario.into(),
            driver: driver.into(),
            params: BTreeMap::new(),
            metrics: Vec::new(),
            notes: Vec::new(),
            error: None,
        }
    }

    /// Records a parameter.
    pub fn param(&mut self, name: &str, value: impl Serialize) {
        self.params.insert(
            name.into(),
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        );
    }

    /// Records a metric.
    pub fn metric(&mut self, name: &str, value: f64, unit: &str, better: Better) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            unit: unit.into(),
            better,
        });
    }

    /// Records a remark.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// The value of metric `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }
}

/// One metric measured by both systems in the same run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    /// The scenario.
    pub scenario: String,
    /// The driver.
    pub driver: String,
    /// The metric's name.
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// asynctasq's value.
    pub asynctasq: f64,
    /// apalis's value.
    pub apalis: f64,
    /// How many times better asynctasq is (above 1) or worse (below 1):
    /// `asynctasq / apalis` for throughput, `apalis / asynctasq` for latency.
    pub advantage: f64,
}

/// Everything one invocation of the harness produced: the file under `target/bench/`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    /// A short random id, also part of queue names and key prefixes.
    pub run_id: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// The command line.
    pub command: String,
    /// The machine and server versions.
    pub machine: BTreeMap<String, String>,
    /// One report per system, scenario and round.
    pub reports: Vec<Report>,
    /// asynctasq vs apalis, metric by metric.
    #[serde(default)]
    pub comparisons: Vec<Comparison>,
}

/// Pairs asynctasq's and apalis's reports of the same scenario and driver,
/// metric by metric.
pub fn compare(ours: &Report, theirs: &Report) -> Vec<Comparison> {
    ours.metrics
        .iter()
        .filter(|m| m.better != Better::Info)
        .filter_map(|m| {
            let other = theirs.get(&m.name)?;
            let advantage = match m.better {
                Better::Higher if other > 0.0 => m.value / other,
                Better::Lower if m.value > 0.0 => other / m.value,
                _ => f64::NAN,
            };
            Some(Comparison {
                scenario: ours.scenario.clone(),
                driver: ours.driver.clone(),
                metric: m.name.clone(),
                unit: m.unit.clone(),
                asynctasq: m.value,
                apalis: other,
                advantage,
            })
        })
        .collect()
}

/// The median report of several rounds: each metric is the median of its
/// values (rounds that failed are left out).
pub fn median(reports: &[Report]) -> Option<Report> {
    let ok: Vec<&Report> = reports.iter().filter(|r| r.error.is_none()).collect();
    let first = ok.first().copied().or(reports.first())?;
    let mut out = first.clone();
    if ok.len() > 1 {
        for metric in &mut out.metrics {
            let mut values: Vec<f64> = ok.iter().filter_map(|r| r.get(&metric.name)).collect();
            values.sort_by(f64::total_cmp);
            metric.value = values[values.len() / 2];
        }
        out.note(format!("median of {} rounds", ok.len()));
    }
    Some(out)
}

/// Formats a number for a table: thousands separators for large values,
/// three significant decimals for small ones.
pub fn human(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    if value.abs() >= 1000.0 {
        let rounded = value.round() as i64;
        let digits = rounded.abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if rounded < 0 {
            out.insert(0, '-');
        }
        out
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// How many times better `m` is than the peer's value `other`, as `1.23×`
/// (`None` for diagnostics and missing values).
pub fn advantage(m: &Metric, other: Option<f64>) -> Option<String> {
    match (other, m.better) {
        (Some(o), Better::Higher) if o > 0.0 => Some(format!("{:.2}×", m.value / o)),
        (Some(o), Better::Lower) if m.value > 0.0 => Some(format!("{:.2}×", o / m.value)),
        _ => None,
    }
}

/// A table of one report, or of two side by side with the advantage.
pub fn table(ours: &Report, theirs: Option<&Report>) -> String {
    let mut rows: Vec<[String; 5]> = Vec::new();
    for m in &ours.metrics {
        let other = theirs.and_then(|t| t.get(&m.name));
        let advantage = advantage(m, other).unwrap_or_default();
        rows.push([
            m.name.clone(),
            m.unit.clone(),
            human(m.value),
            other.map(human).unwrap_or_default(),
            advantage,
        ]);
    }
    let header = if theirs.is_some() {
        ["metric", "unit", "asynctasq", "apalis", "advantage"]
    } else {
        ["metric", "unit", "asynctasq", "", ""]
    };
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== {} on {} {}",
        ours.scenario,
        ours.driver,
        params_line(ours)
    );
    let line = |cells: &[String; 5]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i < 2 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&header.map(String::from)));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    for report in std::iter::once(ours).chain(theirs) {
        if let Some(e) = &report.error {
            let _ = writeln!(out, "  {} FAILED: {e}", report.system);
        }
        for n in &report.notes {
            let _ = writeln!(out, "  {}: {n}", report.system);
        }
    }
    out
}

fn params_line(report: &Report) -> String {
    let text = params_text(report);
    if text.is_empty() {
        String::new()
    } else {
        format!("({text})")
    }
}

/// A report's parameters as `name=value, …`.
pub fn params_text(report: &Report) -> String {
    report
        .params
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a run file written by [`write_run`].
pub fn read_run(path: &Path) -> anyhow::Result<Run> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Writes `run` as pretty JSON to `path`, creating its directory.
pub fn write_run(run: &Run, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(run)? + "\n")?;
    Ok(())
}

/// `target/bench/<scenario>-<driver>-<run id>.json` under the workspace.
pub fn default_path(workspace: &Path, scenario: &str, driver: &str, run_id: &str) -> PathBuf {
    workspace
        .join("target")
        .join("bench")
        .join(format!("{scenario}-{driver}-{run_id}.json"))
}

/// Percentiles of a sample, in the sample's unit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Nearest-rank percentiles of `samples` (sorted in place). Zeroes when empty.
pub fn percentiles(samples: &mut [f64]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = (q * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1]
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: samples[samples.len() - 1],
        mean: samples.iter().sum::<f64>() / samples.len() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let p = percentiles(&mut v);
        assert_eq!((p.p50, p.p99, p.p999, p.max), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(percentiles(&mut []).p50, 0.0);
    }

    #[test]
    fn comparisons_point_the_right_way() {
        let mut ours = Report::new("drain", "sqlite");
        ours.metric("jobs_per_sec", 300.0, "jobs/s", Better::Higher);
        ours.metric("p50_ms", 1.0, "ms", Better::Lower);
        ours.metric("claims", 7.0, "", Better::Info);
        let mut theirs = ours.clone();
        theirs.system = "apalis".into();
        theirs.metrics[0].value = 100.0;
        theirs.metrics[1].value = 4.0;
        let c = compare(&ours, &theirs);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].advantage, 3.0);
        assert_eq!(c[1].advantage, 4.0);
        assert!(table(&ours, Some(&theirs)).contains("3.00×"));
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(61234.4), "61,234");
        assert_eq!(human(1.23456), "1.235");
        assert_eq!(human(f64::NAN), "–");
    }
}
