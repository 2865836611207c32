//! Web sessions (SQLite); see [`crate::sessions`].

use rusqlite::{params, OptionalExtension, Transaction};

use super::db::Lite;
use crate::keys::hash_key;
use crate::shared::accounts;
use crate::shared::datasets;
use crate::sql::block_now;
use crate::{Account, NewWebSession, Result, WebSession};

pub(crate) fn open(
    tx: &Transaction<'_>,
    key: &str,
    new: &NewWebSession<'_>,
) -> Result<Option<Account>> {
    let found: Option<(i64, String)> = tx
        .query_row(
            "SELECT k.user_id, k.id FROM api_keys k JOIN accounts a ON a.id = k.user_id
             WHERE k.hash = ?1 AND k.revoked_at IS NULL",
            [hash_key(key)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((user_id, key_id)) = found else {
        return Ok(None);
    };
    tx.execute(
        "DELETE FROM web_sessions WHERE expires_ms <= ?1",
        [new.now_ms],
    )?;
    tx.execute(
        "INSERT INTO web_sessions (token_hash, user_id, key_id, csrf, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            hash_key(new.token),
            user_id,
            key_id,
            new.csrf,
            new.now_ms,
            new.expires_ms
        ],
    )?;
    block_now(accounts::by_id(&Lite(tx), user_id))?.map(Some)
}

pub(crate) fn get(tx: &Transaction<'_>, token: &str, now_ms: i64) -> Result<Option<WebSession>> {
    type Found = (i64, String, i64, Option<i64>, Option<bool>);
    let found: Option<Found> = tx
        .query_row(
            "SELECT s.user_id, s.csrf, s.expires_ms, p.account_id, p.read_only
             FROM web_sessions s
             JOIN api_keys k ON k.id = s.key_id AND k.revoked_at IS NULL
             JOIN accounts a ON a.id = s.user_id
             LEFT JOIN portal_tokens p ON p.token_hash = s.portal_token
             WHERE s.token_hash = ?1 AND s.expires_ms > ?2",
            params![hash_key(token), now_ms],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((user_id, csrf, expires_ms, portal_account, read_only)) = found else {
        return Ok(None);
    };
    Ok(Some(WebSession {
        user: block_now(accounts::by_id(&Lite(tx), user_id))??,
        csrf,
        expires_ms,
        portal_account,
        // NULL: the left join found no portal link, so not a portal session.
        read_only: read_only.unwrap_or(false),
    }))
}

pub(crate) fn end(tx: &Transaction<'_>, token: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM web_sessions WHERE token_hash = ?1",
        [hash_key(token)],
    )?;
    Ok(())
}

/// Ends every session a key opened (the key is being revoked).
pub(crate) fn end_for_key(tx: &Transaction<'_>, key_id: &str) -> Result<()> {
    tx.execute("DELETE FROM web_sessions WHERE key_id = ?1", [key_id])?;
    Ok(())
}

/// Deletes a user: its keys, memberships, web sessions and webhook set-up go with it (by
/// cascade), its collaborations too, each with the `dataset.updated` it owes. A user who still
/// owns datasets or assets is refused, so nothing is lost silently.
pub(crate) fn delete_user(tx: &Transaction<'_>, name: &str) -> Result<()> {
    let user =
        block_now(accounts::by_name(&Lite(tx), name))?.map_err(|_| crate::Error::not_found())?;
    if user.is_org {
        return Err(crate::Error::invalid(
            "not_a_user",
            format!("{name} is an organization, not a user."),
        ));
    }
    let owned: i64 = tx.query_row(
        "SELECT (SELECT COUNT(*) FROM datasets WHERE owner_id = ?1)
              + (SELECT COUNT(*) FROM assets WHERE owner_id = ?1)",
        [user.id],
        |r| r.get(0),
    )?;
    if owned > 0 {
        return Err(crate::sessions::owns_data(name));
    }
    let mut stmt = tx.prepare("SELECT dataset_id FROM collaborators WHERE user_id = ?1")?;
    let datasets = stmt
        .query_map([user.id], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.execute("DELETE FROM collaborators WHERE user_id = ?1", [user.id])?;
    for id in datasets {
        block_now(datasets::emit_updated(&Lite(tx), id))??;
    }
    tx.execute("DELETE FROM accounts WHERE id = ?1", [user.id])?;
    Ok(())
}
