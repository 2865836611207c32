#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Connection limits of the real binary, over loopback TCP: a half-sent request is closed
//! after `--header-timeout`, an idle keep-alive connection after `--idle-timeout`, and past
//! `--max-connections` a new connection gets a clear `503` while the open ones keep working; a
//! request body that stalls is answered `408` after `--body-timeout` (one that trickles is not).
//! A head that arrives in pieces is read while the connection is parked and handed to hyper
//! whole: it is served as if sent at once, also when it goes on past what was parked.
//!
//! Timeouts are set small for the test and the waits are generous (30 s): the tests prove
//! that a connection is closed, not how fast. The timeout that must not fire in a test is
//! set to 10 minutes, so only the one under test can close the connection.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_datahooks");
/// The longest any test waits for the server to close a connection.
const CLOSE_WAIT: Duration = Duration::from_secs(30);
const NEVER: &str = "600";

/// A running `datahooks serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--role", "api"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server {
        child,
        addr,
        _dir: dir,
    }
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

const HEALTH: &[u8] = b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n";

/// Reads one response (head and `content-length` body); returns the head and the body.
fn read_response(s: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "closed mid-response: {buf:?}"
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

fn health(s: &mut TcpStream) -> String {
    s.write_all(HEALTH).unwrap();
    read_response(s).0
}

/// Whether the server closed the connection: a read sees end of file or a reset.
fn closed_now(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected bytes {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

/// Waits up to [`CLOSE_WAIT`] for the server to close `s`, calling `meanwhile` between
/// checks (a write error also means closed).
fn wait_closed(s: &mut TcpStream, mut meanwhile: impl FnMut(&mut TcpStream) -> bool) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let until = Instant::now() + CLOSE_WAIT;
    while Instant::now() < until {
        if closed_now(s) || !meanwhile(s) {
            return true;
        }
    }
    false
}

#[test]
fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let server = start(&["--header-timeout", "1", "--idle-timeout", NEVER]);
    // A connection that sends nothing owes its first request head too.
    let mut silent = connect(&server);
    // A slowloris: the head trickles in a byte at a time and is never finished, so bytes
    // keep moving and only the header timeout can close it.
    let mut slow = connect(&server);
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .unwrap();
    assert!(
        wait_closed(&mut slow, |s| s.write_all(b"a").is_ok()),
        "the half-sent request was not closed"
    );
    assert!(
        wait_closed(&mut silent, |_| true),
        "the silent connection was not closed"
    );
    // The server itself is fine.
    assert!(health(&mut connect(&server)).starts_with("HTTP/1.1 204"));
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = start(&["--header-timeout", NEVER, "--idle-timeout", "1"]);
    let mut s = connect(&server);
    // Kept alive: two requests on one connection.
    assert!(health(&mut s).starts_with("HTTP/1.1 204"));
    assert!(health(&mut s).starts_with("HTTP/1.1 204"));
    assert!(
        wait_closed(&mut s, |_| true),
        "the idle keep-alive connection was not closed"
    );
}

#[test]
fn beyond_the_cap_a_new_connection_is_refused_and_open_ones_keep_working() {
    let server = start(&[
        "--max-connections",
        "3",
        "--header-timeout",
        NEVER,
        "--idle-timeout",
        NEVER,
    ]);
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    for s in &mut open {
        // Answered, so the server holds all three.
        assert!(health(s).starts_with("HTTP/1.1 204"));
    }
    let mut extra = connect(&server);
    extra.write_all(HEALTH).unwrap();
    let (head, body) = read_response(&mut extra);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "too_many_connections");
    assert!(closed_now(&mut extra), "the refused connection stays open");
    for s in &mut open {
        assert!(health(s).starts_with("HTTP/1.1 204"), "an open one broke");
    }
    // Closing one frees its slot for the next connection.
    drop(open.pop());
    let until = Instant::now() + CLOSE_WAIT;
    loop {
        let head = health(&mut connect(&server));
        if head.starts_with("HTTP/1.1 204") {
            break;
        }
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        assert!(Instant::now() < until, "the freed slot was never reused");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A form post whose body the sign-in handler reads: head and `Content-Length`, no body yet.
fn post_head(len: usize) -> Vec<u8> {
    format!(
        "POST /ui/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {len}\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn a_request_body_that_stalls_is_answered_408_and_the_connection_closed() {
    let server = start(&[
        "--body-timeout",
        "1",
        "--header-timeout",
        NEVER,
        "--idle-timeout",
        NEVER,
    ]);
    let mut s = connect(&server);
    s.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    // A tenth of the body, then nothing: the handler waits for the rest.
    s.write_all(&post_head(100)).unwrap();
    s.write_all(b"key=abcdef").unwrap();
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "body_timeout");
    assert!(
        wait_closed(&mut s, |_| true),
        "the stalled connection stays open"
    );
    assert!(health(&mut connect(&server)).starts_with("HTTP/1.1 204"));
}

#[test]
fn a_slow_body_that_keeps_moving_is_not_cut() {
    let server = start(&[
        "--body-timeout",
        "1",
        "--header-timeout",
        NEVER,
        "--idle-timeout",
        NEVER,
    ]);
    let mut s = connect(&server);
    s.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    let form = b"key=abcdef";
    s.write_all(&post_head(form.len())).unwrap();
    // Ten bytes over about three seconds, three times the body timeout, never a second apart.
    for b in form {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let (head, _) = read_response(&mut s);
    assert!(!head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
}

#[test]
fn a_head_arriving_in_slow_pieces_within_the_timeout_is_served() {
    let server = start(&["--header-timeout", "5", "--idle-timeout", NEVER]);
    let mut s = connect(&server);
    // Five pieces over about two seconds, cut inside the request line, a name and the blank
    // line: every one is read while the connection is parked.
    for piece in [
        &b"GE"[..],
        b"T /api/v1/hea",
        b"lth HTTP/1.1\r\nHo",
        b"st: t\r\n\r",
        b"\n",
    ] {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    // The connection is kept alive and serves the next request as usual.
    assert!(health(&mut s).starts_with("HTTP/1.1 204"));
}

#[test]
fn bytes_split_between_the_parked_head_and_hyper_are_all_read() {
    let server = start(&[
        "--header-timeout",
        "5",
        "--body-timeout",
        "5",
        "--idle-timeout",
        NEVER,
    ]);
    let mut s = connect(&server);
    s.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    // One write: a whole head, then the start of a body and of a second (pipelined) request.
    // The lot hands all of it to hyper, which reads it first and the rest from the socket.
    let form = b"key=abcdef";
    let mut first = post_head(form.len());
    first.extend_from_slice(&form[..4]);
    s.write_all(&first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut rest = form[4..].to_vec();
    rest.extend_from_slice(b"GET /api/v1/health HTTP/1.1\r\nHo");
    s.write_all(&rest).unwrap();
    // The sign-in form read its whole body: answered, neither a 408 nor a 400 for a torn body.
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    assert!(!head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(!head.starts_with("HTTP/1.1 400"), "{head}");
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"st: t\r\n\r\n").unwrap();
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
}

#[test]
fn a_head_over_the_cap_is_refused_431() {
    let server = start(&["--header-timeout", "5", "--idle-timeout", NEVER]);
    let mut s = connect(&server);
    s.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    // Exactly the 32 KiB cap and no end: the server reads all of it (so closing does not
    // reset the connection before the answer is read) and has no room for more.
    let mut head = b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    head.resize(32 * 1024, b'a');
    s.write_all(&head).unwrap();
    let (answer, _) = read_response(&mut s);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(health(&mut connect(&server)).starts_with("HTTP/1.1 204"));
}
