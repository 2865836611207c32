#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Backup under write load and restore, end to end on the real binary.
//!
//! A server runs with one endpoint whose receiver holds every request without answering, and
//! one delivery slot, so deliveries pile up in the queue (one of them leased, in flight).
//! Writers keep creating samples; mid-stream `datahooks backup` copies the live store. The
//! backup is restored into a fresh data dir (with the secret key copied), a server starts
//! there while the receiver now answers 204, and the test checks:
//!
//! 1. every sample acknowledged before the backup began exists, with the uuid it was given;
//! 2. every sample has exactly one `sample.created` event, and no event names a sample that
//!    does not exist (the snapshot never splits a change from its event);
//! 3. every sample of the restored store is delivered to the receiver (pending deliveries
//!    resume), and so is `dataset.created`, whose delivery was leased (in flight) when the
//!    backup was taken; every delivery signed with the endpoint's secret;
//! 4. `restore` refuses a non-empty store without `--force` and a file that is not a
//!    datahooks database, and `backup` refuses to overwrite a file.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::*;

const USER: &str = "backer";
const DATASET: &str = "live";
const WRITERS: usize = 6;

/// One writer: POSTs samples until `stop`; logs (name, uuid, when acknowledged).
async fn writer(
    base: String,
    key: String,
    counter: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, String, Instant)>>>,
) {
    let c = client();
    let url = format!("{base}/datasets/{USER}/{DATASET}/samples/");
    while !stop.load(Ordering::SeqCst) {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let name = format!("s-{n:05}");
        let r = c
            .post(&url)
            .header("Authorization", format!("APIKey {key}"))
            .json(&json!({"name": name, "attributes": {"image": {"url": "https://example.com/x.png"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "create sample");
        let v: Value = r.json().await.unwrap();
        let at = Instant::now();
        acked
            .lock()
            .unwrap()
            .push((name, v["uuid"].as_str().unwrap().to_owned(), at));
    }
}

async fn list_samples(base: &str, key: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1..=100 {
        let r = client()
            .get(format!(
                "{base}/datasets/{USER}/{DATASET}/samples/?per_page=1000&page={page}"
            ))
            .header("Authorization", format!("APIKey {key}"))
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 404 {
            break;
        }
        assert!(r.status().is_success());
        let items: Vec<Value> = r.json().await.unwrap();
        let n = items.len();
        all.extend(items);
        if n < 1000 {
            break;
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_every_acknowledged_change_and_resumes_deliveries() {
    tokio::time::timeout(Duration::from_secs(120), run_test())
        .await
        .expect("the backup test took too long");
}

async fn run_test() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let (ga, gb) = (dir_args(&dir_a), dir_args(&dir_b));
    let ga: Vec<&str> = ga.iter().map(String::as_str).collect();
    let gb: Vec<&str> = gb.iter().map(String::as_str).collect();
    let serve_args = [
        "--allow-destination",
        "127.0.0.0/8",
        "--worker-concurrency",
        "1",
        "--request-timeout",
        "60",
    ];

    let receiver = Receiver::default();
    receiver.hold.store(true, Ordering::SeqCst);
    let hook_url = receiver.start().await;
    let key = user(&ga, USER).await;
    let mut server_a = Server::start(&ga, &serve_args).await;
    let endpoint_id = endpoint(&server_a.base, &key, USER, &hook_url).await;
    dataset(&server_a.base, &key, DATASET).await;

    // Writers run; the backup starts once some samples were acknowledged.
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            tokio::spawn(writer(
                server_a.base.clone(),
                key.clone(),
                counter.clone(),
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    while acked.lock().unwrap().len() < 150 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let backup_file = tmp.path().join("snap.db");
    let backup_file_s = backup_file.display().to_string();
    let began = Instant::now();
    let out = cli(&ga, &["backup", "--to", &backup_file_s]).await;
    assert!(out.contains("backed up"), "{out}");
    let during = acked.lock().unwrap().len();
    // Writes went on while the backup ran, and go on a little after it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked: Vec<_> = acked.lock().unwrap().clone();
    let before: BTreeMap<String, String> = acked
        .iter()
        .filter(|(_, _, at)| *at < began)
        .map(|(n, u, _)| (n.clone(), u.clone()))
        .collect();
    assert!(
        acked.len() > before.len(),
        "no write was acknowledged after the backup began"
    );

    // `backup` never overwrites; `restore` refuses junk and a non-empty store.
    let (ok, _, err) = run(&ga, &["backup", "--to", &backup_file_s]).await;
    assert!(!ok && err.contains("already exists"), "{err}");
    let junk = tmp.path().join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    let (ok, _, err) = run(&gb, &["restore", "--from", &junk.display().to_string()]).await;
    assert!(!ok && err.contains("not a datahooks"), "{err}");
    let (ok, _, err) = run(&ga, &["restore", "--from", &backup_file_s]).await;
    assert!(!ok && err.contains("already holds data"), "{err}");
    server_a.kill();

    // Restore into a fresh data dir, with the original secret key.
    let out = cli(&gb, &["restore", "--from", &backup_file_s]).await;
    assert!(out.contains("restored"), "{out}");
    std::fs::copy(dir_a.join("secret.key"), dir_b.join("secret.key")).unwrap();
    receiver.hold.store(false, Ordering::SeqCst);
    let server_b = Server::start(&gb, &["--allow-destination", "127.0.0.0/8"]).await;

    // (1) Every sample acknowledged before the backup began is there, with its uuid.
    let samples = list_samples(&server_b.base, &key).await;
    let by_name: HashMap<String, String> = samples
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["uuid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(by_name.len(), samples.len(), "duplicate sample names");
    for (name, uuid) in &before {
        assert_eq!(
            by_name.get(name),
            Some(uuid),
            "sample {name} acknowledged before the backup began is missing or changed"
        );
    }
    let all_acked: HashMap<&String, &String> = acked.iter().map(|(n, u, _)| (n, u)).collect();
    for (name, uuid) in &by_name {
        assert_eq!(all_acked.get(name), Some(&uuid), "{name} was never acked");
    }

    // (2) Exactly one sample.created per sample; no event without its sample.
    let uuids: HashSet<&String> = by_name.values().collect();
    let mut created: HashMap<String, usize> = HashMap::new();
    for e in events(&gb).await {
        let p = &e["payload"];
        if p["event_type"] == "sample.created" {
            let uuid = p["object"]["uuid"].as_str().unwrap().to_owned();
            assert!(
                uuids.contains(&uuid),
                "event for a sample not in the backup"
            );
            *created.entry(uuid).or_default() += 1;
        }
    }
    for u in &uuids {
        assert_eq!(created.get(*u), Some(&1), "sample {u} events");
    }

    // (3) Every sample of the restored store reaches the receiver.
    let secret = endpoint_secret(&server_b.base, &key, &endpoint_id).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: HashSet<String> = receiver
            .received()
            .iter()
            .map(|r| r.json())
            .filter(|v| v["event_type"] == "sample.created")
            .map(|v| v["object"]["uuid"].as_str().unwrap().to_owned())
            .collect();
        let missing = uuids.iter().filter(|u| !got.contains(**u)).count();
        // The first delivery, dataset.created, was the one in flight (leased) at backup time.
        let dataset_created = receiver
            .received()
            .iter()
            .any(|r| r.json()["event_type"] == "dataset.created");
        if missing == 0 && dataset_created {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} samples were not delivered after the restore; dataset.created \
             (leased when the backup was taken) delivered: {dataset_created}",
            uuids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for r in receiver.received() {
        assert!(
            signature_valid(&secret, &r),
            "a delivery after the restore is not signed with the endpoint's secret"
        );
    }
    println!(
        "backup test: {} acked ({} before the backup began, {during} when it ended), {} in the \
         backup, all delivered after the restore",
        acked.len(),
        before.len(),
        uuids.len()
    );
}

/// The endpoint's `whsec_…` secret, through the Svix API.
async fn endpoint_secret(base: &str, key: &str, ep: &str) -> String {
    let r = client()
        .get(format!("{base}/api/v1/app/{USER}/endpoint/{ep}/secret/"))
        .header("Authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "get secret: {}", r.status());
    let v: Value = r.json().await.unwrap();
    v["key"].as_str().unwrap().to_owned()
}

/// Standard Webhooks: `v1,` base64 HMAC-SHA256 of `id.timestamp.body` keyed by the secret.
fn signature_valid(whsec: &str, r: &Received) -> bool {
    use datahooks_webhooks::signing::{verify, Secret};
    let Ok(secret) = Secret::parse(whsec) else {
        return false;
    };
    let (Some(id), Some(ts), Some(sig)) = (
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.header("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return false;
    };
    verify(&secret, id, ts, r.body.as_bytes(), sig)
}
