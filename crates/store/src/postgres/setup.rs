//! [`SetupStore`] for PostgreSQL. Redeems take one advisory lock, so two nodes (or two
//! browsers) redeeming links at once run one after the other: the second finds a user and is
//! refused, and the server never gets two "first" users.

use async_trait::async_trait;

use datahooks_domain::setup::{check_setup, SetupLink};

use super::db::Pg;
use super::{exec, one, opt, read_tx, write_tx, PgStore, Tx};
use crate::keys::{hash_key, new_setup_token};
use crate::setup::{Setup, SetupStore};
use crate::shared::accounts;
use crate::{Account, NewApiKey, Result};

/// Advisory lock key of first-user creation ("dhsetup").
const SETUP_LOCK: i64 = 0x64_6873_6574_7570;

async fn count_users(tx: &Tx<'_>) -> Result<i64> {
    let row = one(tx, "SELECT COUNT(*) FROM accounts WHERE NOT is_org", &[]).await?;
    Ok(row.try_get(0)?)
}

async fn check(tx: &Tx<'_>, hash: &str, now_ms: i64) -> Result<Setup<()>> {
    let link = match opt(
        tx,
        "SELECT expires_ms, used_ms IS NOT NULL FROM setup_links WHERE hash = $1",
        &[&hash],
    )
    .await?
    {
        Some(r) => Some(SetupLink {
            expires_ms: r.try_get(0)?,
            used: r.try_get(1)?,
        }),
        None => None,
    };
    Ok(check_setup(link, count_users(tx).await?, now_ms))
}

async fn redeem(
    tx: &Tx<'_>,
    hash: &str,
    now_ms: i64,
    name: &str,
    email: Option<&str>,
) -> Result<Setup<(Account, NewApiKey)>> {
    exec(tx, "SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK]).await?;
    if let Err(refused) = check(tx, hash, now_ms).await? {
        return Ok(Err(refused));
    }
    let created = accounts::create_user(&Pg(tx), name, email).await?;
    exec(
        tx,
        "UPDATE setup_links SET used_ms = $2 WHERE hash = $1",
        &[&hash, &now_ms],
    )
    .await?;
    Ok(Ok(created))
}

#[async_trait]
impl SetupStore for PgStore {
    async fn count_users(&self) -> Result<i64> {
        read_tx!(self, |tx| count_users(&tx).await)
    }

    async fn create_setup_link(&self, expires_ms: i64) -> Result<String> {
        let token = new_setup_token();
        let hash = hash_key(&token);
        write_tx!(self, |tx| exec(
            &tx,
            "INSERT INTO setup_links (hash, expires_ms) VALUES ($1, $2)",
            &[&hash, &expires_ms]
        )
        .await)?;
        Ok(token)
    }

    async fn check_setup_link(&self, token: &str, now_ms: i64) -> Result<Setup<()>> {
        let hash = hash_key(token);
        read_tx!(self, |tx| check(&tx, &hash, now_ms).await)
    }

    async fn redeem_setup_link(
        &self,
        token: &str,
        now_ms: i64,
        name: &str,
        email: Option<&str>,
    ) -> Result<Setup<(Account, NewApiKey)>> {
        let hash = hash_key(token);
        write_tx!(self, |tx| redeem(&tx, &hash, now_ms, name, email).await)
    }
}
