//! Request metrics by route, rendered with domain gauges in the Prometheus
//! text format at `/metrics`.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug)]
struct Series {
    method: String,
    route: String,
    status: u16,
    count: AtomicU64,
    sum_micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

/// Counters live behind a read lock: a new (method, route, status) takes the
/// write lock once, every later request only atomics.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    series: RwLock<HashMap<(String, String, u16), Arc<Series>>>,
}

/// Route label for requests that matched no route, so unknown paths cannot
/// grow the label set.
pub const UNMATCHED: &str = "unmatched";

impl HttpMetrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, started: Instant) {
        let micros = started.elapsed().as_micros() as u64;
        let series = self.series_for(method, route, status);
        series.count.fetch_add(1, Ordering::Relaxed);
        series.sum_micros.fetch_add(micros, Ordering::Relaxed);
        let seconds = micros as f64 / 1e6;
        if let Some(i) = BUCKETS.iter().position(|&le| seconds <= le) {
            series.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn series_for(&self, method: &str, route: &str, status: u16) -> Arc<Series> {
        let key = (method.to_owned(), route.to_owned(), status);
        if let Some(s) = self
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return s.clone();
        }
        let mut all = self.series.write().unwrap_or_else(|p| p.into_inner());
        all.entry(key)
            .or_insert_with(|| {
                Arc::new(Series {
                    method: method.to_owned(),
                    route: route.to_owned(),
                    status,
                    count: AtomicU64::new(0),
                    sum_micros: AtomicU64::new(0),
                    buckets: Default::default(),
                })
            })
            .clone()
    }

    /// Appends the request counters and latency histograms.
    pub fn render(&self, out: &mut String) {
        let mut all: Vec<Arc<Series>> = self
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| (&a.route, &a.method, a.status).cmp(&(&b.route, &b.method, b.status)));

        out.push_str(
            "# HELP switchyard_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE switchyard_http_requests_total counter\n");
        for s in &all {
            let _ = writeln!(
                out,
                "switchyard_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}",
                s.method,
                escape(&s.route),
                s.status,
                s.count.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP switchyard_http_request_duration_seconds Time to answer HTTP requests.\n",
        );
        out.push_str("# TYPE switchyard_http_request_duration_seconds histogram\n");
        for s in &all {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                s.method,
                escape(&s.route),
                s.status
            );
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "switchyard_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let count = s.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "switchyard_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let sum = s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "switchyard_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "switchyard_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware for matched routes: the label is the route template
/// (`/api/environments/{name}`), never the raw path.
pub async fn track(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.observe(&method, &route, response.status().as_u16(), started);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = HttpMetrics::default();
        let long_ago = Instant::now() - std::time::Duration::from_millis(30);
        m.observe("GET", "/api/x", 200, Instant::now());
        m.observe("GET", "/api/x", 200, long_ago);
        m.observe("POST", "/api/x", 422, Instant::now());
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains(
                "switchyard_http_requests_total{method=\"GET\",route=\"/api/x\",status=\"200\"} 2"
            ),
            "{out}"
        );
        assert!(out.contains(
            "switchyard_http_requests_total{method=\"POST\",route=\"/api/x\",status=\"422\"} 1"
        ));
        assert!(out.contains("switchyard_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/x\",status=\"200\",le=\"0.025\"} 1"));
        assert!(out.contains("switchyard_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/x\",status=\"200\",le=\"+Inf\"} 2"));
    }
}
