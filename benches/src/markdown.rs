//! The tables of `docs/performance.md`: every scenario of some run files
//! as Markdown, medians across rounds, asynctasq and apalis side by side.

use std::fmt::Write as _;
use std::path::Path;

use crate::report::{Report, human, median, read_run};

/// Markdown tables for the run files `files`, in their order.
pub fn tables(files: &[impl AsRef<Path>]) -> anyhow::Result<String> {
    let mut out = String::new();
    for file in files {
        let path = file.as_ref();
        let run = read_run(path)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        // (scenario, driver) in order of first appearance.
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
            table(&mut out, &ours, theirs.as_ref(), &name);
        }
    }
    Ok(out)
}

/// One scenario's table, with its heading line.
fn table(out: &mut String, ours: &Report, theirs: Option<&Report>, file: &str) {
    let params: Vec<String> = ours
        .params
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    let _ = writeln!(
        out,
        "**{} — {}** ({}; file `{file}`)\n",
        ours.scenario,
        ours.driver,
        params.join(", ")
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
