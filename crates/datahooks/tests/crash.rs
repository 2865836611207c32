#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash consistency of the transactional outbox, end to end on the real binary.
//!
//! The test creates a user and a dataset, starts `datahooks serve`, and runs eight concurrent
//! writers that POST samples with names drawn from a shared counter. Once a random-ish number of
//! samples were acknowledged, it kills the server with SIGKILL while writes are in flight, then
//! restarts it on the same data directory and checks, against the samples the API lists and
//! the events `datahooks events list` prints:
//!
//! 1. every sample acknowledged with 2xx exists, with the uuid the acknowledgement carried;
//! 2. every sample has exactly one `sample.created` event whose `object.uuid` and `object.name`
//!    are the sample's (no change without its event);
//! 3. no `sample.created` event refers to a sample that does not exist (no event without its
//!    change);
//! 4. no sample name appears twice, and every sample is one the writers sent (acknowledged or
//!    in flight when the server died), with the attributes and metadata it was sent with;
//! 5. the dataset's `dataset.created` event exists exactly once.
//!
//! Requests that never reached the server (connection refused) or that it answered with an
//! error must have left nothing behind. The kill/restart cycle runs three times, the writers
//! continuing after each restart; every step has a timeout and the server processes are killed
//! by a drop guard if the test panics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_datahooks");
const USER: &str = "crasher";
const DATASET: &str = "crash";
const WRITERS: usize = 8;
const CYCLES: usize = 3;
/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one cycle may write before the kill happens anyway.
const WRITE_PHASE_MAX: Duration = Duration::from_secs(6);
/// Timeout of one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Hard bound on the whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `datahooks serve`; killed (SIGKILL) and reaped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server on a free port and waits for its `listening on` line.
    async fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn datahooks serve");
        let stdout = child.stdout.take().expect("server stdout");
        // From here on the guard owns the process: a panic below still kills it.
        let mut server = Server {
            child,
            base: String::new(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        // Drain stdout on a thread for the life of the process so the pipe never fills.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url.trim().to_owned());
                    }
                }
            }
        });
        let url = tokio::time::timeout(START_TIMEOUT, rx)
            .await
            .expect("the server did not print its address in time")
            .expect("the server exited before listening");
        server.base = url;
        server
    }

    /// SIGKILL, then reap, so the next start finds the database as a crash left it.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a short CLI command (not `serve`) and returns its stdout.
async fn cli(data_dir: &Path, args: &[&str]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(BIN)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("datahooks {args:?} timed out"))
    .expect("run datahooks");
    assert!(
        out.status.success(),
        "datahooks {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// What became of one POST, from the writer's side.
#[derive(Debug)]
enum Outcome {
    /// 2xx with the sample's uuid: it must exist.
    Acked(String),
    /// The server answered with an error: nothing may have been written.
    Rejected(u16, String),
    /// The connection could not be opened: the request never left; nothing may exist.
    Refused,
    /// Sent, but no answer (the server died): it may or may not exist, and is whole if it does.
    Unknown,
}

/// Everything the writers learned, over all cycles.
#[derive(Default)]
struct Ledger {
    acked: BTreeMap<String, String>,
    rejected: BTreeMap<String, (u16, String)>,
    refused: BTreeSet<String>,
    unknown: BTreeSet<String>,
}

/// Per-cycle counts for the report.
#[derive(Default, Debug)]
struct CycleCounts {
    acked: usize,
    rejected: usize,
    refused: usize,
    unknown: usize,
}

fn sample_name(n: u64) -> String {
    format!("s-{n:05}")
}

fn sample_body(n: u64) -> Value {
    json!({
        "name": sample_name(n),
        "attributes": {"image": {"url": format!("https://example.com/{}.png", sample_name(n))}},
        "metadata": {"n": n},
    })
}

/// One writer: POSTs samples with fresh names until told to stop or the server is gone.
async fn writer(
    client: reqwest::Client,
    url: String,
    key: String,
    counter: Arc<AtomicU64>,
    acked: Arc<AtomicUsize>,
    deadline: Instant,
) -> Vec<(String, Outcome)> {
    let mut log = Vec::new();
    // Bounded: at most this many requests per writer per cycle.
    for _ in 0..100_000 {
        if Instant::now() > deadline {
            break;
        }
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let name = sample_name(n);
        let res = client
            .post(&url)
            .header("Authorization", format!("APIKey {key}"))
            .json(&sample_body(n))
            .send()
            .await;
        match res {
            Ok(resp) if resp.status().is_success() => {
                // The commit is acknowledged by the status; a body cut short by the kill still
                // counts as acknowledged, so the uuid is recorded only if it arrived.
                let status = resp.status();
                match resp.json::<Value>().await {
                    Ok(v) => {
                        assert_eq!(status.as_u16(), 201, "create answers 201");
                        assert_eq!(v["name"], name.as_str(), "the answer is this sample");
                        let uuid = v["uuid"].as_str().expect("uuid in answer").to_owned();
                        log.push((name, Outcome::Acked(uuid)));
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        log.push((name, Outcome::Acked(String::new())));
                        acked.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                }
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                log.push((name, Outcome::Rejected(status, body)));
            }
            Err(e) if e.is_connect() => {
                log.push((name, Outcome::Refused));
                break;
            }
            Err(_) => {
                log.push((name, Outcome::Unknown));
                break;
            }
        }
    }
    log
}

/// Runs the writers, SIGKILLs the server mid-stream once `kill_after` samples were acked in
/// this cycle, and collects every writer's outcomes.
async fn write_and_kill(
    server: &mut Server,
    key: &str,
    counter: &Arc<AtomicU64>,
    kill_after: usize,
    ledger: &mut Ledger,
) -> CycleCounts {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client");
    let url = format!("{}/datasets/{USER}/{DATASET}/samples/", server.base);
    let acked = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + WRITE_PHASE_MAX + Duration::from_secs(2);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            tokio::spawn(writer(
                client.clone(),
                url.clone(),
                key.to_owned(),
                counter.clone(),
                acked.clone(),
                deadline,
            ))
        })
        .collect();

    // Wait (bounded) for enough acknowledgements, then kill while requests are in flight.
    let started = Instant::now();
    while acked.load(Ordering::SeqCst) < kill_after && started.elapsed() < WRITE_PHASE_MAX {
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let acked_before_kill = acked.load(Ordering::SeqCst);
    server.kill();
    // After the kill every writer fails fast; the deadline is only the backstop.
    let mut logs = Vec::new();
    for t in tasks {
        let log = tokio::time::timeout(REQUEST_TIMEOUT * 2, t)
            .await
            .expect("a writer did not finish after the kill")
            .expect("writer task");
        logs.extend(log);
    }
    assert!(
        acked_before_kill > 0,
        "no write was acknowledged before the kill"
    );

    let mut c = CycleCounts::default();
    for (name, outcome) in logs {
        match outcome {
            Outcome::Acked(uuid) => {
                c.acked += 1;
                ledger.acked.insert(name, uuid);
            }
            Outcome::Rejected(status, body) => {
                c.rejected += 1;
                ledger.rejected.insert(name, (status, body));
            }
            Outcome::Refused => {
                c.refused += 1;
                ledger.refused.insert(name);
            }
            Outcome::Unknown => {
                c.unknown += 1;
                ledger.unknown.insert(name);
            }
        }
    }
    c
}

/// All samples of the dataset, through the API, page by page.
async fn list_samples(client: &reqwest::Client, base: &str, key: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1..=1000 {
        let resp = client
            .get(format!(
                "{base}/datasets/{USER}/{DATASET}/samples/?per_page=1000&page={page}"
            ))
            .header("Authorization", format!("APIKey {key}"))
            .send()
            .await
            .expect("list samples");
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            let body = resp.text().await.unwrap_or_default();
            assert!(body.contains("Invalid page."), "unexpected 404: {body}");
            break;
        }
        assert!(resp.status().is_success(), "list: {}", resp.status());
        let items: Vec<Value> = resp.json().await.expect("sample list JSON");
        let n = items.len();
        all.extend(items);
        if n < 1000 {
            break;
        }
    }
    all
}

/// Checks the store after a restart against what the writers learned. Returns the number of
/// committed samples and how many of the unknown outcomes turned out committed.
async fn verify(data_dir: &Path, server: &Server, key: &str, ledger: &Ledger) -> (usize, usize) {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client");
    let samples = list_samples(&client, &server.base, key).await;
    let full_name = format!("{USER}/{DATASET}");

    // (4) No duplicate names; every sample is one we sent, whole.
    let mut by_name: HashMap<String, String> = HashMap::new();
    let mut by_uuid: HashMap<String, String> = HashMap::new();
    for s in &samples {
        let name = s["name"].as_str().expect("sample name").to_owned();
        let uuid = s["uuid"].as_str().expect("sample uuid").to_owned();
        assert!(
            by_name.insert(name.clone(), uuid.clone()).is_none(),
            "duplicate sample name {name}"
        );
        assert!(
            by_uuid.insert(uuid.clone(), name.clone()).is_none(),
            "duplicate sample uuid {uuid}"
        );
        assert!(
            ledger.acked.contains_key(&name) || ledger.unknown.contains(&name),
            "sample {name} exists but was never acked nor in flight (refused: {}, rejected: {:?})",
            ledger.refused.contains(&name),
            ledger.rejected.get(&name)
        );
        let n: u64 = name
            .strip_prefix("s-")
            .and_then(|d| d.parse().ok())
            .expect("a name we made");
        let sent = sample_body(n);
        assert_eq!(
            s["attributes"], sent["attributes"],
            "sample {name} has the attributes it was sent with"
        );
        assert_eq!(
            s["metadata"], sent["metadata"],
            "sample {name} has the metadata it was sent with"
        );
        assert_eq!(s["dataset"], full_name.as_str());
    }

    // (1) Every acked sample exists, with the uuid the answer carried.
    for (name, uuid) in &ledger.acked {
        let stored = by_name
            .get(name)
            .unwrap_or_else(|| panic!("acknowledged sample {name} ({uuid}) is lost"));
        if !uuid.is_empty() {
            assert_eq!(stored, uuid, "acknowledged sample {name} changed uuid");
        }
    }
    // Requests that never left or were refused by the server left nothing.
    for name in &ledger.refused {
        assert!(
            !by_name.contains_key(name),
            "{name} exists though its connection was refused"
        );
    }
    for (name, (status, body)) in &ledger.rejected {
        assert!(
            !by_name.contains_key(name),
            "{name} exists though the server answered {status}: {body}"
        );
    }

    // The outbox.
    let out = cli(data_dir, &["events", "list"]).await;
    let events: Vec<Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("event line {l:?}: {e}")))
        .collect();
    let mut last_seq = i64::MIN;
    let mut ids = BTreeSet::new();
    let mut created_per_uuid: HashMap<String, usize> = HashMap::new();
    let mut dataset_created = 0;
    for e in &events {
        let seq = e["seq"].as_i64().expect("event seq");
        assert!(seq > last_seq, "events out of commit order at seq {seq}");
        last_seq = seq;
        let id = e["id"].as_str().expect("event id").to_owned();
        assert!(ids.insert(id.clone()), "duplicate event id {id}");
        let p = &e["payload"];
        match p["event_type"].as_str().expect("event_type") {
            "dataset.created" => {
                assert_eq!(p["object"]["name"], DATASET);
                dataset_created += 1;
            }
            "sample.created" => {
                assert_eq!(p["dataset"], full_name.as_str(), "event {seq} dataset");
                let uuid = p["object"]["uuid"].as_str().expect("object.uuid");
                let name = p["object"]["name"].as_str().expect("object.name");
                // (3) No event without its change.
                let stored = by_uuid.get(uuid).unwrap_or_else(|| {
                    panic!("event {seq}: sample.created for {name} ({uuid}) which does not exist")
                });
                assert_eq!(
                    stored, name,
                    "event {seq}: object.name differs from the sample's"
                );
                *created_per_uuid.entry(uuid.to_owned()).or_default() += 1;
            }
            other => panic!("unexpected event {other} at seq {seq}: {e}"),
        }
    }
    // (2) Exactly one sample.created per sample: no change without its event, none twice.
    for (uuid, name) in &by_uuid {
        let n = created_per_uuid.get(uuid).copied().unwrap_or(0);
        assert_eq!(n, 1, "sample {name} ({uuid}) has {n} sample.created events");
    }
    // (5) The dataset was created once.
    assert_eq!(dataset_created, 1, "dataset.created events");

    let unknown_committed = ledger
        .unknown
        .iter()
        .filter(|n| by_name.contains_key(*n))
        .count();
    (samples.len(), unknown_committed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_write_loses_nothing_and_half_writes_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, run())
        .await
        .expect("the crash test took too long");
}

async fn run() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path();

    let out = cli(data_dir, &["user", "create", USER]).await;
    let key = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("API key line")
        .trim()
        .to_owned();

    let mut server = Server::start(data_dir).await;
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client");
    let resp = client
        .post(format!("{}/user/datasets/", server.base))
        .header("Authorization", format!("APIKey {key}"))
        .json(&json!({"name": DATASET}))
        .send()
        .await
        .expect("create dataset");
    assert_eq!(resp.status().as_u16(), 201, "create dataset");

    // Random-ish kill points: between 100 and 249 acknowledgements into each cycle.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0) as usize;
    let counter = Arc::new(AtomicU64::new(0));
    let mut ledger = Ledger::default();
    let mut unknown_total = 0;
    for cycle in 1..=CYCLES {
        let kill_after = 100 + (seed / 7usize.pow(cycle as u32)) % 150;
        let c = write_and_kill(&mut server, &key, &counter, kill_after, &mut ledger).await;
        unknown_total += c.unknown;
        server = Server::start(data_dir).await;
        let (committed, unknown_committed) = verify(data_dir, &server, &key, &ledger).await;
        println!(
            "cycle {cycle}: SIGKILL after {kill_after} acks | this cycle: acked {}, \
             in-flight-unknown {}, refused {}, rejected {} | total: acked {}, \
             in-flight-unknown {} ({unknown_committed} of them committed), committed {committed} \
             [{:.1?}]",
            c.acked,
            c.unknown,
            c.refused,
            c.rejected,
            ledger.acked.len(),
            ledger.unknown.len(),
            t0.elapsed()
        );
    }
    assert!(
        ledger.rejected.is_empty(),
        "the server rejected valid writes: {:?}",
        ledger.rejected
    );
    assert!(
        unknown_total > 0,
        "no write was in flight at any kill: the test did not exercise a crash mid-write"
    );

    // The restarted store still takes writes.
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let resp = client
        .post(format!(
            "{}/datasets/{USER}/{DATASET}/samples/",
            server.base
        ))
        .header("Authorization", format!("APIKey {key}"))
        .json(&sample_body(n))
        .send()
        .await
        .expect("write after the last restart");
    assert_eq!(resp.status().as_u16(), 201, "write after the last restart");
    drop(server);
    println!("crash test done in {:.1?}", t0.elapsed());
}
