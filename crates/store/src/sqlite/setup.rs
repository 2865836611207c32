//! [`SetupStore`] for SQLite. The single writer runs one redeem at a time, so checking the
//! rule and creating the user inside one write cannot race another redeem.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};

use datahooks_domain::setup::{check_setup, SetupLink};

use super::db::Lite;
use super::SqliteStore;
use crate::keys::{hash_key, new_setup_token};
use crate::setup::{Setup, SetupStore};
use crate::shared::accounts;
use crate::sql::block_now;
use crate::{Account, NewApiKey, Result};

fn count_users(tx: &Transaction<'_>) -> Result<i64> {
    Ok(
        tx.query_row("SELECT COUNT(*) FROM accounts WHERE is_org = 0", [], |r| {
            r.get(0)
        })?,
    )
}

fn check(tx: &Transaction<'_>, hash: &str, now_ms: i64) -> Result<Setup<()>> {
    let link = tx
        .query_row(
            "SELECT expires_ms, used_ms IS NOT NULL FROM setup_links WHERE hash = ?1",
            [hash],
            |r| {
                Ok(SetupLink {
                    expires_ms: r.get(0)?,
                    used: r.get(1)?,
                })
            },
        )
        .optional()?;
    Ok(check_setup(link, count_users(tx)?, now_ms))
}

#[async_trait]
impl SetupStore for SqliteStore {
    async fn count_users(&self) -> Result<i64> {
        self.read(count_users).await
    }

    async fn create_setup_link(&self, expires_ms: i64) -> Result<String> {
        let token = new_setup_token();
        let hash = hash_key(&token);
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO setup_links (hash, expires_ms) VALUES (?1, ?2)",
                params![hash, expires_ms],
            )?;
            Ok(())
        })
        .await?;
        Ok(token)
    }

    async fn check_setup_link(&self, token: &str, now_ms: i64) -> Result<Setup<()>> {
        let hash = hash_key(token);
        self.read(move |tx| check(tx, &hash, now_ms)).await
    }

    async fn redeem_setup_link(
        &self,
        token: &str,
        now_ms: i64,
        name: &str,
        email: Option<&str>,
    ) -> Result<Setup<(Account, NewApiKey)>> {
        let hash = hash_key(token);
        let name = name.to_owned();
        let email = email.map(str::to_owned);
        self.write(move |tx| {
            if let Err(refused) = check(tx, &hash, now_ms)? {
                return Ok(Err(refused));
            }
            let created = block_now(accounts::create_user(&Lite(tx), &name, email.as_deref()))??;
            tx.execute(
                "UPDATE setup_links SET used_ms = ?2 WHERE hash = ?1",
                params![hash, now_ms],
            )?;
            Ok(Ok(created))
        })
        .await
    }
}
