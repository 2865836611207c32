//! [`Db`] on a PostgreSQL transaction: each statement is one round trip, prepared once per
//! connection.

use tokio_postgres::Row;

use datahooks_domain::events::NewEvent;
use datahooks_domain::operational::OpEvent;

use super::{outbox, Param, Tx};
use crate::sql::{Arg, Col, Cols, Db, Dialect};
use crate::Result;

/// A PostgreSQL transaction seen as a [`Db`].
pub(crate) struct Pg<'a, 'c>(pub(crate) &'a Tx<'c>);

impl Cols for Row {
    fn get<T: Col>(&self, name: &str) -> Result<T> {
        Ok(self.try_get(name)?)
    }
}

fn params<'a>(args: &'a [&'a dyn Arg]) -> Vec<Param<'a>> {
    args.iter().map(|a| a.pg()).collect()
}

impl Db for Pg<'_, '_> {
    type Row<'r> = Row;

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn exec(&self, sql: &str, args: &[&dyn Arg]) -> Result<u64> {
        super::exec(self.0, sql, &params(args)).await
    }

    async fn rows<T, F>(&self, sql: &str, args: &[&dyn Arg], f: F) -> Result<Vec<T>>
    where
        F: FnMut(&Self::Row<'_>) -> Result<T>,
    {
        super::rows(self.0, sql, &params(args))
            .await?
            .iter()
            .map(f)
            .collect()
    }

    async fn opt<T, F>(&self, sql: &str, args: &[&dyn Arg], mut f: F) -> Result<Option<T>>
    where
        F: FnMut(&Self::Row<'_>) -> Result<T>,
    {
        super::opt(self.0, sql, &params(args))
            .await?
            .as_ref()
            .map(&mut f)
            .transpose()
    }

    async fn emit(&self, event: &NewEvent) -> Result<()> {
        outbox::emit(self.0, event).await
    }

    async fn emit_op(&self, account_id: i64, event: &OpEvent) -> Result<()> {
        super::opwh::emit(self.0, account_id, event).await
    }
}
