//! `idle`: what idle connections cost the server and how soon it closes them.
//!
//! Two runs on a fresh server each: `idle.silent` opens N connections that send nothing,
//! `idle.half-sent` opens N that send the start of a request head and stop. Each reports the
//! server's resident memory (`VmRSS`) before and with the connections open, the KiB per
//! connection, the seconds from the last connection opened until the server had closed them
//! all, and the memory after. Full runs use the server's default timeouts; `--quick` runs
//! set them to 2 s.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::procstats;
use crate::report::Run;
use crate::server::Server;

use super::Ctx;

/// Longest wait for the server to close every connection.
const CLOSE_WAIT: Duration = Duration::from_secs(120);
/// Connections opened at once while setting up.
const OPEN_BATCH: usize = 32;

/// Both runs.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<Vec<Run>> {
    let n = ctx.sizes.idle_connections;
    raise_fd_limit(n)?;
    let mut runs = Vec::new();
    for (name, prefix) in [
        ("idle.silent", &b""[..]),
        (
            "idle.half-sent",
            &b"GET /api/v1/health HTTP/1.1\r\nHost: bench\r\nX-Slow: "[..],
        ),
    ] {
        runs.push(measure(ctx, name, prefix, n).await?);
    }
    Ok(runs)
}

async fn measure(ctx: &Ctx, name: &str, prefix: &[u8], n: usize) -> anyhow::Result<Run> {
    let mut extra = vec!["--max-connections".to_owned(), (n + 64).to_string()];
    if ctx.sizes.quick {
        for flag in ["--header-timeout", "--idle-timeout"] {
            extra.extend([flag.to_owned(), "2".to_owned()]);
        }
    }
    let server = Server::start_with(&ctx.opts, None, &extra).await?;
    let pid = server.pid();
    let addr = server
        .base
        .strip_prefix("http://")
        .context("server URL")?
        .to_owned();
    let what = if prefix.is_empty() {
        format!("{n} connections that send nothing")
    } else {
        format!("{n} connections that send half a request head")
    };
    let mut r = Run::new("idle", name, what);
    r.events = n as u64;
    let fds_before = procstats::open_fds(pid)?;
    let rss_before = procstats::rss_kib(pid)?;

    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let batch = OPEN_BATCH.min(n - conns.len());
        let opened = open_batch(batch, &addr, prefix).await;
        for c in opened {
            match c {
                Ok(s) => conns.push(s),
                Err(e) => {
                    r.send_errors += 1;
                    r.first_error.get_or_insert_with(|| e.to_string());
                    conns.push(None);
                }
            }
        }
    }
    r.accepted = conns.iter().filter(|c| c.is_some()).count() as u64;
    let opened_at = Instant::now();
    // The server has accepted them all once it holds that many more descriptors.
    let want = fds_before + r.accepted as usize;
    while procstats::open_fds(pid)? < want && opened_at.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_open = procstats::rss_kib(pid)?;

    // Each connection waits for the server to close it (end of file or reset).
    let mut waiting = tokio::task::JoinSet::new();
    for mut s in conns.into_iter().flatten() {
        waiting.spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return Instant::now(),
                    Ok(_) => {}
                }
            }
        });
    }
    let mut closed = 0u64;
    let mut last = opened_at;
    let all = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(done) = waiting.join_next().await {
            if let Ok(at) = done {
                closed += 1;
                last = last.max(at);
            }
        }
    })
    .await;
    waiting.abort_all();
    let secs = last.duration_since(opened_at).as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = procstats::rss_kib(pid)?;

    let mib = |kib: u64| kib as f64 / 1024.0;
    r.figure("rss_before_mib", mib(rss_before));
    r.figure("rss_open_mib", mib(rss_open));
    r.figure(
        "kib_per_connection",
        rss_open.saturating_sub(rss_before) as f64 / r.accepted.max(1) as f64,
    );
    r.figure("seconds_until_all_closed", secs);
    r.figure("rss_after_close_mib", mib(rss_after));
    r.rate(closed, secs, "connections closed/s");
    if all.is_err() {
        r.notes.push(format!(
            "{} of {} connections still open after {} s",
            r.accepted - closed,
            r.accepted,
            CLOSE_WAIT.as_secs()
        ));
    }
    let stats = server.stats()?;
    r.close(stats, 0.0);
    r.complete = r.accepted == r.events && closed == r.accepted;
    server.stop().await?;
    Ok(r)
}

/// Opens `count` connections at once, each sending `prefix`.
async fn open_batch(
    count: usize,
    addr: &str,
    prefix: &[u8],
) -> Vec<std::io::Result<Option<TcpStream>>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (addr, prefix) = (addr.to_owned(), prefix.to_vec());
        set.spawn(async move {
            let mut s = TcpStream::connect(&addr).await?;
            if !prefix.is_empty() {
                s.write_all(&prefix).await?;
            }
            Ok(Some(s))
        });
    }
    let mut out = Vec::with_capacity(count);
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap_or_else(|e| Err(std::io::Error::other(e))));
    }
    out
}

/// The bench holds one descriptor per connection: raise the soft limit to the hard one.
#[cfg(unix)]
fn raise_fd_limit(n: usize) -> anyhow::Result<()> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised).context("cannot raise the open-file limit")?;
    if let Some(max) = raised.current {
        ensure!(
            max >= n as u64 + 64,
            "{n} connections need an open-file limit above {}; it is {max} (`ulimit -Hn`)",
            n + 64
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn raise_fd_limit(_n: usize) -> anyhow::Result<()> {
    Ok(())
}
