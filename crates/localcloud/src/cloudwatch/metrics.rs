//! The load balancer's metrics as CloudWatch serves them: namespace
//! AWS/ApplicationELB, dimensions LoadBalancer (`app/NAME/ID`) and
//! TargetGroup (`targetgroup/NAME/ID`), statistics per period.
//! GetMetricStatistics, GetMetricData (MetricStat queries) and ListMetrics
//! read them; so does the alarm evaluator.
//!
//! The listeners record one-minute periods of the cloud's clock; a query's
//! period (cloud seconds) spans as many of them as it covers, and its
//! datapoints carry real timestamps, as every other time the local cloud
//! reports.

use super::alarms::{INVALID, dimensions, period};
use super::model::{Aggregate, MetricId, Statistic};
use crate::proxy::{PeriodFigures, TrafficMetrics};
use crate::runtime::BalancerTraffic;
use crate::state::CloudState;
use crate::wire::{AwsError, Input, OpResult, epoch};
use crate::{Clock, LocalCloud};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub const ELB_NAMESPACE: &str = "AWS/ApplicationELB";
const LOAD_BALANCER: &str = "LoadBalancer";
const TARGET_GROUP: &str = "TargetGroup";

/// The most datapoints one GetMetricStatistics answers, as AWS limits it.
const MAX_STATISTICS_DATAPOINTS: i64 = 1440;
const MAX_QUERIES: usize = 500;

aws_enum!(
    /// What the local load balancer reports, in AWS's names.
    ElbMetric, "metric name",
    {
        RequestCount = "RequestCount",
        Target2xx = "HTTPCode_Target_2XX_Count",
        Target3xx = "HTTPCode_Target_3XX_Count",
        Target4xx = "HTTPCode_Target_4XX_Count",
        Target5xx = "HTTPCode_Target_5XX_Count",
        Elb5xx = "HTTPCode_ELB_5XX_Count",
        TargetResponseTime = "TargetResponseTime",
        HealthyHostCount = "HealthyHostCount",
        UnHealthyHostCount = "UnHealthyHostCount",
    }
);

impl ElbMetric {
    fn unit(self) -> &'static str {
        match self {
            ElbMetric::TargetResponseTime => "Seconds",
            _ => "Count",
        }
    }

    /// Host counts exist per target group only, as on AWS.
    fn per_target_group_only(self) -> bool {
        matches!(
            self,
            ElbMetric::HealthyHostCount | ElbMetric::UnHealthyHostCount
        )
    }

    /// This metric's samples in one period: how many, their sum, least,
    /// greatest, and a percentile. Count metrics are one sample of 1 per
    /// request, as ALB reports them (AWS: "Minimum, Maximum, and Average
    /// all return 1"); a period without any is no datapoint.
    fn value(self, figures: &PeriodFigures, aggregate: Aggregate) -> Option<f64> {
        let count = match self {
            ElbMetric::RequestCount => figures.requests,
            ElbMetric::Target2xx => figures.target_2xx,
            ElbMetric::Target3xx => figures.target_3xx,
            ElbMetric::Target4xx => figures.target_4xx,
            ElbMetric::Target5xx => figures.target_5xx,
            ElbMetric::Elb5xx => figures.elb_5xx,
            ElbMetric::TargetResponseTime => {
                let d = &figures.response_time;
                return (d.count > 0)
                    .then(|| pick(aggregate, d.count, d.sum, d.min, d.max, |p| d.percentile(p)))?;
            }
            ElbMetric::HealthyHostCount | ElbMetric::UnHealthyHostCount => {
                let g = if self == ElbMetric::HealthyHostCount {
                    &figures.healthy_hosts
                } else {
                    &figures.unhealthy_hosts
                };
                // Gauge samples keep no distribution: the ends are exact,
                // a percentile between them is the mean.
                return (g.samples > 0).then(|| {
                    pick(aggregate, g.samples, g.sum, g.min, g.max, |p| {
                        Some(if p <= 0.0 {
                            g.min
                        } else if p >= 100.0 {
                            g.max
                        } else {
                            g.sum / g.samples as f64
                        })
                    })
                })?;
            }
        };
        (count > 0).then(|| pick(aggregate, count, count as f64, 1.0, 1.0, |_| Some(1.0)))?
    }
}

fn pick(
    aggregate: Aggregate,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    percentile: impl Fn(f64) -> Option<f64>,
) -> Option<f64> {
    match aggregate {
        Aggregate::Statistic(Statistic::SampleCount) => Some(count as f64),
        Aggregate::Statistic(Statistic::Sum) => Some(sum),
        Aggregate::Statistic(Statistic::Average) => Some(sum / count as f64),
        Aggregate::Statistic(Statistic::Minimum) => Some(min),
        Aggregate::Statistic(Statistic::Maximum) => Some(max),
        Aggregate::Percentile(p) => percentile(p),
    }
}

/// One metric's figures: the recorders to add up, and which metric.
pub struct Series {
    metric: ElbMetric,
    recorders: Vec<Arc<TrafficMetrics>>,
}

/// A time window in real epoch millis and the period (real millis) it is
/// cut into.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
    pub period_ms: i64,
}

impl Window {
    /// The window of a query with `period_seconds` of cloud time.
    pub fn new(clock: Clock, from_ms: i64, to_ms: i64, period_seconds: u32) -> Window {
        let period_ms = clock
            .minutes_to_real_millis(f64::from(period_seconds) / 60.0)
            .max(1);
        Window {
            from_ms,
            to_ms,
            period_ms,
        }
    }
}

impl Series {
    /// The figures of each period of `window` that has any, oldest first.
    pub fn periods(&self, window: Window) -> Vec<(i64, PeriodFigures)> {
        let mut periods: Vec<(i64, PeriodFigures)> = Vec::new();
        let from = window.from_ms.div_euclid(window.period_ms) * window.period_ms;
        for recorder in &self.recorders {
            for figures in recorder.periods(from, window.to_ms) {
                let start = figures.start_ms.div_euclid(window.period_ms) * window.period_ms;
                match periods.iter_mut().find(|(s, _)| *s == start) {
                    Some((_, sum)) => sum.merge(&figures),
                    None => periods.push((start, figures)),
                }
            }
        }
        periods.retain(|(start, _)| *start >= from && *start < window.to_ms);
        periods.sort_by_key(|(start, _)| *start);
        periods
    }

    /// The datapoints of `aggregate` in `window`, oldest first.
    pub fn datapoints(&self, window: Window, aggregate: Aggregate) -> Vec<(i64, f64)> {
        self.periods(window)
            .into_iter()
            .filter_map(|(start, figures)| {
                self.metric
                    .value(&figures, aggregate)
                    .map(|value| (start, value))
            })
            .collect()
    }

    pub fn unit(&self) -> &'static str {
        self.metric.unit()
    }
}

/// The recorders behind `id`; `None` for a metric the local cloud does not
/// have (another namespace, an unknown name or dimension set): no data, as
/// CloudWatch answers for a metric nobody published.
pub fn series(state: &CloudState, traffic: &[BalancerTraffic], id: &MetricId) -> Option<Series> {
    if id.namespace != ELB_NAMESPACE {
        return None;
    }
    let metric = ElbMetric::parse(&id.metric_name)?;
    let value_of = |name: &str| {
        id.dimensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let load_balancer = value_of(LOAD_BALANCER)?;
    let target_group = value_of(TARGET_GROUP);
    let expected_dimensions = 1 + usize::from(target_group.is_some());
    if id.dimensions.len() != expected_dimensions
        || (target_group.is_none() && metric.per_target_group_only())
    {
        return None;
    }
    let balancer = state
        .load_balancers
        .values()
        .find(|lb| dimension_value(&lb.arn, "loadbalancer/") == load_balancer)?;
    let running = traffic.iter().find(|t| t.load_balancer == balancer.name)?;
    let recorders = match target_group {
        Some(wanted) => running
            .target_groups
            .iter()
            .filter(|(arn, _)| dimension_value(arn, "") == wanted)
            .map(|(_, metrics)| metrics.clone())
            .collect::<Vec<_>>(),
        None => running
            .target_groups
            .iter()
            .map(|(_, metrics)| metrics.clone())
            .chain(running.unrouted.iter().cloned())
            .collect(),
    };
    (!recorders.is_empty()).then_some(Series { metric, recorders })
}

/// The dimension value of a load balancer or target group ARN: what follows
/// the resource type (`app/NAME/ID`, `targetgroup/NAME/ID`).
fn dimension_value<'a>(arn: &'a str, after: &str) -> &'a str {
    let resource = arn.rsplit(':').next().unwrap_or(arn);
    resource.strip_prefix(after).unwrap_or(resource)
}

/// Every metric with data in the window kept, for ListMetrics.
fn published(state: &CloudState, traffic: &[BalancerTraffic]) -> Vec<MetricId> {
    let mut metrics = Vec::new();
    for running in traffic {
        let Some(balancer) = state.load_balancers.get(&running.load_balancer) else {
            continue;
        };
        let lb = dimension_value(&balancer.arn, "loadbalancer/").to_owned();
        let mut everything = PeriodFigures::default();
        for (arn, recorder) in &running.target_groups {
            let mut group = PeriodFigures::default();
            for figures in recorder.periods(0, i64::MAX) {
                group.merge(&figures);
            }
            let dims = vec![
                (LOAD_BALANCER.to_owned(), lb.clone()),
                (TARGET_GROUP.to_owned(), dimension_value(arn, "").to_owned()),
            ];
            metrics.extend(with_data(&group, &dims, true));
            everything.merge(&group);
        }
        for recorder in &running.unrouted {
            for figures in recorder.periods(0, i64::MAX) {
                everything.merge(&figures);
            }
        }
        metrics.extend(with_data(
            &everything,
            &[(LOAD_BALANCER.to_owned(), lb)],
            false,
        ));
    }
    metrics.sort();
    metrics
}

fn with_data(
    figures: &PeriodFigures,
    dimensions: &[(String, String)],
    per_group: bool,
) -> Vec<MetricId> {
    let mut dimensions = dimensions.to_vec();
    dimensions.sort();
    ElbMetric::ALL
        .iter()
        .filter(|m| per_group || !m.per_target_group_only())
        .filter(|m| {
            m.value(figures, Aggregate::Statistic(Statistic::SampleCount))
                .is_some()
        })
        .map(|m| MetricId {
            namespace: ELB_NAMESPACE.to_owned(),
            metric_name: m.as_str().to_owned(),
            dimensions: dimensions.clone(),
        })
        .collect()
}

/// The state and the running listeners' recorders, read together.
fn with_traffic<T>(cloud: &LocalCloud, f: impl FnOnce(&CloudState, &[BalancerTraffic]) -> T) -> T {
    let traffic = cloud.runtime.traffic();
    cloud.read(|s| f(s, &traffic))
}

fn time(input: &Input, field: &str) -> Result<i64, AwsError> {
    let seconds = input
        .opt_f64(field)?
        .ok_or_else(|| AwsError::new("MissingParameter", format!("{field} is required")))?;
    Ok((seconds * 1000.0) as i64)
}

fn time_range(input: &Input) -> Result<(i64, i64), AwsError> {
    let (from, to) = (time(input, "StartTime")?, time(input, "EndTime")?);
    if from >= to {
        return Err(AwsError::new(
            INVALID,
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    Ok((from, to))
}

pub fn get_metric_statistics(cloud: &LocalCloud, input: &Input) -> OpResult {
    let id = MetricId {
        namespace: input.required("Namespace", "MissingParameter")?.to_owned(),
        metric_name: input.required("MetricName", "MissingParameter")?.to_owned(),
        dimensions: dimensions(input)?,
    };
    let (from, to) = time_range(input)?;
    let period_seconds = period(input)?;
    let statistics = input
        .str_list("Statistics")?
        .into_iter()
        .map(|s| Statistic::parse_field(s, "Statistics", INVALID))
        .collect::<Result<Vec<_>, _>>()?;
    let extended = input
        .str_list("ExtendedStatistics")?
        .into_iter()
        .map(|s| {
            Aggregate::parse_extended(s)
                .map(|a| (s, a))
                .ok_or_else(|| AwsError::new(INVALID, format!("{s:?} is not a percentile")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if statistics.is_empty() == extended.is_empty() {
        return Err(AwsError::new(
            "InvalidParameterCombination",
            "exactly one of Statistics and ExtendedStatistics is required",
        ));
    }
    let requested = (to - from) / 1000 / i64::from(period_seconds);
    if requested > MAX_STATISTICS_DATAPOINTS {
        return Err(AwsError::new(
            "InvalidParameterCombination",
            format!(
                "You have requested up to {requested} datapoints, which exceeds the limit of \
                 {MAX_STATISTICS_DATAPOINTS}."
            ),
        ));
    }
    let unit = input.opt_str("Unit")?;
    let window = Window::new(cloud.clock(), from, to, period_seconds);
    let datapoints = with_traffic(cloud, |s, traffic| {
        let Some(series) = series(s, traffic, &id).filter(|s| unit.is_none_or(|u| u == s.unit()))
        else {
            return Vec::new();
        };
        series
            .periods(window)
            .into_iter()
            .filter_map(|(start, figures)| {
                statistics_datapoint(&series, start, &figures, &statistics, &extended)
            })
            .collect()
    });
    Ok(json!({"Label": id.metric_name, "Datapoints": datapoints}))
}

fn statistics_datapoint(
    series: &Series,
    start: i64,
    figures: &PeriodFigures,
    statistics: &[Statistic],
    extended: &[(&str, Aggregate)],
) -> Option<Value> {
    let mut point = Map::new();
    point.insert("Timestamp".into(), epoch(start));
    for statistic in statistics {
        let value = series
            .metric
            .value(figures, Aggregate::Statistic(*statistic))?;
        point.insert(statistic.as_str().into(), json!(value));
    }
    if !extended.is_empty() {
        let mut values = Map::new();
        for (name, aggregate) in extended {
            let value = series.metric.value(figures, *aggregate)?;
            values.insert((*name).to_owned(), json!(value));
        }
        point.insert("ExtendedStatistics".into(), Value::Object(values));
    }
    point.insert("Unit".into(), json!(series.unit()));
    Some(Value::Object(point))
}

/// One MetricStat query of GetMetricData.
struct Query {
    id: String,
    label: Option<String>,
    metric: MetricId,
    period_seconds: u32,
    stat: Aggregate,
    unit: Option<String>,
    return_data: bool,
}

pub fn get_metric_data(cloud: &LocalCloud, input: &Input) -> OpResult {
    let (from, to) = time_range(input)?;
    let descending = match input.opt_str("ScanBy")? {
        None | Some("TimestampDescending") => true,
        Some("TimestampAscending") => false,
        Some(other) => {
            return Err(AwsError::new(
                INVALID,
                format!("ScanBy must be TimestampDescending or TimestampAscending (got {other:?})"),
            ));
        }
    };
    let items = input.list("MetricDataQueries")?;
    if items.is_empty() || items.len() > MAX_QUERIES {
        return Err(AwsError::new(
            INVALID,
            format!("MetricDataQueries must have 1 to {MAX_QUERIES} members"),
        ));
    }
    let queries = items
        .iter()
        .map(|item| parse_query(item, input.invalid))
        .collect::<Result<Vec<_>, _>>()?;
    let results = with_traffic(cloud, |s, traffic| {
        queries
            .iter()
            .filter(|q| q.return_data)
            .map(|q| query_result(cloud.clock(), s, traffic, q, (from, to), descending))
            .collect::<Vec<_>>()
    });
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

fn parse_query(item: &Value, invalid: &'static str) -> Result<Query, AwsError> {
    let map = item
        .as_object()
        .ok_or_else(|| AwsError::new("SerializationException", "each query must be a structure"))?;
    let query = Input::new(map, invalid);
    let id = query.required("Id", "MissingParameter")?;
    let valid_id = id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_id {
        return Err(AwsError::new(
            INVALID,
            format!(
                "Id {id:?} must start with a lowercase letter and hold only letters, digits and _"
            ),
        ));
    }
    if query.opt_str("Expression")?.is_some() {
        return Err(AwsError::new(
            INVALID,
            format!(
                "query {id}: metric math (Expression) is not served by the local cloud; use \
                 MetricStat queries"
            ),
        ));
    }
    let stat_input = query.nested("MetricStat")?.ok_or_else(|| {
        AwsError::new(
            "MissingParameter",
            format!("query {id}: MetricStat is required"),
        )
    })?;
    let metric_input = stat_input.nested("Metric")?.ok_or_else(|| {
        AwsError::new(
            "MissingParameter",
            format!("query {id}: Metric is required"),
        )
    })?;
    let stat_name = stat_input.required("Stat", "MissingParameter")?;
    let stat = Statistic::parse(stat_name)
        .map(Aggregate::Statistic)
        .or_else(|| Aggregate::parse_extended(stat_name))
        .ok_or_else(|| {
            AwsError::new(
                INVALID,
                format!("query {id}: Stat {stat_name:?} is not a statistic or percentile"),
            )
        })?;
    Ok(Query {
        id: id.to_owned(),
        label: query.opt_str("Label")?.map(str::to_owned),
        metric: MetricId {
            namespace: metric_input
                .required("Namespace", "MissingParameter")?
                .to_owned(),
            metric_name: metric_input
                .required("MetricName", "MissingParameter")?
                .to_owned(),
            dimensions: dimensions(&metric_input)?,
        },
        period_seconds: period(&stat_input)?,
        stat,
        unit: stat_input.opt_str("Unit")?.map(str::to_owned),
        return_data: query.opt_bool("ReturnData")?.unwrap_or(true),
    })
}

fn query_result(
    clock: Clock,
    state: &CloudState,
    traffic: &[BalancerTraffic],
    query: &Query,
    (from, to): (i64, i64),
    descending: bool,
) -> Value {
    let window = Window::new(clock, from, to, query.period_seconds);
    let mut points = series(state, traffic, &query.metric)
        .filter(|s| query.unit.as_deref().is_none_or(|u| u == s.unit()))
        .map(|s| s.datapoints(window, query.stat))
        .unwrap_or_default();
    if descending {
        points.reverse();
    }
    let timestamps: Vec<Value> = points.iter().map(|(t, _)| epoch(*t)).collect();
    let values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    json!({
        "Id": query.id,
        "Label": query.label.clone().unwrap_or_else(|| query.metric.metric_name.clone()),
        "Timestamps": timestamps,
        "Values": values,
        "StatusCode": "Complete",
    })
}

pub fn list_metrics(cloud: &LocalCloud, input: &Input) -> OpResult {
    let namespace = input.opt_str("Namespace")?;
    let name = input.opt_str("MetricName")?;
    let mut filters = Vec::new();
    for item in input.list("Dimensions")? {
        let map = item.as_object().ok_or_else(|| {
            AwsError::new(
                "SerializationException",
                "each dimension filter must be a structure",
            )
        })?;
        let filter = Input::new(map, INVALID);
        filters.push((
            filter.required("Name", "MissingParameter")?.to_owned(),
            filter.opt_str("Value")?.map(str::to_owned),
        ));
    }
    let metrics = with_traffic(cloud, published);
    let matching: Vec<Value> = metrics
        .into_iter()
        .filter(|m| namespace.is_none_or(|n| m.namespace == n))
        .filter(|m| name.is_none_or(|n| m.metric_name == n))
        .filter(|m| {
            filters.iter().all(|(fname, fvalue)| {
                m.dimensions
                    .iter()
                    .any(|(n, v)| n == fname && fvalue.as_ref().is_none_or(|fv| fv == v))
            })
        })
        .map(|m| {
            let dims: Vec<Value> = m
                .dimensions
                .iter()
                .map(|(n, v)| json!({"Name": n, "Value": v}))
                .collect();
            json!({"Namespace": m.namespace, "MetricName": m.metric_name, "Dimensions": dims})
        })
        .collect();
    let (page, next) = crate::wire::paginate(&matching, input.opt_str("NextToken")?, 500)
        .map_err(|_| AwsError::new("InvalidNextToken", "the next token is not valid"))?;
    Ok(json!({"Metrics": page, "NextToken": next}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_values_are_the_resource_after_its_type() {
        assert_eq!(
            dimension_value(
                "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123",
                "loadbalancer/"
            ),
            "app/web/0123"
        );
        assert_eq!(
            dimension_value(
                "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/blue/89ab",
                ""
            ),
            "targetgroup/blue/89ab"
        );
    }

    #[test]
    fn count_metrics_are_samples_of_one() {
        let figures = PeriodFigures {
            requests: 10,
            target_5xx: 3,
            ..PeriodFigures::default()
        };
        let sum = Aggregate::Statistic(Statistic::Sum);
        let avg = Aggregate::Statistic(Statistic::Average);
        assert_eq!(ElbMetric::Target5xx.value(&figures, sum), Some(3.0));
        assert_eq!(ElbMetric::Target5xx.value(&figures, avg), Some(1.0));
        assert_eq!(
            ElbMetric::Target4xx.value(&figures, sum),
            None,
            "no 4XX answers is no datapoint, as ALB reports"
        );
    }
}
