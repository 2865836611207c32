//! Trace context (W3C `traceparent`) carried from the API call that queues a message to every
//! attempt to deliver it, across the queue.
//!
//! The store, the server and the worker only see this small hook; the binary installs the
//! OpenTelemetry implementation when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`datahooks`
//! `telemetry.rs`). So the crates below the binary do not link OpenTelemetry, and without the
//! variable nothing is installed: [`current`] is one atomic load that answers `None`, and no
//! span is created for tracing's sake ([`enabled`] is false).
//!
//! A write call reads [`current`] in the caller's task (before SQLite hands the call to its
//! writer thread) and the message row keeps it (`messages.traceparent`). Jobs handed to the
//! worker in memory and jobs claimed later, by any node, carry it in
//! [`crate::webhooks::DeliveryJob::traceparent`], and the worker makes each attempt's span a
//! child of it ([`set_parent`]).

use std::sync::OnceLock;

/// What the binary's tracing setup does for the crates below it.
pub trait Propagation: Send + Sync + 'static {
    /// The W3C `traceparent` of the span current on this thread (`None` outside a traced span).
    fn current(&self) -> Option<String>;
    /// Makes `span`, just created, a child of the span that `traceparent` names. An invalid
    /// value is ignored: the span starts its own trace.
    fn set_parent(&self, span: &tracing::Span, traceparent: &str);
}

static PROPAGATION: OnceLock<Box<dyn Propagation>> = OnceLock::new();

/// Installs the propagation once per process; a second call is refused (returns false).
pub fn install(p: Box<dyn Propagation>) -> bool {
    PROPAGATION.set(p).is_ok()
}

/// Whether traces are exported: callers create their spans only then.
pub fn enabled() -> bool {
    PROPAGATION.get().is_some()
}

/// The `traceparent` of the current span, if traces are exported and a span is current.
pub fn current() -> Option<String> {
    PROPAGATION.get().and_then(|p| p.current())
}

/// Makes `span` a child of `traceparent` (see [`Propagation::set_parent`]); nothing when
/// traces are not exported.
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    if let Some(p) = PROPAGATION.get() {
        p.set_parent(span, traceparent);
    }
}
