//! `ingest`: accepted events/s through each ingest path, with no endpoint (pure accept cost).

use crate::api::Ingest;
use crate::clock::secs_between;
use crate::load::closed_loop;
use crate::report::Run;

use super::{Ctx, Rig};

/// One run per path: Svix-style messages, then platform samples.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<Vec<Run>> {
    let (n, c) = (ctx.sizes.ingest_events, ctx.sizes.concurrency);
    let mut runs = Vec::new();
    for path in [Ingest::Msg, Ingest::Sample] {
        let rig = Rig::start(ctx, 0, None).await?;
        let route = match path {
            Ingest::Msg => "POST /api/v1/app/{app}/msg",
            Ingest::Sample => {
                rig.api.create_dataset().await?;
                "POST /datasets/{ds}/samples/"
            }
        };
        eprintln!("ingest.{}: {n} events, {c} concurrent", path.name());
        let sent = closed_loop(rig.api.clone(), path, n, c, 0).await;
        let mut r = Run::new(
            "ingest",
            format!("ingest.{}", path.name()),
            format!("{n} events via {route}, {c} concurrent senders, no endpoint"),
        );
        r.events = n;
        r.accepted = sent.accepted;
        r.send_errors = sent.errors;
        r.first_error = sent.first_error;
        r.rate(
            sent.accepted,
            secs_between(sent.start_us, sent.end_us),
            "accepted events/s",
        );
        rig.finish(&mut r).await?;
        runs.push(r);
    }
    Ok(runs)
}
