//! Web sessions (PostgreSQL); see [`crate::sessions`].

use super::db::Pg;
use super::{exec, opt, Tx};
use crate::keys::hash_key;
use crate::shared::accounts;
use crate::shared::datasets;
use crate::{Account, NewWebSession, Result, WebSession};

pub(crate) async fn open(
    tx: &Tx<'_>,
    key: &str,
    new: &NewWebSession<'_>,
) -> Result<Option<Account>> {
    let Some(row) = opt(
        tx,
        "SELECT k.user_id, k.id FROM api_keys k JOIN accounts a ON a.id = k.user_id
         WHERE k.hash = $1 AND k.revoked_at IS NULL",
        &[&hash_key(key)],
    )
    .await?
    else {
        return Ok(None);
    };
    let user_id: i64 = row.try_get(0)?;
    let key_id: String = row.try_get(1)?;
    exec(
        tx,
        "DELETE FROM web_sessions WHERE expires_ms <= $1",
        &[&new.now_ms],
    )
    .await?;
    exec(
        tx,
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
    accounts::by_id(&Pg(tx), user_id).await.map(Some)
}

pub(crate) async fn get(tx: &Tx<'_>, token: &str, now_ms: i64) -> Result<Option<WebSession>> {
    let Some(row) = opt(
        tx,
        "SELECT s.user_id, s.csrf, s.expires_ms, p.account_id, p.read_only
         FROM web_sessions s
         JOIN api_keys k ON k.id = s.key_id AND k.revoked_at IS NULL
         JOIN accounts a ON a.id = s.user_id
         LEFT JOIN portal_tokens p ON p.token_hash = s.portal_token
         WHERE s.token_hash = $1 AND s.expires_ms > $2",
        &[&hash_key(token), &now_ms],
    )
    .await?
    else {
        return Ok(None);
    };
    let user_id: i64 = row.try_get(0)?;
    Ok(Some(WebSession {
        user: accounts::by_id(&Pg(tx), user_id).await?,
        csrf: row.try_get(1)?,
        expires_ms: row.try_get(2)?,
        portal_account: row.try_get(3)?,
        // NULL: the left join found no portal link, so not a portal session.
        read_only: row.try_get::<_, Option<bool>>(4)?.unwrap_or(false),
    }))
}

pub(crate) async fn end(tx: &Tx<'_>, token: &str) -> Result<()> {
    exec(
        tx,
        "DELETE FROM web_sessions WHERE token_hash = $1",
        &[&hash_key(token)],
    )
    .await?;
    Ok(())
}

/// Ends every session a key opened (the key is being revoked).
pub(crate) async fn end_for_key(tx: &Tx<'_>, key_id: &str) -> Result<()> {
    exec(tx, "DELETE FROM web_sessions WHERE key_id = $1", &[&key_id]).await?;
    Ok(())
}

/// Deletes a user; see the SQLite backend's `delete_user` for what goes with it.
pub(crate) async fn delete_user(tx: &Tx<'_>, name: &str) -> Result<()> {
    let user = accounts::by_name(&Pg(tx), name)
        .await
        .map_err(|_| crate::Error::not_found())?;
    if user.is_org {
        return Err(crate::Error::invalid(
            "not_a_user",
            format!("{name} is an organization, not a user."),
        ));
    }
    let row = super::one(
        tx,
        "SELECT (SELECT COUNT(*) FROM datasets WHERE owner_id = $1)
              + (SELECT COUNT(*) FROM assets WHERE owner_id = $1)",
        &[&user.id],
    )
    .await?;
    let owned: i64 = row.try_get(0)?;
    if owned > 0 {
        return Err(crate::sessions::owns_data(name));
    }
    let datasets: Vec<i64> = super::rows(
        tx,
        "SELECT dataset_id FROM collaborators WHERE user_id = $1 ORDER BY dataset_id",
        &[&user.id],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<std::result::Result<_, _>>()?;
    exec(
        tx,
        "DELETE FROM collaborators WHERE user_id = $1",
        &[&user.id],
    )
    .await?;
    for id in datasets {
        datasets::emit_updated(&Pg(tx), id).await?;
    }
    exec(tx, "DELETE FROM accounts WHERE id = $1", &[&user.id]).await?;
    Ok(())
}
