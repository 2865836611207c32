//! [`Store`] for SQLite: each method is one transaction running the module functions.

use async_trait::async_trait;
use serde_json::{Map, Value};

use datahooks_domain::access::Access;
use datahooks_domain::inputs::{IssueInput, LabelInput, NewSample, SamplePatch};
use datahooks_domain::model::{
    Asset, Collaborator, Dataset, Issue, Label, Labelset, Release, Role, Sample, User,
};
use datahooks_domain::settings::DatasetSettings;

use super::db::Lite;
use super::{assets, outbox, SqliteStore};
use crate::sessions::OwnedWebSession;
use crate::shared::accounts;
use crate::shared::datasets;
use crate::shared::{issues, releases, samples, sessions};
use crate::sql::block_now;
use crate::{
    Account, CloneSpec, DatasetRef, IssueRef, NewApiKey, NewWebSession, Page, Result, SampleQuery,
    SampleRef, Store, StoredEvent, WebSession,
};

fn s(v: &str) -> String {
    v.to_owned()
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, name: &str, email: Option<&str>) -> Result<(Account, NewApiKey)> {
        let (name, email) = (s(name), email.map(s));
        self.write(move |tx| block_now(accounts::create_user(&Lite(tx), &name, email.as_deref()))?)
            .await
    }
    async fn create_org(&self, name: &str, owner: &str) -> Result<Account> {
        let (name, owner) = (s(name), s(owner));
        self.write(move |tx| block_now(accounts::create_org(&Lite(tx), &name, &owner))?)
            .await
    }
    async fn add_org_member(&self, org: &str, user: &str, role: Role) -> Result<()> {
        let (org, user) = (s(org), s(user));
        self.write(move |tx| block_now(accounts::add_member(&Lite(tx), &org, &user, role))?)
            .await
    }
    async fn create_api_key(&self, user: &str) -> Result<NewApiKey> {
        let user = s(user);
        self.write(move |tx| {
            let a = block_now(accounts::by_name(&Lite(tx), &user))??;
            // A key acts as its user; an organization acts only through its members' roles.
            if a.is_org {
                return Err(crate::Error::invalid(
                    "not_a_user",
                    format!("{user} is an organization: API keys belong to users."),
                ));
            }
            block_now(accounts::new_key(&Lite(tx), a.id))?
        })
        .await
    }
    async fn revoke_api_key(&self, key_id: &str) -> Result<()> {
        let key_id = s(key_id);
        self.write(move |tx| {
            block_now(accounts::revoke_key(&Lite(tx), &key_id))??;
            block_now(sessions::end_for_key(&Lite(tx), &key_id))?
        })
        .await
    }
    async fn authenticate(&self, key: &str) -> Result<Option<Account>> {
        let key = s(key);
        self.read(move |tx| block_now(accounts::authenticate(&Lite(tx), &key))?)
            .await
    }
    async fn open_web_session(&self, key: &str, new: NewWebSession<'_>) -> Result<Option<Account>> {
        let (key, new) = (s(key), OwnedWebSession::of(&new));
        self.write(move |tx| block_now(sessions::open(&Lite(tx), &key, &new.as_new()))?)
            .await
    }
    async fn web_session(&self, token: &str, now_ms: i64) -> Result<Option<WebSession>> {
        let token = s(token);
        self.read(move |tx| block_now(sessions::get(&Lite(tx), &token, now_ms))?)
            .await
    }
    async fn end_web_session(&self, token: &str) -> Result<()> {
        let token = s(token);
        self.write(move |tx| block_now(sessions::end(&Lite(tx), &token))?)
            .await
    }
    async fn delete_user(&self, name: &str) -> Result<()> {
        let name = s(name);
        self.write(move |tx| block_now(sessions::delete_user(&Lite(tx), &name))?)
            .await
    }
    async fn account(&self, name: &str) -> Result<Account> {
        let name = s(name);
        self.read(move |tx| {
            block_now(accounts::by_name(&Lite(tx), &name))?.map_err(|_| crate::Error::not_found())
        })
        .await
    }
    async fn user_view(&self, name: &str, with_orgs: bool) -> Result<User> {
        let name = s(name);
        self.read(move |tx| {
            let a = block_now(accounts::by_name(&Lite(tx), &name))?
                .map_err(|_| crate::Error::not_found())?;
            block_now(accounts::view(&Lite(tx), &a, with_orgs))?
        })
        .await
    }
    async fn org_role(&self, org_id: i64, user_id: i64) -> Result<Option<Role>> {
        self.read(move |tx| block_now(accounts::org_role(&Lite(tx), org_id, user_id))?)
            .await
    }
    async fn managed_accounts(&self, user_id: i64) -> Result<Vec<Account>> {
        self.read(move |tx| block_now(accounts::managed(&Lite(tx), user_id))?)
            .await
    }
    async fn set_webhooks_enabled(&self, account_id: i64, enabled: bool) -> Result<Account> {
        self.write(move |tx| block_now(accounts::set_webhooks(&Lite(tx), account_id, enabled))?)
            .await
    }

    async fn dataset_access(
        &self,
        caller: i64,
        owner: &str,
        name: &str,
    ) -> Result<(DatasetRef, Access)> {
        let (owner, name) = (s(owner), s(name));
        self.read(move |tx| block_now(datasets::find(&Lite(tx), caller, &owner, &name))?)
            .await
    }
    async fn list_datasets(&self, caller: i64, owner: &str, page: Page) -> Result<Vec<Dataset>> {
        let owner = s(owner);
        self.read(move |tx| block_now(datasets::list(&Lite(tx), caller, &owner, page))?)
            .await
    }
    async fn get_dataset(&self, ds: &DatasetRef, access: Access) -> Result<Dataset> {
        let id = ds.id;
        self.read(move |tx| block_now(datasets::view(&Lite(tx), id, Some(access)))?)
            .await
    }
    async fn create_dataset(
        &self,
        owner_id: i64,
        name: &str,
        settings: DatasetSettings,
    ) -> Result<Dataset> {
        let name = s(name);
        self.write(move |tx| block_now(datasets::create(&Lite(tx), owner_id, &name, settings))?)
            .await
    }
    async fn update_dataset(&self, ds: &DatasetRef, patch: Map<String, Value>) -> Result<Dataset> {
        let ds = ds.clone();
        self.write(move |tx| block_now(datasets::update(&Lite(tx), &ds, &patch))?)
            .await
    }
    async fn delete_dataset(&self, ds: &DatasetRef) -> Result<()> {
        let ds = ds.clone();
        self.write(move |tx| block_now(datasets::delete(&Lite(tx), &ds))?)
            .await
    }
    async fn clone_dataset(&self, src: &DatasetRef, spec: CloneSpec) -> Result<Dataset> {
        let src = src.clone();
        self.write(move |tx| block_now(datasets::clone(&Lite(tx), &src, &spec))?)
            .await
    }

    async fn get_collaborator(&self, ds: &DatasetRef, user: &str) -> Result<Collaborator> {
        let (ds, user) = (ds.clone(), s(user));
        self.read(move |tx| block_now(datasets::get_collaborator(&Lite(tx), &ds, &user))?)
            .await
    }
    async fn add_collaborator(
        &self,
        ds: &DatasetRef,
        user: &str,
        role: Role,
    ) -> Result<Collaborator> {
        let (ds, user) = (ds.clone(), s(user));
        self.write(move |tx| block_now(datasets::add_collaborator(&Lite(tx), &ds, &user, role))?)
            .await
    }
    async fn update_collaborator(
        &self,
        ds: &DatasetRef,
        user: &str,
        role: Role,
    ) -> Result<Collaborator> {
        let (ds, user) = (ds.clone(), s(user));
        self.write(move |tx| block_now(datasets::update_collaborator(&Lite(tx), &ds, &user, role))?)
            .await
    }
    async fn delete_collaborator(&self, ds: &DatasetRef, user: &str) -> Result<()> {
        let (ds, user) = (ds.clone(), s(user));
        self.write(move |tx| block_now(datasets::delete_collaborator(&Lite(tx), &ds, &user))?)
            .await
    }

    async fn list_labelsets(&self, ds: &DatasetRef) -> Result<Vec<Labelset>> {
        let id = ds.id;
        self.read(move |tx| block_now(datasets::labelsets(&Lite(tx), id))?)
            .await
    }
    async fn get_labelset(&self, ds: &DatasetRef, name: &str) -> Result<Labelset> {
        let (ds, name) = (ds.clone(), s(name));
        self.read(move |tx| block_now(datasets::labelset(&Lite(tx), &ds, &name))?)
            .await
    }
    async fn add_labelset(
        &self,
        ds: &DatasetRef,
        name: &str,
        description: &str,
    ) -> Result<Labelset> {
        let (ds, name, description) = (ds.clone(), s(name), s(description));
        self.write(move |tx| {
            block_now(datasets::add_labelset(&Lite(tx), &ds, &name, &description))?
        })
        .await
    }
    async fn delete_labelset(&self, ds: &DatasetRef, name: &str) -> Result<()> {
        let (ds, name) = (ds.clone(), s(name));
        self.write(move |tx| block_now(datasets::delete_labelset(&Lite(tx), &ds, &name))?)
            .await
    }

    async fn list_samples(&self, ds: &DatasetRef, q: &SampleQuery) -> Result<Vec<Sample>> {
        let (ds, q) = (ds.clone(), q.clone());
        self.read(move |tx| block_now(samples::list(&Lite(tx), &ds, &q))?)
            .await
    }
    async fn sample_access(&self, caller: i64, uuid: &str) -> Result<(SampleRef, Access)> {
        let uuid = s(uuid);
        self.read(move |tx| block_now(samples::find(&Lite(tx), caller, &uuid))?)
            .await
    }
    async fn get_sample(&self, sr: &SampleRef, labelset: Option<&str>) -> Result<Sample> {
        let (sr, labelset) = (sr.clone(), labelset.map(s));
        self.read(move |tx| block_now(samples::get(&Lite(tx), &sr, labelset.as_deref()))?)
            .await
    }
    async fn create_samples(
        &self,
        ds: &DatasetRef,
        new: Vec<NewSample>,
        actor: &str,
        skip_existing: bool,
    ) -> Result<Vec<Sample>> {
        let (ds, actor) = (ds.clone(), s(actor));
        self.write(move |tx| {
            block_now(samples::create_many(
                &Lite(tx),
                &ds,
                &new,
                &actor,
                skip_existing,
            ))?
        })
        .await
    }
    async fn update_sample(&self, sr: &SampleRef, patch: SamplePatch) -> Result<Sample> {
        let sr = sr.clone();
        self.write(move |tx| block_now(samples::update(&Lite(tx), &sr, &patch))?)
            .await
    }
    async fn delete_samples(&self, ds: &DatasetRef, uuids: &[String]) -> Result<u64> {
        let (ds, uuids) = (ds.clone(), uuids.to_vec());
        self.write(move |tx| block_now(samples::delete_many(&Lite(tx), &ds, &uuids))?)
            .await
    }

    async fn get_label(&self, sr: &SampleRef, labelset: &str) -> Result<Label> {
        let (sr, labelset) = (sr.clone(), s(labelset));
        self.read(move |tx| block_now(samples::get_label(&Lite(tx), &sr, &labelset))?)
            .await
    }
    async fn put_label(
        &self,
        sr: &SampleRef,
        labelset: &str,
        input: LabelInput,
        replace: bool,
        actor: &str,
    ) -> Result<Label> {
        let (sr, labelset, actor) = (sr.clone(), s(labelset), s(actor));
        self.write(move |tx| {
            block_now(samples::put_label(
                &Lite(tx),
                &sr,
                &labelset,
                &input,
                replace,
                &actor,
            ))?
        })
        .await
    }
    async fn delete_label(&self, sr: &SampleRef, labelset: &str) -> Result<()> {
        let (sr, labelset) = (sr.clone(), s(labelset));
        self.write(move |tx| block_now(samples::delete_label(&Lite(tx), &sr, &labelset))?)
            .await
    }

    async fn list_issues(&self, ds: &DatasetRef) -> Result<Vec<Issue>> {
        let ds = ds.clone();
        self.read(move |tx| block_now(issues::list(&Lite(tx), &ds))?)
            .await
    }
    async fn issue_access(&self, caller: i64, uuid: &str) -> Result<(IssueRef, Access)> {
        let uuid = s(uuid);
        self.read(move |tx| block_now(issues::find(&Lite(tx), caller, &uuid))?)
            .await
    }
    async fn get_issue(&self, i: &IssueRef) -> Result<Issue> {
        let i = i.clone();
        self.read(move |tx| block_now(issues::view(&Lite(tx), &i.uuid, &i.dataset.full_name))?)
            .await
    }
    async fn create_issue(&self, sr: &SampleRef, input: IssueInput, actor: &str) -> Result<Issue> {
        let (sr, actor) = (sr.clone(), s(actor));
        self.write(move |tx| block_now(issues::create(&Lite(tx), &sr, &input, &actor))?)
            .await
    }
    async fn update_issue(&self, i: &IssueRef, input: IssueInput, actor: &str) -> Result<Issue> {
        let (i, actor) = (i.clone(), s(actor));
        self.write(move |tx| block_now(issues::update(&Lite(tx), &i, &input, &actor))?)
            .await
    }
    async fn add_comment(&self, i: &IssueRef, text: &str, actor: &str) -> Result<Issue> {
        let (i, text, actor) = (i.clone(), s(text), s(actor));
        self.write(move |tx| block_now(issues::comment(&Lite(tx), &i, &text, &actor))?)
            .await
    }
    async fn delete_issue(&self, i: &IssueRef) -> Result<()> {
        let i = i.clone();
        self.write(move |tx| block_now(issues::delete(&Lite(tx), &i))?)
            .await
    }

    async fn list_releases(&self, ds: &DatasetRef) -> Result<Vec<Release>> {
        let ds = ds.clone();
        self.read(move |tx| block_now(releases::list(&Lite(tx), &ds))?)
            .await
    }
    async fn get_release(&self, ds: &DatasetRef, name: &str) -> Result<Release> {
        let (ds, name) = (ds.clone(), s(name));
        self.read(move |tx| block_now(releases::get(&Lite(tx), &ds, &name))?)
            .await
    }
    async fn create_release(
        &self,
        ds: &DatasetRef,
        name: &str,
        description: &str,
    ) -> Result<Release> {
        let (ds, name, description) = (ds.clone(), s(name), s(description));
        self.write(move |tx| block_now(releases::create(&Lite(tx), &ds, &name, &description))?)
            .await
    }
    async fn delete_release(&self, ds: &DatasetRef, name: &str) -> Result<()> {
        let (ds, name) = (ds.clone(), s(name));
        self.write(move |tx| block_now(releases::delete(&Lite(tx), &ds, &name))?)
            .await
    }
    async fn pending_releases(&self) -> Result<Vec<String>> {
        self.read(|tx| block_now(releases::pending(&Lite(tx)))?)
            .await
    }
    async fn build_release(&self, uuid: &str, token: &str, url: &str) -> Result<Option<Release>> {
        let (uuid, token, url) = (s(uuid), s(token), s(url));
        self.write(move |tx| block_now(releases::build(&Lite(tx), &uuid, &token, &url))?)
            .await
    }
    async fn fail_release(&self, uuid: &str) -> Result<()> {
        let uuid = s(uuid);
        self.write(move |tx| block_now(releases::fail(&Lite(tx), &uuid))?)
            .await
    }
    async fn release_file(&self, token: &str) -> Result<(String, String)> {
        let token = s(token);
        self.read(move |tx| block_now(releases::file(&Lite(tx), &token))?)
            .await
    }

    async fn create_asset(&self, owner_id: i64, filename: &str) -> Result<Asset> {
        let filename = s(filename);
        self.write(move |tx| block_now(releases::create_asset(&Lite(tx), owner_id, &filename))?)
            .await
    }
    async fn asset(&self, uuid: &str) -> Result<Asset> {
        let uuid = s(uuid);
        self.read(move |tx| block_now(releases::asset(&Lite(tx), &uuid))?)
            .await
    }
    async fn asset_others_size(&self, uuid: &str) -> Result<i64> {
        let uuid = s(uuid);
        self.read(move |tx| assets::others_size(tx, &uuid)).await
    }
    async fn record_asset_size(&self, uuid: &str, size: i64, quota: i64) -> Result<bool> {
        let uuid = s(uuid);
        self.write(move |tx| assets::record_size(tx, &uuid, size, quota))
            .await
    }

    async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        self.read(move |tx| outbox::after(tx, after, limit)).await
    }
}
