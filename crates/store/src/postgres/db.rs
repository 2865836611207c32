//! [`Db`] on a PostgreSQL transaction, or on a pooled connection for a read that is one
//! statement (no `BEGIN`/`COMMIT`: one round trip instead of three): each statement is one
//! round trip, prepared once per connection.

use tokio_postgres::Row;

use datahooks_domain::events::NewEvent;
use datahooks_domain::operational::OpEvent;

use deadpool_postgres::GenericClient;

use super::{new_id, outbox, queue, Param, Tx};
use crate::opwh::Kind;
use crate::sql::{Arg, Col, Cols, Db, Dialect};
use crate::{Error, Result};

/// A PostgreSQL transaction (or, for one-statement reads, a pooled connection) seen as a
/// [`Db`].
pub(crate) struct Pg<'a, C>(pub(crate) &'a C);

/// What [`Pg`] runs on. The hooks that write events need the transaction they belong to.
pub(crate) trait Conn: GenericClient {
    async fn emit(&self, event: &NewEvent) -> Result<()>;
    async fn queue_op_event(&self, account_id: i64, ev: &OpEvent) -> Result<()>;
}

impl Conn for Tx<'_> {
    async fn emit(&self, event: &NewEvent) -> Result<()> {
        outbox::emit(self, event).await
    }

    async fn queue_op_event(&self, account_id: i64, ev: &OpEvent) -> Result<()> {
        let (id, p) = (new_id("msg"), ev.payload.to_string());
        let (kind, t) = (Kind::Operational, ev.event_type.as_str());
        queue::insert_message_of(self, kind, account_id, &id, t, None, &[], &p, None).await?;
        Ok(())
    }
}

/// A connection outside a transaction (`read_one!`): reads only.
impl Conn for deadpool_postgres::Client {
    async fn emit(&self, _: &NewEvent) -> Result<()> {
        Err(outside_a_transaction())
    }

    async fn queue_op_event(&self, _: i64, _: &OpEvent) -> Result<()> {
        Err(outside_a_transaction())
    }
}

fn outside_a_transaction() -> Error {
    Error::Other("an event can only be written in a write transaction".into())
}

impl Cols for Row {
    fn get<T: Col>(&self, name: &str) -> Result<T> {
        Ok(self.try_get(name)?)
    }
}

fn params<'a>(args: &'a [&'a dyn Arg]) -> Vec<Param<'a>> {
    args.iter().map(|a| a.pg()).collect()
}

impl<C: Conn> Db for Pg<'_, C> {
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
        self.0.emit(event).await
    }

    async fn queue_op_event(&self, account_id: i64, ev: &OpEvent) -> Result<()> {
        self.0.queue_op_event(account_id, ev).await
    }
}
