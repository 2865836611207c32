//! `fanout`: every event to E endpoints; deliveries/s from the first send until all
//! N × E deliveries have arrived, and how far arrivals fell behind acceptance meanwhile.

use crate::api::Ingest;
use crate::clock::secs_between;
use crate::load::closed_loop;
use crate::report::Run;
use crate::wait;

use super::{Ctx, Rig};

/// One run per endpoint count.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<Vec<Run>> {
    let (n, c) = (ctx.sizes.fanout_events, ctx.sizes.concurrency);
    let mut runs = Vec::new();
    for e in ctx.sizes.fanout_endpoints.clone() {
        let e = e.max(1);
        eprintln!("fanout.{e}: {n} events, {c} concurrent, {e} endpoints");
        let rig = Rig::start(ctx, e, None).await?;
        rig.add_endpoints(e).await?;
        let sent = closed_loop(rig.api.clone(), Ingest::Msg, n, c, 0).await;
        let want = sent.accepted * e as u64;
        wait::until("fan-out deliveries", want, ctx.timeout(), || {
            rig.rx.distinct_total()
        })
        .await;
        let mut r = Run::new(
            "fanout",
            format!("fanout.{e}"),
            format!("{n} events via POST /api/v1/app/{{app}}/msg, {c} concurrent senders, {e} endpoints"),
        );
        r.events = n;
        r.accepted = sent.accepted;
        r.send_errors = sent.errors;
        r.first_error = sent.first_error;
        r.expected_deliveries = want;
        r.delivered = rig.rx.distinct_total();
        let last = rig.rx.span_us().map_or(sent.end_us, |(_, hi)| hi);
        r.rate(
            r.delivered,
            secs_between(sent.start_us, last),
            "deliveries/s",
        );
        let ingest_s = secs_between(sent.start_us, sent.end_us);
        if ingest_s > 0.0 {
            r.figure("ingest accepted events/s", sent.accepted as f64 / ingest_s);
        }
        super::saturated_lag(&mut r, &rig.rx, e, &sent.answers);
        rig.finish(&mut r).await?;
        runs.push(r);
    }
    Ok(runs)
}
