//! `datahooks listen`: forwards an account's events from a datahooks server to a URL on this
//! machine, as `stripe listen` and `svix listen` do. The CLI opens the server's event stream
//! (`GET /api/v1/app/{app}/stream`, Server-Sent Events), so the machine needs no inbound
//! port. Each event is signed with the Standard Webhooks headers using the account's listen
//! endpoint secret (printed at start), POSTed to `--forward-to`, printed as one line with the
//! local answer, and reported back (`POST …/stream/ack`) so the server's message log shows it
//! as an attempt. A dropped stream is reopened with `Last-Event-ID`, so nothing is missed.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use datahooks_webhooks::signing::{signature_header, Secret};

use crate::config::ListenArgs;

/// Longest silence on the stream (keep-alives come every 15 s) before it is reopened.
const SILENCE: Duration = Duration::from_secs(45);
/// Longest wait for the local receiver.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// Response bytes kept for the report.
const MAX_RESPONSE: usize = 20_000;

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// `id:` of the event, if it had one.
    pub id: Option<String>,
    /// `event:` (`message` when absent).
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

/// Splits a byte stream into Server-Sent Events (the WHATWG format: `field: value` lines, an
/// empty line ends an event, `:` lines are comments such as keep-alives).
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || self.event.is_some() {
                    out.push(SseEvent {
                        id: self.id.take(),
                        event: self.event.take().unwrap_or_else(|| "message".into()),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                self.id = None;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "id" => self.id = Some(value.to_owned()),
                "event" => self.event = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        out
    }
}

/// The answer of the local receiver (or why there was none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAnswer {
    /// HTTP status, 0 when there was no answer.
    pub status: u16,
    /// Body, or the error.
    pub body: String,
    /// How long it took.
    pub ms: i64,
}

/// The line printed for one forwarded event.
pub fn event_line(
    at: chrono::DateTime<chrono::Utc>,
    event_type: &str,
    msg_id: &str,
    a: &LocalAnswer,
) -> String {
    let answer = if a.status == 0 {
        format!("error: {}", a.body)
    } else {
        let reason = reqwest::StatusCode::from_u16(a.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        format!("{} {reason}", a.status).trim_end().to_owned()
    };
    format!(
        "{}  {event_type}  {msg_id}  -> {answer} ({} ms)",
        at.format("%Y-%m-%d %H:%M:%S"),
        a.ms
    )
}

/// Signs and POSTs one payload to the local URL.
async fn forward(
    client: &reqwest::Client,
    url: &str,
    secret: &Secret,
    msg_id: &str,
    payload: &str,
) -> LocalAnswer {
    let ts = chrono::Utc::now().timestamp();
    let sig = signature_header(std::slice::from_ref(secret), msg_id, ts, payload.as_bytes());
    let started = Instant::now();
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", &sig)
        .header("svix-id", msg_id)
        .header("svix-timestamp", ts.to_string())
        .header("svix-signature", &sig)
        .body(payload.to_owned())
        .timeout(FORWARD_TIMEOUT)
        .send()
        .await;
    let (status, mut body) = match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    };
    if body.len() > MAX_RESPONSE {
        let mut end = MAX_RESPONSE;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
    }
    LocalAnswer {
        status,
        body,
        ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    }
}

/// What a session keeps across reconnects.
struct Session {
    client: reqwest::Client,
    server: String,
    key: String,
    app: String,
    forward_to: String,
    query: Vec<(&'static str, String)>,
    /// The id of the last event seen: sent as `Last-Event-ID` on reconnect.
    last: Option<String>,
    secret: Option<Secret>,
}

/// Why a stream ended.
enum End {
    /// Worth reopening (network, server restart, silence).
    Retry(String),
    /// Not (bad key, unknown app, bad filter).
    Fatal(anyhow::Error),
}

impl Session {
    fn api(&self, path: &str) -> String {
        format!("{}/api/v1/app/{}{path}", self.server, self.app)
    }

    /// Opens the stream and forwards until it ends.
    async fn run_once(&mut self) -> End {
        let mut req = self
            .client
            .get(self.api("/stream"))
            .bearer_auth(&self.key)
            .header("accept", "text/event-stream")
            .query(&self.query);
        if let Some(id) = &self.last {
            req = req.header("last-event-id", id);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return End::Retry(format!("cannot reach {}: {e}", self.server)),
        };
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            let msg = format!("the server answered {status}: {body}");
            return if status.is_client_error() {
                End::Fatal(anyhow!(msg))
            } else {
                End::Retry(msg)
            };
        }
        let mut parser = SseParser::default();
        loop {
            let chunk = match tokio::time::timeout(SILENCE, resp.chunk()).await {
                Err(_) => return End::Retry("no news from the server for 45 s".into()),
                Ok(Err(e)) => return End::Retry(format!("the stream broke off: {e}")),
                Ok(Ok(None)) => return End::Retry("the server closed the stream".into()),
                Ok(Ok(Some(c))) => c,
            };
            for ev in parser.push(&chunk) {
                if let Err(e) = self.handle(ev).await {
                    return End::Fatal(e);
                }
            }
        }
    }

    async fn handle(&mut self, ev: SseEvent) -> anyhow::Result<()> {
        let data: Value = serde_json::from_str(&ev.data)
            .with_context(|| format!("the server sent an event that is not JSON: {}", ev.data))?;
        match ev.event.as_str() {
            "listen" => {
                let whsec = data["secret"].as_str().unwrap_or_default();
                let secret = Secret::parse(whsec)
                    .map_err(|e| anyhow!("the server sent a bad signing secret: {e}"))?;
                if self.last.is_none() {
                    self.last = data["after"].as_i64().map(|n| n.to_string());
                }
                let changed = self.secret.as_ref().map(Secret::to_whsec) != Some(secret.to_whsec());
                if changed {
                    println!(
                        "Ready. Forwarding events of {} to {}",
                        self.app, self.forward_to
                    );
                    println!("Signing secret: {}", secret.to_whsec());
                }
                self.secret = Some(secret);
            }
            "message" => {
                let secret = self
                    .secret
                    .clone()
                    .ok_or_else(|| anyhow!("the server sent an event before its signing secret"))?;
                let msg_id = data["id"].as_str().unwrap_or_default().to_owned();
                let event_type = data["eventType"].as_str().unwrap_or_default();
                let payload = data["payload"].as_str().unwrap_or_default();
                let answer =
                    forward(&self.client, &self.forward_to, &secret, &msg_id, payload).await;
                println!(
                    "{}",
                    event_line(chrono::Utc::now(), event_type, &msg_id, &answer)
                );
                self.report(&msg_id, &answer).await;
                if ev.id.is_some() {
                    self.last = ev.id;
                }
            }
            "error" => eprintln!("server: {}", data["detail"].as_str().unwrap_or_default()),
            _ => {}
        }
        Ok(())
    }

    /// Reports the local answer, so the message log shows the attempt. A failed report is
    /// said but does not stop the session.
    async fn report(&self, msg_id: &str, a: &LocalAnswer) {
        let body = json!({
            "msgId": msg_id,
            "url": self.forward_to,
            "statusCode": a.status,
            "response": a.body,
            "durationMs": a.ms,
        });
        let sent = self
            .client
            .post(self.api("/stream/ack"))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => eprintln!(
                "warning: the server did not record {msg_id}: {}",
                r.status()
            ),
            Err(e) => eprintln!("warning: the server did not record {msg_id}: {e}"),
        }
    }
}

/// The application to listen to: `--app`, or the only one the key manages.
async fn pick_app(client: &reqwest::Client, server: &str, key: &str) -> anyhow::Result<String> {
    let resp = client
        .get(format!("{server}/api/v1/app"))
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("the server answered {status}: {body}");
    }
    let apps: Vec<&str> = body["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["uid"].as_str()).collect())
        .unwrap_or_default();
    match apps.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => bail!(
            "no account of this key has webhooks enabled: enable them first (web page or API)"
        ),
        many => bail!(
            "this key manages several accounts ({}): choose one with --app",
            many.join(", ")
        ),
    }
}

/// Runs `datahooks listen` until Ctrl-C.
pub async fn listen(args: ListenArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("datahooks-listen/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?;
    let server = args.server.trim_end_matches('/').to_owned();
    let app = match args.app {
        Some(a) => a,
        None => pick_app(&client, &server, &args.api_key).await?,
    };
    let mut query = Vec::new();
    if !args.events.is_empty() {
        query.push(("event_types", args.events.join(",")));
    }
    if let Some(d) = args.dataset {
        query.push(("channel", d));
    }
    let mut session = Session {
        client,
        server,
        key: args.api_key,
        app,
        forward_to: args.forward_to,
        query,
        last: None,
        secret: None,
    };
    let mut pause = Duration::from_millis(500);
    loop {
        let opened = Instant::now();
        let end = tokio::select! {
            end = session.run_once() => end,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match end {
            End::Fatal(e) => return Err(e),
            End::Retry(why) => {
                // A stream that stayed up a while starts the back-off over.
                if opened.elapsed() > Duration::from_secs(30) {
                    pause = Duration::from_millis(500);
                }
                eprintln!("{why}; reconnecting in {:.1} s", pause.as_secs_f64());
                tokio::select! {
                    () = tokio::time::sleep(pause) => {},
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_across_chunks_with_comments_and_crlf() {
        let mut p = SseParser::default();
        assert!(p.push(b"event: listen\ndata: {\"a\"").is_empty());
        let evs = p.push(b":1}\n\n: keep-alive\n\nid: 7\r\nevent: message\r\ndata: x\r\ndata: y\r\n\r\ndata:z\n\n");
        assert_eq!(
            evs,
            vec![
                SseEvent {
                    id: None,
                    event: "listen".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: Some("7".into()),
                    event: "message".into(),
                    data: "x\ny".into()
                },
                SseEvent {
                    id: None,
                    event: "message".into(),
                    data: "z".into()
                },
            ]
        );
    }

    #[test]
    fn one_line_per_event() {
        let at = chrono::DateTime::from_timestamp(1_764_633_600, 0).unwrap_or_default();
        let ok = LocalAnswer {
            status: 200,
            body: "ok".into(),
            ms: 12,
        };
        assert_eq!(
            event_line(at, "sample.created", "msg_1", &ok),
            "2025-12-02 00:00:00  sample.created  msg_1  -> 200 OK (12 ms)"
        );
        let down = LocalAnswer {
            status: 0,
            body: "connection refused".into(),
            ms: 1,
        };
        assert_eq!(
            event_line(at, "label.updated", "msg_2", &down),
            "2025-12-02 00:00:00  label.updated  msg_2  -> error: connection refused (1 ms)"
        );
    }
}
