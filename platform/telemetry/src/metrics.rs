//! HTTP request metrics in the Prometheus text format.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The labels of one request series. `route` is the matched route template
/// (`/api/v1/tenants/{*path}`), never the raw path, so that the number of
/// series stays bounded whatever clients send.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

// Upper bounds in seconds: from 1 ms (a cached read) to 10 s (a timeout).
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Request counts and latencies by method, route and status.
///
/// Each instance has its own registry, so servers in one process (tests)
/// do not mix their numbers.
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics::new()
    }
}

impl HttpMetrics {
    /// Empty metrics, registered under the `civitas_http` prefix.
    pub fn new() -> HttpMetrics {
        let mut registry = Registry::with_prefix("civitas_http");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register("requests", "HTTP requests served", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time from request received to response headers sent",
            latency.clone(),
        );
        HttpMetrics {
            registry,
            requests,
            latency,
        }
    }

    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_and_timed_by_route_and_status() {
        let metrics = HttpMetrics::new();
        metrics.observe("GET", "/healthz", 200, Duration::from_millis(2));
        metrics.observe("GET", "/healthz", 200, Duration::from_millis(3));
        metrics.observe(
            "GET",
            "/api/v1/tenants/{*path}",
            404,
            Duration::from_millis(40),
        );
        let text = metrics.render();
        assert!(
            text.contains(
                r#"civitas_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"civitas_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz",status="200"} 2"#)
                || text.contains(r#"civitas_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="0.005"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"route="/api/v1/tenants/{*path}",status="404""#),
            "{text}"
        );
    }
}
