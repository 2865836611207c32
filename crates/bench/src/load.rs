//! Load shapes: a closed loop (as fast as possible at a fixed concurrency) and an open loop
//! (a fixed rate, each send on its own task so a slow answer never delays the schedule).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::api::{Api, Ingest};
use crate::clock::now_us;

/// What a closed loop achieved.
#[derive(Debug, Clone, Default)]
pub struct Closed {
    /// Events the server accepted (2xx).
    pub accepted: u64,
    /// Events that failed.
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Bench clock when the first send started.
    pub start_us: u64,
    /// Bench clock when the last answer arrived.
    pub end_us: u64,
    /// Each accepted event's sequence number and when its 2xx answer (the commit) arrived,
    /// for commit-to-arrival under saturation.
    pub answers: Vec<(u64, u64)>,
}

/// Sends events `seq_base..seq_base + n` through `path` with `concurrency` senders, each
/// waiting for its answer before sending the next.
pub async fn closed_loop(
    api: Arc<Api>,
    path: Ingest,
    n: u64,
    concurrency: usize,
    seq_base: u64,
) -> Closed {
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let answers = Arc::new(Mutex::new(Vec::with_capacity(n as usize)));
    let start_us = now_us();
    let mut set = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (api, next, accepted, errors, first_error, answers) = (
            api.clone(),
            next.clone(),
            accepted.clone(),
            errors.clone(),
            first_error.clone(),
            answers.clone(),
        );
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                match api.send(path, seq_base + i, now_us()).await {
                    Ok(()) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let at = now_us();
                        answers
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((seq_base + i, at));
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_error.lock().unwrap_or_else(PoisonError::into_inner);
                        first.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    let end_us = now_us();
    let first_error = first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let answers = std::mem::take(&mut *answers.lock().unwrap_or_else(PoisonError::into_inner));
    Closed {
        accepted: accepted.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        first_error,
        start_us,
        end_us,
        answers,
    }
}

/// One accepted event of an open loop.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Its sequence number.
    pub seq: u64,
    /// Bench clock when the request started.
    pub start_us: u64,
    /// Bench clock when the 2xx answer (the commit) arrived.
    pub commit_us: u64,
}

/// What an open loop achieved.
#[derive(Debug, Clone, Default)]
pub struct Open {
    /// Accepted events.
    pub sent: Vec<Sent>,
    /// Events that failed.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Bench clock of the first and last scheduled send.
    pub start_us: u64,
    /// Bench clock after the last answer.
    pub end_us: u64,
}

/// Sends `round(rate × seconds)` events with sequence numbers from 0, event `i` at
/// `i / rate` seconds after the start.
pub async fn open_loop(api: Arc<Api>, path: Ingest, rate: f64, seconds: f64) -> Open {
    let count = (rate * seconds).round().max(0.0) as u64;
    let rate = rate.max(f64::MIN_POSITIVE);
    let start = Instant::now();
    let start_us = now_us();
    let mut set = JoinSet::new();
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let api = api.clone();
        set.spawn(async move {
            let start_us = now_us();
            let r = api.send(path, i, start_us).await;
            (i, start_us, now_us(), r)
        });
    }
    let mut out = Open {
        start_us,
        ..Open::default()
    };
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((seq, start_us, commit_us, Ok(()))) => out.sent.push(Sent {
                seq,
                start_us,
                commit_us,
            }),
            Ok((_, _, _, Err(e))) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    out.end_us = now_us();
    out
}
