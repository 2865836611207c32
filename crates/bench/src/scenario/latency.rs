//! `latency`: a fixed rate for a fixed time to one endpoint; commit-to-arrival percentiles.
//!
//! "Commit" is when the 202 answer reached the sender: the server answers only after the
//! event is on disk. A delivery can overtake that answer on the wire, so the smallest
//! commit-to-arrival figures may be negative. Send-to-arrival (from request start) is
//! reported beside it.

use std::collections::HashMap;
use std::time::Duration;

use crate::api::Ingest;
use crate::clock::{now_us, secs_between};
use crate::load::{open_loop, Open};
use crate::report::Run;
use crate::stats::summarize;
use crate::wait;

use super::{Ctx, Rig};

/// Sequence numbers of warm-up events (kept apart from the measured `0..count`).
const WARMUP_BASE: u64 = 1 << 40;
/// Warm-up events, sent one by one before measuring, to open connections on both sides.
const WARMUP: u64 = 10;
/// Longest wait for the warm-up to arrive.
const WARMUP_WAIT: Duration = Duration::from_secs(30);

/// Warms up, sends at `rate` for `seconds` to receiver endpoint 0, waits for the arrivals and
/// fills `r` with the outcome.
pub async fn measure(ctx: &Ctx, rig: &Rig, r: &mut Run) -> anyhow::Result<()> {
    for i in 0..WARMUP {
        rig.api.send(Ingest::Msg, WARMUP_BASE + i, now_us()).await?;
    }
    wait::until("warm-up", WARMUP, WARMUP_WAIT, || rig.rx.distinct(0)).await;
    let warm = rig.rx.distinct(0);
    let (rate, seconds) = (ctx.sizes.rate, ctx.sizes.seconds);
    let open = open_loop(rig.api.clone(), Ingest::Msg, rate, seconds).await;
    let want = warm + open.sent.len() as u64;
    wait::until("latency deliveries", want, ctx.timeout(), || {
        rig.rx.distinct(0)
    })
    .await;
    fill(r, &open, rig, rate, seconds);
    Ok(())
}

fn fill(r: &mut Run, open: &Open, rig: &Rig, rate: f64, seconds: f64) {
    let arrived: HashMap<u64, u64> = rig
        .rx
        .arrivals(0)
        .into_iter()
        .filter_map(|a| Some((a.seq?, a.at_us)))
        .filter(|(seq, _)| *seq < WARMUP_BASE)
        .collect();
    let ms = |from: u64, to: u64| (to as f64 - from as f64) / 1000.0;
    let mut commit = Vec::with_capacity(open.sent.len());
    let mut send = Vec::with_capacity(open.sent.len());
    for s in &open.sent {
        if let Some(&at) = arrived.get(&s.seq) {
            commit.push(ms(s.commit_us, at));
            send.push(ms(s.start_us, at));
        }
    }
    r.events = (rate * seconds).round() as u64;
    r.accepted = open.sent.len() as u64;
    r.send_errors = open.errors;
    r.first_error = open.first_error.clone();
    r.expected_deliveries = r.accepted;
    r.delivered = commit.len() as u64;
    r.rate(r.accepted, seconds, "offered events/s");
    r.figure(
        "all answered after s",
        secs_between(open.start_us, open.end_us),
    );
    r.latency_commit_ms = summarize(commit);
    r.latency_send_ms = summarize(send);
    let commit_ms: Vec<f64> = open
        .sent
        .iter()
        .map(|s| ms(s.start_us, s.commit_us))
        .collect();
    if let Some(c) = summarize(commit_ms) {
        r.figure("ingest answer p50 ms", c.p50_ms);
        r.figure("ingest answer p99 ms", c.p99_ms);
    }
}

/// The scenario: one endpoint, nothing else.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<Run> {
    let (rate, seconds) = (ctx.sizes.rate, ctx.sizes.seconds);
    eprintln!("latency: {rate}/s for {seconds} s, 1 endpoint");
    let rig = Rig::start(ctx, 1, None).await?;
    rig.add_endpoints(1).await?;
    let mut r = Run::new(
        "latency",
        "latency",
        format!("{rate} events/s for {seconds} s via POST /api/v1/app/{{app}}/msg, 1 endpoint"),
    );
    measure(ctx, &rig, &mut r).await?;
    rig.finish(&mut r).await?;
    ctx.baseline_p99_ms = r.latency_commit_ms.map(|l| l.p99_ms);
    Ok(r)
}
