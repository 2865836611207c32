//! Runs `datahooks-bench --quick --json` against the debug `datahooks` binary so the
//! benchmark cannot rot: every scenario must produce positive figures and deliver every
//! event.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The `datahooks` binary beside the bench binary (same target dir and profile).
fn server_bin() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_datahooks-bench"));
    let Some(dir) = bench.parent() else {
        panic!("{} has no directory", bench.display())
    };
    let server = dir.join(format!("datahooks{}", std::env::consts::EXE_SUFFIX));
    assert!(
        server.is_file(),
        "{} is missing: run `cargo build --workspace` first (the bench drives the real server binary)",
        server.display()
    );
    server
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

#[test]
fn quick_run_measures_every_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_datahooks-bench"))
        .args(["--quick", "--json", "--all", "--server-bin"])
        .arg(server_bin())
        .output()
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let report: Value = serde_json::from_str(&stdout).expect("one JSON object on stdout");
    assert_eq!(report["ok"], Value::Bool(true), "{report:#}");
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    let runs = report["runs"].as_array().expect("runs");
    let scenarios: Vec<&str> = runs.iter().filter_map(|r| r["scenario"].as_str()).collect();
    for s in ["ingest", "e2e", "latency", "fanout", "isolation", "backlog"] {
        assert!(scenarios.contains(&s), "no {s} run in {scenarios:?}");
    }
    for r in runs {
        let name = r["name"].as_str().unwrap_or("?");
        assert_eq!(r["complete"], Value::Bool(true), "{name}: {r:#}");
        assert!(num(r, "events") > 0.0, "{name}");
        assert_eq!(num(r, "accepted"), num(r, "events"), "{name}: all accepted");
        assert_eq!(num(r, "send_errors"), 0.0, "{name}");
        assert_eq!(
            num(r, "delivered"),
            num(r, "expected_deliveries"),
            "{name}: all delivered"
        );
        assert!(num(r, "rate_per_s") > 0.0, "{name}: rate");
        assert!(num(r, "seconds") > 0.0, "{name}: seconds");
        let server = &r["server"];
        assert!(num(server, "peak_rss_mib") > 0.0, "{name}: RSS");
        assert!(num(server, "cpu_s") > 0.0, "{name}: CPU");
        assert!(
            num(server, "cpu_ms_per_event") > 0.0,
            "{name}: CPU per event"
        );
        if r["scenario"] != "ingest" {
            assert!(
                num(r, "expected_deliveries") > 0.0,
                "{name}: deliveries expected"
            );
        }
        if matches!(r["scenario"].as_str(), Some("latency" | "isolation")) {
            let l = &r["latency_commit_ms"];
            assert_eq!(
                num(l, "count"),
                num(r, "accepted"),
                "{name}: latency samples"
            );
            assert!(num(l, "max_ms") >= num(l, "p99_ms"), "{name}");
            assert!(num(&r["latency_send_ms"], "p50_ms") > 0.0, "{name}");
        }
    }
}
