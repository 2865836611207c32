//! `datahooks-bench`: a reproducible benchmark of datahooks. Each scenario starts the server
//! on a fresh temp store and a loopback receiver, drives load through the real HTTP API and
//! prints a table per run (or, with `--json`, one JSON object), with the server's peak RSS
//! and CPU time.

mod api;
mod cli;
mod clock;
mod fragile;
mod load;
mod procstats;
mod receiver;
mod report;
mod scenario;
mod server;
mod stats;
mod wait;

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use crate::cli::Args;
use crate::scenario::Ctx;
use crate::server::ServerOpts;

#[tokio::main]
async fn main() -> ExitCode {
    clock::init();
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the scenarios asked for and prints the results; `Ok(false)` if any failed or was
/// incomplete.
async fn run(args: Args) -> anyhow::Result<bool> {
    let bin = server::locate(args.server_bin.as_deref())?;
    let mut ctx = Ctx {
        opts: ServerOpts {
            bin: bin.clone(),
            database_url: args.database_url.clone(),
            tmp_root: args.tmp_dir.clone(),
        },
        sizes: args.sizes(),
        baseline_p99_ms: None,
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load_before = procstats::load_average();
    eprintln!("server: {}", bin.display());
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    for s in args.scenarios() {
        match scenario::run(&mut ctx, s).await {
            Ok(mut r) => {
                if !args.json {
                    for run in &r {
                        println!("{}", report::block(run));
                    }
                }
                runs.append(&mut r);
            }
            Err(e) => {
                eprintln!("{}: failed: {e:#}", s.name());
                errors.push(json!({"scenario": s.name(), "error": format!("{e:#}")}));
            }
        }
    }
    let load_after = procstats::load_average();
    let ok = errors.is_empty() && runs.iter().all(|r| r.complete);
    if args.json {
        let out = json!({
            "tool": "datahooks-bench",
            "version": env!("CARGO_PKG_VERSION"),
            "quick": args.quick,
            "cores": cores,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "server_bin": bin.display().to_string(),
            "store": match &args.database_url {
                None => "sqlite (embedded, default data dir file)".to_owned(),
                Some(u) => u.split(':').next().unwrap_or("").to_owned(),
            },
            "sizes": ctx.sizes,
            "runs": runs,
            "errors": errors,
            "ok": ok,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", report::summary(&runs));
        let show = |l: Option<f64>| l.map_or("?".to_owned(), |l| format!("{l:.2}"));
        println!(
            "machine: {cores} cores; 1-min load average {} before, {} after (the bench, server and receiver share these cores)",
            show(load_before),
            show(load_after)
        );
    }
    Ok(ok)
}
