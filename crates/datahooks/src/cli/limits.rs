//! The connection limits of `serve`, from its flags, and the descriptor limit they need.

use std::time::Duration;

use datahooks_server::conn::ConnLimits;

use crate::config::ServeArgs;

/// Descriptors kept for everything but client connections: the database, asset files,
/// outbound deliveries (`--worker-concurrency` is added on top).
const RESERVED_FDS: u64 = 256;

/// The limits asked for, with `--max-connections` lowered (and a warning) when the process
/// cannot open that many descriptors even after raising its soft limit to the hard one.
pub fn conn_limits(args: &ServeArgs) -> anyhow::Result<ConnLimits> {
    let secs = |name: &str, v: f64| -> anyhow::Result<Duration> {
        anyhow::ensure!(
            v.is_finite() && v > 0.0 && v <= 86_400.0,
            "--{name} must be a number of seconds between 0 and 86400"
        );
        Ok(Duration::from_secs_f64(v))
    };
    let mut max_connections = args.max_connections.max(1);
    if let Some(fds) = raise_fd_limit() {
        let spare = fds.saturating_sub(RESERVED_FDS + args.worker_concurrency as u64);
        let spare = usize::try_from(spare).unwrap_or(usize::MAX).max(1);
        if spare < max_connections {
            tracing::warn!(
                asked = max_connections,
                allowed = spare,
                fd_limit = fds,
                "--max-connections lowered to fit the open-file limit (raise `ulimit -n`)"
            );
            max_connections = spare;
        }
    }
    Ok(ConnLimits {
        max_connections,
        header_timeout: secs("header-timeout", args.header_timeout)?,
        idle_timeout: secs("idle-timeout", args.idle_timeout)?,
        body_timeout: secs("body-timeout", args.body_timeout)?,
    })
}

/// Raises the soft limit on open files to the hard one; returns the limit now in force.
#[cfg(unix)]
fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_some() && limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    limit.current
}

#[cfg(not(unix))]
fn raise_fd_limit() -> Option<u64> {
    None
}
