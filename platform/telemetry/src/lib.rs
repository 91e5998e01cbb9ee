//! Logs, traces and metrics for Civitas.
//!
//! - [`init`] installs the global `tracing` subscriber: human-readable or
//!   JSON logs filtered by `CIVITAS_LOG` (or `RUST_LOG`), plus OpenTelemetry
//!   export over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. When it
//!   is not set, no exporter, thread or buffer exists: tracing costs what
//!   plain logging costs.
//! - [`HttpMetrics`] keeps request counts and latency histograms by route
//!   and status, rendered in the Prometheus text format for `GET /metrics`;
//!   [`ops::Readings`] renders what else operators page on, read at each
//!   scrape.
//! - [`join_caller_trace`] makes a request's span a child of the W3C trace
//!   context (`traceparent`) its caller sent.
//!
//! Call [`init`] before starting the async runtime and keep the returned
//! [`TelemetryGuard`] alive until the runtime has stopped; dropping it
//! flushes spans not yet exported.

mod metrics;
pub mod ops;

pub use metrics::HttpMetrics;

use std::io::IsTerminal as _;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The environment variable that turns OTLP export on.
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// How logs are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log shippers.
    Json,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("日志过滤表达式无效 (invalid log filter) {filter:?}: {reason}")]
    BadFilter {
        /// The filter as given.
        filter: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The OTLP exporter could not be built.
    #[error("无法创建 OTLP 导出器 (cannot build the OTLP exporter): {0}")]
    Exporter(String),
    /// A global subscriber was already installed.
    #[error("日志系统已初始化 (a tracing subscriber is already installed): {0}")]
    AlreadyInstalled(String),
}

/// Keeps the OTLP pipeline alive; dropping it flushes and shuts it down.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are being exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("OTLP shutdown: {e}");
        }
    }
}

/// Installs logging and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, trace
/// export. `filter` is an `EnvFilter` directive such as `info,sqlx=warn`.
pub fn init(filter: &str, format: LogFormat) -> Result<TelemetryGuard, TelemetryError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|e| TelemetryError::BadFilter {
        filter: filter.to_owned(),
        reason: e.to_string(),
    })?;

    let provider = match std::env::var(OTLP_ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.trim().is_empty() => Some(otlp_provider()?),
        _ => None,
    };
    let otel_layer = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("civitas")));

    let registry = tracing_subscriber::registry()
        .with(env_filter)
        .with(otel_layer);
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    installed.map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

fn otlp_provider() -> Result<SdkTracerProvider, TelemetryError> {
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and the other standard
    // OTEL_EXPORTER_OTLP_* variables) itself.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let resource = Resource::builder().with_service_name("civitas").build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Makes `span` a child of the W3C trace context its caller sent (the
/// `traceparent` and `tracestate` request headers), so the spans of a
/// request join the trace of whoever called — a gateway, another service.
/// Without a valid `traceparent` the span stays a root; in a process that
/// exports no traces there is nothing to join, and nothing happens.
pub fn join_caller_trace(
    span: &tracing::Span,
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let mut headers = std::collections::HashMap::new();
    headers.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(tracestate) = tracestate {
        headers.insert("tracestate".to_owned(), tracestate.to_owned());
    }
    let context = TraceContextPropagator::new().extract(&headers);
    if context.span().span_context().is_valid() {
        // Fails only where no OpenTelemetry layer is installed (no export).
        let _ = span.set_parent(context);
    }
}
