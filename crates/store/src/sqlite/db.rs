//! [`Db`] on a SQLite transaction: statements run synchronously on the store's thread, so
//! every future here is ready at once (see [`crate::sql::block_now`]).

use rusqlite::Transaction;

use datahooks_domain::events::NewEvent;
use datahooks_domain::operational::OpEvent;

use super::outbox;
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

    async fn emit_op(&self, account_id: i64, event: &OpEvent) -> Result<()> {
        super::opwh::emit(self.0, account_id, event)
    }
}
