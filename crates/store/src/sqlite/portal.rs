//! [`PortalStore`] for SQLite: the shared SQL of `crate::shared::portal`.

use async_trait::async_trait;

use super::db::Lite;
use super::SqliteStore;
use crate::portal::{NewPortalToken, PortalSignIn, PortalStore};
use crate::sessions::OwnedWebSession;
use crate::shared::portal;
use crate::sql::block_now;
use crate::{NewWebSession, Result};

#[async_trait]
impl PortalStore for SqliteStore {
    async fn create_portal_token(
        &self,
        api_key: &str,
        new: NewPortalToken<'_>,
    ) -> Result<Option<()>> {
        let (api_key, token) = (api_key.to_owned(), new.token.to_owned());
        let NewPortalToken {
            account_id,
            session_id,
            read_only,
            now_ms,
            expires_ms,
            ..
        } = new;
        self.write(move |tx| {
            let new = NewPortalToken {
                token: &token,
                account_id,
                session_id,
                read_only,
                now_ms,
                expires_ms,
            };
            block_now(portal::create_token(&Lite(tx), &api_key, &new))?
        })
        .await
    }

    async fn open_portal_session(
        &self,
        link_token: &str,
        session: NewWebSession<'_>,
    ) -> Result<Option<PortalSignIn>> {
        let (link, session) = (link_token.to_owned(), OwnedWebSession::of(&session));
        self.write(move |tx| block_now(portal::open_session(&Lite(tx), &link, &session.as_new()))?)
            .await
    }

    async fn end_portal_token(&self, link_token: &str) -> Result<bool> {
        let link = link_token.to_owned();
        self.write(move |tx| block_now(portal::end_token(&Lite(tx), &link))?)
            .await
    }

    async fn expire_portal_tokens(
        &self,
        account_id: i64,
        session_ids: Option<Vec<String>>,
        at_ms: i64,
    ) -> Result<()> {
        self.write(move |tx| {
            block_now(portal::expire(
                &Lite(tx),
                account_id,
                session_ids.as_deref(),
                at_ms,
            ))?
        })
        .await
    }
}
