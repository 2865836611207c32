//! App portal links and the sessions they open (see [`crate::portal`]): one text for both
//! backends. Only the tokens' SHA-256 is stored.

use crate::keys::hash_key;
use crate::portal::{NewPortalToken, PortalSignIn};
use crate::sql::{from_cols, Cols, Db};
use crate::{NewWebSession, Result};

use super::accounts;

/// Records a link made with `api_key` (which must be live); `None` if it is not.
pub(crate) async fn create_token(
    db: &impl Db,
    api_key: &str,
    new: &NewPortalToken<'_>,
) -> Result<Option<()>> {
    let Some(key_id) = db
        .opt(
            "SELECT k.id FROM api_keys k WHERE k.hash = $1 AND k.revoked_at IS NULL",
            &[&hash_key(api_key)],
            |r| r.get::<String>("id"),
        )
        .await?
    else {
        return Ok(None);
    };
    db.exec(
        "INSERT INTO portal_tokens (token_hash, account_id, key_id, session_id, read_only,
             created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &hash_key(new.token),
            &new.account_id,
            &key_id,
            &new.session_id,
            &new.read_only,
            &new.now_ms,
            &new.expires_ms,
        ],
    )
    .await?;
    Ok(Some(()))
}

/// A live link: its account, its key's user and the key, and when it ends.
struct Live {
    account_id: i64,
    user_id: i64,
    key_id: String,
    expires_ms: i64,
}

/// Opens a web session from a live link, ending with the link at the latest; `None` when the
/// link is unknown, expired, ended, or its key revoked.
pub(crate) async fn open_session(
    db: &impl Db,
    link_token: &str,
    session: &NewWebSession<'_>,
) -> Result<Option<PortalSignIn>> {
    let link_hash = hash_key(link_token);
    let Some(live) = db
        .opt(
            "SELECT p.account_id, k.user_id, p.key_id, p.expires_ms
               FROM portal_tokens p JOIN api_keys k ON k.id = p.key_id AND k.revoked_at IS NULL
              WHERE p.token_hash = $1 AND p.expires_ms > $2",
            &[&link_hash, &session.now_ms],
            |r| Ok(from_cols!(r => Live { account_id, user_id, key_id, expires_ms })),
        )
        .await?
    else {
        return Ok(None);
    };
    db.exec(
        "INSERT INTO web_sessions (token_hash, user_id, key_id, csrf, created_ms, expires_ms,
             portal_token) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &hash_key(session.token),
            &live.user_id,
            &live.key_id,
            &session.csrf,
            &session.now_ms,
            &session.expires_ms.min(live.expires_ms),
            &link_hash,
        ],
    )
    .await?;
    Ok(Some(PortalSignIn {
        user: accounts::by_id(db, live.user_id).await?,
        account_id: live.account_id,
    }))
}

/// Ends a link and every session it opened; false when there was no such link.
pub(crate) async fn end_token(db: &impl Db, link_token: &str) -> Result<bool> {
    let link_hash = hash_key(link_token);
    db.exec(
        "DELETE FROM web_sessions WHERE portal_token = $1",
        &[&link_hash],
    )
    .await?;
    let n = db
        .exec(
            "DELETE FROM portal_tokens WHERE token_hash = $1",
            &[&link_hash],
        )
        .await?;
    Ok(n > 0)
}

/// Moves the end of the account's links, and of the sessions they opened, to `at_ms` at the
/// latest: all of them, or only those of the client session ids given.
pub(crate) async fn expire(
    db: &impl Db,
    account_id: i64,
    session_ids: Option<&[String]>,
    at_ms: i64,
) -> Result<()> {
    // `$3` false: every link of the account; true: the one whose session id is `$4`.
    let each: Vec<(Option<&str>, bool)> = match session_ids {
        None => vec![(None, false)],
        Some(ids) => ids.iter().map(|id| (Some(id.as_str()), true)).collect(),
    };
    for (id, only) in each {
        // Sessions first: their statement finds them through the links' account.
        db.exec(
            "UPDATE web_sessions
                SET expires_ms = CASE WHEN expires_ms > $1 THEN $1 ELSE expires_ms END
              WHERE portal_token IN (SELECT token_hash FROM portal_tokens
                                      WHERE account_id = $2 AND (NOT $3 OR session_id = $4))",
            &[&at_ms, &account_id, &only, &id],
        )
        .await?;
        db.exec(
            "UPDATE portal_tokens
                SET expires_ms = CASE WHEN expires_ms > $1 THEN $1 ELSE expires_ms END
              WHERE account_id = $2 AND (NOT $3 OR session_id = $4)",
            &[&at_ms, &account_id, &only, &id],
        )
        .await?;
    }
    Ok(())
}

/// A [`NewPortalToken`] that owns its token, to cross into SQLite's store thread.
pub(crate) struct OwnedPortalToken {
    token: String,
    new: NewPortalToken<'static>,
}

impl crate::both::Carry for NewPortalToken<'_> {
    type Own = OwnedPortalToken;
    type View<'v>
        = NewPortalToken<'v>
    where
        Self: 'v;
    fn carry(self) -> OwnedPortalToken {
        let NewPortalToken {
            token,
            account_id,
            session_id,
            read_only,
            now_ms,
            expires_ms,
        } = self;
        // The token is kept beside; the borrowed field is filled again by `view`.
        let new = NewPortalToken {
            token: "",
            account_id,
            session_id,
            read_only,
            now_ms,
            expires_ms,
        };
        OwnedPortalToken {
            token: token.to_owned(),
            new,
        }
    }
    fn view(own: &OwnedPortalToken) -> NewPortalToken<'_> {
        NewPortalToken {
            token: &own.token,
            ..own.new.clone()
        }
    }
}

crate::both::on_both! {
    impl crate::portal::PortalStore;
    write fn create_portal_token(api_key: &str, new: NewPortalToken<'_>) -> Result<Option<()>> =
        |db| create_token(db, api_key, &new);
    write fn open_portal_session(link_token: &str, session: NewWebSession<'_>)
        -> Result<Option<PortalSignIn>> = |db| open_session(db, link_token, &session);
    write fn end_portal_token(link_token: &str) -> Result<bool> = |db| end_token(db, link_token);
    write fn expire_portal_tokens(account_id: i64, session_ids: Option<Vec<String>>, at_ms: i64)
        -> Result<()> = |db| expire(db, account_id, session_ids.as_deref(), at_ms);
}
