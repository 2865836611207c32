//! PostgreSQL side of the contract suite: each test gets a fresh database, copied from a
//! migrated template, on the server that `DATAHOOKS_TEST_PG_URL` names
//! (`postgres://user@host:port/db`; `scripts/with-postgres.sh` starts a private one and sets
//! it), and drops it afterwards, also when the test panicked. Without the variable,
//! `postgres::` tests return at once.

use std::future::Future;
use std::sync::Arc;

use datahooks_store::Store;
use tokio_postgres::NoTls;

/// The template every test database is copied from. Kept between runs: opening the store on
/// it applies whatever migrations it lacks, so it never goes stale.
const TEMPLATE: &str = "datahooks_tpl";

/// Advisory lock (in the server URL's database) that orders template upkeep (exclusive)
/// before copies of it (shared): a copy fails while anyone is connected to its template.
const TEMPLATE_LOCK: i64 = 0x0064_6874_706c;

static TEMPLATE_READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Runs `body` on a store opened on a new database of its own.
pub async fn on_postgres<F, Fut>(body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(server) = std::env::var("DATAHOOKS_TEST_PG_URL") else {
        return;
    };
    let db = TestDatabase::create(&server).await;
    let store = datahooks_store::open(&db.url)
        .await
        .expect("open the PostgreSQL store");
    body(store).await;
    drop(db);
}

/// `url` with its database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    format!("{root}/{db}{query}")
}

async fn admin(server: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server, NoTls)
        .await
        .expect("connect to the test PostgreSQL server");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Creates (or brings up to date) the template, once per test process.
async fn ensure_template(server: &str) {
    TEMPLATE_READY
        .get_or_init(|| async {
            let client = admin(server).await;
            client
                .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
                .await
                .unwrap();
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&TEMPLATE])
                .await
                .unwrap()
                .is_some();
            if !exists {
                client
                    .batch_execute(&format!("CREATE DATABASE {TEMPLATE}"))
                    .await
                    .unwrap();
            }
            // Migrates it; then every connection to it must be gone before it is copied.
            let store = datahooks_store::open(&with_database(server, TEMPLATE))
                .await
                .expect("migrate the template database");
            drop(store);
            client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&TEMPLATE],
                )
                .await
                .unwrap();
            client
                .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
                .await
                .unwrap();
        })
        .await;
}

/// A database of its own for one test, dropped (with any connection left to it) on `Drop`,
/// also when the test panicked.
struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create(server: &str) -> TestDatabase {
        ensure_template(server).await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let client = admin(server).await;
        client
            .execute("SELECT pg_advisory_lock_shared($1)", &[&TEMPLATE_LOCK])
            .await
            .unwrap();
        // A copy fails while a just-terminated backend still lingers on the template: try
        // again briefly.
        let mut tries = 0;
        loop {
            let made = client
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
                .await;
            match made {
                Ok(()) => break,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create test database {name}: {e}"),
            }
        }
        client
            .execute("SELECT pg_advisory_unlock_shared($1)", &[&TEMPLATE_LOCK])
            .await
            .unwrap();
        TestDatabase {
            url: with_database(server, &name),
            server: server.to_owned(),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread with a
        // runtime of its own drops the database (FORCE ends the store's connections).
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            rt.block_on(async {
                admin(&server)
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
