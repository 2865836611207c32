//! The datahooks server under test: a child process on a fresh temp data dir, listening on
//! a loopback port it picks itself, with one user whose API key drives the load.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::procstats::{self, ProcSample};

/// How long the server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long SIGTERM may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerOpts {
    /// The `datahooks` binary.
    pub bin: PathBuf,
    /// `--database-url`, when not the embedded SQLite file.
    pub database_url: Option<String>,
    /// Where temp data dirs go (default: the system temp dir).
    pub tmp_root: Option<PathBuf>,
}

/// A running server.
pub struct Server {
    child: Child,
    pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bench user's API key.
    pub key: String,
    /// The bench user's name (also its webhook app uid).
    pub user: String,
    dir: tempfile::TempDir,
}

/// Finds the server binary: the flag, else `datahooks` beside this executable, else
/// `target/release/datahooks`.
pub fn locate(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        ensure!(p.is_file(), "--server-bin {} does not exist", p.display());
        return Ok(p.to_path_buf());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("datahooks")));
    let candidates = beside
        .into_iter()
        .chain(std::iter::once(PathBuf::from("target/release/datahooks")));
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
    }
    bail!(
        "cannot find the datahooks binary beside this executable or at target/release/datahooks; \
         build it (cargo build --release -p datahooks) or pass --server-bin"
    )
}

fn base_command(opts: &ServerOpts, dir: &Path) -> Command {
    let mut cmd = Command::new(&opts.bin);
    cmd.arg("--data-dir").arg(dir);
    if let Some(url) = &opts.database_url {
        cmd.arg("--database-url").arg(url);
    }
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A user name unique to this run when the database is shared (`--database-url`).
fn user_name(opts: &ServerOpts) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    match opts.database_url {
        None => "bench".to_owned(),
        Some(_) => format!(
            "bench_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
    }
}

impl Server {
    /// Creates the user, starts `serve` and waits for its address.
    pub async fn start(opts: &ServerOpts, retry_schedule: Option<&str>) -> anyhow::Result<Server> {
        Self::start_with(opts, retry_schedule, &[]).await
    }

    /// [`Server::start`] with further `serve` flags.
    pub async fn start_with(
        opts: &ServerOpts,
        retry_schedule: Option<&str>,
        extra: &[String],
    ) -> anyhow::Result<Server> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("datahooks-bench-");
        let dir = match &opts.tmp_root {
            Some(root) => builder.tempdir_in(root),
            None => builder.tempdir(),
        }
        .context("cannot create a temp data dir")?;
        let user = user_name(opts);
        let out = base_command(opts, dir.path())
            .args(["user", "create", &user])
            .output()
            .await
            .with_context(|| format!("cannot run {}", opts.bin.display()))?;
        ensure!(
            out.status.success(),
            "`datahooks user create` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let key = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .context("`datahooks user create` printed no key")?
            .to_owned();

        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).context("cannot create the server log")?;
        let mut cmd = base_command(opts, dir.path());
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-destination",
            "127.0.0.0/8",
        ]);
        if let Some(schedule) = retry_schedule {
            cmd.args(["--retry-schedule", schedule]);
        }
        cmd.args(extra);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("cannot start datahooks serve")?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    return Ok(Some(rest.trim().to_owned()));
                }
            }
            anyhow::Ok(None)
        })
        .await;
        let base = match found {
            Ok(Ok(Some(base))) => base,
            other => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let why = match other {
                    Err(_) => "did not print its address in time".to_owned(),
                    Ok(Err(e)) => format!("stdout failed: {e}"),
                    Ok(Ok(_)) => "exited before listening".to_owned(),
                };
                bail!("datahooks serve {why}; its log:\n{}", tail(&log, 20));
            }
        };
        ensure!(
            base.starts_with("http://127.0.0.1:"),
            "the server listens on {base}, not on 127.0.0.1"
        );
        // Keep draining stdout so the server never blocks on a full pipe; ends with it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            pid,
            base,
            key,
            user,
            dir,
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Peak RSS and CPU seconds so far.
    pub fn stats(&self) -> anyhow::Result<ProcSample> {
        procstats::sample(self.pid)
    }

    /// The server's log so far (last lines), for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        tail(&log, lines)
    }

    /// SIGTERM, then SIGKILL if it is still running after a grace period.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            self.child.start_kill().context("cannot kill the server")?;
            self.child.wait().await.context("cannot reap the server")?;
        }
        Ok(())
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
