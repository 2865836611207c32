//! One HTTP delivery attempt to a receiver, and the client that makes it.
//!
//! [`send`] never returns `Err`: a refused destination, a timeout or a 500 are all outcomes
//! to be recorded and scheduled, so they come back as an [`AttemptResult`]. Signing and the
//! choice of headers belong to the caller; this module only moves bytes and classifies what
//! happened.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::redirect;
use reqwest::Url;

use crate::retry::{parse_retry_after, Failure};
use crate::ssrf::{DestinationError, DestinationPolicy, GuardedResolver};

/// How much of a response body is kept (Svix keeps 20,000 bytes).
pub const MAX_RESPONSE_BODY: usize = 20_000;

/// Upper bound on connection setup, so an unreachable host fails as a connect error well
/// before a generous request timeout runs out.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle keep-alive connections are reused for this long: endpoints usually get bursts.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Builds the HTTP client used for deliveries.
///
/// rustls, HTTP/1.1 with title-case header names (some receivers are picky), no redirects
/// (a 3xx is a failed delivery), no proxy from the environment (a proxy would resolve names
/// itself and bypass the guard), and DNS answers filtered by `policy`. `timeout` covers the
/// whole attempt, body included.
///
/// # Errors
///
/// Whatever reqwest reports when the client cannot be built, e.g. a `user_agent` that is not
/// a valid header value or a TLS backend that fails to initialise.
pub fn build_client(
    policy: Arc<DestinationPolicy>,
    timeout: Duration,
    user_agent: &str,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .http1_title_case_headers()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(policy)))
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(60))
        .user_agent(user_agent)
        .build()
}

/// Most URLs [`CheckedUrls`] keeps; past it, it starts over (a node rarely sends to more
/// endpoints than this in a burst, and starting over only costs a parse per URL).
const CHECKED_URLS_MAX: usize = 4096;

/// The destination policy, and the endpoint URLs it already allowed, parsed: every attempt
/// to an endpoint sends to the same URL, and parsing it again was a few percent of a
/// delivery's CPU. The policy is fixed for the life of the process, so a URL allowed once
/// stays allowed; what a name resolves to is still checked at every connection.
#[derive(Debug)]
pub struct CheckedUrls {
    policy: Arc<DestinationPolicy>,
    parsed: Mutex<HashMap<String, Url>>,
}

impl CheckedUrls {
    /// Checks URLs against `policy`.
    pub fn new(policy: Arc<DestinationPolicy>) -> CheckedUrls {
        CheckedUrls {
            policy,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// `url` parsed, if the policy allows it (from the cache when it was seen before).
    ///
    /// # Errors
    ///
    /// As [`DestinationPolicy::check_url`].
    pub fn check(&self, url: &str) -> Result<Url, DestinationError> {
        if let Some(known) = self.parsed.lock().ok().and_then(|m| m.get(url).cloned()) {
            return Ok(known);
        }
        let checked = self.policy.check_url(url)?;
        if let Ok(mut m) = self.parsed.lock() {
            if m.len() >= CHECKED_URLS_MAX {
                m.clear();
            }
            m.insert(url.to_owned(), checked.clone());
        }
        Ok(checked)
    }
}

/// One POST to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The endpoint URL.
    pub url: &'a str,
    /// Every header to send (signature, ids, content type, endpoint custom headers).
    pub headers: Headers,
    /// The exact bytes that were signed.
    pub body: Bytes,
}

const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
const SVIX_ID: HeaderName = HeaderName::from_static("svix-id");
const SVIX_TIMESTAMP: HeaderName = HeaderName::from_static("svix-timestamp");
const SVIX_SIGNATURE: HeaderName = HeaderName::from_static("svix-signature");

/// The headers of one attempt, in the order they were added. The ones every attempt carries
/// use constant names and share their values between the `webhook-` and `svix-` spellings,
/// so building them allocates little: this runs for every delivery.
#[derive(Debug, Clone, Default)]
pub struct Headers(HeaderMap);

impl Headers {
    /// A JSON content type and the Standard Webhooks headers, each also under its `svix-`
    /// name (receivers built on Svix's libraries read those).
    ///
    /// # Errors
    ///
    /// The id or the signature is not a valid header value.
    pub fn signed(msg_id: &str, timestamp: i64, signature: String) -> Result<Headers, String> {
        let id = HeaderValue::from_str(msg_id)
            .map_err(|_| "invalid value for header webhook-id".to_owned())?;
        let timestamp = HeaderValue::from(timestamp);
        let signature = HeaderValue::from_maybe_shared(Bytes::from(signature))
            .map_err(|_| "invalid value for header webhook-signature".to_owned())?;
        let mut map = HeaderMap::with_capacity(8);
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        map.insert(WEBHOOK_ID, id.clone());
        map.insert(WEBHOOK_TIMESTAMP, timestamp.clone());
        map.insert(WEBHOOK_SIGNATURE, signature.clone());
        map.insert(SVIX_ID, id);
        map.insert(SVIX_TIMESTAMP, timestamp);
        map.insert(SVIX_SIGNATURE, signature);
        Ok(Headers(map))
    }

    /// Adds a header given as text (an endpoint's custom header, `traceparent`). Appends
    /// rather than replaces: a repeated custom header is legitimate.
    ///
    /// # Errors
    ///
    /// The name or the value is not valid in HTTP.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), String> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
        self.0.append(name, value);
        Ok(())
    }
}

/// What happened on one attempt. A failure here is data, not an error.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    /// The response status, if a response arrived.
    pub status: Option<u16>,
    /// The first [`MAX_RESPONSE_BODY`] bytes of the response body, decoded as lossy UTF-8.
    pub body: String,
    /// Time from just before sending to the end of reading the body.
    pub duration: Duration,
    /// `None` on success (any 2xx); otherwise why the attempt failed.
    pub failure: Option<Failure>,
    /// The receiver's `Retry-After` hint on a failed response.
    pub retry_after: Option<Duration>,
    /// The receiver answered 410 Gone: Standard Webhooks says to disable the endpoint.
    pub gone: bool,
    /// A human-readable reason when no usable response was received (or the body was cut
    /// short). Never includes the URL, which may carry credentials.
    pub error: Option<String>,
}

impl AttemptResult {
    /// True if the receiver accepted the message (2xx).
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }

    /// An attempt that ended before any response.
    fn without_response(failure: Failure, error: String, duration: Duration) -> AttemptResult {
        AttemptResult {
            status: None,
            body: String::new(),
            duration,
            failure: Some(failure),
            retry_after: None,
            gone: false,
            error: Some(error),
        }
    }
}

/// Sends one attempt and reports the outcome.
///
/// `policy` should be the one `client` was built with: it rejects IP-literal URLs here,
/// because reqwest connects to those without asking the resolver.
pub async fn send(client: &reqwest::Client, urls: &CheckedUrls, req: Request<'_>) -> AttemptResult {
    let started = Instant::now();
    let url = match urls.check(req.url) {
        Ok(url) => url,
        Err(e) => {
            return AttemptResult::without_response(
                Failure::Other,
                e.to_string(),
                started.elapsed(),
            )
        }
    };
    // The resolver learns the port this way, for allow rules limited to a port.
    let port = url.port_or_known_default().unwrap_or(0);
    let response = crate::ssrf::with_destination_port(
        port,
        client
            .post(url)
            .headers(req.headers.0)
            .body(req.body)
            .send(),
    )
    .await;
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            let result =
                AttemptResult::without_response(classify(&e), describe(&e), started.elapsed());
            tracing::debug!(
                failure = ?result.failure,
                error = ?result.error,
                "webhook attempt failed before a response"
            );
            return result;
        }
    };

    let status = response.status();
    let failed = !status.is_success();
    // The hint only matters for scheduling a retry, so it is ignored on success.
    let retry_after = if failed {
        response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()))
    } else {
        None
    };
    let (body, body_error) = read_capped(response).await;
    let code = status.as_u16();
    let result = AttemptResult {
        status: Some(code),
        body,
        duration: started.elapsed(),
        // A 2xx whose body broke off is still accepted: the status is the receiver's answer.
        failure: failed.then_some(Failure::Status(code)),
        retry_after,
        gone: code == 410,
        error: body_error,
    };
    tracing::debug!(
        status = code,
        duration_ms = u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
        "webhook attempt got a response"
    );
    result
}

/// Reads at most [`MAX_RESPONSE_BODY`] bytes and stops there, so a receiver streaming a huge
/// or endless body cannot hold the worker or its memory.
async fn read_capped(mut response: reqwest::Response) -> (String, Option<String>) {
    let mut buf = Vec::new();
    let mut error = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE_BODY.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if buf.len() >= MAX_RESPONSE_BODY {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(format!("reading response body: {}", describe(&e)));
                break;
            }
        }
    }
    (body_text(buf), error)
}

/// Lossy UTF-8, but without a replacement character for a multi-byte character that the
/// byte cap cut in half.
fn body_text(mut bytes: Vec<u8>) -> String {
    // A UTF-8 character is at most 4 bytes, so its leading byte is within the last 4.
    let tail_start = bytes.len().saturating_sub(4);
    let lead = (tail_start..bytes.len())
        .rev()
        .find(|&i| bytes.get(i).is_some_and(|b| b & 0b1100_0000 != 0b1000_0000));
    if let Some(lead) = lead {
        if let Err(e) = std::str::from_utf8(bytes.get(lead..).unwrap_or_default()) {
            // `error_len() == None` means "valid so far, but the input ended mid-character".
            if e.error_len().is_none() {
                bytes.truncate(lead);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn classify(e: &reqwest::Error) -> Failure {
    if destination_error(e).is_some() {
        // The resolver refused every address: not a network fault of the receiver.
        Failure::Other
    } else if e.is_timeout() {
        Failure::Timeout
    } else if e.is_connect() {
        Failure::Connect
    } else {
        Failure::Other
    }
}

fn destination_error(e: &reqwest::Error) -> Option<&DestinationError> {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(found) = err.downcast_ref::<DestinationError>() {
            return Some(found);
        }
        source = err.source();
    }
    None
}

/// reqwest's own message names the URL, which may carry a token in its query string, so this
/// prints the error without it, followed by its causes ("…: tcp connect error: Connection
/// refused").
fn describe(e: &reqwest::Error) -> String {
    if let Some(dest) = destination_error(e) {
        return dest.to_string();
    }
    let mut text = if e.is_timeout() {
        "request timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(err) = source {
        let part = err.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// [`super::send`] with a fresh URL cache, as most tests need no more.
    async fn send(
        client: &reqwest::Client,
        policy: &DestinationPolicy,
        req: Request<'_>,
    ) -> AttemptResult {
        let urls = CheckedUrls::new(Arc::new(policy.clone()));
        super::send(client, &urls, req).await
    }
    use tokio::task::JoinHandle;

    fn loopback_policy() -> DestinationPolicy {
        DestinationPolicy::new(vec!["127.0.0.0/8".parse().unwrap()])
    }

    fn client_for(policy: &DestinationPolicy, timeout: Duration) -> reqwest::Client {
        build_client(Arc::new(policy.clone()), timeout, "datahooks-test/1").unwrap()
    }

    /// Reads one HTTP/1.1 request (headers plus a Content-Length body) as raw text.
    async fn read_request(stream: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
        }
        String::from_utf8(buf).unwrap()
    }

    /// A receiver on 127.0.0.1 that answers one request with `response` after `delay`, and
    /// hands back the raw request it saw.
    async fn receiver(response: Vec<u8>, delay: Duration) -> (SocketAddr, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let request = read_request(&mut stream).await;
            tokio::time::sleep(delay).await;
            stream.write_all(&response).await.unwrap();
            stream.shutdown().await.unwrap();
            request
        });
        (addr, task)
    }

    fn http_response(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn request(url: &str) -> Request<'_> {
        let mut headers =
            Headers::signed("msg_1", 1_700_000_000, "v1,c2ln".to_owned()).expect("valid headers");
        headers.append("x-custom", "a").expect("valid header");
        headers.append("x-custom", "b").expect("valid header");
        Request {
            url,
            headers,
            body: Bytes::from_static(br#"{"type":"ping"}"#),
        }
    }

    async fn no_connection_arrives(listener: &TcpListener) -> bool {
        tokio::time::timeout(Duration::from_millis(200), listener.accept())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn success_on_2xx_sends_body_and_title_case_headers() {
        let (addr, task) = receiver(http_response("200 OK", "", b"ok"), Duration::ZERO).await;
        let policy = loopback_policy();
        let client = client_for(&policy, Duration::from_secs(5));
        let url = format!("http://{addr}/hook");
        let result = send(&client, &policy, request(&url)).await;

        assert!(result.is_success(), "{result:?}");
        assert_eq!(result.status, Some(200));
        assert_eq!(result.body, "ok");
        assert_eq!(result.failure, None);
        assert_eq!(result.error, None);
        assert!(!result.gone);
        assert!(result.duration < Duration::from_secs(5));

        let raw = task.await.unwrap();
        assert!(raw.starts_with("POST /hook HTTP/1.1\r\n"), "{raw}");
        assert!(raw.contains("\r\nWebhook-Id: msg_1\r\n"), "{raw}");
        assert!(
            raw.contains("\r\nContent-Type: application/json\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("\r\nUser-Agent: datahooks-test/1\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("\r\nX-Custom: a\r\n") && raw.contains("\r\nX-Custom: b\r\n"),
            "{raw}"
        );
        assert!(raw.ends_with("\r\n\r\n{\"type\":\"ping\"}"), "{raw}");
    }

    #[tokio::test]
    async fn any_2xx_is_success() {
        let (addr, _task) =
            receiver(http_response("204 No Content", "", b""), Duration::ZERO).await;
        let policy = loopback_policy();
        let url = format!("http://{addr}/");
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.status, Some(204));
        assert!(result.is_success());
    }

    #[tokio::test]
    async fn server_error_is_a_status_failure_with_its_body() {
        let response = http_response("500 Internal Server Error", "Retry-After: 30\r\n", b"boom");
        let (addr, _task) = receiver(response, Duration::ZERO).await;
        let policy = loopback_policy();
        let url = format!("http://{addr}/");
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.status, Some(500));
        assert_eq!(result.failure, Some(Failure::Status(500)));
        assert_eq!(result.body, "boom");
        assert_eq!(result.retry_after, Some(Duration::from_secs(30)));
        assert!(!result.gone);
        assert_eq!(result.error, None);
    }

    #[tokio::test]
    async fn gone_is_flagged() {
        let (addr, _task) = receiver(http_response("410 Gone", "", b""), Duration::ZERO).await;
        let policy = loopback_policy();
        let url = format!("http://{addr}/");
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.failure, Some(Failure::Status(410)));
        assert!(result.gone);
    }

    #[tokio::test]
    async fn too_many_requests_carries_retry_after() {
        let response = http_response(
            "429 Too Many Requests",
            "Retry-After: 120\r\n",
            b"slow down",
        );
        let (addr, _task) = receiver(response, Duration::ZERO).await;
        let policy = loopback_policy();
        let url = format!("http://{addr}/");
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.failure, Some(Failure::Status(429)));
        assert_eq!(result.retry_after, Some(Duration::from_secs(120)));
        assert_eq!(result.body, "slow down");
    }

    #[tokio::test]
    async fn retry_after_is_ignored_on_success() {
        let response = http_response("200 OK", "Retry-After: 120\r\n", b"");
        let (addr, _task) = receiver(response, Duration::ZERO).await;
        let policy = loopback_policy();
        let url = format!("http://{addr}/");
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert!(result.is_success());
        assert_eq!(result.retry_after, None);
    }

    #[tokio::test]
    async fn slow_receiver_times_out() {
        let (addr, task) =
            receiver(http_response("200 OK", "", b""), Duration::from_secs(30)).await;
        let policy = loopback_policy();
        let url = format!("http://{addr}/");
        let client = client_for(&policy, Duration::from_millis(300));
        let result = send(&client, &policy, request(&url)).await;
        task.abort();
        assert_eq!(result.status, None);
        assert_eq!(result.failure, Some(Failure::Timeout));
        assert!(
            result.error.as_deref().unwrap().contains("timed out"),
            "{result:?}"
        );
        assert!(result.duration >= Duration::from_millis(300));
        assert!(result.duration < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn connection_refused_is_a_connect_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let policy = loopback_policy();
        let url = format!("http://{addr}/?token=s3cret");
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.status, None);
        assert_eq!(result.failure, Some(Failure::Connect));
        let error = result.error.unwrap();
        assert!(error.starts_with("could not connect"), "{error}");
        assert!(!error.contains("s3cret"), "the URL leaked into {error}");
    }

    #[tokio::test]
    async fn redirects_are_failures_and_not_followed() {
        let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let location = format!(
            "Location: http://{}/elsewhere\r\n",
            target.local_addr().unwrap()
        );
        let (addr, _task) =
            receiver(http_response("302 Found", &location, b""), Duration::ZERO).await;
        let policy = loopback_policy();
        let url = format!("http://{addr}/");
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.status, Some(302));
        assert_eq!(result.failure, Some(Failure::Status(302)));
        assert!(no_connection_arrives(&target).await);
    }

    #[tokio::test]
    async fn loopback_ip_literal_is_refused_without_an_allow_range() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let policy = DestinationPolicy::default();
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.status, None);
        assert_eq!(result.failure, Some(Failure::Other));
        assert!(
            result.error.as_deref().unwrap().contains("not allowed"),
            "{result:?}"
        );
        assert!(no_connection_arrives(&listener).await);
    }

    #[tokio::test]
    async fn a_port_rule_lets_a_named_destination_through_on_its_port_only() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let policy =
            DestinationPolicy::with_rules(vec![format!("127.0.0.0/8:{port}").parse().unwrap()]);
        let client = client_for(&policy, Duration::from_secs(5));
        let accept = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
            tokio::io::AsyncWriteExt::write_all(
                &mut sock,
                b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        });
        // The name goes through the guarded resolver, which must learn the port.
        let url = format!("http://localhost:{port}/");
        let result = send(&client, &policy, request(&url)).await;
        assert_eq!(result.status, Some(204), "{result:?}");
        accept.await.unwrap();
        let other = format!("http://localhost:{}/", port.wrapping_add(1).max(1));
        let result = send(&client, &policy, request(&other)).await;
        assert_eq!(result.status, None);
    }

    #[tokio::test]
    async fn localhost_name_is_refused_without_an_allow_range() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://localhost:{}/",
            listener.local_addr().unwrap().port()
        );
        let policy = DestinationPolicy::default();
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.failure, Some(Failure::Other));
        assert_eq!(
            result.error.as_deref(),
            Some("destination localhost is a name for this machine (loopback) and is not allowed")
        );
        assert!(no_connection_arrives(&listener).await);
    }

    #[tokio::test]
    async fn localhost_name_is_delivered_with_an_allow_range() {
        let (addr, _task) = receiver(http_response("200 OK", "", b""), Duration::ZERO).await;
        let policy = loopback_policy();
        let url = format!("http://localhost:{}/", addr.port());
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert!(result.is_success(), "{result:?}");
    }

    #[tokio::test]
    async fn long_bodies_are_capped() {
        let big = vec![b'x'; 3 * MAX_RESPONSE_BODY];
        let (addr, _task) = receiver(
            http_response("500 Internal Server Error", "", &big),
            Duration::ZERO,
        )
        .await;
        let policy = loopback_policy();
        let url = format!("http://{addr}/");
        let result = send(
            &client_for(&policy, Duration::from_secs(5)),
            &policy,
            request(&url),
        )
        .await;
        assert_eq!(result.body.len(), MAX_RESPONSE_BODY);
        assert_eq!(result.failure, Some(Failure::Status(500)));
    }

    #[tokio::test]
    async fn bad_urls_fail_without_sending() {
        let policy = loopback_policy();
        let client = client_for(&policy, Duration::from_secs(5));

        let result = send(&client, &policy, request("ftp://127.0.0.1/")).await;
        assert_eq!(result.failure, Some(Failure::Other));
        assert!(result.error.unwrap().contains("scheme"));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let mut req = request(&url);
        req.url = "http://[::1";
        let result = send(&client, &policy, req).await;
        assert_eq!(result.failure, Some(Failure::Other));
        assert!(no_connection_arrives(&listener).await);
    }

    #[test]
    fn checked_urls_keep_what_the_policy_allowed_and_nothing_else() {
        let urls = CheckedUrls::new(Arc::new(DestinationPolicy::default()));
        let first = urls.check("https://example.com/hook").unwrap();
        assert_eq!(first.as_str(), "https://example.com/hook");
        assert_eq!(urls.check("https://example.com/hook").unwrap(), first);
        assert_eq!(urls.parsed.lock().unwrap().len(), 1);
        // Refused URLs are refused every time and never kept.
        for _ in 0..2 {
            assert!(matches!(
                urls.check("http://127.0.0.1/"),
                Err(DestinationError::Forbidden(_))
            ));
        }
        assert_eq!(urls.parsed.lock().unwrap().len(), 1);
        // Bounded: past the limit it starts over.
        for i in 0..=CHECKED_URLS_MAX {
            urls.check(&format!("https://example.com/{i}")).unwrap();
        }
        assert!(urls.parsed.lock().unwrap().len() <= CHECKED_URLS_MAX);
    }

    #[test]
    fn bad_headers_are_refused_with_their_name() {
        let mut headers = Headers::default();
        let e = headers.append("bad header", "x").unwrap_err();
        assert!(e.contains("invalid header name"), "{e}");
        let e = headers.append("x-ok", "line\nbreak").unwrap_err();
        assert!(e.contains("invalid value for header x-ok"), "{e}");
        assert!(Headers::signed("msg\n1", 1, "v1,x".to_owned()).is_err());
        assert!(Headers::signed("msg_1", 1, "v1,x\r".to_owned()).is_err());
        assert!(headers.0.is_empty());
    }

    #[test]
    fn body_text_drops_a_character_cut_by_the_cap() {
        // "é" is 2 bytes; keep only its first byte, as a cap would.
        let mut bytes = b"abc".to_vec();
        bytes.push("é".as_bytes()[0]);
        assert_eq!(body_text(bytes), "abc");
        // "€" is 3 bytes, cut after 2.
        let mut bytes = b"x".to_vec();
        bytes.extend_from_slice(&"€".as_bytes()[..2]);
        assert_eq!(body_text(bytes), "x");
        // Complete text is untouched.
        assert_eq!(body_text("héllo €".as_bytes().to_vec()), "héllo €");
        assert_eq!(body_text(Vec::new()), "");
    }

    #[test]
    fn body_text_replaces_invalid_bytes() {
        assert_eq!(body_text(vec![b'a', 0xff, b'b']), "a\u{fffd}b");
        // A stray continuation byte at the end is invalid, not incomplete.
        assert_eq!(body_text(vec![b'a', 0x80]), "a\u{fffd}");
        assert_eq!(body_text(vec![0xff]), "\u{fffd}");
    }

    #[test]
    fn client_builds_with_defaults() {
        let policy = Arc::new(DestinationPolicy::default());
        assert!(build_client(policy.clone(), Duration::from_secs(30), "datahooks/0.1").is_ok());
        // A user agent that is not a valid header value is a build error, not a panic.
        assert!(build_client(policy, Duration::from_secs(30), "bad\nagent").is_err());
    }
}
