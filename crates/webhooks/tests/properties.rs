//! Property tests (proptest) for what reads untrusted text in the webhook engine: the
//! destination check and signature headers. A bounded run (256 cases each) is part of
//! `cargo test`; a failure is shrunk and its seed saved in
//! `proptest-regressions/properties.txt`, which is committed and replayed first on every run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use datahooks_webhooks::signing::{signature_header, verify, Secret};
use datahooks_webhooks::ssrf::{embedded_v4, is_forbidden, AllowRule, DestinationPolicy};

/// Forbidden IPv4 ranges (address, prefix) as the policy lists them.
const FORBIDDEN_V4: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 88, 99, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

/// Any address inside one of the forbidden IPv4 ranges.
fn forbidden_v4() -> impl Strategy<Value = Ipv4Addr> {
    (0..FORBIDDEN_V4.len(), any::<u32>()).prop_map(|(i, r)| {
        let (net, prefix) = FORBIDDEN_V4[i];
        let host_mask = u32::MAX.checked_shr(prefix).unwrap_or(0);
        Ipv4Addr::from(u32::from(Ipv4Addr::from(net)) | (r & host_mask))
    })
}

fn segs(v4: Ipv4Addr) -> (u16, u16) {
    let [a, b, c, d] = v4.octets();
    (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))
}

/// A URL host spelling of `v4`: the ways WHATWG URL parsing (and so reqwest) reads as that
/// address, and the IPv6 forms that reach it.
fn spell(v4: Ipv4Addr, how: usize, upper: bool) -> String {
    let n = u32::from(v4);
    let [a, b, c, d] = v4.octets();
    let (hi, lo) = segs(v4);
    let s = match how % 14 {
        0 => format!("{v4}"),
        1 => format!("{n}"),
        2 => format!("0x{n:x}"),
        3 => format!("0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}"),
        4 => format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
        5 => format!("{a}.{}", n & 0x00ff_ffff),
        6 => format!("{a}.{b}.{}", n & 0xffff),
        7 => format!("{v4}."),
        8 => format!("{v4}")
            .bytes()
            .map(|ch| format!("%{ch:02x}"))
            .collect(),
        9 => format!("[::ffff:{v4}]"),
        10 => format!("[::ffff:0:{hi:x}:{lo:x}]"),
        11 => format!("[::{hi:x}:{lo:x}]"),
        12 => format!("[64:ff9b::{hi:x}:{lo:x}]"),
        _ => format!("[0:0:0:0:0:ffff:0:{v4}]"),
    };
    if upper {
        s.to_uppercase()
    } else {
        s
    }
}

/// 256 cases per property; failures are kept (and replayed first) in
/// `crates/webhooks/proptest-regressions/properties.txt`, which is committed.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/properties.txt",
            ),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// A forbidden address is never allowed, whatever its spelling, port or path.
    #[test]
    fn a_forbidden_address_is_never_allowed_whatever_its_spelling(
        v4 in forbidden_v4(),
        how in 0usize..14,
        upper in any::<bool>(),
        port in proptest::option::of(1u16..),
        path in "[a-z0-9/]{0,12}",
    ) {
        let host = spell(v4, how, upper);
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let url = format!("http://{host}{port}/{path}");
        let policy = DestinationPolicy::default();
        if let Ok(parsed) = policy.check_url(&url) {
            // Only acceptable if the URL parser did not read it as an IP at all (then the
            // resolver judges it); every spelling above is an IP, so this must not happen.
            prop_assert!(false, "{url} accepted as {parsed}");
        }
    }

    /// Every IPv6 form that embeds a forbidden IPv4 address is forbidden, and one that embeds
    /// a public address is judged as that address.
    #[test]
    fn embedded_ipv4_is_judged_as_ipv4(n in any::<u32>(), form in 0usize..4) {
        let v4 = Ipv4Addr::from(n);
        let (hi, lo) = segs(v4);
        let v6 = match form {
            0 => v4.to_ipv6_mapped(),
            1 => Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, hi, lo),
            2 => v4.to_ipv6_compatible(),
            _ => Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
        };
        if let Some(inner) = embedded_v4(v6) {
            prop_assert_eq!(inner, v4);
            prop_assert_eq!(is_forbidden(IpAddr::V6(v6)), is_forbidden(IpAddr::V4(v4)));
        } else {
            // Only `::` and `::1` are not read as IPv4, and both are forbidden.
            prop_assert!(n <= 1 && form == 2);
            prop_assert!(is_forbidden(IpAddr::V6(v6)));
        }
    }

    /// The destination check never panics, whatever the text.
    #[test]
    fn check_url_never_panics(s in "\\PC{0,80}", host in "[a-zA-Z0-9.:%\\[\\]_~-]{0,40}") {
        let policy = DestinationPolicy::default();
        let _ = policy.check_url(&s);
        let _ = policy.check_url(&format!("http://{host}/"));
        let _ = policy.check_url(&format!("https://{host}:443/x?y"));
    }

    /// Allow rules read back what they were written as, and never panic on any text.
    #[test]
    fn allow_rules_round_trip(n in any::<u32>(), p4 in 0u8..=32, v6 in any::<u128>(), p6 in 0u8..=128, port in 1u16.., junk in "\\PC{0,40}") {
        let net4 = ipnet::IpNet::new(IpAddr::V4(Ipv4Addr::from(n)), p4).unwrap();
        let net6 = ipnet::IpNet::new(IpAddr::V6(Ipv6Addr::from(v6)), p6).unwrap();
        let r: AllowRule = net4.to_string().parse().unwrap();
        prop_assert_eq!(r, AllowRule { net: net4, port: None });
        let r: AllowRule = format!("{net4}:{port}").parse().unwrap();
        prop_assert_eq!(r, AllowRule { net: net4, port: Some(port) });
        let r: AllowRule = net6.to_string().parse().unwrap();
        prop_assert_eq!(r, AllowRule { net: net6, port: None });
        let r: AllowRule = format!("[{net6}]:{port}").parse().unwrap();
        prop_assert_eq!(r, AllowRule { net: net6, port: Some(port) });
        let _ = junk.parse::<AllowRule>();
    }

    /// A signature header made for a message verifies, among any other entries; the same
    /// header does not verify a changed body; and any header text is handled without panic.
    #[test]
    fn signature_headers_round_trip(
        key in proptest::collection::vec(any::<u8>(), 24..48),
        msg_id in "msg_[A-Za-z0-9]{1,30}",
        ts in 0i64..4_000_000_000,
        body in proptest::collection::vec(any::<u8>(), 0..256),
        noise in proptest::collection::vec("\\PC{0,30}", 0..4),
        flip in any::<usize>(),
    ) {
        let secret = Secret::from_bytes(key);
        let header = signature_header(std::slice::from_ref(&secret), &msg_id, ts, &body);
        prop_assert!(verify(&secret, &msg_id, ts, &body, &header));
        let mixed = noise.iter().map(String::as_str).chain([header.as_str()]).collect::<Vec<_>>().join(" ");
        prop_assert!(verify(&secret, &msg_id, ts, &body, &mixed));
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = flip % changed.len();
            changed[i] ^= 1;
            prop_assert!(!verify(&secret, &msg_id, ts, &changed, &header));
        }
        prop_assert!(!verify(&secret, &msg_id, ts + 1, &body, &header));
        for n in &noise {
            prop_assert!(!verify(&secret, &msg_id, ts, &body, n));
        }
        // Secrets read back from their whsec_ form.
        let again = Secret::parse(&secret.to_whsec()).unwrap();
        prop_assert_eq!(again.as_bytes(), secret.as_bytes());
    }

    /// Reading a secret never panics.
    #[test]
    fn secret_parsing_never_panics(s in "\\PC{0,80}", b64 in "whsec_[A-Za-z0-9+/=]{0,80}") {
        let _ = Secret::parse(&s);
        let _ = Secret::parse(&b64);
    }
}
