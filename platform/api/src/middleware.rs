//! Request ids, tracing spans, metrics and panics.

use std::any::Any;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::AppState;
use crate::error::{ApiError, REQUEST_ID};

/// The header that carries the request id, both ways.
pub(crate) static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Gives every request an id (the caller's `x-request-id` if it is sane,
/// else a new UUID), a tracing span with method, route, tenant and id, a
/// metrics observation, and the id in the response header and error bodies.
pub(crate) async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(value) = HeaderValue::from_str(&id) {
        request
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    let method = request.method().clone();
    // The route template, never the raw path: bounded label cardinality.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let span = tracing::info_span!(
        "request",
        %method,
        route = %route,
        request_id = %id,
        tenant = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    // A caller's trace context is honoured from a trusted proxy only (the
    // gateway that starts traces): from anyone, it would let a client turn
    // the sampling of its own requests off or on.
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(address)| address.ip());
    if peer.is_some_and(|peer| {
        state
            .trusted_proxies()
            .iter()
            .any(|net| net.contains(&peer))
    }) {
        let headers = request.headers();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        civitas_telemetry::join_caller_trace(&span, header("traceparent"), header("tracestate"));
    }
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.record("status", status);
    span.in_scope(|| {
        tracing::info!(
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        )
    });
    state
        .metrics()
        .observe(method.as_str(), &route, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    response
}

/// Ids from callers are echoed into logs and headers: accept only short
/// plain tokens, so nobody can inject log lines or odd bytes.
fn is_sane_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Turns a handler panic into the ordinary 500 error body.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::internal().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_request_ids_must_be_plain_tokens() {
        assert!(is_sane_request_id("5f0c2a9e-1b7d-4e55-9a0e-4b1c8f2d7a10"));
        assert!(is_sane_request_id("gateway.42:7"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("a b"));
        assert!(!is_sane_request_id("line\nbreak"));
        assert!(!is_sane_request_id(&"x".repeat(65)));
    }

    #[test]
    fn a_panic_becomes_the_ordinary_500_envelope() {
        let response = panic_response(Box::new("index out of bounds"));
        assert_eq!(
            response.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
        let content_type = response.headers().get(axum::http::header::CONTENT_TYPE);
        assert_eq!(
            content_type.and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let body = ApiError::internal().body();
        assert_eq!(body.code, "internal_error");
        assert!(
            !body.message.en.contains("index out of bounds"),
            "panic details stay in the log"
        );
    }
}
