//! [`PortalStore`] for SQLite: the shared SQL from `crate::portal`.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::db::Lite;
use super::SqliteStore;
use crate::keys::hash_key;
use crate::portal::{
    NewPortalToken, PortalSignIn, PortalStore, END, END_SESSIONS, EXPIRE_SESSIONS, EXPIRE_TOKENS,
    INSERT, KEY, LIVE, OPEN_SESSION,
};
use crate::shared::accounts;
use crate::sql::block_now;
use crate::{NewWebSession, Result};

#[async_trait]
impl PortalStore for SqliteStore {
    async fn create_portal_token(
        &self,
        api_key: &str,
        new: NewPortalToken<'_>,
    ) -> Result<Option<()>> {
        let (key_hash, token_hash) = (hash_key(api_key), hash_key(new.token));
        let NewPortalToken {
            account_id,
            session_id,
            read_only,
            now_ms,
            expires_ms,
            ..
        } = new;
        self.write(move |tx| {
            let key_id: Option<String> = tx.query_row(KEY, [key_hash], |r| r.get(0)).optional()?;
            let Some(key_id) = key_id else {
                return Ok(None);
            };
            tx.execute(
                INSERT,
                params![token_hash, account_id, key_id, session_id, read_only, now_ms, expires_ms],
            )?;
            Ok(Some(()))
        })
        .await
    }

    async fn open_portal_session(
        &self,
        link_token: &str,
        session: NewWebSession<'_>,
    ) -> Result<Option<PortalSignIn>> {
        let link_hash = hash_key(link_token);
        let (session_hash, csrf) = (hash_key(session.token), session.csrf.to_owned());
        let (now_ms, wanted_end) = (session.now_ms, session.expires_ms);
        self.write(move |tx| {
            let live: Option<(i64, i64, String, bool, i64)> = tx
                .query_row(LIVE, params![link_hash, now_ms], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            let Some((account_id, user_id, key_id, _read_only, link_end)) = live else {
                return Ok(None);
            };
            tx.execute(
                OPEN_SESSION,
                params![
                    session_hash,
                    user_id,
                    key_id,
                    csrf,
                    now_ms,
                    wanted_end.min(link_end),
                    link_hash
                ],
            )?;
            Ok(Some(PortalSignIn {
                user: block_now(accounts::by_id(&Lite(tx), user_id))??,
                account_id,
            }))
        })
        .await
    }

    async fn end_portal_token(&self, link_token: &str) -> Result<bool> {
        let link_hash = hash_key(link_token);
        self.write(move |tx| {
            tx.execute(END_SESSIONS, [&link_hash])?;
            Ok(tx.execute(END, [&link_hash])? > 0)
        })
        .await
    }

    async fn expire_portal_tokens(
        &self,
        account_id: i64,
        session_ids: Option<Vec<String>>,
        at_ms: i64,
    ) -> Result<()> {
        self.write(move |tx| {
            let each: Vec<(Option<String>, bool)> = match session_ids {
                None => vec![(None, false)],
                Some(ids) => ids.into_iter().map(|id| (Some(id), true)).collect(),
            };
            for (id, only) in each {
                // Sessions first: their statement finds them through the links' account.
                tx.execute(EXPIRE_SESSIONS, params![at_ms, account_id, only, id])?;
                tx.execute(EXPIRE_TOKENS, params![at_ms, account_id, only, id])?;
            }
            Ok(())
        })
        .await
    }
}
