//! The span of one delivery attempt, for OpenTelemetry traces (see `datahooks_store::trace`).
//!
//! Each attempt gets its own span, a child of the API call that queued the message (its
//! `traceparent` travels with the job, whether handed over in memory or claimed from the
//! queue later, by any node), so a trace runs from ingest to every attempt. The span carries
//! the endpoint, the message, the attempt number and the receiver's status code. When traces
//! are not exported no span is made ([`tracing::Span::none`]).

use datahooks_domain::delivery::Trigger;
use datahooks_store::trace;
use datahooks_store::webhooks::DeliveryJob;

use crate::dispatch;

/// A new span for an attempt at `job`, child of the call that queued its message.
pub(crate) fn attempt_span(job: &DeliveryJob) -> tracing::Span {
    if !trace::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "webhook attempt",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = "POST",
        http.response.status_code = tracing::field::Empty,
        endpoint_id = %job.endpoint_id,
        msg_id = %job.msg_id,
        delivery_id = job.delivery_id,
        // 1 for the first attempt, as the attempt log and the retry schedule count.
        attempt = job.attempts + 1,
        trigger = if job.trigger_type == Trigger::Scheduled.code() { "scheduled" } else { "manual" },
        error.type = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    if let Some(tp) = &job.traceparent {
        trace::set_parent(&span, tp);
    }
    span
}

/// Notes what the receiver answered (or why nothing came back) on the attempt's span.
pub(crate) fn record_result(span: &tracing::Span, result: &dispatch::AttemptResult) {
    if span.is_none() {
        return;
    }
    if let Some(status) = result.status {
        span.record("http.response.status_code", i64::from(status));
    }
    if result.failure.is_some() {
        span.record("otel.status_code", "ERROR");
        let kind = match (&result.status, &result.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => "failed".to_owned(),
        };
        span.record("error.type", kind.as_str());
    } else {
        span.record("otel.status_code", "OK");
    }
}

/// Notes what becomes of the delivery: `success`, `retry` or `failed`.
pub(crate) fn record_outcome(span: &tracing::Span, success: bool, retry: bool) {
    let outcome = match (success, retry) {
        (true, _) => "success",
        (false, true) => "retry",
        (false, false) => "failed",
    };
    span.record("outcome", outcome);
}

/// Notes that the receiver's refusal (429, or 503 with `Retry-After`) held the delivery back:
/// no attempt is counted, it is sent again when the receiver's pause ends.
pub(crate) fn record_deferred(span: &tracing::Span) {
    span.record("outcome", "deferred");
}

/// The `traceparent` header for the request to the receiver, so its own spans can join the
/// trace; none when traces are off or the endpoint sets the header itself.
pub(crate) fn outgoing_header(job: &DeliveryJob) -> Option<(String, String)> {
    if job
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("traceparent"))
    {
        return None;
    }
    trace::current().map(|tp| ("traceparent".to_owned(), tp))
}
