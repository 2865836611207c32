//! The load side's HTTP client: set-up calls and the two ingest paths, over a keep-alive
//! connection pool, to the server on 127.0.0.1 only.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use crate::server::Server;

/// Longest one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Which API an event goes in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// Svix-style `POST /api/v1/app/{app}/msg` (202).
    Msg,
    /// Platform `POST /datasets/{owner}/{name}/samples/` (201; a `sample.created` event).
    Sample,
}

impl Ingest {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Ingest::Msg => "msg",
            Ingest::Sample => "samples",
        }
    }
}

/// A client of one server, authenticated as the bench user.
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
    user: String,
    msg_url: String,
    samples_url: String,
}

impl Api {
    /// A client with up to `pool` idle keep-alive connections, bypassing any proxy.
    pub fn new(server: &Server, pool: usize) -> anyhow::Result<Api> {
        ensure!(
            server.base.starts_with("http://127.0.0.1:"),
            "refusing to load a non-loopback server: {}",
            server.base
        );
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(pool.max(1))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api {
            http,
            base: server.base.clone(),
            key: server.key.clone(),
            user: server.user.clone(),
            msg_url: format!("{}/api/v1/app/{}/msg", server.base, server.user),
            samples_url: format!("{}/datasets/{}/bench/samples/", server.base, server.user),
        })
    }

    async fn post(
        &self,
        url: &str,
        auth: &str,
        body: String,
        want: &[u16],
    ) -> anyhow::Result<String> {
        let resp = self
            .http
            .post(url)
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .with_context(|| format!("POST {url}: body"))?;
        if !want.contains(&status) {
            bail!(
                "POST {url}: {status} {}",
                text.chars().take(300).collect::<String>()
            );
        }
        Ok(text)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.key)
    }

    fn apikey(&self) -> String {
        format!("APIKey {}", self.key)
    }

    /// Enables webhooks for the bench user (`POST /api/v1/app`).
    pub async fn enable_webhooks(&self) -> anyhow::Result<()> {
        let body = serde_json::json!({"uid": self.user, "name": self.user}).to_string();
        let url = format!("{}/api/v1/app", self.base);
        self.post(&url, &self.bearer(), body, &[200, 201]).await?;
        Ok(())
    }

    /// Adds an endpoint for every event type; returns its id.
    pub async fn add_endpoint(&self, endpoint_url: &str) -> anyhow::Result<String> {
        let body = serde_json::json!({"url": endpoint_url}).to_string();
        let url = format!("{}/api/v1/app/{}/endpoint", self.base, self.user);
        let text = self.post(&url, &self.bearer(), body, &[200, 201]).await?;
        let v: serde_json::Value = serde_json::from_str(&text).context("endpoint reply")?;
        v.get("id")
            .and_then(|id| id.as_str())
            .map(str::to_owned)
            .context("the endpoint reply has no id")
    }

    /// An endpoint's stats (`GET /api/v1/app/{app}/endpoint/{ep}/stats`), with its pace.
    pub async fn endpoint_stats(&self, ep: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/api/v1/app/{}/endpoint/{ep}/stats", self.base, self.user);
        let resp = self.authed(self.http.get(&url), "GET stats").await?;
        resp.json().await.context("GET stats: body")
    }

    /// Sends `req` with the bench user's key; an error unless the answer is a success.
    async fn authed(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let resp = req
            .header(AUTHORIZATION, self.bearer())
            .send()
            .await
            .with_context(|| what.to_owned())?;
        ensure!(resp.status().is_success(), "{what}: {}", resp.status());
        Ok(resp)
    }

    /// Deletes every endpoint of the bench user's app, and with them their deliveries
    /// (`GET` then `DELETE /api/v1/app/{app}/endpoint/{ep}`), so a later run on the same
    /// database does not retry them.
    pub async fn delete_endpoints(&self) -> anyhow::Result<()> {
        let list = format!("{}/api/v1/app/{}/endpoint", self.base, self.user);
        loop {
            let resp = self
                .authed(self.http.get(format!("{list}?limit=250")), "GET endpoints")
                .await?;
            let page: serde_json::Value = resp.json().await.context("GET endpoints: body")?;
            let ids: Vec<&str> = page["data"]
                .as_array()
                .context("GET endpoints: no data")?
                .iter()
                .filter_map(|e| e["id"].as_str())
                .collect();
            if ids.is_empty() {
                return Ok(());
            }
            for id in ids {
                let what = format!("DELETE endpoint {id}");
                self.authed(self.http.delete(format!("{list}/{id}")), &what)
                    .await?;
            }
        }
    }

    /// The server's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("{}/metrics", self.base);
        let resp = self.http.get(&url).send().await.context("GET /metrics")?;
        ensure!(
            resp.status().is_success(),
            "GET /metrics: {}",
            resp.status()
        );
        resp.text().await.context("GET /metrics: body")
    }

    /// Creates the dataset `bench` that the sample path writes to.
    pub async fn create_dataset(&self) -> anyhow::Result<()> {
        let url = format!("{}/user/datasets/", self.base);
        let body = r#"{"name":"bench"}"#.to_owned();
        self.post(&url, &self.apikey(), body, &[200, 201]).await?;
        Ok(())
    }

    /// Sends one event; `Ok` once the server has accepted (committed) it.
    pub async fn send(&self, path: Ingest, seq: u64, sent_at_us: u64) -> anyhow::Result<()> {
        match path {
            Ingest::Msg => {
                let body = format!(
                    r#"{{"eventType":"bench.event","payload":{{"seq":{seq},"sent_at_us":{sent_at_us}}}}}"#
                );
                self.post(&self.msg_url, &self.bearer(), body, &[202])
                    .await?;
            }
            Ingest::Sample => {
                let body = format!(
                    r#"{{"name":"s-{seq}","attributes":{{"image":{{"url":"https://example.com/x.png"}}}},"metadata":{{"seq":{seq},"sent_at_us":{sent_at_us}}}}}"#
                );
                self.post(&self.samples_url, &self.apikey(), body, &[201])
                    .await?;
            }
        }
        Ok(())
    }
}
