//! The job runner against a real SQLite store, stepped with an injected clock: each kind runs
//! and records its end, the sweep runs again after its period, a permanent failure ends a
//! job's task as failed, a job whose nodes kept dying is given up, and the running loop wakes
//! when a commit enqueues a job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use datahooks_domain::model::ReleaseStatus;
use datahooks_domain::settings::DatasetSettings;
use datahooks_store::jobs::{JobKind, JobStatus, NewJob, TaskArgs};
use datahooks_store::webhooks::{AttemptResult, EndpointInput, NewMessage};
use datahooks_store::{DatasetRef, Store};
use datahooks_webhooks::jobs::{JobRunner, JobsConfig};
use datahooks_webhooks::worker::{Clock, ManualClock, SystemClock};

const PUBLIC: &str = "https://data.example";
const WINDOW: Duration = Duration::from_secs(3600);
const EVERY: Duration = Duration::from_secs(60);

struct Setup {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    runner: JobRunner,
    account: i64,
    _dir: tempfile::TempDir,
}

fn config(node: &str) -> JobsConfig {
    JobsConfig {
        node: node.into(),
        lease: Duration::from_secs(30),
        public_url: PUBLIC.into(),
        failure_window: WINDOW,
        sweep_every: EVERY,
        ..JobsConfig::default()
    }
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = datahooks_store::open(&format!("sqlite://{}/j.db", dir.path().display()))
        .await
        .unwrap();
    let (jane, _) = store.create_user("jane", None).await.unwrap();
    store.set_webhooks_enabled(jane.id, true).await.unwrap();
    // Jobs enqueued by the store are due at the real time; start the test clock after it.
    let clock = Arc::new(ManualClock::new(
        chrono::Utc::now().timestamp_millis() + 1_000,
    ));
    let runner = JobRunner::new(store.clone(), config("n1"), clock.clone());
    Setup {
        store,
        clock,
        runner,
        account: jane.id,
        _dir: dir,
    }
}

async fn dataset(s: &Setup) -> DatasetRef {
    s.store
        .create_dataset(s.account, "ds", DatasetSettings::default())
        .await
        .unwrap();
    s.store
        .dataset_access(s.account, "jane", "ds")
        .await
        .unwrap()
        .0
}

async fn endpoint(s: &Setup, url: &str) -> String {
    let input = EndpointInput {
        url: url.into(),
        version: 1,
        ..Default::default()
    };
    s.store
        .create_endpoint(s.account, input, "sealed".into())
        .await
        .unwrap()
        .id
}

fn message() -> NewMessage {
    NewMessage {
        event_type: "t".into(),
        event_id: None,
        channels: vec![],
        payload: "{}".into(),
        only_endpoint: None,
    }
}

#[tokio::test]
async fn a_release_job_builds_the_release() {
    let s = setup().await;
    let ds = dataset(&s).await;
    s.store.create_release(&ds, "v1", "").await.unwrap();
    assert_eq!(s.runner.run_once().await.unwrap(), 1);
    let r = s.store.get_release(&ds, "v1").await.unwrap();
    assert_eq!(r.status, ReleaseStatus::Succeeded);
    let url = r.attributes["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{PUBLIC}/releases/")), "{url}");
    assert_eq!(s.runner.run_once().await.unwrap(), 0, "nothing left to run");
}

#[tokio::test]
async fn the_sweep_disables_failing_endpoints_and_runs_again() {
    let s = setup().await;
    let failing = endpoint(&s, "https://hooks.example/down").await;
    s.store.create_message(s.account, message()).await.unwrap();
    let t0 = s.clock.now_ms();
    for job in s.store.claim_due("w", t0, t0 + 30_000, 10).await.unwrap() {
        let failed = AttemptResult {
            status_code: 500,
            response: String::new(),
            duration_ms: 1,
            success: false,
            retry_at: Some(t0 + 600_000),
            disable: None,
        };
        s.store
            .complete_delivery("w", &job, failed, t0)
            .await
            .unwrap();
    }
    s.clock.advance(WINDOW + Duration::from_secs(1));
    let now = s.clock.now_ms();
    let id = s
        .store
        .enqueue_job(NewJob::periodic(JobKind::FailingSweep, json!({}), now))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.runner.run_once().await.unwrap(), 1);
    let ep = s.store.get_endpoint(s.account, &failing).await.unwrap();
    assert!(ep.disabled);
    assert_eq!(ep.disabled_reason.as_deref(), Some("failing"));
    let job = s.store.get_job(id).await.unwrap().unwrap();
    assert_eq!(
        job.status,
        JobStatus::Queued,
        "a periodic job is queued again"
    );
    assert_eq!(job.run_at, now + EVERY.as_millis() as i64);
    assert_eq!(job.result, Some(json!({"disabled": 1, "pruned": 0})));
    assert_eq!(s.runner.run_once().await.unwrap(), 0, "not due yet");
    s.clock.advance(EVERY);
    assert_eq!(s.runner.run_once().await.unwrap(), 1);
    let job = s.store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.result, Some(json!({"disabled": 0, "pruned": 0})));
}

async fn start_replay(s: &Setup, task: &str, endpoint: &str) -> i64 {
    let args = TaskArgs {
        task: task.into(),
        account: s.account,
        endpoint: endpoint.into(),
        since: 0,
        until: i64::MAX,
    };
    let now = s.clock.now_ms();
    s.store
        .start_task_job(
            task,
            s.account,
            "{\"status\":\"running\"}",
            NewJob::once(
                JobKind::ReplayMissing,
                serde_json::to_value(args).unwrap(),
                now,
            ),
            now,
        )
        .await
        .unwrap()
}

async fn task_record(s: &Setup, task: &str) -> serde_json::Value {
    let (_, rec) = s.store.get_task(task).await.unwrap().unwrap();
    serde_json::from_str(&rec).unwrap()
}

#[tokio::test]
async fn a_task_job_reports_through_its_task() {
    let s = setup().await;
    s.store.create_message(s.account, message()).await.unwrap();
    s.store.create_message(s.account, message()).await.unwrap();
    let late = endpoint(&s, "https://hooks.example/late").await;
    let id = start_replay(&s, "qtask_a", &late).await;
    assert_eq!(s.runner.run_once().await.unwrap(), 1);
    let rec = task_record(&s, "qtask_a").await;
    assert_eq!(rec["status"], "finished");
    assert_eq!(rec["data"]["messagesSent"], 2);
    let job = s.store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Succeeded);
    let stats = s.store.endpoint_stats(s.account, &late).await.unwrap();
    assert_eq!(stats.pending + stats.sending, 2);
}

#[tokio::test]
async fn a_task_job_for_a_deleted_endpoint_fails_its_task_at_once() {
    let s = setup().await;
    let gone = endpoint(&s, "https://hooks.example/gone").await;
    let id = start_replay(&s, "qtask_b", &gone).await;
    s.store.delete_endpoint(s.account, &gone).await.unwrap();
    assert_eq!(s.runner.run_once().await.unwrap(), 1);
    let job = s.store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed, "not found is not retried");
    assert_eq!(job.attempts, 1);
    assert_eq!(task_record(&s, "qtask_b").await["status"], "failed");
}

#[tokio::test]
async fn a_job_whose_nodes_keep_dying_is_given_up() {
    let s = setup().await;
    let ds = dataset(&s).await;
    s.store.create_release(&ds, "v1", "").await.unwrap();
    // Five nodes claim it in turn and die holding it: each lease runs out.
    let lease = 10_000;
    for n in 0..5 {
        let now = s.clock.now_ms();
        let got = s
            .store
            .claim_jobs(&format!("dead-{n}"), now, now + lease, 1)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        s.clock.advance(Duration::from_millis(lease as u64));
    }
    // The sixth claim finds every attempt used: it gives up without running it.
    assert_eq!(s.runner.run_once().await.unwrap(), 1);
    assert_eq!(
        s.store.get_release(&ds, "v1").await.unwrap().status,
        ReleaseStatus::Failed
    );
    let now = s.clock.now_ms() + 1_000_000;
    assert!(s
        .store
        .claim_jobs("n1", now, now + lease, 1)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_running_loop_wakes_when_a_job_is_enqueued() {
    let s = setup().await;
    let ds = dataset(&s).await;
    let runner = Arc::new(JobRunner::new(
        s.store.clone(),
        config("live"),
        Arc::new(SystemClock),
    ));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(runner.run(cancel.clone()));
    // Let it go to sleep on an empty queue (its safety net is a minute away).
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.store.create_release(&ds, "v1", "").await.unwrap();
    let start = std::time::Instant::now();
    loop {
        let r = s.store.get_release(&ds, "v1").await.unwrap();
        if r.status == ReleaseStatus::Succeeded {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the runner did not wake for the enqueued job"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_task_job_whose_account_is_gone_fails_without_a_task_to_report_to() {
    let s = setup().await;
    let ep = endpoint(&s, "https://hooks.example/x").await;
    let id = start_replay(&s, "qtask_c", &ep).await;
    s.store.delete_user("jane").await.unwrap();
    assert!(s.store.get_task("qtask_c").await.unwrap().is_none());
    assert_eq!(s.runner.run_once().await.unwrap(), 1);
    let job = s.store.get_job(id).await.unwrap().unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Failed, 1));
}
