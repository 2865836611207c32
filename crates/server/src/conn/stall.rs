//! The body-read timeout: a request body that stops arriving while its handler reads it.
//!
//! [`Stalling`] wraps a request body; once the handler waits for body bytes and none arrive
//! for `--body-timeout` (nginx's `client_body_timeout`: the time between two reads, not for the
//! whole body, so a large upload on a slow link is not cut while it moves), the read fails and
//! the request is marked stalled. The connection then answers [`timed_out`] (a `408` JSON error
//! with `Connection: close`) in place of whatever the handler made of the failed read.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::StatusCode;
use tokio::time::{Instant, Sleep};

/// The error a stalled body read ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: no byte for {0:?}")]
pub struct BodyStalled(Duration);

/// A request body with a timeout between reads; see the module docs.
pub struct Stalling<B> {
    inner: B,
    timeout: Duration,
    /// Armed while the handler waits for bytes that have not come.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    stalled: Arc<AtomicBool>,
}

impl<B> Stalling<B> {
    /// Wraps `inner`; `stalled` is set if a read times out.
    pub fn new(inner: B, timeout: Duration, stalled: Arc<AtomicBool>) -> Stalling<B> {
        Stalling {
            inner,
            timeout,
            timer: None,
            waiting: false,
            stalled,
        }
    }
}

impl<B> Body for Stalling<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let me = &mut *self;
        match Pin::new(&mut me.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                me.waiting = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = Instant::now() + me.timeout;
                if !me.waiting {
                    // A new wait for bytes: the clock starts now (time the handler spent
                    // elsewhere is not the client's).
                    me.waiting = true;
                    match &mut me.timer {
                        Some(t) => t.as_mut().reset(deadline),
                        None => me.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                }
                let fired = match &mut me.timer {
                    Some(t) => t.as_mut().poll(cx).is_ready(),
                    None => false,
                };
                if fired {
                    me.stalled.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(BodyStalled(me.timeout).into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The body of the answer to a stalled request: the house error envelope.
const TIMED_OUT_BODY: &str = r#"{"detail":"The request body stopped arriving before it was complete.","code":"body_timeout"}"#;

/// The answer to a request whose body stalled; it closes the connection (the rest of the body
/// may still be on its way).
pub fn timed_out() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [
            (hyper::header::CONTENT_TYPE, "application/json"),
            (hyper::header::CONNECTION, "close"),
        ],
        TIMED_OUT_BODY,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_body_that_stops_arriving_fails_and_is_marked() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        let inner = http_body_util::StreamBody::new(tokio_stream_from(rx));
        let stalled = Arc::new(AtomicBool::new(false));
        let mut body = Stalling::new(inner, Duration::from_millis(300), stalled.clone());
        tx.send(Ok(Frame::data(Bytes::from_static(b"ab"))))
            .await
            .unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        // Bytes every 200 ms keep it going: the timeout is between reads.
        let sender = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                tx.send(Ok(Frame::data(Bytes::from_static(b"c"))))
                    .await
                    .unwrap();
            }
            tx // then it stalls, open
        });
        for _ in 0..3 {
            assert!(body.frame().await.unwrap().is_ok());
        }
        assert!(!stalled.load(Ordering::Relaxed));
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("stalled"), "{err}");
        assert!(stalled.load(Ordering::Relaxed));
        drop(sender);
        let answer = timed_out();
        assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(answer.headers().get("connection").unwrap(), "close");
    }

    /// A stream of frames from a channel (no extra crate for one test).
    fn tokio_stream_from(
        mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
    ) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Unpin {
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}
