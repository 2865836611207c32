//! [`Store`] for PostgreSQL: each method is one transaction running the module functions.

use async_trait::async_trait;
use serde_json::{Map, Value};

use datahooks_domain::access::Access;
use datahooks_domain::inputs::{IssueInput, LabelInput, NewSample, SamplePatch};
use datahooks_domain::model::{
    Asset, Collaborator, Dataset, Issue, Label, Labelset, Release, Role, Sample, User,
};
use datahooks_domain::settings::DatasetSettings;

use super::db::Pg;
use super::{assets, outbox, PgStore};
use super::{read_one, read_tx, write_tx};
use crate::shared::accounts;
use crate::shared::datasets;
use crate::shared::{issues, releases, samples, sessions};
use crate::{
    Account, CloneSpec, DatasetRef, Error, IssueRef, NewApiKey, NewWebSession, Page, Result,
    SampleQuery, SampleRef, Store, StoredEvent, WebSession,
};

#[async_trait]
impl Store for PgStore {
    async fn create_user(&self, name: &str, email: Option<&str>) -> Result<(Account, NewApiKey)> {
        write_tx!(self, |tx| accounts::create_user(&Pg(&tx), name, email)
            .await)
    }
    async fn create_org(&self, name: &str, owner: &str) -> Result<Account> {
        write_tx!(self, |tx| accounts::create_org(&Pg(&tx), name, owner).await)
    }
    async fn add_org_member(&self, org: &str, user: &str, role: Role) -> Result<()> {
        write_tx!(self, |tx| accounts::add_member(&Pg(&tx), org, user, role)
            .await)
    }
    async fn create_api_key(&self, user: &str) -> Result<NewApiKey> {
        write_tx!(self, |tx| {
            let a = accounts::by_name(&Pg(&tx), user).await?;
            // A key acts as its user; an organization acts only through its members' roles.
            if a.is_org {
                return Err(Error::invalid(
                    "not_a_user",
                    format!("{user} is an organization: API keys belong to users."),
                ));
            }
            accounts::new_key(&Pg(&tx), a.id).await
        })
    }
    async fn revoke_api_key(&self, key_id: &str) -> Result<()> {
        write_tx!(self, |tx| {
            accounts::revoke_key(&Pg(&tx), key_id).await?;
            sessions::end_for_key(&Pg(&tx), key_id).await
        })
    }
    async fn authenticate(&self, key: &str) -> Result<Option<Account>> {
        read_one!(self, |c| accounts::authenticate(&Pg(c), key).await)
    }
    async fn open_web_session(&self, key: &str, new: NewWebSession<'_>) -> Result<Option<Account>> {
        write_tx!(self, |tx| sessions::open(&Pg(&tx), key, &new).await)
    }
    async fn web_session(&self, token: &str, now_ms: i64) -> Result<Option<WebSession>> {
        read_tx!(self, |tx| sessions::get(&Pg(&tx), token, now_ms).await)
    }
    async fn end_web_session(&self, token: &str) -> Result<()> {
        write_tx!(self, |tx| sessions::end(&Pg(&tx), token).await)
    }
    async fn delete_user(&self, name: &str) -> Result<()> {
        write_tx!(self, |tx| sessions::delete_user(&Pg(&tx), name).await)
    }
    async fn account(&self, name: &str) -> Result<Account> {
        read_tx!(self, |tx| accounts::by_name(&Pg(&tx), name)
            .await
            .map_err(|_| Error::not_found()))
    }
    async fn user_view(&self, name: &str, with_orgs: bool) -> Result<User> {
        read_tx!(self, |tx| {
            let a = accounts::by_name(&Pg(&tx), name)
                .await
                .map_err(|_| Error::not_found())?;
            accounts::view(&Pg(&tx), &a, with_orgs).await
        })
    }
    async fn org_role(&self, org_id: i64, user_id: i64) -> Result<Option<Role>> {
        read_one!(self, |c| accounts::org_role(&Pg(c), org_id, user_id).await)
    }
    async fn managed_accounts(&self, user_id: i64) -> Result<Vec<Account>> {
        read_tx!(self, |tx| accounts::managed(&Pg(&tx), user_id).await)
    }
    async fn set_webhooks_enabled(&self, account_id: i64, enabled: bool) -> Result<Account> {
        write_tx!(self, |tx| accounts::set_webhooks(
            &Pg(&tx),
            account_id,
            enabled
        )
        .await)
    }

    async fn dataset_access(
        &self,
        caller: i64,
        owner: &str,
        name: &str,
    ) -> Result<(DatasetRef, Access)> {
        read_tx!(self, |tx| datasets::find(&Pg(&tx), caller, owner, name)
            .await)
    }
    async fn list_datasets(&self, caller: i64, owner: &str, page: Page) -> Result<Vec<Dataset>> {
        read_tx!(self, |tx| datasets::list(&Pg(&tx), caller, owner, page)
            .await)
    }
    async fn get_dataset(&self, ds: &DatasetRef, access: Access) -> Result<Dataset> {
        read_tx!(self, |tx| datasets::view(&Pg(&tx), ds.id, Some(access))
            .await)
    }
    async fn create_dataset(
        &self,
        owner_id: i64,
        name: &str,
        settings: DatasetSettings,
    ) -> Result<Dataset> {
        write_tx!(self, |tx| datasets::create(
            &Pg(&tx),
            owner_id,
            name,
            settings.clone()
        )
        .await)
    }
    async fn update_dataset(&self, ds: &DatasetRef, patch: Map<String, Value>) -> Result<Dataset> {
        write_tx!(self, |tx| datasets::update(&Pg(&tx), ds, &patch).await)
    }
    async fn delete_dataset(&self, ds: &DatasetRef) -> Result<()> {
        write_tx!(self, |tx| datasets::delete(&Pg(&tx), ds).await)
    }
    async fn clone_dataset(&self, src: &DatasetRef, spec: CloneSpec) -> Result<Dataset> {
        write_tx!(self, |tx| datasets::clone(&Pg(&tx), src, &spec).await)
    }

    async fn get_collaborator(&self, ds: &DatasetRef, user: &str) -> Result<Collaborator> {
        read_tx!(self, |tx| datasets::get_collaborator(&Pg(&tx), ds, user)
            .await)
    }
    async fn add_collaborator(
        &self,
        ds: &DatasetRef,
        user: &str,
        role: Role,
    ) -> Result<Collaborator> {
        write_tx!(self, |tx| datasets::add_collaborator(
            &Pg(&tx),
            ds,
            user,
            role
        )
        .await)
    }
    async fn update_collaborator(
        &self,
        ds: &DatasetRef,
        user: &str,
        role: Role,
    ) -> Result<Collaborator> {
        write_tx!(self, |tx| datasets::update_collaborator(
            &Pg(&tx),
            ds,
            user,
            role
        )
        .await)
    }
    async fn delete_collaborator(&self, ds: &DatasetRef, user: &str) -> Result<()> {
        write_tx!(self, |tx| datasets::delete_collaborator(&Pg(&tx), ds, user)
            .await)
    }

    async fn list_labelsets(&self, ds: &DatasetRef) -> Result<Vec<Labelset>> {
        read_tx!(self, |tx| datasets::labelsets(&Pg(&tx), ds.id).await)
    }
    async fn get_labelset(&self, ds: &DatasetRef, name: &str) -> Result<Labelset> {
        read_tx!(self, |tx| datasets::labelset(&Pg(&tx), ds, name).await)
    }
    async fn add_labelset(
        &self,
        ds: &DatasetRef,
        name: &str,
        description: &str,
    ) -> Result<Labelset> {
        write_tx!(self, |tx| datasets::add_labelset(
            &Pg(&tx),
            ds,
            name,
            description
        )
        .await)
    }
    async fn delete_labelset(&self, ds: &DatasetRef, name: &str) -> Result<()> {
        write_tx!(self, |tx| datasets::delete_labelset(&Pg(&tx), ds, name)
            .await)
    }

    async fn list_samples(&self, ds: &DatasetRef, q: &SampleQuery) -> Result<Vec<Sample>> {
        read_tx!(self, |tx| samples::list(&Pg(&tx), ds, q).await)
    }
    async fn sample_access(&self, caller: i64, uuid: &str) -> Result<(SampleRef, Access)> {
        read_tx!(self, |tx| samples::find(&Pg(&tx), caller, uuid).await)
    }
    async fn get_sample(&self, sr: &SampleRef, labelset: Option<&str>) -> Result<Sample> {
        read_tx!(self, |tx| samples::get(&Pg(&tx), sr, labelset).await)
    }
    async fn create_samples(
        &self,
        ds: &DatasetRef,
        new: Vec<NewSample>,
        actor: &str,
        skip_existing: bool,
    ) -> Result<Vec<Sample>> {
        write_tx!(self, |tx| samples::create_many(
            &Pg(&tx),
            ds,
            &new,
            actor,
            skip_existing
        )
        .await)
    }
    async fn update_sample(&self, sr: &SampleRef, patch: SamplePatch) -> Result<Sample> {
        write_tx!(self, |tx| samples::update(&Pg(&tx), sr, &patch).await)
    }
    async fn delete_samples(&self, ds: &DatasetRef, uuids: &[String]) -> Result<u64> {
        write_tx!(self, |tx| samples::delete_many(&Pg(&tx), ds, uuids).await)
    }

    async fn get_label(&self, sr: &SampleRef, labelset: &str) -> Result<Label> {
        read_tx!(self, |tx| samples::get_label(&Pg(&tx), sr, labelset).await)
    }
    async fn put_label(
        &self,
        sr: &SampleRef,
        labelset: &str,
        input: LabelInput,
        replace: bool,
        actor: &str,
    ) -> Result<Label> {
        write_tx!(self, |tx| samples::put_label(
            &Pg(&tx),
            sr,
            labelset,
            &input,
            replace,
            actor
        )
        .await)
    }
    async fn delete_label(&self, sr: &SampleRef, labelset: &str) -> Result<()> {
        write_tx!(self, |tx| samples::delete_label(&Pg(&tx), sr, labelset)
            .await)
    }

    async fn list_issues(&self, ds: &DatasetRef) -> Result<Vec<Issue>> {
        read_tx!(self, |tx| issues::list(&Pg(&tx), ds).await)
    }
    async fn issue_access(&self, caller: i64, uuid: &str) -> Result<(IssueRef, Access)> {
        read_tx!(self, |tx| issues::find(&Pg(&tx), caller, uuid).await)
    }
    async fn get_issue(&self, i: &IssueRef) -> Result<Issue> {
        read_tx!(self, |tx| issues::view(
            &Pg(&tx),
            &i.uuid,
            &i.dataset.full_name
        )
        .await)
    }
    async fn create_issue(&self, sr: &SampleRef, input: IssueInput, actor: &str) -> Result<Issue> {
        write_tx!(self, |tx| issues::create(&Pg(&tx), sr, &input, actor).await)
    }
    async fn update_issue(&self, i: &IssueRef, input: IssueInput, actor: &str) -> Result<Issue> {
        write_tx!(self, |tx| issues::update(&Pg(&tx), i, &input, actor).await)
    }
    async fn add_comment(&self, i: &IssueRef, text: &str, actor: &str) -> Result<Issue> {
        write_tx!(self, |tx| issues::comment(&Pg(&tx), i, text, actor).await)
    }
    async fn delete_issue(&self, i: &IssueRef) -> Result<()> {
        write_tx!(self, |tx| issues::delete(&Pg(&tx), i).await)
    }

    async fn list_releases(&self, ds: &DatasetRef) -> Result<Vec<Release>> {
        read_tx!(self, |tx| releases::list(&Pg(&tx), ds).await)
    }
    async fn get_release(&self, ds: &DatasetRef, name: &str) -> Result<Release> {
        read_tx!(self, |tx| releases::get(&Pg(&tx), ds, name).await)
    }
    async fn create_release(
        &self,
        ds: &DatasetRef,
        name: &str,
        description: &str,
    ) -> Result<Release> {
        write_tx!(self, |tx| releases::create(&Pg(&tx), ds, name, description)
            .await)
    }
    async fn delete_release(&self, ds: &DatasetRef, name: &str) -> Result<()> {
        write_tx!(self, |tx| releases::delete(&Pg(&tx), ds, name).await)
    }
    async fn pending_releases(&self) -> Result<Vec<String>> {
        read_tx!(self, |tx| releases::pending(&Pg(&tx)).await)
    }
    async fn build_release(&self, uuid: &str, token: &str, url: &str) -> Result<Option<Release>> {
        write_tx!(self, |tx| releases::build(&Pg(&tx), uuid, token, url).await)
    }
    async fn fail_release(&self, uuid: &str) -> Result<()> {
        write_tx!(self, |tx| releases::fail(&Pg(&tx), uuid).await)
    }
    async fn release_file(&self, token: &str) -> Result<(String, String)> {
        read_tx!(self, |tx| releases::file(&Pg(&tx), token).await)
    }

    async fn create_asset(&self, owner_id: i64, filename: &str) -> Result<Asset> {
        write_tx!(self, |tx| releases::create_asset(
            &Pg(&tx),
            owner_id,
            filename
        )
        .await)
    }
    async fn asset(&self, uuid: &str) -> Result<Asset> {
        read_tx!(self, |tx| releases::asset(&Pg(&tx), uuid).await)
    }
    async fn asset_others_size(&self, uuid: &str) -> Result<i64> {
        read_tx!(self, |tx| assets::others_size(&tx, uuid).await)
    }
    async fn record_asset_size(&self, uuid: &str, size: i64, quota: i64) -> Result<bool> {
        write_tx!(self, |tx| assets::record_size(&tx, uuid, size, quota).await)
    }

    async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        read_tx!(self, |tx| outbox::after(&tx, after, limit).await)
    }
}
