//! Logs and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OpenTelemetry traces exported over
//! OTLP/HTTP (protobuf or JSON, `OTEL_EXPORTER_OTLP_PROTOCOL`).
//!
//! Traces follow a message from the API request that queued it to each attempt to deliver it,
//! across the queue: the request's span (`datahooks_server::request_span`) is current when the
//! store writes the message, the store keeps its `traceparent` with the message, and every
//! attempt's span (`datahooks_webhooks` `traced`) is its child. This module installs the W3C
//! propagation that those crates reach through `datahooks_store::trace`.
//!
//! Without the variable nothing is set up: no exporter thread, no spans, no propagation.
//! The standard variables are read by the OpenTelemetry SDK: `OTEL_SERVICE_NAME` (default
//! `datahooks`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*` (batching).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::config::LogFormat;

/// The crates whose spans (and events inside them) are exported: ours, not the libraries'.
const TRACED: [&str; 4] = [
    "datahooks",
    "datahooks_server",
    "datahooks_webhooks",
    "datahooks_store",
];

/// The running exporter; [`Telemetry::shutdown`] sends what is still batched.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes the spans still batched and stops the exporter (waits at most its timeout).
    pub async fn shutdown(self) {
        // The SDK's shutdown blocks until its export thread is done; the export itself runs
        // on this runtime (see `RuntimeClient`), so wait for it off the runtime's threads.
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            eprintln!("warning: could not flush the last traces: {e}");
        }
    }
}

/// Whether the environment asks for traces: an OTLP endpoint is set and the SDK is not
/// disabled.
fn wanted() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) && !disabled
}

/// Refuses a protocol we do not speak: only OTLP over HTTP is built in (no gRPC stack).
fn check_protocol() -> anyhow::Result<()> {
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(p) = std::env::var(var) {
            anyhow::ensure!(
                matches!(p.trim(), "" | "http/protobuf" | "http/json"),
                "{var}={p} is not supported: use http/protobuf (the default) or http/json"
            );
        }
    }
    Ok(())
}

/// Sets up the log output, and the trace export when `traces` and the environment ask for
/// it. Call once, inside the runtime.
pub fn init(format: LogFormat, ansi: bool, traces: bool) -> anyhow::Result<Option<Telemetry>> {
    // `RUST_LOG` when set and valid, else `info`; it filters the log lines only.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => logs.with_ansi(ansi).with_filter(filter).boxed(),
        // Colour codes never go into JSON; spans are listed so a line keeps its request.
        LogFormat::Json => logs
            .json()
            .with_ansi(false)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let mut layers = vec![logs];
    let telemetry = if traces && wanted() {
        check_protocol()?;
        let provider = provider()?;
        let tracer = provider.tracer("datahooks");
        let targets = TRACED.iter().fold(Targets::new(), |t, name| {
            t.with_target(*name, tracing::Level::INFO)
        });
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(targets)
                .boxed(),
        );
        Some(Telemetry { provider })
    } else {
        None
    };
    tracing_subscriber::registry().with(layers).init();
    if telemetry.is_some() {
        // After the subscriber: the propagation reads spans through it.
        datahooks_store::trace::install(Box::new(W3c));
        tracing::info!("exporting OpenTelemetry traces over OTLP/HTTP");
    }
    Ok(telemetry)
}

/// The tracer provider: OTLP/HTTP exporter (endpoint, protocol, headers and timeout from the
/// standard variables), batched, with the service's resource.
fn provider() -> anyhow::Result<SdkTracerProvider> {
    let timeout = std::env::var("OTEL_EXPORTER_OTLP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(10));
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("cannot build the OTLP HTTP client")?;
    let client = RuntimeClient {
        client,
        runtime: tokio::runtime::Handle::current(),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_timeout(timeout)
        .build()
        .context("cannot set up the OTLP trace exporter (OTEL_EXPORTER_OTLP_*)")?;
    // The SDK reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; without either naming the
    // service, it is `datahooks` rather than the SDK's `unknown_service`.
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    let mut resource = Resource::builder();
    if !named {
        resource = resource.with_service_name("datahooks");
    }
    let resource = resource
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The OTLP exporter's HTTP client: the SDK exports from its own thread (blocking on the
/// export future there), so each request is run on the server's runtime, whose reactor
/// reqwest needs, and the thread waits for its result.
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let request = reqwest::Request::try_from(request)?;
        self.runtime
            .spawn(async move {
                let answer = client.execute(request).await?;
                let status = answer.status();
                let headers = answer.headers().clone();
                let body = answer.bytes().await?;
                let mut response = Response::builder().status(status).body(body)?;
                *response.headers_mut() = headers;
                Ok::<_, HttpError>(response)
            })
            .await?
    }
}

/// W3C Trace Context between tracing's spans and the `traceparent` strings that travel with
/// messages and requests.
struct W3c;

impl datahooks_store::trace::Propagation for W3c {
    fn current(&self) -> Option<String> {
        let cx = tracing::Span::current().context();
        if !cx.span().span_context().is_valid() {
            return None;
        }
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
        carrier.remove("traceparent")
    }

    fn set_parent(&self, span: &tracing::Span, traceparent: &str) {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        let cx = TraceContextPropagator::new().extract(&carrier);
        if cx.span().span_context().is_valid() {
            // Refused only if the span already started; then it keeps its own trace.
            let _ = span.set_parent(cx);
        }
    }
}
