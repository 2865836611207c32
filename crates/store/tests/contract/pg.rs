//! PostgreSQL side of the contract suite: not wired yet in this commit (the backend lands
//! separately); every `postgres::` test returns at once.

use std::future::Future;
use std::sync::Arc;

use datahooks_store::Store;

/// Runs `body` on a fresh PostgreSQL database once that backend exists.
pub async fn on_postgres<F, Fut>(_body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
}
