//! `e2e`: N events at concurrency C to one endpoint; time from the first send until the
//! receiver holds all N distinct `webhook-id`s.

use crate::api::Ingest;
use crate::clock::secs_between;
use crate::load::closed_loop;
use crate::report::Run;
use crate::wait;

use super::{Ctx, Rig};

/// One run.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<Vec<Run>> {
    let (n, c) = (ctx.sizes.e2e_events, ctx.sizes.concurrency);
    let rig = Rig::start(ctx, 1, None).await?;
    rig.add_endpoints(1).await?;
    eprintln!("e2e: {n} events, {c} concurrent, 1 endpoint");
    let sent = closed_loop(rig.api.clone(), Ingest::Msg, n, c, 0).await;
    wait::until("e2e deliveries", sent.accepted, ctx.timeout(), || {
        rig.rx.distinct(0)
    })
    .await;
    let mut r = Run::new(
        "e2e",
        "e2e",
        format!("{n} events via POST /api/v1/app/{{app}}/msg, {c} concurrent senders, 1 endpoint"),
    );
    r.events = n;
    r.accepted = sent.accepted;
    r.send_errors = sent.errors;
    r.first_error = sent.first_error;
    r.expected_deliveries = sent.accepted;
    r.delivered = rig.rx.distinct(0);
    let last = rig.rx.span_us().map_or(sent.end_us, |(_, hi)| hi);
    r.rate(
        r.delivered,
        secs_between(sent.start_us, last),
        "delivered events/s",
    );
    let ingest_s = secs_between(sent.start_us, sent.end_us);
    if ingest_s > 0.0 {
        r.figure("ingest accepted events/s", sent.accepted as f64 / ingest_s);
    }
    r.figure("all accepted after s", ingest_s);
    super::saturated_lag(&mut r, &rig.rx, 1, &sent.answers);
    rig.finish(&mut r).await?;
    Ok(vec![r])
}
