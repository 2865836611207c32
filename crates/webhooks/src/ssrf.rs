//! Where webhooks may be sent: the SSRF policy.
//!
//! Deny by default every non-public address range (private, loopback, link-local, CGNAT,
//! documentation, multicast, reserved, NAT64/6to4 translators…), with an operator-configured
//! allow list of CIDRs that overrides it. The policy is enforced in two places, as Svix does:
//! [`DestinationPolicy::check_url`] rejects IP-literal URLs before any connection, and
//! [`GuardedResolver`] filters DNS answers at connect time, so a name that resolves to a
//! public address at validation time and to `127.0.0.1` later (DNS rebinding) is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Longest endpoint URL we accept, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Forbidden IPv4 networks as (address, prefix length).
const FORBIDDEN_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network", includes 0.0.0.0
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // CGNAT shared address space
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local, includes cloud metadata 169.254.169.254
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // TEST-NET-1
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // TEST-NET-2
    ([203, 0, 113, 0], 24),  // TEST-NET-3
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // class E reserved, includes broadcast 255.255.255.255
];

/// Forbidden IPv6 networks as (address segments, prefix length).
const FORBIDDEN_V6: &[([u16; 8], u8)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 1], 128),               // loopback
    ([0, 0, 0, 0, 0, 0, 0, 0], 128),               // unspecified
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),            // multicast
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),           // link-local
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),            // unique local
    ([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32),      // documentation
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),           // documentation (RFC 9637)
    ([0x0100, 0, 0, 0, 0, 0, 0, 0], 64),           // discard-only
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),           // 6to4: embeds an arbitrary IPv4
    ([0x0064, 0xff9b, 0, 0, 0, 0, 0, 0], 96),      // NAT64 well-known prefix
    ([0x0064, 0xff9b, 0x0001, 0, 0, 0, 0, 0], 48), // NAT64 local-use
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),           // SRv6 SIDs
];

fn v4_in(ip: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn v6_in(ip: Ipv6Addr, net: [u16; 8], prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// Unwraps IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) IPv6 addresses,
/// which reach the embedded IPv4 host and so must be judged as that host.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// True if `ip` lies in a range webhooks must never reach unless explicitly allowed.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => FORBIDDEN_V4.iter().any(|(net, len)| v4_in(v4, *net, *len)),
        IpAddr::V6(v6) => FORBIDDEN_V6.iter().any(|(net, len)| v6_in(v6, *net, *len)),
    }
}

/// Why a destination was refused. [`DestinationError::code`] gives the stable API code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// The URL does not parse.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The URL is longer than [`MAX_URL_LEN`].
    #[error("URL is {0} bytes long; the maximum is {MAX_URL_LEN}")]
    TooLong(usize),
    /// Only `http` and `https` are delivered to.
    #[error("URL scheme must be http or https, not {0:?}")]
    UnsupportedScheme(String),
    /// The policy requires `https` and the URL is `http`.
    #[error("URL must use https")]
    HttpsRequired,
    /// The URL has no host to connect to.
    #[error("URL has no host")]
    MissingHost,
    /// An IP-literal host in a forbidden range and not in the allow list.
    #[error("destination address {0} is in a private or reserved range and is not allowed")]
    Forbidden(IpAddr),
    /// Every address the host name resolved to is forbidden.
    #[error("destination {0} resolves only to forbidden addresses")]
    ResolvesOnlyForbidden(String),
    /// The host name resolved to no address at all.
    #[error("destination {0} did not resolve to any address")]
    NoAddresses(String),
}

impl DestinationError {
    /// Stable machine-readable code: `invalid_url` for malformed URLs, `forbidden_destination`
    /// when the URL is fine but points somewhere the policy refuses.
    pub fn code(&self) -> &'static str {
        match self {
            DestinationError::InvalidUrl(_)
            | DestinationError::TooLong(_)
            | DestinationError::UnsupportedScheme(_)
            | DestinationError::HttpsRequired
            | DestinationError::MissingHost => "invalid_url",
            DestinationError::Forbidden(_)
            | DestinationError::ResolvesOnlyForbidden(_)
            | DestinationError::NoAddresses(_) => "forbidden_destination",
        }
    }
}

/// Which destinations deliveries may connect to.
///
/// `Default` forbids every range in [`is_forbidden`] and allows plain http.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    allow: Vec<IpNet>,
    https_only: bool,
}

impl DestinationPolicy {
    /// A policy whose `allow` networks are reachable even if otherwise forbidden
    /// (e.g. `127.0.0.0/8` for local development, or an internal subnet).
    pub fn new(allow: Vec<IpNet>) -> DestinationPolicy {
        DestinationPolicy {
            allow,
            https_only: false,
        }
    }

    /// Same policy, but rejecting `http://` URLs when `https_only` is true.
    pub fn with_https_only(mut self, https_only: bool) -> DestinationPolicy {
        self.https_only = https_only;
        self
    }

    /// The networks that override the deny list.
    pub fn allow(&self) -> &[IpNet] {
        &self.allow
    }

    /// Whether `http://` URLs are refused.
    pub fn https_only(&self) -> bool {
        self.https_only
    }

    /// True if a connection to `ip` is allowed: it is in an allow range, or not forbidden.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let canon = canonical(ip);
        let allowed = self
            .allow
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canon));
        allowed || !is_forbidden(ip)
    }

    /// Validates an endpoint URL: at most [`MAX_URL_LEN`] bytes, http(s), with a host, and an
    /// IP-literal host must be permitted. Host names are left to [`GuardedResolver`], because
    /// what they resolve to can change between now and delivery.
    ///
    /// # Errors
    ///
    /// A [`DestinationError`] with code `invalid_url` for a malformed URL, or
    /// `forbidden_destination` for an IP literal the policy does not permit.
    pub fn check_url(&self, s: &str) -> Result<Url, DestinationError> {
        if s.len() > MAX_URL_LEN {
            return Err(DestinationError::TooLong(s.len()));
        }
        let url = Url::parse(s).map_err(|e| DestinationError::InvalidUrl(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if !self.https_only => {}
            "http" => return Err(DestinationError::HttpsRequired),
            other => return Err(DestinationError::UnsupportedScheme(other.to_owned())),
        }
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host,
            _ => return Err(DestinationError::MissingHost),
        };
        // `url` normalises numeric hosts (`0x7f.1`, `2130706433`) to dotted IPv4 and wraps
        // IPv6 in brackets, so parsing `host_str` catches every spelling of an IP literal.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if !self.permits(ip) {
                return Err(DestinationError::Forbidden(ip));
            }
        }
        Ok(url)
    }

    /// Keeps only the addresses this policy permits; errors if none survive.
    fn filter(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, DestinationError> {
        let all: Vec<SocketAddr> = addrs.into_iter().collect();
        if all.is_empty() {
            return Err(DestinationError::NoAddresses(host.to_owned()));
        }
        let permitted: Vec<SocketAddr> = all
            .into_iter()
            .filter(|addr| self.permits(addr.ip()))
            .collect();
        if permitted.is_empty() {
            return Err(DestinationError::ResolvesOnlyForbidden(host.to_owned()));
        }
        Ok(permitted)
    }
}

/// A DNS resolver for reqwest that drops addresses the policy does not permit.
///
/// The connection then goes only to the surviving addresses, so the check and the connect use
/// the same answer: this is what defeats DNS rebinding.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<DestinationPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy` on every lookup.
    pub fn new(policy: Arc<DestinationPolicy>) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0 is a placeholder: reqwest substitutes the URL's port.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let permitted = policy.filter(&host, resolved)?;
            tracing::trace!(host = %host, addrs = ?permitted, "resolved webhook destination");
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn forbids_every_listed_ipv4_range_at_both_ends() {
        let ranges = [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.88.99.0", "192.88.99.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.255"),
        ];
        for (first, last) in ranges {
            assert!(is_forbidden(ip(first)), "{first}");
            assert!(is_forbidden(ip(last)), "{last}");
        }
    }

    #[test]
    fn permits_public_ipv4_next_to_forbidden_ranges() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.88.98.255",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.112.255",
            "223.255.255.255",
        ] {
            assert!(!is_forbidden(ip(public)), "{public}");
        }
    }

    #[test]
    fn forbids_every_listed_ipv6_range() {
        for bad in [
            "::1",
            "::",
            "ff02::1",
            "ffff:ffff::",
            "fe80::1",
            "febf:ffff::1",
            "fc00::1",
            "fdff:ffff::1",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "3fff::1",
            "3fff:0fff:ffff::1",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "2002::1",
            "2002:7f00:1::1",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "64:ff9b:1:ffff::1",
            "5f00::1",
            "5f00:ffff::1",
        ] {
            assert!(is_forbidden(ip(bad)), "{bad}");
        }
    }

    #[test]
    fn permits_public_ipv6() {
        for good in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2001:db9::1",
            "3fff:1000::1",
            "100:0:0:1::1",
            "2003::1",
            "64:ff9b:0:0:0:1::1",
            "64:ff9b:2::1",
            "fec0::1",
            "5f01::1",
        ] {
            assert!(!is_forbidden(ip(good)), "{good}");
        }
    }

    #[test]
    fn ipv4_embedded_in_ipv6_is_judged_as_ipv4() {
        assert!(is_forbidden(ip("::ffff:127.0.0.1")));
        assert!(is_forbidden(ip("::ffff:10.1.2.3")));
        assert!(is_forbidden(ip("::ffff:169.254.169.254")));
        assert!(is_forbidden(ip("::127.0.0.1")));
        assert!(is_forbidden(ip("::192.168.1.1")));
        assert!(!is_forbidden(ip("::ffff:8.8.8.8")));
        assert!(!is_forbidden(ip("::8.8.8.8")));
    }

    #[test]
    fn allow_list_overrides_the_deny_list() {
        let policy = DestinationPolicy::new(vec![net("127.0.0.0/8"), net("fd00::/8")]);
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.1")));
        assert!(policy.permits(ip("fd12::1")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("::1")));
        assert!(policy.permits(ip("8.8.8.8")));

        let default = DestinationPolicy::default();
        assert!(!default.permits(ip("127.0.0.1")));
        assert!(default.permits(ip("8.8.8.8")));
    }

    #[test]
    fn check_url_accepts_public_http_and_https() {
        let policy = DestinationPolicy::default();
        for ok in [
            "https://example.com/hook",
            "http://example.com:8080/a?b=c",
            "https://8.8.8.8/",
            "https://[2606:4700:4700::1111]/x",
            // Names are resolved later; localhost is caught by the resolver.
            "http://localhost/",
        ] {
            assert!(policy.check_url(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn check_url_rejects_malformed_urls_as_invalid_url() {
        let policy = DestinationPolicy::default();
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        let cases = [
            ("not a url", "invalid URL"),
            ("example.com/hook", "invalid URL"),
            ("ftp://example.com/", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("javascript:alert(1)", "scheme"),
            ("http://", "invalid URL"),
            (long.as_str(), "maximum"),
        ];
        for (bad, message) in cases {
            let err = policy.check_url(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_url", "{bad}");
            assert!(err.to_string().contains(message), "{bad}: {err}");
        }
        let exactly_max = format!("https://e.com/{}", "a".repeat(MAX_URL_LEN - 14));
        assert_eq!(exactly_max.len(), MAX_URL_LEN);
        assert!(policy.check_url(&exactly_max).is_ok());
    }

    #[test]
    fn check_url_rejects_forbidden_ip_literals_in_any_spelling() {
        let policy = DestinationPolicy::default();
        for bad in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://2130706433/",
            "http://0.0.0.0:8080/",
            "http://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fe80::1]/",
            "http://10.0.0.5/",
        ] {
            let err = policy.check_url(bad).unwrap_err();
            assert_eq!(err.code(), "forbidden_destination", "{bad}");
            assert!(matches!(err, DestinationError::Forbidden(_)), "{bad}");
        }
        let allow = DestinationPolicy::new(vec![net("127.0.0.0/8")]);
        assert!(allow.check_url("http://127.0.0.1:3000/hook").is_ok());
    }

    #[test]
    fn https_only_refuses_plain_http() {
        let policy = DestinationPolicy::default().with_https_only(true);
        assert!(policy.https_only());
        assert_eq!(
            policy.check_url("http://example.com/"),
            Err(DestinationError::HttpsRequired)
        );
        assert!(policy.check_url("https://example.com/").is_ok());
    }

    #[test]
    fn filter_keeps_permitted_addresses_only() {
        let policy = DestinationPolicy::default();
        let mixed = [
            SocketAddr::new(ip("127.0.0.1"), 0),
            SocketAddr::new(ip("93.184.216.34"), 0),
        ];
        let kept = policy.filter("rebind.example", mixed).unwrap();
        assert_eq!(kept, vec![SocketAddr::new(ip("93.184.216.34"), 0)]);

        let err = policy
            .filter("rebind.example", [SocketAddr::new(ip("10.0.0.1"), 0)])
            .unwrap_err();
        assert_eq!(err.code(), "forbidden_destination");
        assert_eq!(
            err.to_string(),
            "destination rebind.example resolves only to forbidden addresses"
        );
        assert!(matches!(
            policy.filter("empty.example", []),
            Err(DestinationError::NoAddresses(_))
        ));
    }

    async fn resolve(policy: DestinationPolicy, host: &str) -> Result<Vec<SocketAddr>, String> {
        let resolver = GuardedResolver::new(Arc::new(policy));
        let name: Name = host.parse().unwrap();
        match resolver.resolve(name).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn resolver_refuses_localhost_by_default() {
        let err = resolve(DestinationPolicy::default(), "localhost")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "destination localhost resolves only to forbidden addresses"
        );
    }

    #[tokio::test]
    async fn resolver_accepts_localhost_when_loopback_is_allowed() {
        let policy = DestinationPolicy::new(vec![net("127.0.0.0/8")]);
        let addrs = resolve(policy, "localhost").await.unwrap();
        assert!(!addrs.is_empty());
        // ::1, if /etc/hosts lists it, is still dropped: only 127/8 was allowed.
        assert!(
            addrs.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()),
            "{addrs:?}"
        );
    }

    #[tokio::test]
    async fn resolver_checks_ip_literal_names_too() {
        assert!(resolve(DestinationPolicy::default(), "10.1.2.3")
            .await
            .is_err());
        let addrs = resolve(DestinationPolicy::default(), "8.8.8.8")
            .await
            .unwrap();
        assert_eq!(addrs, vec![SocketAddr::new(ip("8.8.8.8"), 0)]);
    }
}
