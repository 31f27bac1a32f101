//! The load balancer's metrics of a deployment's two sides, as the alarms
//! watch them: requests, target 5xx and p99 latency per one-minute period
//! of each target group, in one GetMetricData call.

use super::Cloud;
use super::deployments::{CloudError, cloud_error};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types as cw;
use std::collections::BTreeMap;
use switchyard_domain::environment::{ALARM_NAMESPACE, ALARM_PERIOD_SECONDS};
pub use switchyard_domain::environment::{PeriodFigures, Side};

/// A target group's metric dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideDimensions {
    pub side: Side,
    pub load_balancer: String,
    pub target_group: String,
}

const FIGURES: [(&str, &str, &str); 3] = [
    ("requests", "RequestCount", "Sum"),
    ("target5xx", "HTTPCode_Target_5XX_Count", "Sum"),
    ("p99", "TargetResponseTime", "p99"),
];

/// Each side's periods between `from` and `to` (Unix ms); a period the load
/// balancer saw no request in is left out.
pub async fn periods(
    cloud: &Cloud,
    sides: &[SideDimensions],
    from: i64,
    to: i64,
) -> Result<Vec<PeriodFigures>, CloudError> {
    if sides.is_empty() {
        return Ok(Vec::new());
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
    let mut by_period: BTreeMap<(&str, i64), PeriodFigures> = BTreeMap::new();
    for result in answer.metric_data_results() {
        let Some((side, figure)) = result.id().and_then(parse_id) else {
            continue;
        };
        for (t, value) in result.timestamps().iter().zip(result.values()) {
            let Ok(start) = t.to_millis() else { continue };
            let period = by_period
                .entry((side.as_str(), start))
                .or_insert(PeriodFigures {
                    side,
                    period_start: start,
                    requests: 0.0,
                    target_5xx: 0.0,
                    p99_seconds: None,
                });
            match figure {
                "requests" => period.requests = *value,
                "target5xx" => period.target_5xx = *value,
                _ => period.p99_seconds = Some(*value),
            }
        }
    }
    Ok(by_period
        .into_values()
        .filter(|p| p.requests > 0.0)
        .collect())
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
