//! `fragile`: a burst of N events to a receiver that cannot take them all at once, with the
//! default retry schedule (as a new user has it): a single-threaded one with a listen backlog
//! of 5 (about 250 requests/s), and one allowing 40 requests/s that answers 429 with
//! `Retry-After: 1` beyond. Reports the time from the first send until every event arrived
//! and the failed attempts (from the server's `/metrics`), which the pace should keep few.

use std::time::Duration;

use crate::api::Ingest;
use crate::clock::secs_between;
use crate::fragile::Fragile;
use crate::load::closed_loop;
use crate::report::Run;
use crate::wait;

use super::{Ctx, Rig};

/// Both runs.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<Vec<Run>> {
    let single = Fragile::single_threaded(Duration::from_millis(4), 5)?;
    let single = burst(
        ctx,
        single,
        "fragile.single",
        "a single-threaded receiver, listen backlog 5, ~250 requests/s",
        250.0,
    )
    .await?;
    let limited = Fragile::rate_limited(40)?;
    let limited = burst(
        ctx,
        limited,
        "fragile.429",
        "a receiver allowing 40 requests/s, 429 + Retry-After: 1 beyond",
        40.0,
    )
    .await?;
    Ok(vec![single, limited])
}

async fn burst(
    ctx: &Ctx,
    rx: Fragile,
    name: &str,
    what: &str,
    capacity: f64,
) -> anyhow::Result<Run> {
    let n = ctx.sizes.fragile_events;
    let rig = Rig::start(ctx, 0, None).await?;
    let ep = rig.api.add_endpoint(&rx.url()).await?;
    eprintln!("{name}: {n} events to {what}");
    let sent = closed_loop(rig.api.clone(), Ingest::Msg, n, ctx.sizes.concurrency, 0).await;
    wait::until(name, sent.accepted, ctx.timeout(), || rx.distinct()).await;
    let mut r = Run::new(
        "fragile",
        name.to_owned(),
        format!("a burst of {n} events via POST /msg to {what}; default retry schedule"),
    );
    r.events = n;
    r.accepted = sent.accepted;
    r.send_errors = sent.errors;
    r.first_error = sent.first_error;
    r.expected_deliveries = sent.accepted;
    r.delivered = rx.distinct();
    let last = match rx.last_us() {
        0 => sent.end_us,
        t => t,
    };
    let secs = secs_between(sent.start_us, last);
    r.rate(r.delivered, secs, "delivered events/s");
    r.figure("all arrived after s", secs);
    r.figure(
        "receiver's own time for the burst s",
        sent.accepted as f64 / capacity,
    );
    let metrics = rig.api.metrics().await.unwrap_or_default();
    let failed = counter(&metrics, "datahooks_deliveries_total{outcome=\"retry\"}")
        + counter(&metrics, "datahooks_deliveries_total{outcome=\"failed\"}")
        + counter(
            &metrics,
            "datahooks_deliveries_deferred_total{reason=\"refused\"}",
        );
    r.figure("failed attempts", failed);
    if n > 0 {
        r.figure("failed attempts % of events", failed * 100.0 / n as f64);
    }
    r.figure("429 answers", rx.refused() as f64);
    for reason in ["paused", "down", "busy"] {
        r.figure(
            &format!("deferred ({reason})"),
            counter(
                &metrics,
                &format!("datahooks_deliveries_deferred_total{{reason=\"{reason}\"}}"),
            ),
        );
    }
    if let Ok(stats) = rig.api.endpoint_stats(&ep).await {
        let pace = &stats["pace"];
        if let Some(limit) = pace["limit"].as_f64() {
            r.figure("learned limit (in flight)", limit);
        }
        if let Some(rate) = pace["rateCap"].as_f64() {
            r.figure("learned rate /s", rate);
        }
    }
    rig.finish(&mut r).await?;
    r.duplicates = rx.duplicates();
    Ok(r)
}

/// The value of one Prometheus sample line, 0 if absent.
fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
