//! What `datahooks serve` prints when it starts: one summary of where everything is, and,
//! while the server has no users, what to do next (a command and a one-time setup link).
//!
//! This goes to stdout with `println!`, not through `tracing`: the setup link is a credential
//! for whoever sees it first, so it belongs on the operator's console only, never in a log
//! pipeline. The link's token is stored (hashed) in the database rather than kept in this
//! process, so on several nodes behind one load balancer the link works whichever node the
//! browser reaches, and any node refuses it once the first user exists.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use datahooks_domain::setup::SETUP_LINK_TTL_MS;
use datahooks_store::Store;

use crate::config::{Role, StoreArgs};

/// Where the database is, for people: the SQLite file, or the PostgreSQL host and database
/// (never the user or password).
pub fn describe_database(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (db, query) = path.split_once('?').unwrap_or((path, ""));
        let mut host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, h)| h)
            .to_owned();
        if host.is_empty() {
            // `postgres:///db?host=/run/postgresql`: a Unix socket named in the query.
            host = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("host="))
                .unwrap_or("localhost")
                .to_owned();
        }
        let db = if db.is_empty() { "(default)" } else { db };
        return format!("PostgreSQL, database {db} on {host}");
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    format!("SQLite, {path}")
}

/// `s` as one shell word.
fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command that creates the first user on the store this server was started on.
///
/// The store flags are the ones `serve` got. A PostgreSQL URL with a password is not printed
/// with its password: when it came from `DATAHOOKS_DATABASE_URL` the command names that
/// variable (same shell, same result); otherwise the password is shown as `PASSWORD`.
pub fn create_user_command(program: &str, store: &StoreArgs, env_url: Option<&str>) -> String {
    let mut cmd = vec![sh_quote(program)];
    match &store.database_url {
        None => {
            cmd.push("--data-dir".into());
            cmd.push(sh_quote(&store.data_dir.display().to_string()));
        }
        Some(url) => {
            cmd.push("--database-url".into());
            match without_password(url) {
                None => cmd.push(sh_quote(url)),
                Some(_) if env_url == Some(url.as_str()) => {
                    cmd.push("\"$DATAHOOKS_DATABASE_URL\"".into());
                }
                Some(masked) => cmd.push(sh_quote(&masked)),
            }
        }
    }
    cmd.extend(["user", "create", "NAME", "--email", "EMAIL"].map(String::from));
    cmd.join(" ")
}

/// The URL with its password replaced by `PASSWORD`, if it has one.
fn without_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (user, _password) = userinfo.split_once(':')?;
    Some(format!("{scheme}://{user}:PASSWORD@{host}{tail}"))
}

/// What the start-up summary needs to know.
pub struct Summary<'a> {
    /// The address the socket is bound to.
    pub listen: std::net::SocketAddr,
    /// Base of the links handed out, without a trailing `/`.
    pub public_url: &'a str,
    /// What this node runs.
    pub role: Role,
    /// The store flags `serve` got.
    pub store_args: &'a StoreArgs,
}

/// Prints the summary and, on a server without users, the next step. Creates a setup link
/// when this node serves pages.
pub async fn announce(store: &dyn Store, s: &Summary<'_>) -> anyhow::Result<()> {
    let users = store
        .count_users()
        .await
        .context("cannot count the users")?;
    let base = s.public_url;
    let data_dir = absolute(&s.store_args.data_dir);
    let mut out = vec![format!("listening on http://{}", s.listen)];
    let serves_pages = s.role != Role::Worker;
    if serves_pages {
        out.push(format!("  web pages   {base}/ui/"));
        out.push(format!(
            "  API         {base}/  (segments-ai api_url; Svix API under {base}/api/v1/)"
        ));
        out.push(format!("  OpenAPI     {base}/openapi.json"));
        out.push(format!("  API docs    {base}/docs"));
    } else {
        out.push(
            "  role        worker: delivers webhooks, serves /api/v1/health and /metrics only"
                .into(),
        );
    }
    out.push(format!("  data dir    {data_dir}"));
    out.push(format!(
        "  database    {}",
        describe_database(&s.store_args.url())
    ));
    out.push(format!("  users       {users}"));
    if users == 0 {
        // The program as it was invoked (`./target/release/datahooks`, or `datahooks` from
        // PATH), so that the command can be pasted into the same shell.
        let program = std::env::args_os()
            .next()
            .map_or_else(|| "datahooks".into(), |p| p.to_string_lossy().into_owned());
        let env_url = std::env::var("DATAHOOKS_DATABASE_URL").ok();
        let command = create_user_command(&program, s.store_args, env_url.as_deref());
        out.push(String::new());
        out.push("No users yet. Create the first user and its API key:".into());
        if serves_pages {
            let expires = now_ms() + SETUP_LINK_TTL_MS;
            let token = store
                .create_setup_link(expires)
                .await
                .context("cannot create the setup link")?;
            out.push(
                "  in a browser, with this link (works once, for 1 hour; shown only here):".into(),
            );
            out.push(format!("    {base}/ui/setup/{token}"));
            out.push("  or in a shell (prints the key as its last line):".into());
        } else {
            out.push("  in a shell (prints the key as its last line):".into());
        }
        out.push(format!("    {command}"));
    }
    // Not `println!`: it panics when stdout is closed (a supervisor that read the first line
    // and went away), and a server must not die of that.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", out.join("\n")).and_then(|()| stdout.flush());
    Ok(())
}

fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args(url: Option<&str>, dir: &str) -> StoreArgs {
        StoreArgs {
            database_url: url.map(str::to_owned),
            data_dir: PathBuf::from(dir),
        }
    }

    #[test]
    fn databases_are_described_without_secrets() {
        assert_eq!(
            describe_database("sqlite://./data/datahooks.db"),
            "SQLite, ./data/datahooks.db"
        );
        assert_eq!(describe_database("/tmp/x.db"), "SQLite, /tmp/x.db");
        let pg = describe_database("postgres://dh:s3cret@db.internal:5432/hooks?sslmode=require");
        assert_eq!(pg, "PostgreSQL, database hooks on db.internal:5432");
        assert!(!pg.contains("s3cret") && !pg.contains("dh:"));
        assert_eq!(
            describe_database("postgresql:///hooks?host=/run/postgresql"),
            "PostgreSQL, database hooks on /run/postgresql"
        );
    }

    #[test]
    fn the_command_uses_the_same_store_and_never_a_password() {
        assert_eq!(
            create_user_command("./target/release/datahooks", &args(None, "./data"), None),
            "./target/release/datahooks --data-dir ./data user create NAME --email EMAIL"
        );
        assert_eq!(
            create_user_command("datahooks", &args(None, "/srv/my data"), None),
            "datahooks --data-dir '/srv/my data' user create NAME --email EMAIL"
        );
        let url = "postgres://dh:s3cret@db:5432/hooks";
        assert_eq!(
            create_user_command("datahooks", &args(Some(url), "./data"), Some(url)),
            "datahooks --database-url \"$DATAHOOKS_DATABASE_URL\" user create NAME --email EMAIL"
        );
        let given = create_user_command("datahooks", &args(Some(url), "./data"), None);
        assert_eq!(
            given,
            "datahooks --database-url postgres://dh:PASSWORD@db:5432/hooks user create NAME --email EMAIL"
        );
        let open = "postgres://dh@127.0.0.1:5433/hooks";
        assert_eq!(
            create_user_command("datahooks", &args(Some(open), "./data"), None),
            format!("datahooks --database-url {open} user create NAME --email EMAIL")
        );
    }
}
