//! [`PortalStore`] for PostgreSQL: the shared SQL from `crate::portal`.

use async_trait::async_trait;

use super::db::Pg;
use super::{exec, opt, write_tx, PgStore};
use crate::keys::hash_key;
use crate::portal::{
    NewPortalToken, PortalSignIn, PortalStore, END, END_SESSIONS, EXPIRE_SESSIONS, EXPIRE_TOKENS,
    INSERT, KEY, LIVE, OPEN_SESSION,
};
use crate::shared::accounts;
use crate::{NewWebSession, Result};

#[async_trait]
impl PortalStore for PgStore {
    async fn create_portal_token(
        &self,
        api_key: &str,
        new: NewPortalToken<'_>,
    ) -> Result<Option<()>> {
        let (key_hash, token_hash) = (hash_key(api_key), hash_key(new.token));
        write_tx!(self, |tx| async {
            let Some(row) = opt(&tx, KEY, &[&key_hash]).await? else {
                return Ok(None);
            };
            let key_id: String = row.try_get(0)?;
            exec(
                &tx,
                INSERT,
                &[
                    &token_hash,
                    &new.account_id,
                    &key_id,
                    &new.session_id,
                    &new.read_only,
                    &new.now_ms,
                    &new.expires_ms,
                ],
            )
            .await?;
            Ok::<_, crate::Error>(Some(()))
        }
        .await)
    }

    async fn open_portal_session(
        &self,
        link_token: &str,
        session: NewWebSession<'_>,
    ) -> Result<Option<PortalSignIn>> {
        let (link_hash, session_hash) = (hash_key(link_token), hash_key(session.token));
        write_tx!(self, |tx| async {
            let Some(row) = opt(&tx, LIVE, &[&link_hash, &session.now_ms]).await? else {
                return Ok(None);
            };
            let account_id: i64 = row.try_get(0)?;
            let user_id: i64 = row.try_get(1)?;
            let key_id: String = row.try_get(2)?;
            let link_end: i64 = row.try_get(4)?;
            exec(
                &tx,
                OPEN_SESSION,
                &[
                    &session_hash,
                    &user_id,
                    &key_id,
                    &session.csrf,
                    &session.now_ms,
                    &session.expires_ms.min(link_end),
                    &link_hash,
                ],
            )
            .await?;
            Ok::<_, crate::Error>(Some(PortalSignIn {
                user: accounts::by_id(&Pg(&tx), user_id).await?,
                account_id,
            }))
        }
        .await)
    }

    async fn end_portal_token(&self, link_token: &str) -> Result<bool> {
        let link_hash = hash_key(link_token);
        write_tx!(self, |tx| async {
            exec(&tx, END_SESSIONS, &[&link_hash]).await?;
            Ok::<_, crate::Error>(exec(&tx, END, &[&link_hash]).await? > 0)
        }
        .await)
    }

    async fn expire_portal_tokens(
        &self,
        account_id: i64,
        session_ids: Option<Vec<String>>,
        at_ms: i64,
    ) -> Result<()> {
        let each: Vec<(Option<String>, bool)> = match session_ids {
            None => vec![(None, false)],
            Some(ids) => ids.into_iter().map(|id| (Some(id), true)).collect(),
        };
        write_tx!(self, |tx| async {
            for (id, only) in &each {
                // Sessions first: their statement finds them through the links' account.
                exec(&tx, EXPIRE_SESSIONS, &[&at_ms, &account_id, only, id]).await?;
                exec(&tx, EXPIRE_TOKENS, &[&at_ms, &account_id, only, id]).await?;
            }
            Ok::<_, crate::Error>(())
        }
        .await)
    }
}
