//! `datahooks`: the binary. Parses the command line, opens the store and runs a command.

mod cli;
mod config;

use std::io::IsTerminal;

use clap::Parser;

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
    // `RUST_LOG` when set and valid, else `info`.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = match &args.command {
        config::Command::Serve(s) => s.log_format,
        _ => config::LogFormat::Text,
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        config::LogFormat::Text => logs.with_ansi(ansi).init(),
        // Colour codes never go into JSON; spans are listed so a line keeps its request.
        config::LogFormat::Json => logs.json().with_ansi(false).with_span_list(true).init(),
    }
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
