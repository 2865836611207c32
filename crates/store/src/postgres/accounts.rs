//! Users, organizations, memberships and API keys (PostgreSQL).

use tokio_postgres::Row;

use datahooks_domain::model::{Role, User};

use super::{exec, now, on_conflict, one, opt, rows, Tx};
use crate::keys::{hash_key, new_key_parts};
use crate::types::parse_role;
use crate::{Account, Error, NewApiKey, Result};

const ACCOUNT_COLS: &str = "id, name, is_org, email, created_at, webhooks_enabled";

pub(crate) fn account_row(r: &Row) -> Result<Account> {
    Ok(Account {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        is_org: r.try_get(2)?,
        email: r.try_get(3)?,
        created_at: r.try_get(4)?,
        webhooks_enabled: r.try_get(5)?,
    })
}

pub(crate) async fn by_name(tx: &Tx<'_>, name: &str) -> Result<Account> {
    let row = opt(
        tx,
        &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE name = $1"),
        &[&name],
    )
    .await?
    .ok_or_else(|| {
        Error::invalid(
            "unknown_account",
            format!("Account {name:?} does not exist."),
        )
    })?;
    account_row(&row)
}

pub(crate) async fn by_id(tx: &Tx<'_>, id: i64) -> Result<Account> {
    let row = one(
        tx,
        &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1"),
        &[&id],
    )
    .await?;
    account_row(&row)
}

async fn insert(tx: &Tx<'_>, name: &str, is_org: bool, email: Option<&str>) -> Result<Account> {
    let name = datahooks_domain::names::account_name(name)?;
    let (_, at) = now();
    let row = tx
        .query_one(
            &tx.prepare_cached(&format!(
                "INSERT INTO accounts (name, is_org, email, created_at) VALUES ($1, $2, $3, $4)
                 RETURNING {ACCOUNT_COLS}"
            ))
            .await?,
            &[&name, &is_org, &email, &at],
        )
        .await
        .map_err(|e| on_conflict(e, || format!("An account named {name} already exists.")))?;
    account_row(&row)
}

pub(crate) async fn new_key(tx: &Tx<'_>, user_id: i64) -> Result<NewApiKey> {
    let (id, key) = new_key_parts();
    let (_, at) = now();
    exec(
        tx,
        "INSERT INTO api_keys (id, user_id, hash, created_at) VALUES ($1, $2, $3, $4)",
        &[&id, &user_id, &hash_key(&key), &at],
    )
    .await?;
    Ok(NewApiKey { id, key })
}

pub(crate) async fn create_user(
    tx: &Tx<'_>,
    name: &str,
    email: Option<&str>,
) -> Result<(Account, NewApiKey)> {
    let account = insert(tx, name, false, email).await?;
    let key = new_key(tx, account.id).await?;
    Ok((account, key))
}

pub(crate) async fn create_org(tx: &Tx<'_>, name: &str, owner: &str) -> Result<Account> {
    let user = by_name(tx, owner).await?;
    if user.is_org {
        return Err(Error::invalid(
            "not_a_user",
            format!("{owner} is an organization, not a user."),
        ));
    }
    let org = insert(tx, name, true, None).await?;
    exec(
        tx,
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'admin')",
        &[&org.id, &user.id],
    )
    .await?;
    Ok(org)
}

pub(crate) async fn add_member(tx: &Tx<'_>, org: &str, user: &str, role: Role) -> Result<()> {
    let org = by_name(tx, org).await?;
    let user = by_name(tx, user).await?;
    if !org.is_org || user.is_org {
        return Err(Error::invalid(
            "invalid_member",
            "Members join organizations, and only users can be members.",
        ));
    }
    exec(
        tx,
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        &[&org.id, &user.id, &role.as_str()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn revoke_key(tx: &Tx<'_>, key_id: &str) -> Result<()> {
    let (_, at) = now();
    let n = exec(
        tx,
        "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        &[&key_id, &at],
    )
    .await?;
    if n == 0 {
        return Err(Error::not_found());
    }
    Ok(())
}

pub(crate) async fn authenticate(tx: &Tx<'_>, key: &str) -> Result<Option<Account>> {
    opt(
        tx,
        "SELECT a.id, a.name, a.is_org, a.email, a.created_at, a.webhooks_enabled
         FROM api_keys k JOIN accounts a ON a.id = k.user_id
         WHERE k.hash = $1 AND k.revoked_at IS NULL",
        &[&hash_key(key)],
    )
    .await?
    .as_ref()
    .map(account_row)
    .transpose()
}

pub(crate) async fn org_role(tx: &Tx<'_>, org_id: i64, user_id: i64) -> Result<Option<Role>> {
    let row = opt(
        tx,
        "SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2",
        &[&org_id, &user_id],
    )
    .await?;
    let role: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
    Ok(role.as_deref().and_then(parse_role))
}

pub(crate) async fn view(tx: &Tx<'_>, account: &Account, with_orgs: bool) -> Result<User> {
    let organizations = if with_orgs && !account.is_org {
        let found = rows(
            tx,
            "SELECT a.id, a.name, a.is_org, a.email, a.created_at, a.webhooks_enabled, m.role
             FROM org_members m JOIN accounts a ON a.id = m.org_id
             WHERE m.user_id = $1 ORDER BY a.name",
            &[&account.id],
        )
        .await?;
        let mut orgs = Vec::new();
        for row in &found {
            let org = account_row(row)?;
            let role: String = row.try_get(6)?;
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

pub(crate) async fn managed(tx: &Tx<'_>, user_id: i64) -> Result<Vec<Account>> {
    let mut out = vec![by_id(tx, user_id).await?];
    let found = rows(
        tx,
        "SELECT a.id, a.name, a.is_org, a.email, a.created_at, a.webhooks_enabled
         FROM org_members m JOIN accounts a ON a.id = m.org_id
         WHERE m.user_id = $1 AND m.role = 'admin' ORDER BY a.name",
        &[&user_id],
    )
    .await?;
    for row in &found {
        out.push(account_row(row)?);
    }
    Ok(out)
}

pub(crate) async fn set_webhooks(tx: &Tx<'_>, id: i64, enabled: bool) -> Result<Account> {
    exec(
        tx,
        "UPDATE accounts SET webhooks_enabled = $2 WHERE id = $1",
        &[&id, &enabled],
    )
    .await?;
    if !enabled {
        // After Disable nothing more is sent (`domain::delivery::cancels`).
        exec(
            tx,
            &crate::lifecycle::cancel_account_deliveries_sql(),
            &[&id],
        )
        .await?;
    }
    by_id(tx, id).await
}
