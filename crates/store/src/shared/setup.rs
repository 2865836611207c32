//! First-run setup links: one text for both backends. Redeeming checks the rule
//! (`domain::setup::check_setup`), creates the user and marks the link used in one
//! transaction, serialized against every other redeem ([`crate::sql::Dialect::serialize`]), so
//! the server never gets two "first" users. Links are random tokens of which only the
//! SHA-256 is kept.

use datahooks_domain::setup::{check_setup, SetupLink};

use super::accounts;
use crate::keys::{hash_key, new_setup_token};
use crate::setup::Setup;
use crate::sql::{from_cols, Cols, Db};
use crate::{Account, NewApiKey, Result};

/// Advisory lock key of first-user creation ("dhsetup").
const SETUP_LOCK: i64 = 0x64_6873_6574_7570;

pub(crate) async fn count_users(db: &impl Db) -> Result<i64> {
    db.one(
        "SELECT COUNT(*) AS n FROM accounts WHERE NOT is_org",
        &[],
        |r| r.get("n"),
    )
    .await
}

/// Makes a link that ends at `expires_ms`; returns its token.
pub(crate) async fn create_link(db: &impl Db, expires_ms: i64) -> Result<String> {
    let token = new_setup_token();
    db.exec(
        "INSERT INTO setup_links (hash, expires_ms) VALUES ($1, $2)",
        &[&hash_key(&token), &expires_ms],
    )
    .await?;
    Ok(token)
}

/// Whether the link of `token` may still create the first user at `now_ms`.
pub(crate) async fn check(db: &impl Db, token: &str, now_ms: i64) -> Result<Setup<()>> {
    check_hash(db, &hash_key(token), now_ms).await
}

async fn check_hash(db: &impl Db, hash: &str, now_ms: i64) -> Result<Setup<()>> {
    let link = db
        .opt(
            "SELECT expires_ms, used_ms IS NOT NULL AS used FROM setup_links WHERE hash = $1",
            &[&hash],
            |r| Ok(from_cols!(r => SetupLink { expires_ms, used })),
        )
        .await?;
    Ok(check_setup(link, count_users(db).await?, now_ms))
}

/// Creates the first user with the link of `token`, if it may; the link is used up.
pub(crate) async fn redeem(
    db: &impl Db,
    token: &str,
    now_ms: i64,
    name: &str,
    email: Option<&str>,
) -> Result<Setup<(Account, NewApiKey)>> {
    if let Some(sql) = db.dialect().serialize() {
        db.exec(sql, &[&SETUP_LOCK]).await?;
    }
    let hash = hash_key(token);
    if let Err(refused) = check_hash(db, &hash, now_ms).await? {
        return Ok(Err(refused));
    }
    let created = accounts::create_user(db, name, email).await?;
    db.exec(
        "UPDATE setup_links SET used_ms = $2 WHERE hash = $1",
        &[&hash, &now_ms],
    )
    .await?;
    Ok(Ok(created))
}

// Redeems run one at a time: SQLite's single writer, PostgreSQL's advisory lock (`redeem`).
crate::both::on_both! {
    impl crate::setup::SetupStore;
    read fn count_users() -> Result<i64> = |db| count_users(db);
    write fn create_setup_link(expires_ms: i64) -> Result<String> =
        |db| create_link(db, expires_ms);
    read fn check_setup_link(token: &str, now_ms: i64) -> Result<Setup<()>> =
        |db| check(db, token, now_ms);
    write fn redeem_setup_link(token: &str, now_ms: i64, name: &str, email: Option<&str>)
        -> Result<Setup<(Account, NewApiKey)>> = |db| redeem(db, token, now_ms, name, email);
}
