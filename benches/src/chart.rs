//! A bar chart of jobs/s per driver, asynctasq vs apalis, written as plain
//! SVG (no fonts or system libraries needed to produce it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::report::{Report, Run, median, read_run};

/// One panel: a metric of one scenario, per driver.
struct Panel {
    title: &'static str,
    scenario: &'static str,
    metric: &'static str,
}

const PANELS: &[Panel] = &[
    Panel {
        title: "Drain: no-op jobs run by one worker",
        scenario: "drain",
        metric: "jobs_per_sec",
    },
    Panel {
        title: "Bulk enqueue (dispatch_many / push_bulk)",
        scenario: "enqueue",
        metric: "bulk.jobs_per_sec",
    },
    Panel {
        title: "Single enqueue (one dispatch per call)",
        scenario: "enqueue",
        metric: "single.jobs_per_sec",
    },
];

/// The order drivers appear in.
const DRIVERS: &[&str] = &["sqlite", "postgres", "mysql", "redis", "redis-cluster"];

/// One driver's bars: its name, asynctasq's value, apalis's value.
type Group = (String, Option<f64>, Option<f64>);

/// `(asynctasq, apalis)` medians per driver for a scenario's metric.
fn values(runs: &[Run], panel: &Panel) -> Vec<Group> {
    let mut by: BTreeMap<(String, String), Vec<Report>> = BTreeMap::new();
    for run in runs {
        for r in &run.reports {
            if r.scenario == panel.scenario {
                by.entry((r.driver.clone(), r.system.clone()))
                    .or_default()
                    .push(r.clone());
            }
        }
    }
    let get = |driver: &str, system: &str| {
        by.get(&(driver.to_string(), system.to_string()))
            .and_then(|rs| median(rs))
            .and_then(|r| r.get(panel.metric))
    };
    DRIVERS
        .iter()
        .filter_map(|d| {
            let ours = get(d, "asynctasq");
            let theirs = get(d, "apalis");
            (ours.is_some() || theirs.is_some()).then(|| (d.to_string(), ours, theirs))
        })
        .collect()
}

fn short(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.2}M", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

/// A round axis maximum above `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v * 1.15 {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

const OURS: &str = "#2563eb";
const THEIRS: &str = "#f59e0b";

/// Renders the chart for `runs`, with `caption` under the title.
pub fn render(runs: &[Run], caption: &str) -> String {
    let panels: Vec<(&Panel, Vec<Group>)> = PANELS
        .iter()
        .map(|p| (p, values(runs, p)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let panel_w = 400.0;
    let panel_h = 330.0;
    let width = 40.0 + panel_w * panels.len().max(1) as f64;
    let height = panel_h + 110.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="28" font-size="18" font-weight="bold">asynctasq vs apalis 1.0 — jobs/s, same machine, same run (higher is better)</text>
<text x="20" y="48" font-size="12" fill="#555">{}</text>
<rect x="{}" y="60" width="12" height="12" fill="{OURS}"/><text x="{}" y="71" font-size="12">asynctasq</text>
<rect x="{}" y="60" width="12" height="12" fill="{THEIRS}"/><text x="{}" y="71" font-size="12">apalis</text>
"##,
        escape(caption),
        20.0,
        36.0,
        120.0,
        136.0
    );
    for (i, (panel, groups)) in panels.iter().enumerate() {
        let x0 = 40.0 + panel_w * i as f64;
        let y0 = 90.0;
        draw_panel(
            &mut svg,
            x0,
            y0,
            panel_w - 30.0,
            panel_h,
            panel.title,
            groups,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, x0: f64, y0: f64, w: f64, h: f64, title: &str, groups: &[Group]) {
    let top = y0 + 40.0;
    let bottom = y0 + h - 30.0;
    let max = groups
        .iter()
        .flat_map(|(_, a, b)| [a.unwrap_or(0.0), b.unwrap_or(0.0)])
        .fold(0.0, f64::max);
    let axis_max = nice_max(max);
    let y = |v: f64| bottom - (bottom - top) * v / axis_max;
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        x0,
        y0 + 14.0,
        escape(title)
    );
    for k in 0..=4 {
        let v = axis_max * f64::from(k) / 4.0;
        let yy = y(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{x0}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#666" text-anchor="end">{}</text>"##,
            x0 + w,
            x0 - 4.0,
            yy + 3.0,
            short(v)
        );
    }
    let group_w = w / groups.len().max(1) as f64;
    let bar_w = (group_w * 0.32).min(48.0);
    for (g, (driver, ours, theirs)) in groups.iter().enumerate() {
        let cx = x0 + group_w * (g as f64 + 0.5);
        for (value, color, dx) in [(ours, OURS, -bar_w - 2.0), (theirs, THEIRS, 2.0)] {
            let bx = cx + dx;
            match value {
                Some(v) => {
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{bx:.1}" y="{:.1}" width="{bar_w:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                        y(*v),
                        bottom - y(*v),
                        bx + bar_w / 2.0,
                        y(*v) - 3.0,
                        short(*v)
                    );
                }
                None => {
                    let _ = writeln!(
                        svg,
                        r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#999" text-anchor="middle">n/a</text>"##,
                        bx + bar_w / 2.0,
                        bottom - 4.0
                    );
                }
            }
        }
        if let (Some(a), Some(b)) = (ours, theirs)
            && *b > 0.0
        {
            let _ = writeln!(
                svg,
                r#"<text x="{cx:.1}" y="{:.1}" font-size="12" font-weight="bold" text-anchor="middle">{:.1}×</text>"#,
                top - 8.0,
                a / b
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            bottom + 16.0,
            escape(driver)
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{x0}" y1="{bottom}" x2="{:.1}" y2="{bottom}" stroke="#333"/>"##,
        x0 + w
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Reads run files and writes the chart to `out`.
pub fn write(files: &[impl AsRef<Path>], out: &Path, caption: &str) -> anyhow::Result<()> {
    let runs = files
        .iter()
        .map(|f| read_run(f.as_ref()))
        .collect::<anyhow::Result<Vec<Run>>>()?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, render(&runs, caption))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Better;

    #[test]
    fn renders_bars_and_ratios() {
        let mut ours = Report::new("drain", "sqlite");
        ours.metric("jobs_per_sec", 30_000.0, "jobs/s", Better::Higher);
        let mut theirs = ours.clone();
        theirs.system = "apalis".into();
        theirs.metrics[0].value = 10_000.0;
        let run = Run {
            run_id: "x".into(),
            started_at: String::new(),
            command: String::new(),
            machine: BTreeMap::new(),
            reports: vec![ours, theirs],
            comparisons: Vec::new(),
        };
        let svg = render(&[run], "test & caption");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("3.0×"));
        assert!(svg.contains("30k"));
        assert!(svg.contains("test &amp; caption"));
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(61_000.0), 100_000.0);
        assert_eq!(nice_max(30_000.0), 50_000.0);
    }
}
