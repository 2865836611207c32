//! Unit tests of the pace, driven by an explicit clock (unix ms passed to every call).

use super::*;

const EP: &str = "ep_1";
const T0: i64 = 1_000_000;

fn pace() -> Pace {
    Pace::new(PaceConfig::default())
}

fn go(p: &mut Pace, now: i64) -> Ticket {
    match p.admit(EP, now) {
        Admit::Go(t) => t,
        other => panic!("expected Go at {now}, got {other:?}"),
    }
}

/// Admits as many as the pace allows at `now`.
fn fill(p: &mut Pace, now: i64) -> Vec<Ticket> {
    let mut out = Vec::new();
    while let Admit::Go(t) = p.admit(EP, now) {
        out.push(t);
        assert!(out.len() <= 1000, "the pace never said stop");
    }
    out
}

fn limit(p: &mut Pace, now: i64) -> u32 {
    p.view(EP, now).map(|v| v.limit).unwrap_or(0)
}

/// One round trip: fill the limit at `now`, all answer `signal` after `rtt` ms.
fn round(p: &mut Pace, now: i64, rtt: i64, signal: Signal) -> (usize, i64) {
    let tickets = fill(p, now);
    let end = now + rtt;
    for t in &tickets {
        p.finish(EP, *t, end, signal, None);
    }
    (tickets.len(), end)
}

#[test]
fn a_new_endpoint_gets_four_in_flight_and_the_fifth_waits_for_a_slot() {
    let mut p = pace();
    assert_eq!(fill(&mut p, T0).len(), 4);
    assert_eq!(
        p.admit(EP, T0),
        Admit::Wait {
            hold: Hold::Full,
            until: T0
        }
    );
    // Full is not blocked (claimed deliveries wait for a slot), only paused or down.
    assert!(p.blocked(T0).is_empty());
}

#[test]
fn fast_successes_double_the_limit_per_round_trip_then_grow_by_one() {
    let mut p = pace();
    let mut now = T0;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (n, end) = round(&mut p, now, 2, Signal::Success);
        seen.push(n);
        now = end;
    }
    // 4, 8, 16 (slow start ends at 16), then one more per round trip.
    assert_eq!(seen, vec![4, 8, 16, 17, 18, 19]);
}

#[test]
fn the_limit_never_passes_the_configured_maximum() {
    let mut p = Pace::new(PaceConfig {
        max_limit: 10.0,
        ..PaceConfig::default()
    });
    let mut now = T0;
    for _ in 0..50 {
        now = round(&mut p, now, 1, Signal::Success).1;
    }
    assert_eq!(limit(&mut p, now), 10);
    assert_eq!(fill(&mut p, now).len(), 10);
}

#[test]
fn timeouts_halve_the_limit_once_per_round_trip_and_never_below_one() {
    let mut p = pace();
    let mut now = T0;
    for _ in 0..3 {
        now = round(&mut p, now, 2, Signal::Success).1;
    }
    assert_eq!(limit(&mut p, now), 17);
    // All 17 in flight time out together: one cut, not 17.
    now = round(&mut p, now, 15_000, Signal::Overload).1;
    assert_eq!(limit(&mut p, now), 8);
    for _ in 0..10 {
        now = round(&mut p, now, 15_000, Signal::Overload).1;
    }
    assert_eq!(limit(&mut p, now), 1);
    assert_eq!(fill(&mut p, now).len(), 1, "never below one");
}

#[test]
fn refused_connections_and_503_without_hint_cut_but_do_not_pause() {
    for signal in [Signal::Overload, Signal::ConnectFailed] {
        let mut p = pace();
        let t = go(&mut p, T0);
        assert_eq!(p.finish(EP, t, T0 + 1, signal, None), Verdict::Done);
        assert_eq!(limit(&mut p, T0 + 1), 2);
        assert_eq!(p.view(EP, T0 + 1).map(|v| v.state), Some(State::Open));
    }
}

#[test]
fn after_a_cut_the_limit_grows_by_one_per_round_trip() {
    let mut p = pace();
    let t = go(&mut p, T0);
    p.finish(EP, t, T0 + 1, Signal::Overload, None);
    let mut now = T0 + 1;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (n, end) = round(&mut p, now, 2, Signal::Success);
        seen.push(n);
        now = end;
    }
    assert_eq!(seen, vec![2, 3, 4, 5]);
}

#[test]
fn answers_far_slower_than_usual_cut_and_somewhat_slower_ones_shrink_the_limit() {
    let mut p = pace();
    let mut now = T0;
    now = round(&mut p, now, 4, Signal::Success).1; // usual latency 4 ms, limit 8
    assert_eq!(limit(&mut p, now), 8);
    // 20 ms: slower than 2 × 4 + 5 (queueing), not 4 × slower plus 250 ms: one less.
    now = round(&mut p, now, 20, Signal::Success).1;
    let shrunk = limit(&mut p, now);
    assert!((6..=7).contains(&shrunk), "{shrunk}");
    // 12 ms: within 2 × 4 + 5: grows again, by one per round trip.
    now = round(&mut p, now, 12, Signal::Success).1;
    assert_eq!(limit(&mut p, now), shrunk + 1);
    // 1 s (a SYN retransmitted after the receiver's backlog overflowed): cut.
    let before = limit(&mut p, now);
    now = round(&mut p, now, 1_000, Signal::Success).1;
    let after = limit(&mut p, now);
    assert!(after >= 1 && after <= before / 2, "{before} -> {after}");
}

#[test]
fn the_usual_latency_is_the_least_of_the_last_two_windows() {
    let mut p = pace();
    let mut now = T0;
    now = round(&mut p, now, 4, Signal::Success).1; // usual: 4 ms
                                                    // 20 s of 40 ms answers: queueing at first (the limit shrinks), then, once the 4 ms
                                                    // answer is two windows old, 40 ms is the new usual and the limit grows again.
    let mut limits = Vec::new();
    while now < T0 + 25_000 {
        now = round(&mut p, now, 40, Signal::Success).1;
        limits.push(limit(&mut p, now));
    }
    let low = *limits.iter().min().unwrap();
    assert!(low < 8, "{limits:?}");
    assert!(*limits.last().unwrap() > low + 5, "{limits:?}");
}

#[test]
fn a_429_with_retry_after_pauses_the_endpoint_until_then() {
    let mut p = pace();
    let t = go(&mut p, T0);
    let v = p.finish(
        EP,
        t,
        T0 + 10,
        Signal::Throttled(Some(Duration::from_secs(7))),
        Some(T0 + 60_000),
    );
    let until = T0 + 10 + 7_000;
    assert_eq!(v, Verdict::Paused { until, first: true });
    assert_eq!(
        p.admit(EP, T0 + 20),
        Admit::Wait {
            hold: Hold::Paused,
            until
        }
    );
    assert_eq!(p.blocked(until - 1), vec![EP.to_owned()]);
    assert_eq!(
        p.view(EP, until - 1).map(|v| v.state),
        Some(State::Paused(until))
    );
    assert!(p.blocked(until).is_empty());
    go(&mut p, until);
    assert_eq!(p.view(EP, until).map(|v| v.state), Some(State::Open));
}

#[test]
fn a_429_without_retry_after_pauses_one_second_doubling_until_a_success() {
    let mut p = pace();
    let mut now = T0;
    let mut pauses = Vec::new();
    for _ in 0..3 {
        let t = go(&mut p, now);
        let Verdict::Paused { until, .. } = p.finish(EP, t, now, Signal::Throttled(None), None)
        else {
            panic!("no pause");
        };
        pauses.push(until - now);
        now = until;
    }
    assert_eq!(pauses, vec![1_000, 2_000, 4_000]);
    let t = go(&mut p, now);
    p.finish(EP, t, now + 1, Signal::Success, None);
    now += 1;
    // The send rate learned from the refusals spaces the next sends; wait for the slot.
    let mut next = now;
    let t = loop {
        match p.admit(EP, next) {
            Admit::Go(t) => break t,
            Admit::Wait { hold, until } => {
                assert_eq!(hold, Hold::Rate);
                next = until;
            }
        }
    };
    let v = p.finish(EP, t, next, Signal::Throttled(None), None);
    assert_eq!(
        v,
        Verdict::Paused {
            until: next + 1_000,
            first: true
        }
    );
}

#[test]
fn a_503_with_retry_after_pauses_like_a_429() {
    let s = Signal::of(Some(&Failure::Status(503)), Some(Duration::from_secs(3)));
    assert_eq!(s, Signal::Throttled(Some(Duration::from_secs(3))));
    let mut p = pace();
    let t = go(&mut p, T0);
    assert_eq!(
        p.finish(EP, t, T0, s, None),
        Verdict::Paused {
            until: T0 + 3_000,
            first: true
        }
    );
}

#[test]
fn a_pause_lasts_at_least_a_second_and_at_most_an_hour() {
    for (asked, want) in [(0, 1_000), (2, 2_000), (86_400, 3_600_000)] {
        let mut p = pace();
        let t = go(&mut p, T0);
        let s = Signal::Throttled(Some(Duration::from_secs(asked)));
        assert_eq!(
            p.finish(EP, t, T0, s, None),
            Verdict::Paused {
                until: T0 + want,
                first: true
            }
        );
    }
}

#[test]
fn signals_are_read_from_the_attempt_outcome() {
    let ra = Some(Duration::from_secs(1));
    assert_eq!(Signal::of(None, None), Signal::Success);
    assert_eq!(
        Signal::of(Some(&Failure::Status(429)), None),
        Signal::Throttled(None)
    );
    assert_eq!(
        Signal::of(Some(&Failure::Status(429)), ra),
        Signal::Throttled(ra)
    );
    assert_eq!(
        Signal::of(Some(&Failure::Status(503)), None),
        Signal::Overload
    );
    assert_eq!(Signal::of(Some(&Failure::Timeout), None), Signal::Overload);
    assert_eq!(
        Signal::of(Some(&Failure::Connect), None),
        Signal::ConnectFailed
    );
    assert_eq!(Signal::of(Some(&Failure::Status(500)), ra), Signal::Neutral);
    assert_eq!(
        Signal::of(Some(&Failure::Status(400)), None),
        Signal::Neutral
    );
    assert_eq!(Signal::of(Some(&Failure::Other), None), Signal::Neutral);
}

#[test]
fn refusals_of_sends_already_in_flight_belong_to_the_same_pause() {
    let mut p = pace();
    let tickets = fill(&mut p, T0);
    assert_eq!(tickets.len(), 4);
    let first = p.finish(EP, tickets[0], T0 + 5, Signal::Throttled(None), None);
    assert_eq!(
        first,
        Verdict::Paused {
            until: T0 + 1_005,
            first: true
        }
    );
    for t in &tickets[1..] {
        // Later answers to sends made before the pause: same pause, no longer, no more cuts.
        assert_eq!(
            p.finish(EP, *t, T0 + 6, Signal::Throttled(None), None),
            Verdict::Paused {
                until: T0 + 1_005,
                first: false
            }
        );
    }
    assert_eq!(limit(&mut p, T0 + 6), 2);
    let t = go(&mut p, T0 + 1_005);
    // A refusal of a send made after the pause is a new one (and pauses 2 s: no success yet).
    assert_eq!(
        p.finish(EP, t, T0 + 1_010, Signal::Throttled(None), None),
        Verdict::Paused {
            until: T0 + 3_010,
            first: true
        }
    );
}

/// A receiver that takes 40 a second and refuses beyond: the rate learned from its
/// refusals keeps later sends under its quota.
#[test]
fn the_rate_accepted_between_refusals_becomes_the_send_rate() {
    let mut p = pace();
    let mut now = T0;
    // 40 accepted in 40 ms, then a 429 asking for 1 s.
    for _ in 0..40 {
        let t = go(&mut p, now);
        now += 1;
        p.finish(EP, t, now, Signal::Success, None);
    }
    let t = go(&mut p, now);
    let Verdict::Paused { until, .. } = p.finish(
        EP,
        t,
        now,
        Signal::Throttled(Some(Duration::from_secs(1))),
        None,
    ) else {
        panic!("no pause");
    };
    let rate = p.view(EP, now).and_then(|v| v.rate_cap).unwrap_or(0.0);
    // 40 in (40 ms + the 1 s pause).
    assert!((rate - 40.0 / 1.041).abs() < 0.5, "rate {rate}");
    // After the pause, sends are spaced about 26 ms apart.
    let mut now = until;
    let mut sent = Vec::new();
    while sent.len() < 10 {
        match p.admit(EP, now) {
            Admit::Go(t) => {
                sent.push(now);
                p.finish(EP, t, now + 1, Signal::Success, None);
            }
            Admit::Wait { hold, until } => {
                assert_eq!(hold, Hold::Rate);
                assert!(until > now);
                now = until;
            }
        }
    }
    let span = sent[9] - sent[1];
    assert!((200..=240).contains(&span), "8 gaps took {span} ms");
    // Clean sending raises the rate slowly (about +1/s per second).
    let after = p.view(EP, now).and_then(|v| v.rate_cap).unwrap_or(0.0);
    assert!(after > rate && after < rate + 1.0, "{rate} -> {after}");
}

#[test]
fn a_refusal_despite_a_learned_rate_lowers_it() {
    let mut p = pace();
    let mut now = T0;
    for _ in 0..2 {
        let mut ok = 0;
        while ok < 20 {
            match p.admit(EP, now) {
                Admit::Go(t) => {
                    now += 1;
                    p.finish(EP, t, now, Signal::Success, None);
                    ok += 1;
                }
                Admit::Wait { until, .. } => now = until,
            }
        }
        let t = loop {
            match p.admit(EP, now) {
                Admit::Go(t) => break t,
                Admit::Wait { until, .. } => now = until,
            }
        };
        if let Verdict::Paused { until, .. } = p.finish(
            EP,
            t,
            now,
            Signal::Throttled(Some(Duration::from_secs(1))),
            None,
        ) {
            now = until;
        }
    }
    let first = 20.0 / 1.021;
    let second = p.view(EP, now).and_then(|v| v.rate_cap).unwrap_or(0.0);
    assert!(second <= first * 0.9 + 0.01, "{first} -> {second}");
}

#[test]
fn many_refused_connections_make_the_endpoint_down_until_one_probe() {
    let mut p = pace();
    let mut now = T0;
    let retry = T0 + 5_000;
    // Four in flight fail: not down yet (five in a row are needed).
    for t in fill(&mut p, now) {
        assert_eq!(
            p.finish(EP, t, now + 1, Signal::ConnectFailed, Some(retry)),
            Verdict::Done
        );
    }
    now += 1;
    let t = go(&mut p, now);
    assert_eq!(
        p.finish(EP, t, now, Signal::ConnectFailed, Some(retry)),
        Verdict::Down { probe_at: retry }
    );
    assert_eq!(
        p.admit(EP, now),
        Admit::Wait {
            hold: Hold::Down,
            until: retry
        }
    );
    assert_eq!(p.view(EP, now).map(|v| v.state), Some(State::Down(retry)));
    assert_eq!(p.blocked(retry - 1), vec![EP.to_owned()]);
    // At the probe time: claims may take it again, exactly one send goes, the rest wait.
    assert!(p.blocked(retry).is_empty());
    let probe = go(&mut p, retry);
    assert_eq!(p.view(EP, retry).map(|v| v.state), Some(State::Probing));
    assert_eq!(
        p.admit(EP, retry),
        Admit::Wait {
            hold: Hold::Full,
            until: retry
        }
    );
    assert_eq!(p.blocked(retry), vec![EP.to_owned()], "the probe is out");
    // The probe fails: down until its own next retry.
    let next = retry + 300_000;
    assert_eq!(
        p.finish(EP, probe, retry + 2, Signal::ConnectFailed, Some(next)),
        Verdict::Down { probe_at: next }
    );
    // The next probe answers: open, and the held ones drain at the learned limit.
    let probe = go(&mut p, next);
    assert_eq!(
        p.finish(EP, probe, next + 2, Signal::Success, None),
        Verdict::Done
    );
    assert_eq!(p.view(EP, next + 2).map(|v| v.state), Some(State::Open));
    assert_eq!(fill(&mut p, next + 2).len(), 2);
}

#[test]
fn a_probe_without_retries_left_probes_again_after_the_down_retry() {
    let mut p = Pace::new(PaceConfig {
        down_after: 1,
        ..PaceConfig::default()
    });
    let t = go(&mut p, T0);
    assert_eq!(
        p.finish(EP, t, T0, Signal::ConnectFailed, None),
        Verdict::Down {
            probe_at: T0 + 300_000
        }
    );
}

#[test]
fn an_answer_between_connection_failures_keeps_the_endpoint_up() {
    let mut p = pace();
    let mut now = T0;
    for i in 0..20 {
        let t = go(&mut p, now);
        let signal = if i % 4 == 3 {
            Signal::Neutral // a 500: up, just unhappy
        } else {
            Signal::ConnectFailed
        };
        assert_eq!(
            p.finish(EP, t, now, signal, Some(now + 5_000)),
            Verdict::Done
        );
        now += 1;
    }
    assert_eq!(p.view(EP, now).map(|v| v.state), Some(State::Open));
}

#[test]
fn failures_in_flight_when_the_endpoint_went_down_push_the_probe_to_the_latest_retry() {
    let mut p = Pace::new(PaceConfig {
        down_after: 1,
        ..PaceConfig::default()
    });
    let a = go(&mut p, T0);
    let b = go(&mut p, T0);
    assert_eq!(
        p.finish(EP, a, T0 + 1, Signal::ConnectFailed, Some(T0 + 5_000)),
        Verdict::Down {
            probe_at: T0 + 5_000
        }
    );
    assert_eq!(
        p.finish(EP, b, T0 + 2, Signal::ConnectFailed, Some(T0 + 6_000)),
        Verdict::Down {
            probe_at: T0 + 6_000
        }
    );
}

#[test]
fn recent_rate_counts_successes_of_the_last_ten_seconds() {
    let mut p = pace();
    let mut now = T0;
    for _ in 0..50 {
        let t = go(&mut p, now);
        now += 100;
        p.finish(EP, t, now, Signal::Success, None);
    }
    let v = p.view(EP, now).map(|v| v.recent_rate).unwrap_or(0.0);
    assert!((4.5..=5.5).contains(&v), "{v}");
    let later = p
        .view(EP, now + 30_000)
        .map(|v| v.recent_rate)
        .unwrap_or(-1.0);
    assert_eq!(later, 0.0);
}

#[test]
fn endpoints_are_paced_independently_and_idle_ones_forgotten() {
    let mut p = pace();
    let t = go(&mut p, T0);
    p.finish(EP, t, T0, Signal::Throttled(None), None);
    assert!(matches!(p.admit("ep_2", T0), Admit::Go(_)));
    assert_eq!(p.blocked(T0), vec![EP.to_owned()]);
    assert!(p.view("ep_3", T0).is_none());
    // ep_2 still has one in flight: kept; ep_1 idle for 10 minutes: forgotten.
    p.blocked(T0 + 700_000);
    assert!(p.view(EP, T0 + 700_000).is_none());
    assert!(p.view("ep_2", T0 + 700_000).is_some());
}

#[test]
fn an_unknown_ticket_changes_nothing() {
    let mut p = pace();
    let t = go(&mut p, T0);
    assert_eq!(
        p.finish("ep_other", t, T0, Signal::Throttled(None), None),
        Verdict::Done
    );
    assert!(p.blocked(T0).is_empty());
}

#[test]
fn waiting_before_the_send_is_not_latency() {
    let mut p = pace();
    let t = go(&mut p, T0);
    p.finish(EP, t, T0 + 4, Signal::Success, None); // usual latency 4 ms
    let mut now = T0 + 4;
    for _ in 0..3 {
        let t = go(&mut p, now).starting_at(now + 2_000); // 2 s waiting for a throttle slot
        now += 2_004;
        p.finish(EP, t, now, Signal::Success, None);
    }
    // Measured from the admission these would be 2 s answers (a cut each round trip).
    assert!(limit(&mut p, now) >= 5, "{}", limit(&mut p, now));
}

#[test]
fn slower_answers_to_a_trickle_below_the_limit_do_not_shrink_it() {
    let mut p = pace();
    let mut now = T0;
    now = round(&mut p, now, 4, Signal::Success).1; // usual 4 ms, limit 8
    for _ in 0..50 {
        // One at a time (a healthy receiver at a low rate on a noisy machine): 20 ms answers.
        let t = go(&mut p, now);
        now += 20;
        p.finish(EP, t, now, Signal::Success, None);
    }
    assert_eq!(limit(&mut p, now), 8);
}

#[test]
fn the_shares_of_the_live_nodes_add_up_to_the_limit() {
    for limit in 1..=70u32 {
        for nodes in 1..=5u32 {
            let parts: Vec<u32> = (0..nodes)
                .map(|rank| share(limit, Share { nodes, rank }))
                .collect();
            let total: u32 = parts.iter().sum();
            // Exactly the limit, or one each when there are more nodes than the limit.
            assert_eq!(total, limit.max(nodes), "limit {limit}, {nodes} nodes");
            let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
            assert!(hi - lo <= 1, "uneven split {parts:?}");
        }
    }
    assert_eq!(share(64, Share::default()), 64);
    assert_eq!(share(7, Share { nodes: 3, rank: 0 }), 3);
    assert_eq!(share(7, Share { nodes: 3, rank: 2 }), 2);
    // A rank past the list (a stale view) still gets a share, never a panic.
    assert_eq!(share(7, Share { nodes: 3, rank: 9 }), 2);
    assert_eq!(share(7, Share { nodes: 0, rank: 0 }), 7);
}

#[test]
fn a_node_finds_its_place_among_the_live_nodes() {
    let live: Vec<String> = ["node-c", "node-a", "node-b"].map(String::from).to_vec();
    assert_eq!(Share::among(&live, "node-a"), Share { nodes: 3, rank: 0 });
    assert_eq!(Share::among(&live, "node-c"), Share { nodes: 3, rank: 2 });
    // Its own heartbeat not yet read back: it counts itself in.
    assert_eq!(Share::among(&live, "node-0"), Share { nodes: 4, rank: 0 });
    assert_eq!(Share::among(&[], "solo"), Share::default());
    assert_eq!(share_rate(30.0, Share { nodes: 3, rank: 1 }), 10.0);
}

#[test]
fn a_node_sends_only_its_share_of_the_endpoints_limit() {
    let mut p = pace();
    p.set_share(Share { nodes: 3, rank: 2 });
    // The initial limit of 4 split three ways: this node (last rank) has 1.
    assert_eq!(fill(&mut p, T0).len(), 1);
    let v = p.view(EP, T0).unwrap();
    assert_eq!((v.limit, v.node_limit), (4, 1));
    // A healthy receiver: the endpoint's limit grows, and this node's share with it.
    let mut p = Pace::new(PaceConfig {
        max_limit: 12.0,
        ..PaceConfig::default()
    });
    p.set_share(Share { nodes: 3, rank: 0 });
    let mut now = T0;
    for _ in 0..60 {
        now = round(&mut p, now, 4, Signal::Success).1;
    }
    let v = p.view(EP, now).unwrap();
    assert_eq!((v.limit, v.node_limit), (12, 4));
    assert_eq!(fill(&mut p, now).len(), 4);
    // A node leaving: the others take its share at their next heartbeat.
    p.set_share(Share { nodes: 2, rank: 0 });
    assert_eq!(p.view(EP, now).unwrap().node_limit, 6);
}
