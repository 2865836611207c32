//! `backlog`: the endpoint answers 503 while N events are sent, so every delivery is queued
//! and retried every 2 s; then it answers 204 and the drain rate is measured until all N
//! have arrived.

use crate::api::Ingest;
use crate::clock::{now_us, secs_between};
use crate::load::closed_loop;
use crate::receiver::Mode;
use crate::report::Run;
use crate::wait;

use super::{Ctx, Rig};

/// Delay of every retry while the endpoint fails.
const RETRY: &str = "2s";
/// Shortest spacing of retries (2 s − 20 % jitter), to size the schedule.
const MIN_SPACING_S: f64 = 1.6;

/// Enough 2 s retries that no delivery runs out of attempts within the scenario's timeout
/// (sending plus draining).
fn schedule(timeout_secs: u64) -> String {
    let n = ((2 * timeout_secs) as f64 / MIN_SPACING_S).ceil() as usize + 10;
    vec![RETRY; n.min(5_000)].join(",")
}

/// One run.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<Run> {
    let (n, c) = (ctx.sizes.backlog_events, ctx.sizes.concurrency);
    eprintln!("backlog: {n} events queued behind a failing endpoint, then drained");
    let rig = Rig::start(ctx, 1, Some(&schedule(ctx.sizes.timeout_secs))).await?;
    rig.rx.set_mode(0, Mode::Fail);
    rig.add_endpoints(1).await?;
    let sent = closed_loop(rig.api.clone(), Ingest::Msg, n, c, 0).await;
    let refused = rig.rx.refused(0);
    let switch_us = now_us();
    rig.rx.set_mode(0, Mode::Ok);
    wait::until("backlog drain", sent.accepted, ctx.timeout(), || {
        rig.rx.distinct(0)
    })
    .await;
    let mut r = Run::new(
        "backlog",
        "backlog",
        format!(
            "{n} events via POST /api/v1/app/{{app}}/msg while the endpoint answers 503 (retries every {RETRY}), then it answers 204"
        ),
    );
    r.events = n;
    r.accepted = sent.accepted;
    r.send_errors = sent.errors;
    r.first_error = sent.first_error;
    r.expected_deliveries = sent.accepted;
    r.delivered = rig.rx.distinct(0);
    let (first, last) = rig.rx.span_us().unwrap_or((switch_us, switch_us));
    r.rate(
        r.delivered,
        secs_between(first, last),
        "drained deliveries/s",
    );
    r.figure("fill: accepted events/s while failing", {
        let s = secs_between(sent.start_us, sent.end_us);
        if s > 0.0 {
            sent.accepted as f64 / s
        } else {
            0.0
        }
    });
    r.figure("fill: 503 answers during fill", refused as f64);
    r.figure("switch to last arrival s", secs_between(switch_us, last));
    r.figure("switch to first arrival s", secs_between(switch_us, first));
    rig.finish(&mut r).await?;
    Ok(r)
}
