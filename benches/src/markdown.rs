//! The tables of `docs/performance.md`: every scenario of some run files
//! as Markdown, medians across rounds, asynctasq and apalis side by side.

use std::fmt::Write as _;
use std::path::Path;

use crate::report::{Report, Run, human, median, params_text, read_run};

/// Markdown tables for the run files `files`, in their order.
pub fn tables(files: &[impl AsRef<Path>]) -> anyhow::Result<String> {
    let mut out = String::new();
    for file in files {
        let path = file.as_ref();
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        out.push_str(&render(&read_run(path)?, &name));
    }
    Ok(out)
}

/// The tables of one run, read from the file `name`: one per scenario and
/// driver, in order of first appearance.
fn render(run: &Run, name: &str) -> String {
    let mut out = String::new();
    let mut groups: Vec<(&str, &str)> = Vec::new();
    for r in &run.reports {
        let key = (r.scenario.as_str(), r.driver.as_str());
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    for (scenario, driver) in groups {
        let of = |system: &str| -> Vec<Report> {
            run.reports
                .iter()
                .filter(|r| r.scenario == scenario && r.driver == driver && r.system == system)
                .cloned()
                .collect()
        };
        let Some(ours) = median(&of("asynctasq")) else {
            continue;
        };
        let theirs = median(&of("apalis"));
        table(&mut out, &ours, theirs.as_ref(), name);
    }
    out
}

/// One scenario's table, with its heading line.
fn table(out: &mut String, ours: &Report, theirs: Option<&Report>, file: &str) {
    let _ = writeln!(
        out,
        "**{} — {}** ({}; file `{file}`)\n",
        ours.scenario,
        ours.driver,
        params_text(ours)
    );
    let compared = theirs.filter(|t| !t.metrics.is_empty());
    if compared.is_some() {
        let _ = writeln!(out, "| metric | unit | asynctasq | apalis | advantage |");
        let _ = writeln!(out, "|---|---|--:|--:|--:|");
    } else {
        let _ = writeln!(out, "| metric | unit | asynctasq |");
        let _ = writeln!(out, "|---|---|--:|");
    }
    for m in &ours.metrics {
        match compared {
            Some(t) => {
                let other = t.get(&m.name);
                let advantage = crate::report::advantage(m, other).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    m.name,
                    m.unit,
                    human(m.value),
                    other.map(human).unwrap_or_default(),
                    advantage
                );
            }
            None => {
                let _ = writeln!(out, "| {} | {} | {} |", m.name, m.unit, human(m.value));
            }
        }
    }
    let mut remarks = Vec::new();
    for report in std::iter::once(ours).chain(theirs) {
        if let Some(e) = &report.error {
            remarks.push(format!("{} failed: `{e}`", report.system));
        }
        for note in &report.notes {
            remarks.push(format!("{}: {note}", report.system));
        }
    }
    if !remarks.is_empty() {
        let _ = writeln!(out, "\n{}", remarks.join("; "));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::Better;

    #[test]
    fn tables_put_medians_side_by_side() {
        let round = |system: &str, jobs_per_sec: f64| {
            let mut r = Report::new("drain", "redis");
            r.system = system.into();
            r.param("jobs", 7000);
            r.metric("jobs_per_sec", jobs_per_sec, "jobs/s", Better::Higher);
            if system == "asynctasq" {
                r.metric("claim.busy", 150.0, "% of wall", Better::Info);
            }
            r
        };
        let run = Run {
            run_id: "x".into(),
            started_at: String::new(),
            command: String::new(),
            machine: BTreeMap::new(),
            reports: vec![
                round("asynctasq", 60_000.0),
                round("apalis", 30_000.0),
                round("asynctasq", 90_000.0),
                round("apalis", 45_000.0),
                round("asynctasq", 75_000.0),
                round("apalis", 10_000.0),
            ],
            comparisons: Vec::new(),
        };
        let md = render(&run, "redis-drain.json");
        assert!(md.starts_with("**drain — redis** (jobs=7000; file `redis-drain.json`)"));
        assert!(md.contains("| jobs_per_sec | jobs/s | 75,000 | 30,000 | 2.50× |"));
        assert!(md.contains("| claim.busy | % of wall | 150 |  |  |"));
        assert!(md.contains("asynctasq: median of 3 rounds"));
    }
}
