//! Datasets, their collaborators and labelsets.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, EventType};
use datahooks_domain::model::{
    Collaborator, Dataset, LabelStatus, Labelset, Owner, Role, TaskType, GROUND_TRUTH,
};
use datahooks_domain::names;
use datahooks_domain::settings::DatasetSettings;

use super::db::Lite;
use super::{now, on_conflict, outbox};
use crate::shared::accounts;
use crate::shared::samples;
use crate::sql::block_now;
use crate::types::parse_role;
use crate::{CloneSpec, DatasetRef, Error, Page, Result};

const REF_SQL: &str = "SELECT d.id, d.owner_id, a.name, d.name, d.public, d.settings
     FROM datasets d JOIN accounts a ON a.id = d.owner_id";

fn ref_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(DatasetRef, String)> {
    let owner: String = r.get(2)?;
    let name: String = r.get(3)?;
    let settings: String = r.get(5)?;
    Ok((
        DatasetRef {
            id: r.get(0)?,
            owner_id: r.get(1)?,
            full_name: names::full_name(&owner, &name),
            owner,
            name,
            public: r.get(4)?,
            task_type: TaskType::Empty,
        },
        settings,
    ))
}

fn finish_ref((mut d, settings): (DatasetRef, String)) -> Result<DatasetRef> {
    let s: DatasetSettings = serde_json::from_str(&settings)?;
    d.task_type = s.task_type;
    Ok(d)
}

pub(crate) fn by_id(tx: &Transaction<'_>, id: i64) -> Result<DatasetRef> {
    finish_ref(tx.query_row(&format!("{REF_SQL} WHERE d.id = ?1"), [id], ref_row)?)
}

/// The caller's access to a dataset: ownership, organization role, collaboration, publicity.
pub(crate) fn access(tx: &Transaction<'_>, caller: i64, ds: &DatasetRef) -> Result<Access> {
    let org_role = block_now(accounts::org_role(&Lite(tx), ds.owner_id, caller))??;
    let collab: Option<String> = tx
        .query_row(
            "SELECT role FROM collaborators WHERE dataset_id = ?1 AND user_id = ?2",
            params![ds.id, caller],
            |r| r.get(0),
        )
        .optional()?;
    Ok(Access::resolve(
        ds.owner_id == caller,
        org_role,
        collab.as_deref().and_then(parse_role),
        ds.public,
    ))
}

pub(crate) fn find(
    tx: &Transaction<'_>,
    caller: i64,
    owner: &str,
    name: &str,
) -> Result<(DatasetRef, Access)> {
    let row = tx
        .query_row(
            &format!("{REF_SQL} WHERE a.name = ?1 AND d.name = ?2"),
            [owner, name],
            ref_row,
        )
        .optional()?
        .ok_or_else(Error::not_found)?;
    let ds = finish_ref(row)?;
    let access = access(tx, caller, &ds)?;
    if access == Access::None {
        return Err(Error::not_found());
    }
    Ok((ds, access))
}

pub(crate) fn view(tx: &Transaction<'_>, id: i64, access: Option<Access>) -> Result<Dataset> {
    let (name, created_at, cloned_from, settings, owner_name, owner_created, owner_email): (
        String,
        String,
        Option<String>,
        String,
        String,
        String,
        Option<String>,
    ) = tx.query_row(
        "SELECT d.name, d.created_at, d.cloned_from, d.settings, a.name, a.created_at, a.email
         FROM datasets d JOIN accounts a ON a.id = d.owner_id WHERE d.id = ?1",
        [id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        },
    )?;
    let settings: DatasetSettings = serde_json::from_str(&settings)?;
    let samples_count: i64 = tx.query_row(
        "SELECT COUNT(*) FROM samples WHERE dataset_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    let collaborators_count: i64 = tx.query_row(
        "SELECT COUNT(*) FROM collaborators WHERE dataset_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    let mut stmt = tx.prepare_cached(
        "SELECT l.label_status, COUNT(*) FROM labels l JOIN samples s ON s.uuid = l.sample_uuid
         WHERE s.dataset_id = ?1 AND l.labelset = ?2 GROUP BY l.label_status",
    )?;
    let counts = stmt
        .query_map(params![id, GROUND_TRUTH], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .filter_map(|row| row.ok())
        .filter_map(|(s, n)| LabelStatus::parse(&s).ok().map(|s| (s, n)))
        .collect::<Vec<_>>();
    Ok(Dataset {
        full_name: names::full_name(&owner_name, &name),
        name,
        owner: Owner {
            username: owner_name,
            created_at: owner_created,
            email: owner_email,
        },
        created_at,
        cloned_from,
        samples_count,
        collaborators_count,
        label_stats: Dataset::label_stats(&counts, samples_count),
        labelsets: labelsets(tx, id)?,
        role: access.and_then(|a| a.role_name()).map(str::to_owned),
        settings,
    })
}

pub(crate) fn list(
    tx: &Transaction<'_>,
    caller: i64,
    owner: &str,
    page: Page,
) -> Result<Vec<Dataset>> {
    let owner_acc = tx
        .query_row("SELECT id FROM accounts WHERE name = ?1", [owner], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .ok_or_else(Error::not_found)?;
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare("SELECT id FROM datasets WHERE owner_id = ?1 ORDER BY name")?;
        let rows = stmt.query_map([owner_acc], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut visible = Vec::new();
    for id in ids {
        let ds = by_id(tx, id)?;
        let a = access(tx, caller, &ds)?;
        if a != Access::None {
            visible.push((id, a));
        }
    }
    let start = page.offset() as usize;
    if page.page > 1 && start >= visible.len() {
        return Err(Error::InvalidPage);
    }
    visible
        .into_iter()
        .skip(start)
        .take(page.per_page as usize)
        .map(|(id, a)| view(tx, id, Some(a)))
        .collect()
}

fn insert(
    tx: &Transaction<'_>,
    owner_id: i64,
    name: &str,
    settings: &DatasetSettings,
    cloned_from: Option<&str>,
) -> Result<i64> {
    let name = names::dataset_name(name)?;
    let owner = block_now(accounts::by_id(&Lite(tx), owner_id))??;
    let (_, at) = now();
    tx.execute(
        "INSERT INTO datasets (owner_id, name, created_at, cloned_from, public, settings)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            owner_id,
            name,
            at,
            cloned_from,
            settings.public,
            serde_json::to_string(settings)?
        ],
    )
    .map_err(|e| {
        on_conflict(e, || {
            format!("A dataset named {}/{name} already exists.", owner.name)
        })
    })?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO labelsets (dataset_id, name, description, created_at) VALUES (?1, ?2, '', ?3)",
        params![id, GROUND_TRUTH, at],
    )?;
    Ok(id)
}

pub(crate) fn create(
    tx: &Transaction<'_>,
    owner_id: i64,
    name: &str,
    settings: DatasetSettings,
) -> Result<Dataset> {
    let id = insert(tx, owner_id, name, &settings, None)?;
    let ds = view(tx, id, Some(Access::Owner))?;
    outbox::emit(
        tx,
        &events::dataset_event(EventType::DatasetCreated, &without_role(&ds), now().0),
    )?;
    Ok(ds)
}

/// The dataset as events show it: the same JSON the API returns, without the caller's role.
pub(crate) fn without_role(ds: &Dataset) -> Dataset {
    let mut d = ds.clone();
    d.role = None;
    d
}

/// Emits `dataset.updated` with the dataset's current state.
pub(crate) fn emit_updated(tx: &Transaction<'_>, id: i64) -> Result<()> {
    let ds = view(tx, id, None)?;
    outbox::emit(
        tx,
        &events::dataset_event(EventType::DatasetUpdated, &ds, now().0),
    )
}

pub(crate) fn update(
    tx: &Transaction<'_>,
    ds: &DatasetRef,
    patch: &Map<String, Value>,
) -> Result<Dataset> {
    let current: String = tx.query_row(
        "SELECT settings FROM datasets WHERE id = ?1",
        [ds.id],
        |r| r.get(0),
    )?;
    let current: DatasetSettings = serde_json::from_str(&current)?;
    let next = current.patched(patch)?;
    tx.execute(
        "UPDATE datasets SET settings = ?2, public = ?3 WHERE id = ?1",
        params![ds.id, serde_json::to_string(&next)?, next.public],
    )?;
    emit_updated(tx, ds.id)?;
    view(tx, ds.id, None)
}

pub(crate) fn delete(tx: &Transaction<'_>, ds: &DatasetRef) -> Result<()> {
    let last = view(tx, ds.id, None)?;
    tx.execute("DELETE FROM datasets WHERE id = ?1", [ds.id])?;
    outbox::emit(
        tx,
        &events::dataset_event(EventType::DatasetDeleted, &last, now().0),
    )
}

pub(crate) fn clone(tx: &Transaction<'_>, src: &DatasetRef, spec: &CloneSpec) -> Result<Dataset> {
    let settings: String = tx.query_row(
        "SELECT settings FROM datasets WHERE id = ?1",
        [src.id],
        |r| r.get(0),
    )?;
    let settings: DatasetSettings = serde_json::from_str(&settings)?;
    let settings = settings.patched(&spec.overrides)?;
    let id = insert(
        tx,
        spec.owner_id,
        &spec.name,
        &settings,
        Some(&src.full_name),
    )?;
    // Extra labelsets come along; ground-truth was made by insert().
    tx.execute(
        "INSERT INTO labelsets (dataset_id, name, description, created_at)
         SELECT ?1, name, description, created_at FROM labelsets WHERE dataset_id = ?2 AND name != ?3",
        params![id, src.id, GROUND_TRUTH],
    )?;
    let ds = view(tx, id, None)?;
    outbox::emit(
        tx,
        &events::dataset_event(EventType::DatasetCreated, &ds, now().0),
    )?;
    block_now(samples::copy_all(
        &Lite(tx),
        src.id,
        id,
        spec.clone_labels,
        &spec.actor,
    ))??;
    view(tx, id, Some(Access::Owner))
}

// ---- collaborators -------------------------------------------------------------------

fn collaborator(tx: &Transaction<'_>, ds: &DatasetRef, user: &str) -> Result<Collaborator> {
    let account = block_now(accounts::by_name(&Lite(tx), user))?.map_err(|_| Error::not_found())?;
    let role: String = tx
        .query_row(
            "SELECT role FROM collaborators WHERE dataset_id = ?1 AND user_id = ?2",
            params![ds.id, account.id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(Error::not_found)?;
    Ok(Collaborator {
        user: accounts::plain_view(&account),
        role: parse_role(&role).unwrap_or(Role::Labeler),
    })
}

pub(crate) fn get_collaborator(
    tx: &Transaction<'_>,
    ds: &DatasetRef,
    user: &str,
) -> Result<Collaborator> {
    collaborator(tx, ds, user)
}

pub(crate) fn add_collaborator(
    tx: &Transaction<'_>,
    ds: &DatasetRef,
    user: &str,
    role: Role,
) -> Result<Collaborator> {
    let account = block_now(accounts::by_name(&Lite(tx), user))?
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
    tx.execute(
        "INSERT INTO collaborators (dataset_id, user_id, role) VALUES (?1, ?2, ?3)",
        params![ds.id, account.id, role.as_str()],
    )
    .map_err(|e| {
        on_conflict(e, || {
            format!("{user} is already a collaborator of {}.", ds.full_name)
        })
    })?;
    emit_updated(tx, ds.id)?;
    collaborator(tx, ds, user)
}

pub(crate) fn update_collaborator(
    tx: &Transaction<'_>,
    ds: &DatasetRef,
    user: &str,
    role: Role,
) -> Result<Collaborator> {
    let current = collaborator(tx, ds, user)?;
    tx.execute(
        "UPDATE collaborators SET role = ?3 WHERE dataset_id = ?1
         AND user_id = (SELECT id FROM accounts WHERE name = ?2)",
        params![ds.id, current.user.username, role.as_str()],
    )?;
    emit_updated(tx, ds.id)?;
    collaborator(tx, ds, user)
}

pub(crate) fn delete_collaborator(tx: &Transaction<'_>, ds: &DatasetRef, user: &str) -> Result<()> {
    collaborator(tx, ds, user)?;
    tx.execute(
        "DELETE FROM collaborators WHERE dataset_id = ?1
         AND user_id = (SELECT id FROM accounts WHERE name = ?2)",
        params![ds.id, user],
    )?;
    emit_updated(tx, ds.id)
}

// ---- labelsets -----------------------------------------------------------------------

pub(crate) fn labelsets(tx: &Transaction<'_>, dataset_id: i64) -> Result<Vec<Labelset>> {
    let mut stmt = tx.prepare_cached(
        "SELECT name, description, created_at FROM labelsets WHERE dataset_id = ?1
         ORDER BY name != ?2, created_at, name",
    )?;
    let rows = stmt.query_map(params![dataset_id, GROUND_TRUTH], |r| {
        let name: String = r.get(0)?;
        Ok(Labelset {
            is_groundtruth: name == GROUND_TRUTH,
            name,
            description: r.get(1)?,
            created_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn labelset(tx: &Transaction<'_>, ds: &DatasetRef, name: &str) -> Result<Labelset> {
    labelsets(tx, ds.id)?
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(Error::not_found)
}

pub(crate) fn add_labelset(
    tx: &Transaction<'_>,
    ds: &DatasetRef,
    name: &str,
    description: &str,
) -> Result<Labelset> {
    let name = names::path_segment_name(name, "labelset")?;
    let (_, at) = now();
    tx.execute(
        "INSERT INTO labelsets (dataset_id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![ds.id, name, description, at],
    )
    .map_err(|e| {
        on_conflict(e, || {
            format!(
                "A labelset named {name} already exists in {}.",
                ds.full_name
            )
        })
    })?;
    emit_updated(tx, ds.id)?;
    labelset(tx, ds, &name)
}

pub(crate) fn delete_labelset(tx: &Transaction<'_>, ds: &DatasetRef, name: &str) -> Result<()> {
    labelset(tx, ds, name)?;
    if name == GROUND_TRUTH {
        return Err(Error::invalid(
            "protected_labelset",
            "The ground-truth labelset cannot be deleted.",
        ));
    }
    tx.execute(
        "DELETE FROM labels WHERE labelset = ?2 AND sample_uuid IN (SELECT uuid FROM samples WHERE dataset_id = ?1)",
        params![ds.id, name],
    )?;
    tx.execute(
        "DELETE FROM labelsets WHERE dataset_id = ?1 AND name = ?2",
        params![ds.id, name],
    )?;
    emit_updated(tx, ds.id)
}
