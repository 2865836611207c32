//! Web sessions (see [`crate::sessions`]): one text for both backends. Only the tokens'
//! SHA-256 is stored.

use super::{accounts, datasets};
use crate::keys::hash_key;
use crate::sql::{from_cols, Cols, Db};
use crate::{Account, Error, NewWebSession, Result, WebSession};

/// Opens a session for the user of a live API key; `None` when the key is unknown or
/// revoked. Sessions that have ended are cleared out on the way.
pub(crate) async fn open(
    db: &impl Db,
    key: &str,
    new: &NewWebSession<'_>,
) -> Result<Option<Account>> {
    let Some((user_id, key_id)) = db
        .opt(
            "SELECT k.user_id, k.id FROM api_keys k JOIN accounts a ON a.id = k.user_id
             WHERE k.hash = $1 AND k.revoked_at IS NULL",
            &[&hash_key(key)],
            |r| Ok((r.get::<i64>("user_id")?, r.get::<String>("id")?)),
        )
        .await?
    else {
        return Ok(None);
    };
    db.exec(
        "DELETE FROM web_sessions WHERE expires_ms <= $1",
        &[&new.now_ms],
    )
    .await?;
    db.exec(
        "INSERT INTO web_sessions (token_hash, user_id, key_id, csrf, created_ms, expires_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &hash_key(new.token),
            &user_id,
            &key_id,
            &new.csrf,
            &new.now_ms,
            &new.expires_ms,
        ],
    )
    .await?;
    accounts::by_id(db, user_id).await.map(Some)
}

/// What a live session's row holds.
struct Found {
    user_id: i64,
    csrf: String,
    expires_ms: i64,
    portal_account: Option<i64>,
    read_only: Option<bool>,
}

/// The live session of a cookie token, if any.
pub(crate) async fn get(db: &impl Db, token: &str, now_ms: i64) -> Result<Option<WebSession>> {
    let Some(found) = db
        .opt(
            "SELECT s.user_id, s.csrf, s.expires_ms, p.account_id, p.read_only
             FROM web_sessions s
             JOIN api_keys k ON k.id = s.key_id AND k.revoked_at IS NULL
             JOIN accounts a ON a.id = s.user_id
             LEFT JOIN portal_tokens p ON p.token_hash = s.portal_token
             WHERE s.token_hash = $1 AND s.expires_ms > $2",
            &[&hash_key(token), &now_ms],
            |r| {
                Ok(from_cols!(r => Found {
                    user_id, csrf, expires_ms, portal_account = "account_id", read_only
                }))
            },
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(WebSession {
        user: accounts::by_id(db, found.user_id).await?,
        csrf: found.csrf,
        expires_ms: found.expires_ms,
        portal_account: found.portal_account,
        // NULL: the left join found no portal link, so not a portal session.
        read_only: found.read_only.unwrap_or(false),
    }))
}

/// Ends the session of a cookie token.
pub(crate) async fn end(db: &impl Db, token: &str) -> Result<()> {
    db.exec(
        "DELETE FROM web_sessions WHERE token_hash = $1",
        &[&hash_key(token)],
    )
    .await?;
    Ok(())
}

/// Ends every session a key opened (the key is being revoked).
pub(crate) async fn end_for_key(db: &impl Db, key_id: &str) -> Result<()> {
    db.exec("DELETE FROM web_sessions WHERE key_id = $1", &[&key_id])
        .await?;
    Ok(())
}

/// Deletes a user: its keys, memberships, web sessions and webhook set-up go with it (by
/// cascade), its collaborations too, each with the `dataset.updated` it owes. A user who still
/// owns datasets or assets is refused, so nothing is lost silently.
pub(crate) async fn delete_user(db: &impl Db, name: &str) -> Result<()> {
    let user = accounts::by_name(db, name)
        .await
        .map_err(|_| Error::not_found())?;
    if user.is_org {
        return Err(Error::invalid(
            "not_a_user",
            format!("{name} is an organization, not a user."),
        ));
    }
    let owned: i64 = db
        .one(
            "SELECT (SELECT COUNT(*) FROM datasets WHERE owner_id = $1)
                  + (SELECT COUNT(*) FROM assets WHERE owner_id = $1) AS n",
            &[&user.id],
            |r| r.get("n"),
        )
        .await?;
    if owned > 0 {
        return Err(crate::sessions::owns_data(name));
    }
    let collaborations = db
        .rows(
            "SELECT dataset_id FROM collaborators WHERE user_id = $1 ORDER BY dataset_id",
            &[&user.id],
            |r| r.get::<i64>("dataset_id"),
        )
        .await?;
    db.exec("DELETE FROM collaborators WHERE user_id = $1", &[&user.id])
        .await?;
    for id in collaborations {
        datasets::emit_updated(db, id).await?;
    }
    db.exec("DELETE FROM accounts WHERE id = $1", &[&user.id])
        .await?;
    Ok(())
}
