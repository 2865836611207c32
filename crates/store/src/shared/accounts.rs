//! Users, organizations, memberships and API keys: one text for both backends.

use datahooks_domain::model::{Role, User};

use super::{now, on_conflict, role_of};
use crate::keys::{hash_key, new_key_parts};
use crate::sql::{from_cols, Cols, Db};
use crate::{Account, Error, NewApiKey, Result};

const ACCOUNT_COLS: &str = "a.id, a.name, a.is_org, a.email, a.created_at, a.webhooks_enabled";

pub(crate) fn account_row(r: &impl Cols) -> Result<Account> {
    Ok(from_cols!(r => Account { id, name, is_org, email, created_at, webhooks_enabled }))
}

pub(crate) async fn by_name(db: &impl Db, name: &str) -> Result<Account> {
    let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.name = $1");
    db.opt(&sql, &[&name], |r| account_row(r))
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "unknown_account",
                format!("Account {name:?} does not exist."),
            )
        })
}

pub(crate) async fn by_id(db: &impl Db, id: i64) -> Result<Account> {
    let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.id = $1");
    db.one(&sql, &[&id], |r| account_row(r)).await
}

async fn insert(db: &impl Db, name: &str, is_org: bool, email: Option<&str>) -> Result<Account> {
    let name = datahooks_domain::names::account_name(name)?;
    let (_, at) = now();
    let id: i64 = db
        .one(
            "INSERT INTO accounts (name, is_org, email, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
            &[&name, &is_org, &email, &at],
            |r| r.get("id"),
        )
        .await
        .map_err(on_conflict(|| {
            format!("An account named {name} already exists.")
        }))?;
    by_id(db, id).await
}

pub(crate) async fn new_key(db: &impl Db, user_id: i64) -> Result<NewApiKey> {
    let (id, key) = new_key_parts();
    let (_, at) = now();
    db.exec(
        "INSERT INTO api_keys (id, user_id, hash, created_at) VALUES ($1, $2, $3, $4)",
        &[&id, &user_id, &hash_key(&key), &at],
    )
    .await?;
    Ok(NewApiKey { id, key })
}

pub(crate) async fn create_user(
    db: &impl Db,
    name: &str,
    email: Option<&str>,
) -> Result<(Account, NewApiKey)> {
    let account = insert(db, name, false, email).await?;
    let key = new_key(db, account.id).await?;
    Ok((account, key))
}

pub(crate) async fn create_org(db: &impl Db, name: &str, owner: &str) -> Result<Account> {
    let user = by_name(db, owner).await?;
    if user.is_org {
        return Err(Error::invalid(
            "not_a_user",
            format!("{owner} is an organization, not a user."),
        ));
    }
    let org = insert(db, name, true, None).await?;
    db.exec(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'admin')",
        &[&org.id, &user.id],
    )
    .await?;
    Ok(org)
}

pub(crate) async fn add_member(db: &impl Db, org: &str, user: &str, role: Role) -> Result<()> {
    let org = by_name(db, org).await?;
    let user = by_name(db, user).await?;
    if !org.is_org || user.is_org {
        return Err(Error::invalid(
            "invalid_member",
            "Members join organizations, and only users can be members.",
        ));
    }
    db.exec(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        &[&org.id, &user.id, &role.as_str()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn revoke_key(db: &impl Db, key_id: &str) -> Result<()> {
    let (_, at) = now();
    let n = db
        .exec(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&key_id, &at],
        )
        .await?;
    if n == 0 {
        return Err(Error::not_found());
    }
    Ok(())
}

pub(crate) async fn authenticate(db: &impl Db, key: &str) -> Result<Option<Account>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLS} FROM api_keys k JOIN accounts a ON a.id = k.user_id
         WHERE k.hash = $1 AND k.revoked_at IS NULL"
    );
    db.opt(&sql, &[&hash_key(key)], |r| account_row(r)).await
}

pub(crate) async fn org_role(db: &impl Db, org_id: i64, user_id: i64) -> Result<Option<Role>> {
    db.opt(
        "SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2",
        &[&org_id, &user_id],
        |r| role_of(&r.get::<String>("role")?),
    )
    .await
}

pub(crate) async fn view(db: &impl Db, account: &Account, with_orgs: bool) -> Result<User> {
    let organizations = if with_orgs && !account.is_org {
        let sql = format!(
            "SELECT {ACCOUNT_COLS}, m.role FROM org_members m JOIN accounts a ON a.id = m.org_id
             WHERE m.user_id = $1 ORDER BY a.name"
        );
        let orgs = db
            .rows(&sql, &[&account.id], |r| {
                let mut u = plain_view(&account_row(r)?);
                u.organization_role = Some(role_of(&r.get::<String>("role")?)?);
                Ok(u)
            })
            .await?;
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

/// The user's own account, then the organizations they administer.
pub(crate) async fn managed(db: &impl Db, user_id: i64) -> Result<Vec<Account>> {
    let mut out = vec![by_id(db, user_id).await?];
    let sql = format!(
        "SELECT {ACCOUNT_COLS} FROM org_members m JOIN accounts a ON a.id = m.org_id
         WHERE m.user_id = $1 AND m.role = 'admin' ORDER BY a.name"
    );
    out.extend(db.rows(&sql, &[&user_id], |r| account_row(r)).await?);
    Ok(out)
}

pub(crate) async fn set_webhooks(db: &impl Db, id: i64, enabled: bool) -> Result<Account> {
    db.exec(
        "UPDATE accounts SET webhooks_enabled = $2 WHERE id = $1",
        &[&id, &enabled],
    )
    .await?;
    if !enabled {
        // After Disable nothing more is sent (`domain::delivery::cancels`).
        db.exec(&crate::lifecycle::cancel_account_deliveries_sql(), &[&id])
            .await?;
    }
    by_id(db, id).await
}
