//! Datasets, their collaborators and labelsets: one text for both backends.

use serde_json::{Map, Value};

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, EventType};
use datahooks_domain::model::{
    Collaborator, Dataset, LabelStatus, Labelset, Owner, Role, GROUND_TRUTH,
};
use datahooks_domain::names;
use datahooks_domain::settings::DatasetSettings;

use super::{accounts, now, on_conflict, role_of, samples};
use crate::sql::{from_cols, Cols, Db};
use crate::{CloneSpec, DatasetRef, Error, Page, Result};

const REF_SQL: &str = "SELECT d.id, d.owner_id, a.name AS owner, d.name, d.public, d.settings
     FROM datasets d JOIN accounts a ON a.id = d.owner_id";

fn ref_row(r: &impl Cols) -> Result<DatasetRef> {
    let owner: String = r.get("owner")?;
    let name: String = r.get("name")?;
    let s: DatasetSettings = serde_json::from_str(&r.get::<String>("settings")?)?;
    Ok(from_cols!(r => DatasetRef {
        id, owner_id, public,
        full_name: names::full_name(&owner, &name),
        owner: owner,
        name: name,
        task_type: s.task_type,
    }))
}

pub(crate) async fn by_id(db: &impl Db, id: i64) -> Result<DatasetRef> {
    let sql = format!("{REF_SQL} WHERE d.id = $1");
    db.one(&sql, &[&id], |r| ref_row(r)).await
}

/// The caller's access to a dataset: ownership, organization role, collaboration, publicity.
pub(crate) async fn access(db: &impl Db, caller: i64, ds: &DatasetRef) -> Result<Access> {
    let org_role = accounts::org_role(db, ds.owner_id, caller).await?;
    let collab = db
        .opt(
            "SELECT role FROM collaborators WHERE dataset_id = $1 AND user_id = $2",
            &[&ds.id, &caller],
            |r| role_of(&r.get::<String>("role")?),
        )
        .await?;
    Ok(Access::resolve(
        ds.owner_id == caller,
        org_role,
        collab,
        ds.public,
    ))
}

/// `ds` with the caller's access to it; a dataset the caller may not see is not found, so
/// that what it holds (samples, issues) does not reveal that it exists.
pub(crate) async fn visible(
    db: &impl Db,
    caller: i64,
    ds: DatasetRef,
) -> Result<(DatasetRef, Access)> {
    let access = access(db, caller, &ds).await?;
    if access == Access::None {
        return Err(Error::not_found());
    }
    Ok((ds, access))
}

pub(crate) async fn find(
    db: &impl Db,
    caller: i64,
    owner: &str,
    name: &str,
) -> Result<(DatasetRef, Access)> {
    let sql = format!("{REF_SQL} WHERE a.name = $1 AND d.name = $2");
    let ds = db.one(&sql, &[&owner, &name], |r| ref_row(r)).await?;
    visible(db, caller, ds).await
}

pub(crate) async fn view(db: &impl Db, id: i64, access: Option<Access>) -> Result<Dataset> {
    let counts: Vec<(LabelStatus, i64)> = db
        .rows(
            "SELECT l.label_status, COUNT(*) AS n FROM labels l JOIN samples s ON s.uuid = l.sample_uuid
             WHERE s.dataset_id = $1 AND l.labelset = $2 GROUP BY l.label_status",
            &[&id, &GROUND_TRUTH],
            |r| Ok((LabelStatus::parse(&r.get::<String>("label_status")?)?, r.get("n")?)),
        )
        .await?;
    let labelsets = labelsets(db, id).await?;
    db.one(
        "SELECT d.name, d.created_at, d.cloned_from, d.settings, a.name AS owner,
                a.created_at AS owner_created_at, a.email,
                (SELECT COUNT(*) FROM samples WHERE dataset_id = d.id) AS samples_count,
                (SELECT COUNT(*) FROM collaborators WHERE dataset_id = d.id) AS collaborators_count
         FROM datasets d JOIN accounts a ON a.id = d.owner_id WHERE d.id = $1",
        &[&id],
        |r| {
            let name: String = r.get("name")?;
            let owner: String = r.get("owner")?;
            let samples_count: i64 = r.get("samples_count")?;
            Ok(from_cols!(r => Dataset {
                created_at, cloned_from, collaborators_count,
                full_name: names::full_name(&owner, &name),
                name: name,
                owner: from_cols!(r => Owner {
                    email, created_at = "owner_created_at", username: owner
                }),
                samples_count: samples_count,
                label_stats: Dataset::label_stats(&counts, samples_count),
                labelsets: labelsets.clone(),
                role: access.and_then(|a| a.role_name()).map(str::to_owned),
                settings: serde_json::from_str(&r.get::<String>("settings")?)?,
            }))
        },
    )
    .await
}

pub(crate) async fn list(
    db: &impl Db,
    caller: i64,
    owner: &str,
    page: Page,
) -> Result<Vec<Dataset>> {
    let owner_id: i64 = db
        .one("SELECT id FROM accounts WHERE name = $1", &[&owner], |r| {
            r.get("id")
        })
        .await?;
    let sql = format!("{REF_SQL} WHERE d.owner_id = $1 ORDER BY d.name");
    let found = db.rows(&sql, &[&owner_id], |r| ref_row(r)).await?;
    let mut visible = Vec::new();
    for ds in &found {
        let a = access(db, caller, ds).await?;
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
        out.push(view(db, id, Some(a)).await?);
    }
    Ok(out)
}

async fn insert(
    db: &impl Db,
    owner_id: i64,
    name: &str,
    settings: &DatasetSettings,
    cloned_from: Option<&str>,
) -> Result<i64> {
    let name = names::dataset_name(name)?;
    let owner = accounts::by_id(db, owner_id).await?;
    let (_, at) = now();
    let id: i64 = db
        .one(
            "INSERT INTO datasets (owner_id, name, created_at, cloned_from, public, settings)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &owner_id,
                &name,
                &at,
                &cloned_from,
                &settings.public,
                &serde_json::to_string(settings)?,
            ],
            |r| r.get("id"),
        )
        .await
        .map_err(on_conflict(|| {
            format!("A dataset named {}/{name} already exists.", owner.name)
        }))?;
    db.exec(
        "INSERT INTO labelsets (dataset_id, name, description, created_at) VALUES ($1, $2, '', $3)",
        &[&id, &GROUND_TRUTH, &at],
    )
    .await?;
    Ok(id)
}

pub(crate) async fn create(
    db: &impl Db,
    owner_id: i64,
    name: &str,
    settings: DatasetSettings,
) -> Result<Dataset> {
    let id = insert(db, owner_id, name, &settings, None).await?;
    let ds = view(db, id, Some(Access::Owner)).await?;
    db.emit(&events::dataset_event(
        EventType::DatasetCreated,
        &without_role(&ds),
        now().0,
    ))
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
pub(crate) async fn emit_updated(db: &impl Db, id: i64) -> Result<()> {
    let ds = view(db, id, None).await?;
    db.emit(&events::dataset_event(
        EventType::DatasetUpdated,
        &ds,
        now().0,
    ))
    .await
}

/// The stored settings of a dataset, locked until the transaction ends where writers are
/// concurrent: two patches then apply one after the other instead of one overwriting the other.
async fn settings_for_update(db: &impl Db, id: i64) -> Result<DatasetSettings> {
    let sql = format!(
        "SELECT settings FROM datasets WHERE id = $1{}",
        db.dialect().lock_row()
    );
    let current: String = db.one(&sql, &[&id], |r| r.get("settings")).await?;
    Ok(serde_json::from_str(&current)?)
}

pub(crate) async fn update(
    db: &impl Db,
    ds: &DatasetRef,
    patch: &Map<String, Value>,
) -> Result<Dataset> {
    let current = settings_for_update(db, ds.id).await?;
    let next = current.patched(patch)?;
    db.exec(
        "UPDATE datasets SET settings = $2, public = $3 WHERE id = $1",
        &[&ds.id, &serde_json::to_string(&next)?, &next.public],
    )
    .await?;
    emit_updated(db, ds.id).await?;
    view(db, ds.id, None).await
}

pub(crate) async fn delete(db: &impl Db, ds: &DatasetRef) -> Result<()> {
    let last = view(db, ds.id, None).await?;
    db.exec("DELETE FROM datasets WHERE id = $1", &[&ds.id])
        .await?;
    db.emit(&events::dataset_event(
        EventType::DatasetDeleted,
        &last,
        now().0,
    ))
    .await
}

pub(crate) async fn clone(db: &impl Db, src: &DatasetRef, spec: &CloneSpec) -> Result<Dataset> {
    let settings: String = db
        .one(
            "SELECT settings FROM datasets WHERE id = $1",
            &[&src.id],
            |r| r.get("settings"),
        )
        .await?;
    let settings: DatasetSettings = serde_json::from_str(&settings)?;
    let settings = settings.patched(&spec.overrides)?;
    let id = insert(
        db,
        spec.owner_id,
        &spec.name,
        &settings,
        Some(&src.full_name),
    )
    .await?;
    // Extra labelsets come along; ground-truth was made by insert().
    db.exec(
        "INSERT INTO labelsets (dataset_id, name, description, created_at)
         SELECT $1, name, description, created_at FROM labelsets WHERE dataset_id = $2 AND name <> $3",
        &[&id, &src.id, &GROUND_TRUTH],
    )
    .await?;
    let ds = view(db, id, None).await?;
    db.emit(&events::dataset_event(
        EventType::DatasetCreated,
        &ds,
        now().0,
    ))
    .await?;
    samples::copy_all(db, src.id, id, spec.clone_labels, &spec.actor).await?;
    view(db, id, Some(Access::Owner)).await
}

// ---- collaborators -------------------------------------------------------------------

pub(crate) async fn get_collaborator(
    db: &impl Db,
    ds: &DatasetRef,
    user: &str,
) -> Result<Collaborator> {
    let account = accounts::by_name(db, user)
        .await
        .map_err(|_| Error::not_found())?;
    let role = db
        .one(
            "SELECT role FROM collaborators WHERE dataset_id = $1 AND user_id = $2",
            &[&ds.id, &account.id],
            |r| role_of(&r.get::<String>("role")?),
        )
        .await?;
    Ok(Collaborator {
        user: accounts::plain_view(&account),
        role,
    })
}

pub(crate) async fn add_collaborator(
    db: &impl Db,
    ds: &DatasetRef,
    user: &str,
    role: Role,
) -> Result<Collaborator> {
    let account = accounts::by_name(db, user)
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
    db.exec(
        "INSERT INTO collaborators (dataset_id, user_id, role) VALUES ($1, $2, $3)",
        &[&ds.id, &account.id, &role.as_str()],
    )
    .await
    .map_err(on_conflict(|| {
        format!("{user} is already a collaborator of {}.", ds.full_name)
    }))?;
    emit_updated(db, ds.id).await?;
    get_collaborator(db, ds, user).await
}

pub(crate) async fn update_collaborator(
    db: &impl Db,
    ds: &DatasetRef,
    user: &str,
    role: Role,
) -> Result<Collaborator> {
    let current = get_collaborator(db, ds, user).await?;
    db.exec(
        "UPDATE collaborators SET role = $3 WHERE dataset_id = $1
         AND user_id = (SELECT id FROM accounts WHERE name = $2)",
        &[&ds.id, &current.user.username, &role.as_str()],
    )
    .await?;
    emit_updated(db, ds.id).await?;
    get_collaborator(db, ds, user).await
}

pub(crate) async fn delete_collaborator(db: &impl Db, ds: &DatasetRef, user: &str) -> Result<()> {
    get_collaborator(db, ds, user).await?;
    db.exec(
        "DELETE FROM collaborators WHERE dataset_id = $1
         AND user_id = (SELECT id FROM accounts WHERE name = $2)",
        &[&ds.id, &user],
    )
    .await?;
    emit_updated(db, ds.id).await
}

// ---- labelsets -----------------------------------------------------------------------

pub(crate) async fn labelsets(db: &impl Db, dataset_id: i64) -> Result<Vec<Labelset>> {
    db.rows(
        "SELECT name, description, created_at FROM labelsets WHERE dataset_id = $1
         ORDER BY name <> $2, created_at, name",
        &[&dataset_id, &GROUND_TRUTH],
        |r| {
            let name: String = r.get("name")?;
            Ok(from_cols!(r => Labelset {
                description, created_at, is_groundtruth: name == GROUND_TRUTH, name: name
            }))
        },
    )
    .await
}

pub(crate) async fn labelset(db: &impl Db, ds: &DatasetRef, name: &str) -> Result<Labelset> {
    labelsets(db, ds.id)
        .await?
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(Error::not_found)
}

pub(crate) async fn add_labelset(
    db: &impl Db,
    ds: &DatasetRef,
    name: &str,
    description: &str,
) -> Result<Labelset> {
    let name = names::path_segment_name(name, "labelset")?;
    let (_, at) = now();
    db.exec(
        "INSERT INTO labelsets (dataset_id, name, description, created_at) VALUES ($1, $2, $3, $4)",
        &[&ds.id, &name, &description, &at],
    )
    .await
    .map_err(on_conflict(|| {
        format!(
            "A labelset named {name} already exists in {}.",
            ds.full_name
        )
    }))?;
    emit_updated(db, ds.id).await?;
    labelset(db, ds, &name).await
}

pub(crate) async fn delete_labelset(db: &impl Db, ds: &DatasetRef, name: &str) -> Result<()> {
    labelset(db, ds, name).await?;
    if name == GROUND_TRUTH {
        return Err(Error::invalid(
            "protected_labelset",
            "The ground-truth labelset cannot be deleted.",
        ));
    }
    db.exec(
        "DELETE FROM labels WHERE labelset = $2
         AND sample_uuid IN (SELECT uuid FROM samples WHERE dataset_id = $1)",
        &[&ds.id, &name],
    )
    .await?;
    db.exec(
        "DELETE FROM labelsets WHERE dataset_id = $1 AND name = $2",
        &[&ds.id, &name],
    )
    .await?;
    emit_updated(db, ds.id).await
}
