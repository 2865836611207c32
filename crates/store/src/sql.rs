//! One text for both backends: the seam that lets a store module be written once.
//!
//! A shared module (under [`crate::shared`]) is plain `async` code generic over [`Db`], a
//! transaction of either backend. It writes each statement once, with PostgreSQL's numbered
//! placeholders (`$1`, `$2`, …); the SQLite side rewrites them to `?1`, `?2`, … ([`sqlite_text`]).
//! Rows are read by column name through [`Cols`], parameters pass through [`Arg`], and where
//! the dialects really differ (row locks, upserts) the text asks [`Dialect`] for its fragment.
//!
//! SQLite's driver is synchronous and runs on the store's writer or reader thread, so the
//! same `async` code runs there under [`block_now`]: every future a SQLite [`Db`] returns is
//! ready at its first poll. PostgreSQL awaits the same code on the runtime, one round trip a
//! statement.
//!
//! [`Db`] also carries the hooks a shared module still needs from code that exists once per
//! backend (the outbox, the queue's fan-out); each one goes away when its module moves here.

use std::borrow::Cow;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use datahooks_domain::events::NewEvent;
use datahooks_domain::operational::OpEvent;

use crate::{Error, Result};

/// The SQL dialect of a [`Db`], for the few fragments that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Appended to a `SELECT … WHERE` that reads a row the transaction will write back
    /// whole: PostgreSQL locks the row against a concurrent change; SQLite has one writer at
    /// a time, so nothing is needed.
    pub(crate) fn lock_row(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR NO KEY UPDATE",
        }
    }

    /// A statement that makes every transaction running it (with one `i64` key) wait for the
    /// others to end: an advisory lock on PostgreSQL; nothing on SQLite, whose single writer
    /// already runs one write transaction at a time.
    pub(crate) fn serialize(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SELECT pg_advisory_xact_lock($1)"),
        }
    }

    /// Run by a transaction that enqueued a job, so that the job runners of every node hear
    /// of it when it commits: a NOTIFY on PostgreSQL (delivered only at the commit); nothing
    /// on SQLite, whose only runner is in this process and woken directly.
    pub(crate) fn notify_jobs(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SELECT pg_notify('datahooks_jobs', '')"),
        }
    }

    /// The literal of a flag (a boolean column) in a condition: SQLite stores flags as
    /// integers, and uses a partial index (`WHERE operational = 1`) only for a condition
    /// written the same way; PostgreSQL has `TRUE` and `FALSE`.
    pub(crate) fn flag(self, on: bool) -> &'static str {
        match (self, on) {
            (Dialect::Sqlite, true) => "1",
            (Dialect::Sqlite, false) => "0",
            (Dialect::Postgres, true) => "TRUE",
            (Dialect::Postgres, false) => "FALSE",
        }
    }

    /// The column that numbers `endpoints` rows in creation order (their ids are random, and
    /// they are listed oldest first): SQLite's `rowid`; PostgreSQL has none, so its table
    /// keeps a `seq`.
    pub(crate) fn endpoint_seq(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }

    /// Like [`Dialect::lock_row`], for rows the transaction will delete.
    pub(crate) fn lock_for_delete(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// `expr` with ASCII letters folded to lower case (SQLite's `LIKE` already ignores
    /// their case; PostgreSQL's does not, and `lower()` would fold other letters too).
    pub(crate) fn ascii_lower(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => expr.to_owned(),
            Dialect::Postgres => format!("datahooks_lower_ascii({expr})"),
        }
    }

    /// The parameter that names a top-level key of a JSON object for
    /// [`Dialect::json_text_eq`].
    pub(crate) fn json_key(self, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("$.\"{key}\""),
            Dialect::Postgres => key.to_owned(),
        }
    }

    /// A condition: the JSON object in `column` has, at the key parameter `$key`, a value whose
    /// text is the parameter `$value`.
    pub(crate) fn json_text_eq(self, column: &str, key: usize, value: usize) -> String {
        match self {
            Dialect::Sqlite => format!("CAST(json_extract({column}, ${key}) AS TEXT) = ${value}"),
            Dialect::Postgres => {
                format!("datahooks_json_text({column}::jsonb -> ${key}::text) = ${value}::text")
            }
        }
    }

    /// A condition: the JSON array of text in `column` has an element equal to the parameter
    /// `$param` (case and all).
    pub(crate) fn json_array_has(self, column: &str, param: usize) -> String {
        match self {
            Dialect::Sqlite => {
                format!("EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ${param})")
            }
            Dialect::Postgres => format!("{column}::jsonb @> jsonb_build_array(${param}::text)"),
        }
    }

    /// A `FROM` item named `alias`: the elements of the JSON array of text bound (as text) to
    /// `$param`, one row each, with columns `value` (the element) and `n` (its place, to keep
    /// the list's order). A list of any length is one parameter, so the statement's text
    /// stays the same (and cached) whatever the length.
    pub(crate) fn json_text_rows(self, param: usize, alias: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("(SELECT key AS n, value FROM json_each(${param})) AS {alias}")
            }
            Dialect::Postgres => format!(
                "jsonb_array_elements_text(${param}::text::jsonb) WITH ORDINALITY AS {alias}(value, n)"
            ),
        }
    }

    /// A statement that, when the transaction commits, tells the connections listening on the
    /// channel `$1` names (other nodes): PostgreSQL's NOTIFY. SQLite is one process, whose own
    /// waiters `crate::handoff` wakes after the commit, so it has none.
    pub(crate) fn notify(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SELECT pg_notify($1, '')"),
        }
    }

    /// Ends the `SELECT` of the rows a statement claims (leases) for its caller: PostgreSQL
    /// locks them and passes over the rows another node's claim holds, so two nodes never
    /// claim one row; SQLite's single writer claims alone, so nothing is needed.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// The statement that reads the latest migration applied to the database (one row, column
    /// `version`, 0 before any): SQLite counts them in `PRAGMA user_version`, PostgreSQL
    /// records each in `schema_migrations`.
    pub(crate) fn schema_version(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SELECT user_version AS version FROM pragma_user_version",
            Dialect::Postgres => {
                "SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations"
            }
        }
    }
}

/// A parameter either driver can bind.
pub(crate) trait Arg: Sync {
    fn lite(&self) -> &dyn rusqlite::ToSql;
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync);
}

impl<T> Arg for T
where
    T: rusqlite::ToSql + tokio_postgres::types::ToSql + Sync,
{
    fn lite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        self
    }
}

/// A column type either driver can read.
pub(crate) trait Col:
    rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a>
{
}

impl<T> Col for T where T: rusqlite::types::FromSql + for<'a> tokio_postgres::types::FromSql<'a> {}

/// One row of a result, read by column name (so a statement's column order is not a
/// second contract with its reader).
pub(crate) trait Cols {
    fn get<T: Col>(&self, name: &str) -> Result<T>;
}

/// Builds a struct from a row ([`Cols`]), field by field, each read from the column of its
/// own name, so a row mapping names every column once instead of twice:
///
/// ```ignore
/// from_cols!(r => Asset { uuid, filename, created_at, owner = "name", kind: Kind::App })
/// // is
/// Asset {
///     uuid: r.get("uuid")?,
///     filename: r.get("filename")?,
///     created_at: r.get("created_at")?,
///     owner: r.get("name")?,
///     kind: Kind::App,
/// }
/// ```
///
/// `field = "column"` reads a column of another name; `field: expr` sets a field that is not
/// one column as it is (parsed, computed, a local). The reads use `?`, so the macro belongs
/// in a function or closure that returns [`Result`]. (The `=>` keeps rustfmt from laying
/// the list out one column a line, as it would a struct literal: the list is written as read,
/// several columns a line.)
macro_rules! from_cols {
    ($r:ident => $ty:ident { $($fields:tt)* }) => {
        $crate::sql::from_cols!(@fields $r, $ty, [] $($fields)*)
    };
    // Every field taken: the struct, with the fields gathered in `[…]`.
    (@fields $r:ident, $ty:ident, [$($done:tt)*]) => {
        $ty { $($done)* }
    };
    // `field: expr`.
    (@fields $r:ident, $ty:ident, [$($done:tt)*]
        $field:ident : $value:expr $(, $($rest:tt)*)?) => {
        $crate::sql::from_cols!(@fields $r, $ty, [$($done)* $field: $value,] $($($rest)*)?)
    };
    // `field = "column"`.
    (@fields $r:ident, $ty:ident, [$($done:tt)*]
        $field:ident = $col:literal $(, $($rest:tt)*)?) => {
        $crate::sql::from_cols!(
            @fields $r, $ty, [$($done)* $field: $r.get($col)?,] $($($rest)*)?
        )
    };
    // `field`: the column of its name.
    (@fields $r:ident, $ty:ident, [$($done:tt)*] $field:ident $(, $($rest:tt)*)?) => {
        $crate::sql::from_cols!(
            @fields $r, $ty, [$($done)* $field: $r.get(stringify!($field))?,] $($($rest)*)?
        )
    };
}
pub(crate) use from_cols;

/// A transaction of either backend.
pub(crate) trait Db {
    /// A row as the backend's driver hands it out.
    type Row<'r>: Cols;

    fn dialect(&self) -> Dialect;

    /// Runs a statement; returns the rows it changed.
    async fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<u64>;

    /// Maps every row of a statement with `f`.
    async fn rows<T, F>(&self, sql: &str, args: &[&dyn Arg], f: F) -> Result<Vec<T>>
    where
        F: FnMut(&Self::Row<'_>) -> Result<T>;

    /// Maps the first row of a statement with `f`; `None` when there is none.
    async fn opt<T, F>(&self, sql: &str, args: &[&dyn Arg], f: F) -> Result<Option<T>>
    where
        F: FnMut(&Self::Row<'_>) -> Result<T>;

    /// Exactly one row; [`Error::not_found`] when there is none.
    async fn one<T, F>(&self, sql: &str, args: &[&dyn Arg], f: F) -> Result<T>
    where
        F: FnMut(&Self::Row<'_>) -> Result<T>,
    {
        self.opt(sql, args, f).await?.ok_or_else(Error::not_found)
    }

    // ---- hooks into code not yet shared ----------------------------------------------------

    /// Writes an event, and its message and deliveries, in this transaction (the outbox).
    async fn emit(&self, event: &NewEvent) -> Result<()>;

    /// Queues an operational event's message, with a delivery to each of the account's
    /// operational endpoints that wants it, in this transaction (the queue's fan-out).
    async fn queue_op_event(&self, account_id: i64, ev: &OpEvent) -> Result<()>;
}

/// A statement written with `$N` placeholders as SQLite reads it (`?N`). Text inside quotes
/// is left alone.
pub(crate) fn sqlite_text(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '$') if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('?');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Runs a future that must not wait: shared store code on a SQLite transaction, whose every
/// statement completes synchronously. A future that does wait is a bug (something awaited
/// the network on the database thread) and is reported, never spun on.
pub(crate) fn block_now<F: Future>(f: F) -> Result<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Ok(v),
        Poll::Pending => Err(Error::Other(
            "a SQLite store operation waited, which it never should".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_sqlite_numbered_ones() {
        assert_eq!(
            sqlite_text("UPDATE t SET a = $2, b = $10 WHERE id = $1"),
            "UPDATE t SET a = ?2, b = ?10 WHERE id = ?1"
        );
    }

    #[test]
    fn dollars_inside_quotes_and_without_a_digit_stay() {
        assert_eq!(
            sqlite_text("SELECT '$1', \"$2\", x$ FROM t WHERE a = $1"),
            "SELECT '$1', \"$2\", x$ FROM t WHERE a = ?1"
        );
        assert!(matches!(sqlite_text("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_conditions_read_the_same_key_on_both_dialects() {
        assert_eq!(Dialect::Sqlite.json_key("a b"), "$.\"a b\"");
        assert_eq!(Dialect::Postgres.json_key("a b"), "a b");
        assert_eq!(
            sqlite_text(&Dialect::Sqlite.json_text_eq("s.metadata", 3, 4)),
            "CAST(json_extract(s.metadata, ?3) AS TEXT) = ?4"
        );
    }

    #[test]
    fn jobs_are_notified_on_the_channel_the_store_listens_on() {
        let sql = Dialect::Postgres.notify_jobs().unwrap_or_default();
        assert!(sql.contains(&format!("'{}'", crate::postgres::JOBS_CHANNEL)));
        assert_eq!(Dialect::Sqlite.notify_jobs(), None);
    }

    #[test]
    fn json_lists_are_one_parameter_on_both_dialects() {
        assert_eq!(
            sqlite_text(&Dialect::Sqlite.json_text_rows(2, "l")),
            "(SELECT key AS n, value FROM json_each(?2)) AS l"
        );
        assert_eq!(
            Dialect::Postgres.json_text_rows(2, "l"),
            "jsonb_array_elements_text($2::text::jsonb) WITH ORDINALITY AS l(value, n)"
        );
        assert_eq!(
            sqlite_text(&Dialect::Sqlite.json_array_has("m.tags", 3)),
            "EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = ?3)"
        );
        assert_eq!(Dialect::Sqlite.notify(), None);
    }

    /// A row of text columns, for [`from_cols!`].
    struct TextRow(&'static [(&'static str, &'static str)]);

    impl Cols for TextRow {
        fn get<T: Col>(&self, name: &str) -> Result<T> {
            let (_, v) = self
                .0
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| Error::Other(format!("no column {name}")))?;
            let v = rusqlite::types::ValueRef::Text(v.as_bytes());
            T::column_result(v).map_err(|e| Error::Other(e.to_string()))
        }
    }

    #[derive(Debug, PartialEq)]
    struct Named {
        id: String,
        owner: String,
        size: usize,
    }

    fn named(r: &TextRow) -> Result<Named> {
        Ok(from_cols!(r => Named { id, owner = "name", size: r.get::<String>("id")?.len() }))
    }

    #[test]
    fn from_cols_reads_each_field_from_its_column_or_as_told() {
        let r = TextRow(&[("id", "ab"), ("name", "ann")]);
        let want = Named {
            id: "ab".into(),
            owner: "ann".into(),
            size: 2,
        };
        assert_eq!(named(&r).ok(), Some(want));
        assert!(named(&TextRow(&[("id", "ab")])).is_err());
    }

    #[test]
    fn a_waiting_future_is_an_error_not_a_hang() {
        let r = block_now(std::future::pending::<()>());
        assert!(matches!(r, Err(Error::Other(_))));
        assert_eq!(block_now(async { 7 }).ok(), Some(7));
    }
}
