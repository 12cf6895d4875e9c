//! A tiny run of the harness on SQLite: checks the JSON it writes, never
//! its speed.

use std::process::Command;

#[test]
fn drain_and_enqueue_on_sqlite_write_the_report_shape() {
    let out =
        std::env::temp_dir().join(format!("asynctasq-bench-smoke-{}.json", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_asynctasq-bench"))
        .args([
            "all", "--driver", "sqlite", "--jobs", "300", "--single", "20",
        ])
        .args([
            "--seconds",
            "1",
            "--rate",
            "50",
            "--samples",
            "5",
            "--reps",
            "3",
        ])
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run the harness");
    assert!(status.success(), "the harness failed: {status}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("report")).expect("json");
    let _ = std::fs::remove_file(&out);
    assert!(run["run_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(run["machine"]["nproc"].is_string());
    let reports = run["reports"].as_array().expect("reports");
    let scenarios: Vec<&str> = reports
        .iter()
        .map(|r| r["scenario"].as_str().expect("scenario"))
        .collect();
    assert_eq!(scenarios, ["drain", "enqueue", "e2e", "idle", "orm"]);
    for report in reports {
        assert_eq!(report["system"], "asynctasq");
        assert_eq!(report["driver"], "sqlite");
        assert!(report["error"].is_null(), "{report}");
        let metrics = report["metrics"].as_array().expect("metrics");
        assert!(!metrics.is_empty());
        for m in metrics {
            assert!(m["name"].is_string() && m["unit"].is_string());
            assert!(m["value"].as_f64().is_some_and(f64::is_finite), "{m}");
            assert!(["higher", "lower", "info"].contains(&m["better"].as_str().unwrap()));
        }
    }
    let drain = &reports[0];
    assert!(
        drain["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "jobs_per_sec")
    );
}

#[test]
fn limit_on_sqlite_reports_both_rates_and_their_ratio() {
    let out = std::env::temp_dir().join(format!(
        "asynctasq-bench-smoke-limit-{}.json",
        std::process::id()
    ));
    let status = Command::new(env!("CARGO_BIN_EXE_asynctasq-bench"))
        .args(["limit", "--driver", "sqlite", "--jobs", "300", "--out"])
        .arg(&out)
        .status()
        .expect("run the harness");
    assert!(status.success(), "the harness failed: {status}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("report")).expect("json");
    let _ = std::fs::remove_file(&out);
    let report = &run["reports"][0];
    assert_eq!(report["scenario"], "limit");
    assert!(report["error"].is_null(), "{report}");
    let metric = |name: &str| {
        report["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["value"].as_f64())
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    let (limit, drain) = (metric("limit_jobs_per_sec"), metric("drain_jobs_per_sec"));
    assert!(limit > 0.0 && drain > 0.0, "{report}");
    assert!((metric("drain_over_limit") - drain / limit).abs() < 1e-9);
}
