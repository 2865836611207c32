//! [`PortalStore`] for PostgreSQL: the shared SQL of `crate::shared::portal`.

use async_trait::async_trait;

use super::db::Pg;
use super::{write_tx, PgStore};
use crate::portal::{NewPortalToken, PortalSignIn, PortalStore};
use crate::shared::portal;
use crate::{NewWebSession, Result};

#[async_trait]
impl PortalStore for PgStore {
    async fn create_portal_token(
        &self,
        api_key: &str,
        new: NewPortalToken<'_>,
    ) -> Result<Option<()>> {
        write_tx!(self, |tx| portal::create_token(&Pg(&tx), api_key, &new)
            .await)
    }

    async fn open_portal_session(
        &self,
        link_token: &str,
        session: NewWebSession<'_>,
    ) -> Result<Option<PortalSignIn>> {
        write_tx!(self, |tx| portal::open_session(
            &Pg(&tx),
            link_token,
            &session
        )
        .await)
    }

    async fn end_portal_token(&self, link_token: &str) -> Result<bool> {
        write_tx!(self, |tx| portal::end_token(&Pg(&tx), link_token).await)
    }

    async fn expire_portal_tokens(
        &self,
        account_id: i64,
        session_ids: Option<Vec<String>>,
        at_ms: i64,
    ) -> Result<()> {
        write_tx!(self, |tx| portal::expire(
            &Pg(&tx),
            account_id,
            session_ids.as_deref(),
            at_ms
        )
        .await)
    }
}
