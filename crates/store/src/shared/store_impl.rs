//! [`Store`] (accounts, sessions, datasets, samples, labels, issues, releases, assets) for
//! both backends at once, through [`crate::both::on_both!`]: each method is one transaction
//! running the shared module functions. Before this, `sqlite/store_impl.rs` and
//! `postgres/store_impl.rs` said the same 59 methods twice, differing only in how they opened
//! the transaction.
//!
//! The transaction kinds are the ones each method had: `read_one` where PostgreSQL answered
//! the request path's single-statement reads (the key, an organization role) without
//! `BEGIN`/`COMMIT`. Asset sizes still call code that exists once per backend (`assets`), so
//! those two methods stand in the `sqlite`/`postgres` blocks.

use serde_json::{Map, Value};

use datahooks_domain::access::Access;
use datahooks_domain::inputs::{IssueInput, LabelInput, NewSample, SamplePatch};
use datahooks_domain::model::{
    Asset, Collaborator, Dataset, Issue, Label, Labelset, Release, Role, Sample, User,
};
use datahooks_domain::settings::DatasetSettings;

use crate::shared::{accounts, datasets, issues, outbox, releases, samples, sessions};
use crate::sql::Db;
use crate::{
    Account, CloneSpec, DatasetRef, Error, IssueRef, NewApiKey, NewWebSession, Page, Result,
    SampleQuery, SampleRef, StoredEvent, WebSession,
};

/// A new API key for the user `user`.
async fn create_api_key(db: &impl Db, user: &str) -> Result<NewApiKey> {
    let a = accounts::by_name(db, user).await?;
    // A key acts as its user; an organization acts only through its members' roles.
    if a.is_org {
        return Err(Error::invalid(
            "not_a_user",
            format!("{user} is an organization: API keys belong to users."),
        ));
    }
    accounts::new_key(db, a.id).await
}

/// Revokes a key and ends the web sessions bound to it, in one transaction.
async fn revoke_api_key(db: &impl Db, key_id: &str) -> Result<()> {
    accounts::revoke_key(db, key_id).await?;
    sessions::end_for_key(db, key_id).await
}

/// An account by name. Any failure of the lookup is answered `NotFound`, as both backends
/// answered it before (the shared lookup calls an unknown name an invalid input, which is
/// right where a name is an argument of a write).
async fn account(db: &impl Db, name: &str) -> Result<Account> {
    accounts::by_name(db, name)
        .await
        .map_err(|_| Error::not_found())
}

/// The API view of the account `name` (`NotFound` like [`account`]).
async fn user_view(db: &impl Db, name: &str, with_orgs: bool) -> Result<User> {
    let a = account(db, name).await?;
    accounts::view(db, &a, with_orgs).await
}

crate::both::on_both! {
    impl crate::Store;
    sqlite {
        async fn asset_others_size(&self, uuid: &str) -> Result<i64> {
            let uuid = uuid.to_owned();
            self.read(move |tx| crate::sqlite::assets::others_size(tx, &uuid))
                .await
        }
        async fn record_asset_size(&self, uuid: &str, size: i64, quota: i64) -> Result<bool> {
            let uuid = uuid.to_owned();
            self.write(move |tx| crate::sqlite::assets::record_size(tx, &uuid, size, quota))
                .await
        }
    }
    postgres {
        async fn asset_others_size(&self, uuid: &str) -> Result<i64> {
            crate::postgres::read_tx!(self, |tx| crate::postgres::assets::others_size(&tx, uuid)
                .await)
        }
        async fn record_asset_size(&self, uuid: &str, size: i64, quota: i64) -> Result<bool> {
            crate::postgres::write_tx!(self, |tx| crate::postgres::assets::record_size(
                &tx, uuid, size, quota
            )
            .await)
        }
    }

    // ---- accounts and keys ----
    write fn create_user(name: &str, email: Option<&str>) -> Result<(Account, NewApiKey)> =
        |db| accounts::create_user(db, name, email);
    write fn create_org(name: &str, owner: &str) -> Result<Account> =
        |db| accounts::create_org(db, name, owner);
    write fn add_org_member(org: &str, user: &str, role: Role) -> Result<()> =
        |db| accounts::add_member(db, org, user, role);
    write fn create_api_key(user: &str) -> Result<NewApiKey> = |db| create_api_key(db, user);
    write fn revoke_api_key(key_id: &str) -> Result<()> = |db| revoke_api_key(db, key_id);
    read_one fn authenticate(key: &str) -> Result<Option<Account>> =
        |db| accounts::authenticate(db, key);
    write fn open_web_session(key: &str, new: NewWebSession<'_>) -> Result<Option<Account>> =
        |db| sessions::open(db, key, &new);
    read fn web_session(token: &str, now_ms: i64) -> Result<Option<WebSession>> =
        |db| sessions::get(db, token, now_ms);
    write fn end_web_session(token: &str) -> Result<()> = |db| sessions::end(db, token);
    write fn delete_user(name: &str) -> Result<()> = |db| sessions::delete_user(db, name);
    read fn account(name: &str) -> Result<Account> = |db| account(db, name);
    read fn user_view(name: &str, with_orgs: bool) -> Result<User> =
        |db| user_view(db, name, with_orgs);
    read_one fn org_role(org_id: i64, user_id: i64) -> Result<Option<Role>> =
        |db| accounts::org_role(db, org_id, user_id);
    read fn managed_accounts(user_id: i64) -> Result<Vec<Account>> =
        |db| accounts::managed(db, user_id);
    write fn set_webhooks_enabled(account_id: i64, enabled: bool) -> Result<Account> =
        |db| accounts::set_webhooks(db, account_id, enabled);

    // ---- datasets ----
    read fn dataset_access(caller: i64, owner: &str, name: &str) -> Result<(DatasetRef, Access)> =
        |db| datasets::find(db, caller, owner, name);
    read fn list_datasets(caller: i64, owner: &str, page: Page) -> Result<Vec<Dataset>> =
        |db| datasets::list(db, caller, owner, page);
    read fn get_dataset(ds: &DatasetRef, access: Access) -> Result<Dataset> =
        |db| datasets::view(db, ds.id, Some(access));
    // Cloned: PostgreSQL may run the body again after a serialization failure.
    write fn create_dataset(owner_id: i64, name: &str, settings: DatasetSettings) -> Result<Dataset> =
        |db| datasets::create(db, owner_id, name, settings.clone());
    write fn update_dataset(ds: &DatasetRef, patch: Map<String, Value>) -> Result<Dataset> =
        |db| datasets::update(db, ds, patch);
    write fn delete_dataset(ds: &DatasetRef) -> Result<()> = |db| datasets::delete(db, ds);
    write fn clone_dataset(src: &DatasetRef, spec: CloneSpec) -> Result<Dataset> =
        |db| datasets::clone(db, src, spec);

    // ---- collaborators ----
    read fn get_collaborator(ds: &DatasetRef, user: &str) -> Result<Collaborator> =
        |db| datasets::get_collaborator(db, ds, user);
    write fn add_collaborator(ds: &DatasetRef, user: &str, role: Role) -> Result<Collaborator> =
        |db| datasets::add_collaborator(db, ds, user, role);
    write fn update_collaborator(ds: &DatasetRef, user: &str, role: Role) -> Result<Collaborator> =
        |db| datasets::update_collaborator(db, ds, user, role);
    write fn delete_collaborator(ds: &DatasetRef, user: &str) -> Result<()> =
        |db| datasets::delete_collaborator(db, ds, user);

    // ---- labelsets ----
    read fn list_labelsets(ds: &DatasetRef) -> Result<Vec<Labelset>> =
        |db| datasets::labelsets(db, ds.id);
    read fn get_labelset(ds: &DatasetRef, name: &str) -> Result<Labelset> =
        |db| datasets::labelset(db, ds, name);
    write fn add_labelset(ds: &DatasetRef, name: &str, description: &str) -> Result<Labelset> =
        |db| datasets::add_labelset(db, ds, name, description);
    write fn delete_labelset(ds: &DatasetRef, name: &str) -> Result<()> =
        |db| datasets::delete_labelset(db, ds, name);

    // ---- samples ----
    read fn list_samples(ds: &DatasetRef, q: &SampleQuery) -> Result<Vec<Sample>> =
        |db| samples::list(db, ds, q);
    read fn sample_access(caller: i64, uuid: &str) -> Result<(SampleRef, Access)> =
        |db| samples::find(db, caller, uuid);
    read fn get_sample(sr: &SampleRef, labelset: Option<&str>) -> Result<Sample> =
        |db| samples::get(db, sr, labelset);
    write fn create_samples(
        ds: &DatasetRef,
        new: Vec<NewSample>,
        actor: &str,
        skip_existing: bool,
    ) -> Result<Vec<Sample>> = |db| samples::create_many(db, ds, new, actor, skip_existing);
    write fn update_sample(sr: &SampleRef, patch: SamplePatch) -> Result<Sample> =
        |db| samples::update(db, sr, patch);
    write fn delete_samples(ds: &DatasetRef, uuids: &[String]) -> Result<u64> =
        |db| samples::delete_many(db, ds, uuids);

    // ---- labels ----
    read fn get_label(sr: &SampleRef, labelset: &str) -> Result<Label> =
        |db| samples::get_label(db, sr, labelset);
    write fn put_label(
        sr: &SampleRef,
        labelset: &str,
        input: LabelInput,
        replace: bool,
        actor: &str,
    ) -> Result<Label> = |db| samples::put_label(db, sr, labelset, input, replace, actor);
    write fn delete_label(sr: &SampleRef, labelset: &str) -> Result<()> =
        |db| samples::delete_label(db, sr, labelset);

    // ---- issues ----
    read fn list_issues(ds: &DatasetRef) -> Result<Vec<Issue>> = |db| issues::list(db, ds);
    read fn issue_access(caller: i64, uuid: &str) -> Result<(IssueRef, Access)> =
        |db| issues::find(db, caller, uuid);
    read fn get_issue(i: &IssueRef) -> Result<Issue> =
        |db| issues::view(db, &i.uuid, &i.dataset.full_name);
    write fn create_issue(sr: &SampleRef, input: IssueInput, actor: &str) -> Result<Issue> =
        |db| issues::create(db, sr, input, actor);
    write fn update_issue(i: &IssueRef, input: IssueInput, actor: &str) -> Result<Issue> =
        |db| issues::update(db, i, input, actor);
    write fn add_comment(i: &IssueRef, text: &str, actor: &str) -> Result<Issue> =
        |db| issues::comment(db, i, text, actor);
    write fn delete_issue(i: &IssueRef) -> Result<()> = |db| issues::delete(db, i);

    // ---- releases ----
    read fn list_releases(ds: &DatasetRef) -> Result<Vec<Release>> = |db| releases::list(db, ds);
    read fn get_release(ds: &DatasetRef, name: &str) -> Result<Release> =
        |db| releases::get(db, ds, name);
    write fn create_release(ds: &DatasetRef, name: &str, description: &str) -> Result<Release> =
        |db| releases::create(db, ds, name, description);
    write fn delete_release(ds: &DatasetRef, name: &str) -> Result<()> =
        |db| releases::delete(db, ds, name);
    read fn pending_releases() -> Result<Vec<String>> = |db| releases::pending(db);
    write fn build_release(uuid: &str, token: &str, url: &str) -> Result<Option<Release>> =
        |db| releases::build(db, uuid, token, url);
    write fn fail_release(uuid: &str) -> Result<()> = |db| releases::fail(db, uuid);
    read fn release_file(token: &str) -> Result<(String, String)> = |db| releases::file(db, token);

    // ---- assets (their sizes: see the `sqlite`/`postgres` blocks) ----
    write fn create_asset(owner_id: i64, filename: &str) -> Result<Asset> =
        |db| releases::create_asset(db, owner_id, filename);
    read fn asset(uuid: &str) -> Result<Asset> = |db| releases::asset(db, uuid);

    // ---- the event feed ----
    read fn events_after(after: i64, limit: i64) -> Result<Vec<StoredEvent>> =
        |db| outbox::after(db, after, limit);
}
