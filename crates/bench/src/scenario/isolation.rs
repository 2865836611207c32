//! `isolation`: the latency scenario with, beside the healthy endpoint, one that answers
//! only after a delay and one whose port refuses connections. Reports the healthy
//! endpoint's p99 against the latency baseline.

use crate::receiver::Mode;
use crate::report::Run;

use super::{latency, Ctx, Rig};

/// A loopback URL whose port was just free and is now closed (connections are refused).
fn refused_url() -> anyhow::Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    drop(l);
    Ok(format!("http://127.0.0.1:{port}/hook/dead"))
}

/// Runs the latency baseline first when it has not been measured in this invocation.
pub async fn run(ctx: &mut Ctx) -> anyhow::Result<Vec<Run>> {
    let mut runs = Vec::new();
    if ctx.baseline_p99_ms.is_none() {
        runs.push(latency::run(ctx).await?);
    }
    let (rate, seconds, slow) = (ctx.sizes.rate, ctx.sizes.seconds, ctx.sizes.slow_secs);
    eprintln!("isolation: {rate}/s for {seconds} s; healthy + {slow} s slow + refusing endpoints");
    let rig = Rig::start(ctx, 2, None).await?;
    rig.rx.set_mode(1, Mode::Slow);
    rig.add_endpoints(2).await?;
    rig.api.add_endpoint(&refused_url()?).await?;
    let mut r = Run::new(
        "isolation",
        "isolation",
        format!(
            "{rate} events/s for {seconds} s; measured: the healthy endpoint, beside one answering after {slow} s and one refusing connections (default retry schedule)"
        ),
    );
    latency::measure(ctx, &rig, &mut r).await?;
    r.figure("slow endpoint deliveries done", rig.rx.distinct(1) as f64);
    if let (Some(base), Some(l)) = (ctx.baseline_p99_ms, r.latency_commit_ms) {
        r.figure("baseline p99 ms", base);
        r.figure("healthy p99 ms", l.p99_ms);
        if base > 0.0 {
            r.figure("healthy p99 / baseline p99", l.p99_ms / base);
        }
    }
    rig.finish(&mut r).await?;
    runs.push(r);
    Ok(runs)
}
