//! What the PostgreSQL test binaries share: a fresh database on the test server
//! (`DATAHOOKS_TEST_PG_URL`, set by `scripts/with-postgres.sh`), dropped with its connections
//! when the test ends.

// Each test binary uses a part of this module.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use datahooks_store::Store;
use tokio_postgres::NoTls;

/// A connection to `url` outside any store.
pub async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A fresh database on the test server, dropped (with its connections) on `Drop`.
pub struct FreshDb {
    server: String,
    /// The database's name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl FreshDb {
    /// A database named `{prefix}_{uuid}`; `None` when no test server is configured.
    pub async fn new(prefix: &str) -> Option<FreshDb> {
        let server = std::env::var("DATAHOOKS_TEST_PG_URL").ok()?;
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        admin(&server)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (base, _) = server.split_once('?').unwrap_or((&server, ""));
        let root = &base[..base.rfind('/').unwrap()];
        Some(FreshDb {
            url: format!("{root}/{name}"),
            server,
            name,
        })
    }

    /// A store (a "node": its own pool and listener) on this database.
    pub async fn node(&self) -> Arc<dyn Store> {
        datahooks_store::open(&self.url).await.unwrap()
    }

    /// A connection to this database, for poking at it from outside the store.
    pub async fn sql(&self) -> tokio_postgres::Client {
        admin(&self.url).await
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    admin(&server)
                        .await
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                })
        })
        .join();
    }
}
