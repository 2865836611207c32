//! Users, organizations, memberships and API keys.

use rusqlite::{params, OptionalExtension, Transaction};

use datahooks_domain::model::{Role, User};

use super::{now, on_conflict};
use crate::types::parse_role;
use crate::{Account, Error, NewApiKey, Result};

const ACCOUNT_COLS: &str = "id, name, is_org, email, created_at, webhooks_enabled";

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        name: r.get(1)?,
        is_org: r.get(2)?,
        email: r.get(3)?,
        created_at: r.get(4)?,
        webhooks_enabled: r.get(5)?,
    })
}

pub(crate) fn by_name(tx: &Transaction<'_>, name: &str) -> Result<Account> {
    tx.query_row(
        &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE name = ?1"),
        [name],
        account_row,
    )
    .optional()?
    .ok_or_else(|| {
        Error::invalid(
            "unknown_account",
            format!("Account {name:?} does not exist."),
        )
    })
}

pub(crate) fn by_id(tx: &Transaction<'_>, id: i64) -> Result<Account> {
    Ok(tx.query_row(
        &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = ?1"),
        [id],
        account_row,
    )?)
}

fn insert(tx: &Transaction<'_>, name: &str, is_org: bool, email: Option<&str>) -> Result<Account> {
    let name = datahooks_domain::names::account_name(name)?;
    let (_, at) = now();
    tx.execute(
        "INSERT INTO accounts (name, is_org, email, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, is_org, email, at],
    )
    .map_err(|e| on_conflict(e, || format!("An account named {name} already exists.")))?;
    by_id(tx, tx.last_insert_rowid())
}

pub(crate) fn hash_key(key: &str) -> String {
    crate::keys::hash_key(key)
}

pub(crate) fn new_key(tx: &Transaction<'_>, user_id: i64) -> Result<NewApiKey> {
    let (id, key) = crate::keys::new_key_parts();
    let (_, at) = now();
    tx.execute(
        "INSERT INTO api_keys (id, user_id, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, user_id, hash_key(&key), at],
    )?;
    Ok(NewApiKey { id, key })
}

pub(crate) fn create_user(
    tx: &Transaction<'_>,
    name: &str,
    email: Option<&str>,
) -> Result<(Account, NewApiKey)> {
    let account = insert(tx, name, false, email)?;
    let key = new_key(tx, account.id)?;
    Ok((account, key))
}

pub(crate) fn create_org(tx: &Transaction<'_>, name: &str, owner: &str) -> Result<Account> {
    let user = by_name(tx, owner)?;
    if user.is_org {
        return Err(Error::invalid(
            "not_a_user",
            format!("{owner} is an organization, not a user."),
        ));
    }
    let org = insert(tx, name, true, None)?;
    tx.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES (?1, ?2, 'admin')",
        params![org.id, user.id],
    )?;
    Ok(org)
}

pub(crate) fn add_member(tx: &Transaction<'_>, org: &str, user: &str, role: Role) -> Result<()> {
    let org = by_name(tx, org)?;
    let user = by_name(tx, user)?;
    if !org.is_org || user.is_org {
        return Err(Error::invalid(
            "invalid_member",
            "Members join organizations, and only users can be members.",
        ));
    }
    tx.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        params![org.id, user.id, role.as_str()],
    )?;
    Ok(())
}

pub(crate) fn revoke_key(tx: &Transaction<'_>, key_id: &str) -> Result<()> {
    let (_, at) = now();
    let n = tx.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![key_id, at],
    )?;
    if n == 0 {
        return Err(Error::not_found());
    }
    Ok(())
}

pub(crate) fn authenticate(tx: &Transaction<'_>, key: &str) -> Result<Option<Account>> {
    Ok(tx
        .query_row(
            "SELECT a.id, a.name, a.is_org, a.email, a.created_at, a.webhooks_enabled
             FROM api_keys k JOIN accounts a ON a.id = k.user_id
             WHERE k.hash = ?1 AND k.revoked_at IS NULL",
            [hash_key(key)],
            account_row,
        )
        .optional()?)
}

pub(crate) fn org_role(tx: &Transaction<'_>, org_id: i64, user_id: i64) -> Result<Option<Role>> {
    let role: Option<String> = tx
        .query_row(
            "SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2",
            params![org_id, user_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(role.as_deref().and_then(parse_role))
}

pub(crate) fn view(tx: &Transaction<'_>, account: &Account, with_orgs: bool) -> Result<User> {
    let organizations = if with_orgs && !account.is_org {
        let mut stmt = tx.prepare(
            "SELECT a.id, a.name, a.is_org, a.email, a.created_at, a.webhooks_enabled, m.role
             FROM org_members m JOIN accounts a ON a.id = m.org_id
             WHERE m.user_id = ?1 ORDER BY a.name",
        )?;
        let rows = stmt.query_map([account.id], |r| {
            Ok((account_row(r)?, r.get::<_, String>(6)?))
        })?;
        let mut orgs = Vec::new();
        for row in rows {
            let (org, role) = row?;
            let mut u = plain_view(&org);
            u.organization_role = parse_role(&role);
            orgs.push(u);
        }
        Some(orgs)
    } else {
        None
    };
    let mut u = plain_view(account);
    u.organizations = organizations;
    Ok(u)
}

pub(crate) fn plain_view(a: &Account) -> User {
    User {
        username: a.name.clone(),
        email: a.email.clone(),
        created_at: a.created_at.clone(),
        is_organization: a.is_org,
        webhooks_enabled: a.webhooks_enabled,
        organizations: None,
        organization_role: None,
    }
}

pub(crate) fn managed(tx: &Transaction<'_>, user_id: i64) -> Result<Vec<Account>> {
    let mut out = vec![by_id(tx, user_id)?];
    let mut stmt = tx.prepare(
        "SELECT a.id, a.name, a.is_org, a.email, a.created_at, a.webhooks_enabled
         FROM org_members m JOIN accounts a ON a.id = m.org_id
         WHERE m.user_id = ?1 AND m.role = 'admin' ORDER BY a.name",
    )?;
    for row in stmt.query_map([user_id], account_row)? {
        out.push(row?);
    }
    Ok(out)
}

pub(crate) fn set_webhooks(tx: &Transaction<'_>, id: i64, enabled: bool) -> Result<Account> {
    tx.execute(
        "UPDATE accounts SET webhooks_enabled = ?2 WHERE id = ?1",
        params![id, enabled],
    )?;
    if !enabled {
        // After Disable nothing more is sent (`domain::delivery::cancels`).
        tx.execute(&crate::lifecycle::cancel_account_deliveries_sql(), [id])?;
    }
    by_id(tx, id)
}
