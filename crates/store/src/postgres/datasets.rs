//! Datasets, their collaborators and labelsets (PostgreSQL).

use serde_json::{Map, Value};
use tokio_postgres::Row;

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, EventType};
use datahooks_domain::model::{
    Collaborator, Dataset, LabelStatus, Labelset, Owner, Role, GROUND_TRUTH,
};
use datahooks_domain::names;
use datahooks_domain::settings::DatasetSettings;

use super::db::Pg;
use super::{exec, now, on_conflict, one, opt, outbox, rows, Tx};
use crate::shared::accounts;
use crate::shared::samples;
use crate::types::parse_role;
use crate::{CloneSpec, DatasetRef, Error, Page, Result};

const REF_SQL: &str = "SELECT d.id, d.owner_id, a.name, d.name, d.public, d.settings
     FROM datasets d JOIN accounts a ON a.id = d.owner_id";

fn ref_row(r: &Row) -> Result<DatasetRef> {
    let owner: String = r.try_get(2)?;
    let name: String = r.try_get(3)?;
    let settings: String = r.try_get(5)?;
    let s: DatasetSettings = serde_json::from_str(&settings)?;
    Ok(DatasetRef {
        id: r.try_get(0)?,
        owner_id: r.try_get(1)?,
        full_name: names::full_name(&owner, &name),
        owner,
        name,
        public: r.try_get(4)?,
        task_type: s.task_type,
    })
}

pub(crate) async fn by_id(tx: &Tx<'_>, id: i64) -> Result<DatasetRef> {
    ref_row(&one(tx, &format!("{REF_SQL} WHERE d.id = $1"), &[&id]).await?)
}

/// The caller's access to a dataset: ownership, organization role, collaboration, publicity.
pub(crate) async fn access(tx: &Tx<'_>, caller: i64, ds: &DatasetRef) -> Result<Access> {
    let org_role = accounts::org_role(&Pg(tx), ds.owner_id, caller).await?;
    let collab: Option<String> = opt(
        tx,
        "SELECT role FROM collaborators WHERE dataset_id = $1 AND user_id = $2",
        &[&ds.id, &caller],
    )
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    Ok(Access::resolve(
        ds.owner_id == caller,
        org_role,
        collab.as_deref().and_then(parse_role),
        ds.public,
    ))
}

pub(crate) async fn find(
    tx: &Tx<'_>,
    caller: i64,
    owner: &str,
    name: &str,
) -> Result<(DatasetRef, Access)> {
    let row = one(
        tx,
        &format!("{REF_SQL} WHERE a.name = $1 AND d.name = $2"),
        &[&owner, &name],
    )
    .await?;
    let ds = ref_row(&row)?;
    let access = access(tx, caller, &ds).await?;
    if access == Access::None {
        return Err(Error::not_found());
    }
    Ok((ds, access))
}

pub(crate) async fn view(tx: &Tx<'_>, id: i64, access: Option<Access>) -> Result<Dataset> {
    let row = one(
        tx,
        "SELECT d.name, d.created_at, d.cloned_from, d.settings, a.name, a.created_at, a.email,
                (SELECT COUNT(*) FROM samples WHERE dataset_id = d.id),
                (SELECT COUNT(*) FROM collaborators WHERE dataset_id = d.id)
         FROM datasets d JOIN accounts a ON a.id = d.owner_id WHERE d.id = $1",
        &[&id],
    )
    .await?;
    let name: String = row.try_get(0)?;
    let settings: String = row.try_get(3)?;
    let settings: DatasetSettings = serde_json::from_str(&settings)?;
    let owner_name: String = row.try_get(4)?;
    let samples_count: i64 = row.try_get(7)?;
    let collaborators_count: i64 = row.try_get(8)?;
    let counts = rows(
        tx,
        "SELECT l.label_status, COUNT(*) FROM labels l JOIN samples s ON s.uuid = l.sample_uuid
         WHERE s.dataset_id = $1 AND l.labelset = $2 GROUP BY l.label_status",
        &[&id, &GROUND_TRUTH],
    )
    .await?
    .iter()
    .filter_map(|r| {
        let status: String = r.try_get(0).ok()?;
        let n: i64 = r.try_get(1).ok()?;
        LabelStatus::parse(&status).ok().map(|s| (s, n))
    })
    .collect::<Vec<_>>();
    Ok(Dataset {
        full_name: names::full_name(&owner_name, &name),
        name,
        owner: Owner {
            username: owner_name,
            created_at: row.try_get(5)?,
            email: row.try_get(6)?,
        },
        created_at: row.try_get(1)?,
        cloned_from: row.try_get(2)?,
        samples_count,
        collaborators_count,
        label_stats: Dataset::label_stats(&counts, samples_count),
        labelsets: labelsets(tx, id).await?,
        role: access.and_then(|a| a.role_name()).map(str::to_owned),
        settings,
    })
}

pub(crate) async fn list(
    tx: &Tx<'_>,
    caller: i64,
    owner: &str,
    page: Page,
) -> Result<Vec<Dataset>> {
    let owner_acc: i64 = one(tx, "SELECT id FROM accounts WHERE name = $1", &[&owner])
        .await?
        .try_get(0)?;
    let found = rows(
        tx,
        &format!("{REF_SQL} WHERE d.owner_id = $1 ORDER BY d.name"),
        &[&owner_acc],
    )
    .await?;
    let mut visible = Vec::new();
    for row in &found {
        let ds = ref_row(row)?;
        let a = access(tx, caller, &ds).await?;
        if a != Access::None {
            visible.push((ds.id, a));
        }
    }
    let start = page.offset() as usize;
    if page.page > 1 && start >= visible.len() {
        return Err(Error::InvalidPage);
    }
    let mut out = Vec::new();
    for (id, a) in visible.into_iter().skip(start).take(page.per_page as usize) {
        out.push(view(tx, id, Some(a)).await?);
    }
    Ok(out)
}

async fn insert(
    tx: &Tx<'_>,
    owner_id: i64,
    name: &str,
    settings: &DatasetSettings,
    cloned_from: Option<&str>,
) -> Result<i64> {
    let name = names::dataset_name(name)?;
    let owner = accounts::by_id(&Pg(tx), owner_id).await?;
    let (_, at) = now();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO datasets (owner_id, name, created_at, cloned_from, public, settings)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &owner_id,
                &name,
                &at,
                &cloned_from,
                &settings.public,
                &serde_json::to_string(settings)?,
            ],
        )
        .await
        .map_err(|e| {
            on_conflict(e, || {
                format!("A dataset named {}/{name} already exists.", owner.name)
            })
        })?;
    let id: i64 = row.try_get(0)?;
    exec(
        tx,
        "INSERT INTO labelsets (dataset_id, name, description, created_at) VALUES ($1, $2, '', $3)",
        &[&id, &GROUND_TRUTH, &at],
    )
    .await?;
    Ok(id)
}

pub(crate) async fn create(
    tx: &Tx<'_>,
    owner_id: i64,
    name: &str,
    settings: DatasetSettings,
) -> Result<Dataset> {
    let id = insert(tx, owner_id, name, &settings, None).await?;
    let ds = view(tx, id, Some(Access::Owner)).await?;
    outbox::emit(
        tx,
        &events::dataset_event(EventType::DatasetCreated, &without_role(&ds), now().0),
    )
    .await?;
    Ok(ds)
}

/// The dataset as events show it: the same JSON the API returns, without the caller's role.
pub(crate) fn without_role(ds: &Dataset) -> Dataset {
    let mut d = ds.clone();
    d.role = None;
    d
}

/// Emits `dataset.updated` with the dataset's current state.
pub(crate) async fn emit_updated(tx: &Tx<'_>, id: i64) -> Result<()> {
    let ds = view(tx, id, None).await?;
    outbox::emit(
        tx,
        &events::dataset_event(EventType::DatasetUpdated, &ds, now().0),
    )
    .await
}

/// The stored settings of a dataset, locked until the transaction ends: two concurrent
/// patches then apply one after the other instead of one overwriting the other.
async fn settings_for_update(tx: &Tx<'_>, id: i64) -> Result<DatasetSettings> {
    let current: String = one(
        tx,
        "SELECT settings FROM datasets WHERE id = $1 FOR NO KEY UPDATE",
        &[&id],
    )
    .await?
    .try_get(0)?;
    Ok(serde_json::from_str(&current)?)
}

pub(crate) async fn update(
    tx: &Tx<'_>,
    ds: &DatasetRef,
    patch: &Map<String, Value>,
) -> Result<Dataset> {
    let current = settings_for_update(tx, ds.id).await?;
    let next = current.patched(patch)?;
    exec(
        tx,
        "UPDATE datasets SET settings = $2, public = $3 WHERE id = $1",
        &[&ds.id, &serde_json::to_string(&next)?, &next.public],
    )
    .await?;
    emit_updated(tx, ds.id).await?;
    view(tx, ds.id, None).await
}

pub(crate) async fn delete(tx: &Tx<'_>, ds: &DatasetRef) -> Result<()> {
    let last = view(tx, ds.id, None).await?;
    exec(tx, "DELETE FROM datasets WHERE id = $1", &[&ds.id]).await?;
    outbox::emit(
        tx,
        &events::dataset_event(EventType::DatasetDeleted, &last, now().0),
    )
    .await
}

pub(crate) async fn clone(tx: &Tx<'_>, src: &DatasetRef, spec: &CloneSpec) -> Result<Dataset> {
    let settings: String = one(
        tx,
        "SELECT settings FROM datasets WHERE id = $1",
        &[&src.id],
    )
    .await?
    .try_get(0)?;
    let settings: DatasetSettings = serde_json::from_str(&settings)?;
    let settings = settings.patched(&spec.overrides)?;
    let id = insert(
        tx,
        spec.owner_id,
        &spec.name,
        &settings,
        Some(&src.full_name),
    )
    .await?;
    // Extra labelsets come along; ground-truth was made by insert().
    exec(
        tx,
        "INSERT INTO labelsets (dataset_id, name, description, created_at)
         SELECT $1, name, description, created_at FROM labelsets WHERE dataset_id = $2 AND name <> $3",
        &[&id, &src.id, &GROUND_TRUTH],
    )
    .await?;
    let ds = view(tx, id, None).await?;
    outbox::emit(
        tx,
        &events::dataset_event(EventType::DatasetCreated, &ds, now().0),
    )
    .await?;
    samples::copy_all(&Pg(tx), src.id, id, spec.clone_labels, &spec.actor).await?;
    view(tx, id, Some(Access::Owner)).await
}

// ---- collaborators -------------------------------------------------------------------

async fn collaborator(tx: &Tx<'_>, ds: &DatasetRef, user: &str) -> Result<Collaborator> {
    let account = accounts::by_name(&Pg(tx), user)
        .await
        .map_err(|_| Error::not_found())?;
    let role: String = one(
        tx,
        "SELECT role FROM collaborators WHERE dataset_id = $1 AND user_id = $2",
        &[&ds.id, &account.id],
    )
    .await?
    .try_get(0)?;
    Ok(Collaborator {
        user: accounts::plain_view(&account),
        role: parse_role(&role).unwrap_or(Role::Labeler),
    })
}

pub(crate) async fn get_collaborator(
    tx: &Tx<'_>,
    ds: &DatasetRef,
    user: &str,
) -> Result<Collaborator> {
    collaborator(tx, ds, user).await
}

pub(crate) async fn add_collaborator(
    tx: &Tx<'_>,
    ds: &DatasetRef,
    user: &str,
    role: Role,
) -> Result<Collaborator> {
    let account = accounts::by_name(&Pg(tx), user)
        .await
        .map_err(|_| Error::invalid("unknown_user", format!("User {user} does not exist.")))?;
    if account.is_org {
        return Err(Error::invalid(
            "invalid_collaborator",
            format!("{user} is an organization and cannot be added as collaborator."),
        ));
    }
    if account.id == ds.owner_id {
        return Err(Error::invalid(
            "invalid_collaborator",
            format!("{user} owns this dataset and cannot be added as collaborator."),
        ));
    }
    let stmt = tx
        .prepare_cached("INSERT INTO collaborators (dataset_id, user_id, role) VALUES ($1, $2, $3)")
        .await?;
    tx.execute(&stmt, &[&ds.id, &account.id, &role.as_str()])
        .await
        .map_err(|e| {
            on_conflict(e, || {
                format!("{user} is already a collaborator of {}.", ds.full_name)
            })
        })?;
    emit_updated(tx, ds.id).await?;
    collaborator(tx, ds, user).await
}

pub(crate) async fn update_collaborator(
    tx: &Tx<'_>,
    ds: &DatasetRef,
    user: &str,
    role: Role,
) -> Result<Collaborator> {
    let current = collaborator(tx, ds, user).await?;
    exec(
        tx,
        "UPDATE collaborators SET role = $3 WHERE dataset_id = $1
         AND user_id = (SELECT id FROM accounts WHERE name = $2)",
        &[&ds.id, &current.user.username, &role.as_str()],
    )
    .await?;
    emit_updated(tx, ds.id).await?;
    collaborator(tx, ds, user).await
}

pub(crate) async fn delete_collaborator(tx: &Tx<'_>, ds: &DatasetRef, user: &str) -> Result<()> {
    collaborator(tx, ds, user).await?;
    exec(
        tx,
        "DELETE FROM collaborators WHERE dataset_id = $1
         AND user_id = (SELECT id FROM accounts WHERE name = $2)",
        &[&ds.id, &user],
    )
    .await?;
    emit_updated(tx, ds.id).await
}

// ---- labelsets -----------------------------------------------------------------------

pub(crate) async fn labelsets(tx: &Tx<'_>, dataset_id: i64) -> Result<Vec<Labelset>> {
    rows(
        tx,
        "SELECT name, description, created_at FROM labelsets WHERE dataset_id = $1
         ORDER BY name <> $2, created_at, name",
        &[&dataset_id, &GROUND_TRUTH],
    )
    .await?
    .iter()
    .map(|r| {
        let name: String = r.try_get(0)?;
        Ok(Labelset {
            is_groundtruth: name == GROUND_TRUTH,
            name,
            description: r.try_get(1)?,
            created_at: r.try_get(2)?,
        })
    })
    .collect()
}

pub(crate) async fn labelset(tx: &Tx<'_>, ds: &DatasetRef, name: &str) -> Result<Labelset> {
    labelsets(tx, ds.id)
        .await?
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(Error::not_found)
}

pub(crate) async fn add_labelset(
    tx: &Tx<'_>,
    ds: &DatasetRef,
    name: &str,
    description: &str,
) -> Result<Labelset> {
    let name = names::path_segment_name(name, "labelset")?;
    let (_, at) = now();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO labelsets (dataset_id, name, description, created_at) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(&stmt, &[&ds.id, &name, &description, &at])
        .await
        .map_err(|e| {
            on_conflict(e, || {
                format!(
                    "A labelset named {name} already exists in {}.",
                    ds.full_name
                )
            })
        })?;
    emit_updated(tx, ds.id).await?;
    labelset(tx, ds, &name).await
}

pub(crate) async fn delete_labelset(tx: &Tx<'_>, ds: &DatasetRef, name: &str) -> Result<()> {
    labelset(tx, ds, name).await?;
    if name == GROUND_TRUTH {
        return Err(Error::invalid(
            "protected_labelset",
            "The ground-truth labelset cannot be deleted.",
        ));
    }
    exec(
        tx,
        "DELETE FROM labels WHERE labelset = $2 AND sample_uuid IN (SELECT uuid FROM samples WHERE dataset_id = $1)",
        &[&ds.id, &name],
    )
    .await?;
    exec(
        tx,
        "DELETE FROM labelsets WHERE dataset_id = $1 AND name = $2",
        &[&ds.id, &name],
    )
    .await?;
    emit_updated(tx, ds.id).await
}
