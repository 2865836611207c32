//! [`Db`] on a SQLite transaction: statements run synchronously on the store's thread, so
//! every future here is ready at once (see [`crate::sql::block_now`]).

use rusqlite::Transaction;

use datahooks_domain::events::NewEvent;
use datahooks_domain::operational::OpEvent;

use super::{new_id, outbox, queue};
use crate::opwh::Kind;
use crate::sql::{sqlite_text, Arg, Col, Cols, Db, Dialect};
use crate::Result;

/// A SQLite transaction seen as a [`Db`].
pub(crate) struct Lite<'a, 'c>(pub(crate) &'a Transaction<'c>);

impl Cols for rusqlite::Row<'_> {
    fn get<T: Col>(&self, name: &str) -> Result<T> {
        Ok(rusqlite::Row::get(self, name)?)
    }
}

fn params<'a>(args: &'a [&'a dyn Arg]) -> Vec<&'a dyn rusqlite::ToSql> {
    args.iter().map(|a| a.lite()).collect()
}

impl Db for Lite<'_, '_> {
    type Row<'r> = rusqlite::Row<'r>;

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<u64> {
        let mut st = self.0.prepare_cached(&sqlite_text(sql))?;
        Ok(st.execute(params(args).as_slice())? as u64)
    }

    async fn rows<T, F>(&self, sql: &str, args: &[&dyn Arg], mut f: F) -> Result<Vec<T>>
    where
        F: FnMut(&Self::Row<'_>) -> Result<T>,
    {
        let mut st = self.0.prepare_cached(&sqlite_text(sql))?;
        let mut rows = st.query(params(args).as_slice())?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(f(r)?);
        }
        Ok(out)
    }

    async fn opt<T, F>(&self, sql: &str, args: &[&dyn Arg], mut f: F) -> Result<Option<T>>
    where
        F: FnMut(&Self::Row<'_>) -> Result<T>,
    {
        let mut st = self.0.prepare_cached(&sqlite_text(sql))?;
        let mut rows = st.query(params(args).as_slice())?;
        rows.next()?.map(&mut f).transpose()
    }

    async fn emit(&self, event: &NewEvent) -> Result<()> {
        outbox::emit(self.0, event)
    }

    async fn queue_op_event(&self, account_id: i64, ev: &OpEvent) -> Result<()> {
        let (id, p) = (new_id("msg"), ev.payload.to_string());
        let (kind, t) = (Kind::Operational, ev.event_type.as_str());
        queue::insert_message_of(self.0, kind, account_id, &id, t, None, &[], &p, None)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::opwh::wanted_sql;

    /// The claim passes over the endpoints at their limit inside the due rows' index: with
    /// the row read for each due delivery passed over, a backlog for one busy endpoint made
    /// every claim read the whole backlog.
    #[test]
    fn the_claim_walks_the_due_index_without_reading_rows() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn).unwrap();
        let mut plan = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::queue::CLAIMABLE))
            .unwrap();
        let steps: Vec<String> = plan
            .query_map(rusqlite::params![0, 10, "[]"], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            steps
                .iter()
                .any(|s| s.contains("COVERING INDEX deliveries_due")),
            "{steps:?}"
        );
    }

    /// Every batch with a signal and every endpoint change asks whether the account has an
    /// operational endpoint that wants it: that read must stay on the small partial index.
    #[test]
    fn the_operational_endpoints_read_takes_its_partial_index() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn).unwrap();
        let sql = sqlite_text(&wanted_sql(Dialect::Sqlite)).into_owned();
        let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps: Vec<String> = plan
            .query_map([1], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            steps.iter().any(|s| s.contains("endpoints_operational")),
            "{steps:?}"
        );
    }
}
