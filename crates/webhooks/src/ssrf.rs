//! Where webhooks may be sent: the SSRF policy.
//!
//! Deny by default every non-public address range (private, loopback, link-local, CGNAT,
//! documentation, multicast, reserved, 6to4 and NAT64 local-use…), with an operator-configured
//! allow list ([`AllowRule`]: a CIDR, optionally limited to one port) that overrides it. IPv6
//! addresses that embed an IPv4 address (mapped `::ffff:a.b.c.d`, translated
//! `::ffff:0:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) reach that IPv4 host
//! and are judged as it.
//!
//! The policy is enforced in two places, as Svix does: when an endpoint is created or changed
//! ([`DestinationPolicy::check_url`] refuses IP literals and names of the localhost family;
//! [`DestinationPolicy::check_destination`] also refuses names that resolve only to forbidden
//! addresses), and at connect time, where [`GuardedResolver`] filters DNS answers, so a name
//! that resolves to a public address at validation time and to `127.0.0.1` later (DNS
//! rebinding) is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Longest endpoint URL we accept, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// How long endpoint validation waits for DNS. A name that does not resolve in time (or at
/// all) is accepted then and judged at connect time.
const VALIDATION_DNS_TIMEOUT: Duration = Duration::from_secs(3);

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

/// Forbidden IPv6 networks as (address segments, prefix length). The forms that embed an
/// IPv4 address are not listed: [`embedded_v4`] judges them by that address.
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

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that reach an IPv4
/// host: IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d` (SIIT),
/// IPv4-compatible `::a.b.c.d` (deprecated, but some stacks still route it) and the NAT64
/// well-known prefix `64:ff9b::a.b.c.d`. `::` and `::1` are themselves, not IPv4.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let [a, b, c, d, e, f, _, _] = ip.segments();
    let o = ip.octets();
    let v4 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match (a, b, c, d, e, f) {
        (0, 0, 0, 0, 0, 0xffff) | (0, 0, 0, 0, 0xffff, 0) | (0x64, 0xff9b, 0, 0, 0, 0) => Some(v4),
        (0, 0, 0, 0, 0, 0) if u32::from(v4) > 1 => Some(v4),
        _ => None,
    }
}

/// The address a connection to `ip` really reaches, for judging it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
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

/// True for names of the localhost family (RFC 6761 `localhost` and `*.localhost`, and the
/// names distributions give loopback in `/etc/hosts`), with or without a trailing dot.
pub fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || matches!(
            h.as_str(),
            "localhost.localdomain"
                | "localhost6"
                | "localhost6.localdomain6"
                | "ip6-localhost"
                | "ip6-loopback"
                | "loopback"
        )
}

/// One `--allow-destination` entry: a network the deny list does not apply to, on every port
/// or on one. Written `CIDR`, `CIDR:port` or `[v6CIDR]:port` (a bare address is a /32 or
/// /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowRule {
    /// The network.
    pub net: IpNet,
    /// The only port allowed, or every port.
    pub port: Option<u16>,
}

impl AllowRule {
    /// Whether this rule lets a connection to `ip` on `port` (unknown: `None`) through. A rule
    /// limited to a port lets nothing through when the port is not known.
    pub fn admits(&self, ip: IpAddr, port: Option<u16>) -> bool {
        let port_ok = match self.port {
            None => true,
            Some(p) => port == Some(p),
        };
        port_ok && (self.net.contains(&ip) || self.net.contains(&canonical(ip)))
    }
}

impl From<IpNet> for AllowRule {
    fn from(net: IpNet) -> AllowRule {
        AllowRule { net, port: None }
    }
}

fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

impl FromStr for AllowRule {
    type Err = String;

    fn from_str(s: &str) -> Result<AllowRule, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "{s:?} is not CIDR, CIDR:port or [IPv6-CIDR]:port (e.g. 10.0.0.0/8, \
                 127.0.0.1/32:8080, [fd00::/8]:443)"
            )
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
        if let Some(rest) = s.strip_prefix('[') {
            let (net, p) = rest.split_once("]:").ok_or_else(bad)?;
            let net = parse_net(net)
                .filter(|n| matches!(n, IpNet::V6(_)))
                .ok_or_else(bad)?;
            return Ok(AllowRule {
                net,
                port: Some(port(p).ok_or_else(bad)?),
            });
        }
        if let Some(net) = parse_net(s) {
            return Ok(net.into());
        }
        let (net, p) = s.rsplit_once(':').ok_or_else(bad)?;
        let net = parse_net(net)
            .filter(|n| matches!(n, IpNet::V4(_)))
            .ok_or_else(bad)?;
        Ok(AllowRule {
            net,
            port: Some(port(p).ok_or_else(bad)?),
        })
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
    /// A name of the localhost family, whose loopback addresses are not allowed.
    #[error("destination {0} is a name for this machine (loopback) and is not allowed")]
    Localhost(String),
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
            | DestinationError::Localhost(_)
            | DestinationError::ResolvesOnlyForbidden(_)
            | DestinationError::NoAddresses(_) => "forbidden_destination",
        }
    }
}

tokio::task_local! {
    /// The port of the URL being delivered to, for [`GuardedResolver`]: reqwest hands a
    /// resolver only the host name, and allow rules limited to a port need the port.
    static DESTINATION_PORT: u16;
}

/// Runs `f` (a delivery's request) with `port` known to [`GuardedResolver`]. Without it, a
/// resolver lookup honours only allow rules that are not limited to a port (fail closed).
pub async fn with_destination_port<F: std::future::Future>(port: u16, f: F) -> F::Output {
    DESTINATION_PORT.scope(port, f).await
}

/// Which destinations deliveries may connect to.
///
/// `Default` forbids every range in [`is_forbidden`] and allows plain http.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    allow: Vec<AllowRule>,
    https_only: bool,
}

impl DestinationPolicy {
    /// A policy whose `allow` networks are reachable on any port even if otherwise forbidden
    /// (e.g. `127.0.0.0/8` for local development, or an internal subnet).
    pub fn new(allow: Vec<IpNet>) -> DestinationPolicy {
        DestinationPolicy::with_rules(allow.into_iter().map(AllowRule::from).collect())
    }

    /// A policy with allow rules that may be limited to a port.
    pub fn with_rules(allow: Vec<AllowRule>) -> DestinationPolicy {
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

    /// The rules that override the deny list.
    pub fn allow(&self) -> &[AllowRule] {
        &self.allow
    }

    /// Whether `http://` URLs are refused.
    pub fn https_only(&self) -> bool {
        self.https_only
    }

    /// True if a connection to `ip` (on a port not known) is allowed: it is in an allow rule
    /// for every port, or not forbidden.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.permits_on(ip, None)
    }

    /// True if a connection to `ip` on `port` is allowed: an allow rule admits it, or the
    /// address is not forbidden.
    pub fn permits_on(&self, ip: IpAddr, port: Option<u16>) -> bool {
        self.allow.iter().any(|r| r.admits(ip, port)) || !is_forbidden(ip)
    }

    /// Validates an endpoint URL: at most [`MAX_URL_LEN`] bytes, http(s), with a host; an
    /// IP-literal host must be permitted on the URL's port, and a name of the localhost family
    /// is judged as loopback (`127.0.0.1` and `::1`). Other names are left to
    /// [`DestinationPolicy::check_destination`] and [`GuardedResolver`].
    ///
    /// # Errors
    ///
    /// A [`DestinationError`] with code `invalid_url` for a malformed URL, or
    /// `forbidden_destination` for a destination the policy does not permit.
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
        let port = url.port_or_known_default();
        // `url` normalises numeric hosts (`0x7f.1`, `2130706433`) to dotted IPv4 and wraps
        // IPv6 in brackets, so parsing `host_str` catches every spelling of an IP literal.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if !self.permits_on(ip, port) {
                return Err(DestinationError::Forbidden(ip));
            }
        } else if is_localhost_name(host) {
            let loopback = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
            if !loopback.into_iter().any(|ip| self.permits_on(ip, port)) {
                return Err(DestinationError::Localhost(host.to_owned()));
            }
        }
        Ok(url)
    }

    /// [`DestinationPolicy::check_url`], then, for a host name, a DNS lookup: a name whose
    /// every address is forbidden is refused now rather than at each delivery. A name that
    /// does not resolve (yet), or not within a few seconds, is accepted: the connect-time
    /// guard judges it whenever it is used.
    ///
    /// # Errors
    ///
    /// As [`DestinationPolicy::check_url`], and
    /// [`DestinationError::ResolvesOnlyForbidden`].
    pub async fn check_destination(&self, s: &str) -> Result<Url, DestinationError> {
        let url = self.check_url(s)?;
        let (Some(host), Some(port)) = (url.domain(), url.port_or_known_default()) else {
            return Ok(url);
        };
        let host = host.to_owned();
        let lookup = tokio::time::timeout(
            VALIDATION_DNS_TIMEOUT,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await;
        if let Ok(Ok(addrs)) = lookup {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if !addrs.is_empty() && !addrs.iter().any(|a| self.permits_on(a.ip(), Some(port))) {
                return Err(DestinationError::ResolvesOnlyForbidden(host.clone()));
            }
        }
        Ok(url)
    }

    /// Keeps only the addresses this policy permits on `port`; errors if none survive.
    fn filter(
        &self,
        host: &str,
        port: Option<u16>,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, DestinationError> {
        let all: Vec<SocketAddr> = addrs.into_iter().collect();
        if all.is_empty() {
            return Err(DestinationError::NoAddresses(host.to_owned()));
        }
        let permitted: Vec<SocketAddr> = all
            .into_iter()
            .filter(|addr| self.permits_on(addr.ip(), port))
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
/// the same answer: this is what defeats DNS rebinding. The port comes from
/// [`with_destination_port`]; without it only port-less allow rules count.
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
            // Read when the lookup runs, which is inside the delivery's request future.
            let port = DESTINATION_PORT.try_with(|p| *p).ok();
            // Port 0 is a placeholder: reqwest substitutes the URL's port.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let permitted = policy.filter(&host, port, resolved)?;
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
            "64:ff9b::808:808",
            "64:ff9b:2::1",
            "fec0::1",
            "5f01::1",
        ] {
            assert!(!is_forbidden(ip(good)), "{good}");
        }
    }

    #[test]
    fn every_ipv6_form_that_embeds_ipv4_is_judged_by_the_ipv4_address() {
        // (form, prefix) for mapped, translated (SIIT), compatible and NAT64 well-known.
        let forms: [fn(Ipv4Addr) -> Ipv6Addr; 4] = [
            |v4| v4.to_ipv6_mapped(),
            |v4| {
                let [a, b, c, d] = v4.octets();
                Ipv6Addr::new(
                    0,
                    0,
                    0,
                    0,
                    0xffff,
                    0,
                    u16::from_be_bytes([a, b]),
                    u16::from_be_bytes([c, d]),
                )
            },
            |v4| v4.to_ipv6_compatible(),
            |v4| {
                let [a, b, c, d] = v4.octets();
                Ipv6Addr::new(
                    0x64,
                    0xff9b,
                    0,
                    0,
                    0,
                    0,
                    u16::from_be_bytes([a, b]),
                    u16::from_be_bytes([c, d]),
                )
            },
        ];
        for v4 in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
        ] {
            let v4: Ipv4Addr = v4.parse().unwrap();
            for form in forms {
                let v6 = form(v4);
                // Only `::` (compatible 0.0.0.0) is not read as IPv4; it is forbidden anyway.
                if v6 != Ipv6Addr::UNSPECIFIED {
                    assert_eq!(embedded_v4(v6), Some(v4), "{v6}");
                }
                assert!(is_forbidden(IpAddr::V6(v6)), "{v6} (embeds {v4})");
            }
        }
        for v4 in ["8.8.8.8", "1.1.1.1", "93.184.216.34"] {
            let v4: Ipv4Addr = v4.parse().unwrap();
            for form in forms {
                let v6 = form(v4);
                assert_eq!(embedded_v4(v6), Some(v4), "{v6}");
                assert!(!is_forbidden(IpAddr::V6(v6)), "{v6} (embeds {v4})");
            }
        }
        // The spellings the issue reported, as URL hosts.
        let policy = DestinationPolicy::default();
        for bad in [
            "http://[::ffff:0:7f00:1]/",
            "http://[::ffff:0:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::7f00:1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[::ffff:0:a00:1]/",
        ] {
            let err = policy.check_url(bad).unwrap_err();
            assert!(
                matches!(err, DestinationError::Forbidden(_)),
                "{bad}: {err}"
            );
        }
        assert!(policy.check_url("http://[64:ff9b::808:808]/").is_ok());
        // `::` and `::1` are IPv6 themselves, and forbidden as such.
        assert_eq!(embedded_v4("::1".parse().unwrap()), None);
        assert_eq!(embedded_v4("::".parse().unwrap()), None);
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
            // Other names are resolved later.
            "http://hooks.example/",
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
    fn localhost_names_are_refused_unless_loopback_is_allowed() {
        let policy = DestinationPolicy::default();
        for bad in [
            "http://localhost/",
            "http://LOCALHOST:8080/",
            "http://localhost./",
            "http://api.localhost/",
            "http://a.b.localhost:1/",
            "http://localhost.localdomain/",
            "http://ip6-localhost/",
            "http://ip6-loopback/",
            "http://localhost6/",
        ] {
            let err = policy.check_url(bad).unwrap_err();
            assert!(
                matches!(err, DestinationError::Localhost(_)),
                "{bad}: {err}"
            );
            assert_eq!(err.code(), "forbidden_destination");
        }
        for fine in [
            "http://notlocalhost/",
            "http://localhost.example.com/",
            "http://mylocalhost/",
        ] {
            assert!(policy.check_url(fine).is_ok(), "{fine}");
        }
        let loopback = DestinationPolicy::new(vec![net("127.0.0.0/8")]);
        assert!(loopback.check_url("http://localhost:3000/").is_ok());
        let one_port = DestinationPolicy::with_rules(vec!["127.0.0.1/32:3000".parse().unwrap()]);
        assert!(one_port.check_url("http://localhost:3000/").is_ok());
        assert!(one_port.check_url("http://localhost:3001/").is_err());
    }

    #[test]
    fn allow_rules_parse_cidr_and_ports() {
        let rule = |s: &str| s.parse::<AllowRule>();
        assert_eq!(
            rule("10.0.0.0/8").unwrap(),
            AllowRule {
                net: net("10.0.0.0/8"),
                port: None
            }
        );
        assert_eq!(rule(" 127.0.0.1 ").unwrap().net, net("127.0.0.1/32"));
        assert_eq!(
            rule("127.0.0.0/8:8080").unwrap(),
            AllowRule {
                net: net("127.0.0.0/8"),
                port: Some(8080)
            }
        );
        assert_eq!(rule("127.0.0.1:9").unwrap().net, net("127.0.0.1/32"));
        assert_eq!(
            rule("fd00::/8").unwrap(),
            AllowRule {
                net: net("fd00::/8"),
                port: None
            }
        );
        assert_eq!(rule("::1").unwrap().net, net("::1/128"));
        assert_eq!(
            rule("[fd00::/8]:443").unwrap(),
            AllowRule {
                net: net("fd00::/8"),
                port: Some(443)
            }
        );
        assert_eq!(rule("[::1]:3000").unwrap().net, net("::1/128"));
        for bad in [
            "",
            "x",
            "10.0.0.0/33",
            "10.0.0.0/8:",
            "10.0.0.0/8:0",
            "10.0.0.0/8:65536",
            "[10.0.0.0/8]:80",
            "[fd00::/8]",
            "fd00::/8:443x",
            "[fd00::/8]:x",
            "10.0.0.0/8:80:80",
        ] {
            let err = rule(bad).unwrap_err();
            assert!(err.contains("CIDR:port"), "{bad}: {err}");
        }
    }

    #[test]
    fn port_rules_admit_only_their_port() {
        let policy = DestinationPolicy::with_rules(vec![
            "127.0.0.0/8:8080".parse().unwrap(),
            "[fd00::/8]:443".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]);
        assert!(policy.permits_on(ip("127.0.0.1"), Some(8080)));
        assert!(policy.permits_on(ip("::ffff:127.0.0.1"), Some(8080)));
        assert!(!policy.permits_on(ip("127.0.0.1"), Some(8081)));
        assert!(
            !policy.permits_on(ip("127.0.0.1"), None),
            "unknown port: fail closed"
        );
        assert!(policy.permits_on(ip("fd00::1"), Some(443)));
        assert!(!policy.permits_on(ip("fd00::1"), Some(80)));
        assert!(policy.permits_on(ip("10.9.9.9"), None));
        assert!(policy.check_url("http://127.0.0.1:8080/").is_ok());
        assert!(policy.check_url("http://127.0.0.1/").is_err());
        assert!(policy.check_url("https://[fd00::1]/").is_ok());
        assert!(policy.check_url("http://[fd00::1]/").is_err());
        assert!(policy
            .filter("h", Some(8080), [SocketAddr::new(ip("127.0.0.1"), 0)])
            .is_ok());
        assert!(policy
            .filter("h", Some(9), [SocketAddr::new(ip("127.0.0.1"), 0)])
            .is_err());
        assert!(policy
            .filter("h", None, [SocketAddr::new(ip("127.0.0.1"), 0)])
            .is_err());
    }

    #[tokio::test]
    async fn check_destination_refuses_names_that_resolve_only_to_forbidden_addresses() {
        let policy = DestinationPolicy::default();
        // /etc/hosts gives `localhost` only loopback; it is refused by name already, and
        // numeric names resolve to themselves.
        let err = policy
            .check_destination("http://localhost/")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden_destination");
        let err = policy
            .check_destination("http://127.0.0.1.nip.invalid/")
            .await;
        assert!(
            err.is_ok(),
            "a name that does not resolve is left to connect time"
        );
        let allowed = DestinationPolicy::new(vec![net("127.0.0.0/8")]);
        assert!(allowed
            .check_destination("http://localhost:1/")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn the_resolver_uses_the_delivery_port_for_port_rules() {
        let resolver = GuardedResolver::new(Arc::new(DestinationPolicy::with_rules(vec![
            "127.0.0.0/8:8080".parse().unwrap(),
        ])));
        let name = || "localhost".parse::<Name>().unwrap();
        assert!(resolver.resolve(name()).await.is_err(), "no port known");
        let r = with_destination_port(8080, resolver.resolve(name())).await;
        assert!(r.is_ok());
        let r = with_destination_port(8081, resolver.resolve(name())).await;
        assert!(r.is_err());
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
        let kept = policy.filter("rebind.example", None, mixed).unwrap();
        assert_eq!(kept, vec![SocketAddr::new(ip("93.184.216.34"), 0)]);

        let err = policy
            .filter("rebind.example", None, [SocketAddr::new(ip("10.0.0.1"), 0)])
            .unwrap_err();
        assert_eq!(err.code(), "forbidden_destination");
        assert_eq!(
            err.to_string(),
            "destination rebind.example resolves only to forbidden addresses"
        );
        assert!(matches!(
            policy.filter("empty.example", None, []),
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
