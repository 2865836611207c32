//! `datahooks`: the binary. Parses the command line, opens the store and runs a command.

mod cli;
mod config;
mod telemetry;

use std::io::IsTerminal;

use clap::Parser;

/// mimalloc (its v2, without transparent huge pages) instead of glibc's malloc: the delivery
/// path allocates small buffers on many threads (requests, payloads, rows), and glibc's malloc
/// was ~10 % of the server's time in perf. Measured (`datahooks-bench`): SQLite e2e +20 %
/// events/s at 0.14 ms of CPU per event (was 0.18); peak RSS a few MiB higher and still under
/// 64 MiB. Without `no_thp` and `v2`, peak RSS rose by 40 MiB in the fan-out runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Store calls run on blocking threads; a small pool keeps memory flat under load (each
    // thread brings its own stack and allocator arena) and is plenty for SQLite's one writer
    // and four readers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build();
    match runtime {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    let args = config::Cli::parse();
    // Colour codes only for a person at a terminal: in a file, a pipe or a journal they are
    // noise. `NO_COLOR` (https://no-color.org) turns them off at a terminal too.
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let (format, traces) = match &args.command {
        config::Command::Serve(s) => (s.log_format, true),
        _ => (config::LogFormat::Text, false),
    };
    // Only `serve` exports traces (when OTEL_EXPORTER_OTLP_ENDPOINT is set).
    let telemetry = match telemetry::init(format, ansi, traces) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = cli::run(args).await;
    if let Some(t) = telemetry {
        t.shutdown().await;
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
