//! The load balancer's metrics of a deployment's two sides, as the alarms
//! watch them: requests, target 5xx and p99 latency per one-minute period
//! of each target group, and its hosts' health, in one GetMetricData call.

use super::Cloud;
use super::deployments::{CloudError, cloud_error};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types as cw;
use std::collections::BTreeMap;
use switchyard_domain::environment::{ALARM_NAMESPACE, ALARM_PERIOD_SECONDS};
pub use switchyard_domain::environment::{PeriodFigures, Side, TargetHealth};

/// A target group's metric dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideDimensions {
    pub side: Side,
    pub load_balancer: String,
    pub target_group: String,
}

const FIGURES: [(&str, &str, &str); 5] = [
    ("requests", "RequestCount", "Sum"),
    ("target5xx", "HTTPCode_Target_5XX_Count", "Sum"),
    ("p99", "TargetResponseTime", "p99"),
    ("healthy", "HealthyHostCount", "Minimum"),
    ("unhealthy", "UnHealthyHostCount", "Maximum"),
];

/// What one GetMetricData call tells of the two sides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideMetrics {
    /// Each side's periods; a period the load balancer saw no request in
    /// is left out.
    pub periods: Vec<PeriodFigures>,
    /// Each side's hosts in the latest period they were counted in.
    pub health: Vec<TargetHealth>,
}

/// A period's figures while they are read.
#[derive(Default)]
struct Read {
    requests: f64,
    target_5xx: f64,
    p99_seconds: Option<f64>,
    healthy: Option<f64>,
    unhealthy: Option<f64>,
}

/// The sides' metrics between `from` and `to` (Unix ms).
pub async fn periods(
    cloud: &Cloud,
    sides: &[SideDimensions],
    from: i64,
    to: i64,
) -> Result<SideMetrics, CloudError> {
    if sides.is_empty() {
        return Ok(SideMetrics::default());
    }
    let mut request = cloud
        .cloudwatch
        .get_metric_data()
        .start_time(DateTime::from_millis(from))
        .end_time(DateTime::from_millis(to));
    for side in sides {
        for (id, metric, stat) in FIGURES {
            request = request.metric_data_queries(query(side, id, metric, stat)?);
        }
    }
    let answer = request.send().await.map_err(cloud_error)?;
    // By side, then oldest first: a side's last count is its latest.
    let mut by_period: BTreeMap<(&str, i64), (Side, Read)> = BTreeMap::new();
    for result in answer.metric_data_results() {
        let Some((side, figure)) = result.id().and_then(parse_id) else {
            continue;
        };
        for (t, value) in result.timestamps().iter().zip(result.values()) {
            let Ok(start) = t.to_millis() else { continue };
            let (_, period) = by_period
                .entry((side.as_str(), start))
                .or_insert_with(|| (side, Read::default()));
            match figure {
                "requests" => period.requests = *value,
                "target5xx" => period.target_5xx = *value,
                "healthy" => period.healthy = Some(*value),
                "unhealthy" => period.unhealthy = Some(*value),
                _ => period.p99_seconds = Some(*value),
            }
        }
    }
    let mut metrics = SideMetrics::default();
    for ((_, start), (side, read)) in by_period {
        if let Some(healthy) = read.healthy {
            let health = TargetHealth {
                side,
                period_start: start,
                healthy,
                unhealthy: read.unhealthy.unwrap_or(0.0),
            };
            metrics.health.retain(|h| h.side != side);
            metrics.health.push(health);
        }
        if read.requests > 0.0 {
            metrics.periods.push(PeriodFigures {
                side,
                period_start: start,
                requests: read.requests,
                target_5xx: read.target_5xx,
                p99_seconds: read.p99_seconds,
            });
        }
    }
    Ok(metrics)
}

fn query(
    side: &SideDimensions,
    id: &str,
    metric: &str,
    stat: &str,
) -> Result<cw::MetricDataQuery, CloudError> {
    let dimension =
        |name: &str, value: &str| cw::Dimension::builder().name(name).value(value).build();
    let metric = cw::Metric::builder()
        .namespace(ALARM_NAMESPACE)
        .metric_name(metric)
        .dimensions(dimension("LoadBalancer", &side.load_balancer))
        .dimensions(dimension("TargetGroup", &side.target_group))
        .build();
    Ok(cw::MetricDataQuery::builder()
        .id(format!("{}_{id}", side.side.as_str()))
        .metric_stat(
            cw::MetricStat::builder()
                .metric(metric)
                .period(ALARM_PERIOD_SECONDS as i32)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build())
}

fn parse_id(id: &str) -> Option<(Side, &str)> {
    let (side, figure) = id.split_once('_')?;
    Some((Side::parse(side).ok()?, figure))
}
