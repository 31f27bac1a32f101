//! Metric alarms on the wire: PutMetricAlarm, DescribeAlarms, DeleteAlarms,
//! SetAlarmState and DescribeAlarmHistory. The evaluator (`engine`) moves
//! their states; every change lands in the alarm's history.

use super::model::{
    Aggregate, AlarmHistoryItem, ComparisonOperator, HistoryItemType, MetricAlarm, MetricId,
    StateValue, Statistic, TreatMissingData,
};
use crate::state::{CloudState, arn};
use crate::wire::{AwsError, Input, OpResult, epoch, paginate};
use serde_json::{Value, json};

/// CloudWatch's error for a parameter out of its range or format.
pub const INVALID: &str = "InvalidParameterValue";
const MISSING: &str = "MissingParameter";
const COMBINATION: &str = "InvalidParameterCombination";
const NOT_FOUND: &str = "ResourceNotFound";

/// History kept per alarm; older entries go first.
const HISTORY_PER_ALARM: usize = 100;

/// The longest an alarm may look back: one day, as AWS allows.
const MAX_EVALUATION_SECONDS: u64 = 86_400;

/// The units of CloudWatch's StandardUnit.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

pub fn put_metric_alarm(s: &mut CloudState, input: &Input, now: i64) -> OpResult {
    let definition = parse_alarm(input)?;
    let name = definition.name.clone();
    let created = match s.metric_alarms.get(&name) {
        // An update keeps where the alarm stands; the evaluator looks again.
        Some(existing) => {
            let updated = MetricAlarm {
                state: existing.state,
                state_reason: existing.state_reason.clone(),
                state_reason_data: existing.state_reason_data.clone(),
                state_updated_at: existing.state_updated_at,
                state_transitioned_at: existing.state_transitioned_at,
                ..definition
            };
            s.metric_alarms.insert(name.clone(), updated);
            false
        }
        None => {
            s.metric_alarms.insert(name.clone(), definition);
            true
        }
    };
    let alarm = &s.metric_alarms[&name];
    let (kind, key, verb) = if created {
        ("Create", "createdAlarm", "created")
    } else {
        ("Update", "updatedAlarm", "updated")
    };
    let data = json!({"version": "1.0", "type": kind, key: alarm_json(alarm)});
    record_history(
        s,
        AlarmHistoryItem {
            alarm_name: name.clone(),
            at: now,
            item_type: HistoryItemType::ConfigurationUpdate,
            summary: format!("Alarm \"{name}\" {verb}"),
            data: data.to_string(),
        },
    );
    Ok(json!({}))
}

/// The alarm PutMetricAlarm describes, new: INSUFFICIENT_DATA until the
/// evaluator has looked.
fn parse_alarm(input: &Input) -> Result<MetricAlarm, AwsError> {
    let name = bounded(input.required("AlarmName", MISSING)?, "AlarmName", 255)?;
    if !input.list("Metrics")?.is_empty() {
        return Err(AwsError::new(
            INVALID,
            "the local cloud evaluates alarms on one metric (Namespace, MetricName, Statistic); \
             metric math (Metrics) is not served",
        ));
    }
    if input.opt_str("ThresholdMetricId")?.is_some() {
        return Err(AwsError::new(
            INVALID,
            "anomaly detection alarms (ThresholdMetricId) are not served by the local cloud",
        ));
    }
    let metric = MetricId {
        namespace: bounded(input.required("Namespace", MISSING)?, "Namespace", 255)?.to_owned(),
        metric_name: bounded(input.required("MetricName", MISSING)?, "MetricName", 255)?.to_owned(),
        dimensions: dimensions(input)?,
    };
    let (statistic_name, aggregate, extended) = aggregate(input)?;
    let period_seconds = period(input)?;
    let evaluation_periods = positive(input, "EvaluationPeriods")?
        .ok_or_else(|| AwsError::new(MISSING, "EvaluationPeriods is required"))?;
    if u64::from(period_seconds) * u64::from(evaluation_periods) > MAX_EVALUATION_SECONDS {
        return Err(AwsError::new(
            INVALID,
            format!(
                "Period * EvaluationPeriods must not exceed {MAX_EVALUATION_SECONDS} seconds \
                 (got {period_seconds} * {evaluation_periods})"
            ),
        ));
    }
    let datapoints_to_alarm = positive(input, "DatapointsToAlarm")?;
    if datapoints_to_alarm.is_some_and(|m| m > evaluation_periods) {
        return Err(AwsError::new(
            INVALID,
            "DatapointsToAlarm must be less than or equal to EvaluationPeriods",
        ));
    }
    let comparison = comparison(input)?;
    let threshold = input
        .opt_f64("Threshold")?
        .ok_or_else(|| AwsError::new(MISSING, "Threshold is required"))?;
    let treat_missing_data = input
        .opt_str("TreatMissingData")?
        .map(|t| TreatMissingData::parse_field(t, "TreatMissingData", INVALID))
        .transpose()?;
    let unit = input.opt_str("Unit")?;
    if let Some(unit) = unit.filter(|u| !UNITS.contains(u)) {
        return Err(AwsError::new(
            INVALID,
            format!("Unit {unit:?} is not one of {}", UNITS.join(", ")),
        ));
    }
    let low_sample = input.opt_str("EvaluateLowSampleCountPercentile")?;
    if let Some(value) = low_sample.filter(|v| !["evaluate", "ignore"].contains(v)) {
        return Err(AwsError::new(
            INVALID,
            format!("EvaluateLowSampleCountPercentile must be evaluate or ignore (got {value:?})"),
        ));
    }
    if low_sample.is_some() && !extended {
        return Err(AwsError::new(
            COMBINATION,
            "EvaluateLowSampleCountPercentile applies to percentiles (ExtendedStatistic) only",
        ));
    }
    let now = crate::now_millis();
    Ok(MetricAlarm {
        arn: arn("cloudwatch", &format!("alarm:{name}")),
        name: name.to_owned(),
        description: input.opt_str("AlarmDescription")?.map(str::to_owned),
        actions_enabled: input.opt_bool("ActionsEnabled")?.unwrap_or(true),
        ok_actions: actions(input, "OKActions")?,
        alarm_actions: actions(input, "AlarmActions")?,
        insufficient_data_actions: actions(input, "InsufficientDataActions")?,
        metric,
        statistic_name,
        aggregate,
        extended,
        period_seconds,
        unit: unit.map(str::to_owned),
        evaluation_periods,
        datapoints_to_alarm,
        threshold,
        comparison,
        treat_missing_data,
        evaluate_low_sample_count_percentile: low_sample.map(str::to_owned),
        configuration_updated_at: now,
        state: StateValue::InsufficientData,
        state_reason: "Unchecked: Initial alarm creation".to_owned(),
        state_reason_data: None,
        state_updated_at: now,
        state_transitioned_at: now,
    })
}

fn bounded<'a>(value: &'a str, field: &str, max: usize) -> Result<&'a str, AwsError> {
    if value.chars().count() > max {
        return Err(AwsError::new(
            INVALID,
            format!("{field} must be at most {max} characters long"),
        ));
    }
    Ok(value)
}

/// Dimensions, sorted by name; at most 30, names unique.
pub fn dimensions(input: &Input) -> Result<Vec<(String, String)>, AwsError> {
    let items = input.list("Dimensions")?;
    if items.len() > 30 {
        return Err(AwsError::new(
            INVALID,
            "Dimensions can have at most 30 members",
        ));
    }
    let mut dimensions = Vec::with_capacity(items.len());
    for item in items {
        let Some(map) = item.as_object() else {
            return Err(AwsError::new(
                "SerializationException",
                "each dimension must be a structure with Name and Value",
            ));
        };
        let dimension = Input::new(map, INVALID);
        let name = bounded(dimension.required("Name", MISSING)?, "Dimension Name", 255)?;
        let value = bounded(
            dimension.required("Value", MISSING)?,
            "Dimension Value",
            1024,
        )?;
        dimensions.push((name.to_owned(), value.to_owned()));
    }
    dimensions.sort();
    if dimensions.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(AwsError::new(
            INVALID,
            "The collection Dimensions must not contain duplicate names",
        ));
    }
    Ok(dimensions)
}

/// Statistic or ExtendedStatistic, exactly one: its name as given, what it
/// computes, and whether it was extended.
fn aggregate(input: &Input) -> Result<(String, Aggregate, bool), AwsError> {
    match (
        input.opt_str("Statistic")?,
        input.opt_str("ExtendedStatistic")?,
    ) {
        (Some(_), Some(_)) => Err(AwsError::new(
            COMBINATION,
            "Statistic and ExtendedStatistic cannot both be given",
        )),
        (None, None) => Err(AwsError::new(
            MISSING,
            "one of Statistic and ExtendedStatistic is required",
        )),
        (Some(name), None) => {
            let statistic = Statistic::parse_field(name, "Statistic", INVALID)?;
            Ok((name.to_owned(), Aggregate::Statistic(statistic), false))
        }
        (None, Some(name)) => {
            let aggregate = Aggregate::parse_extended(name).ok_or_else(|| {
                AwsError::new(
                    INVALID,
                    format!(
                        "ExtendedStatistic {name:?} is not a percentile p0.0 to p100 \
                         (the local cloud computes percentiles only)"
                    ),
                )
            })?;
            Ok((name.to_owned(), aggregate, true))
        }
    }
}

/// A period: 10, 20 or 30 seconds (high resolution) or a multiple of 60.
pub fn period(input: &Input) -> Result<u32, AwsError> {
    let seconds =
        positive(input, "Period")?.ok_or_else(|| AwsError::new(MISSING, "Period is required"))?;
    if ![10, 20, 30].contains(&seconds) && seconds % 60 != 0 {
        return Err(AwsError::new(
            INVALID,
            format!("Period must be 10, 20, 30 or a multiple of 60 (got {seconds})"),
        ));
    }
    Ok(seconds)
}

fn positive(input: &Input, field: &str) -> Result<Option<u32>, AwsError> {
    match input.opt_i64(field)? {
        None => Ok(None),
        Some(n) if n >= 1 && n <= i64::from(u32::MAX) => Ok(Some(n as u32)),
        Some(n) => Err(AwsError::new(
            INVALID,
            format!("{field} must be at least 1 (got {n})"),
        )),
    }
}

fn comparison(input: &Input) -> Result<ComparisonOperator, AwsError> {
    let name = input.required("ComparisonOperator", MISSING)?;
    let operator = ComparisonOperator::parse_field(name, "ComparisonOperator", INVALID)?;
    if operator.breaches(0.0, 0.0).is_none() {
        return Err(AwsError::new(
            COMBINATION,
            format!(
                "ComparisonOperator {name} is for anomaly detection alarms, which the local \
                 cloud does not serve"
            ),
        ));
    }
    Ok(operator)
}

fn actions(input: &Input, field: &str) -> Result<Vec<String>, AwsError> {
    let actions = input.str_list_at_most(field, 5)?;
    Ok(actions.into_iter().map(str::to_owned).collect())
}

pub fn describe_alarms(s: &CloudState, input: &Input) -> OpResult {
    let names = input.str_list_at_most("AlarmNames", 100)?;
    let prefix = input.opt_str("AlarmNamePrefix")?;
    if !names.is_empty() && prefix.is_some() {
        return Err(AwsError::new(
            COMBINATION,
            "AlarmNames and AlarmNamePrefix cannot both be given",
        ));
    }
    let state = input
        .opt_str("StateValue")?
        .map(|v| StateValue::parse_field(v, "StateValue", INVALID))
        .transpose()?;
    let action_prefix = input.opt_str("ActionPrefix")?;
    let types = input.str_list("AlarmTypes")?;
    let metric_alarms_wanted = types.is_empty() || types.contains(&"MetricAlarm");
    let max = max_records(input)?;
    let matching: Vec<&MetricAlarm> = s
        .metric_alarms
        .values()
        .filter(|_| metric_alarms_wanted)
        .filter(|a| names.is_empty() || names.contains(&a.name.as_str()))
        .filter(|a| prefix.is_none_or(|p| a.name.starts_with(p)))
        .filter(|a| state.is_none_or(|v| a.state == v))
        .filter(|a| action_prefix.is_none_or(|p| has_action_with_prefix(a, p)))
        .collect();
    let (page, next) = paginate(&matching, input.opt_str("NextToken")?, max)
        .map_err(|_| AwsError::new("InvalidNextToken", "the next token is not valid"))?;
    let alarms: Vec<Value> = page.into_iter().map(alarm_json).collect();
    Ok(json!({"MetricAlarms": alarms, "CompositeAlarms": [], "NextToken": next}))
}

fn has_action_with_prefix(alarm: &MetricAlarm, prefix: &str) -> bool {
    [
        &alarm.ok_actions,
        &alarm.alarm_actions,
        &alarm.insufficient_data_actions,
    ]
    .into_iter()
    .flatten()
    .any(|a| a.starts_with(prefix))
}

fn max_records(input: &Input) -> Result<usize, AwsError> {
    let n = input.opt_i64("MaxRecords")?.unwrap_or(50);
    if !(1..=100).contains(&n) {
        return Err(AwsError::new(
            INVALID,
            format!("MaxRecords must be between 1 and 100 (got {n})"),
        ));
    }
    Ok(n as usize)
}

/// All or nothing: an unknown name deletes none, as AWS documents.
pub fn delete_alarms(s: &mut CloudState, input: &Input) -> OpResult {
    let names = input.str_list_at_most("AlarmNames", 100)?;
    if names.is_empty() {
        return Err(AwsError::new(MISSING, "AlarmNames is required"));
    }
    if let Some(unknown) = names.iter().find(|n| !s.metric_alarms.contains_key(**n)) {
        return Err(AwsError::new(
            NOT_FOUND,
            format!("Alarm {unknown} does not exist; no alarm was deleted"),
        ));
    }
    for name in &names {
        s.metric_alarms.remove(*name);
    }
    s.alarm_history
        .retain(|item| !names.contains(&item.alarm_name.as_str()));
    Ok(json!({}))
}

pub fn set_alarm_state(s: &mut CloudState, input: &Input, now: i64) -> OpResult {
    let name = input.required("AlarmName", MISSING)?;
    let state = StateValue::parse_field(
        input.required("StateValue", MISSING)?,
        "StateValue",
        INVALID,
    )?;
    let reason = bounded(input.required("StateReason", MISSING)?, "StateReason", 1023)?;
    let data = input.opt_str("StateReasonData")?;
    if let Some(data) = data {
        bounded(data, "StateReasonData", 4000)?;
        if serde_json::from_str::<Value>(data).is_err() {
            return Err(AwsError::new(
                "InvalidFormat",
                "StateReasonData is not valid JSON",
            ));
        }
    }
    if !s.metric_alarms.contains_key(name) {
        return Err(AwsError::new(
            NOT_FOUND,
            format!("Alarm {name} does not exist"),
        ));
    }
    record_state(s, name, state, reason, data.map(str::to_owned), now);
    Ok(json!({}))
}

/// Puts an alarm in `state` with its reason, and writes the history entry.
pub fn record_state(
    s: &mut CloudState,
    name: &str,
    state: StateValue,
    reason: &str,
    reason_data: Option<String>,
    now: i64,
) {
    let Some(alarm) = s.metric_alarms.get_mut(name) else {
        return;
    };
    let old = alarm.state;
    alarm.state = state;
    alarm.state_reason = reason.to_owned();
    alarm.state_reason_data = reason_data.clone();
    alarm.state_updated_at = now;
    if old != state {
        alarm.state_transitioned_at = now;
    }
    let data = json!({
        "version": "1.0",
        "oldState": {"stateValue": old, "stateReason": ""},
        "newState": {
            "stateValue": state,
            "stateReason": reason,
            "stateReasonData": reason_data.and_then(|d| serde_json::from_str::<Value>(&d).ok()),
        },
    });
    record_history(
        s,
        AlarmHistoryItem {
            alarm_name: name.to_owned(),
            at: now,
            item_type: HistoryItemType::StateUpdate,
            summary: format!("Alarm updated from {old} to {state}"),
            data: data.to_string(),
        },
    );
}

fn record_history(s: &mut CloudState, item: AlarmHistoryItem) {
    let name = item.alarm_name.clone();
    s.alarm_history.push(item);
    let kept = s
        .alarm_history
        .iter()
        .filter(|i| i.alarm_name == name)
        .count();
    if kept > HISTORY_PER_ALARM {
        let oldest = s
            .alarm_history
            .iter()
            .position(|i| i.alarm_name == name)
            .expect("counted above");
        s.alarm_history.remove(oldest);
    }
}

pub fn describe_alarm_history(s: &CloudState, input: &Input) -> OpResult {
    let name = input.opt_str("AlarmName")?;
    let item_type = input
        .opt_str("HistoryItemType")?
        .map(|t| HistoryItemType::parse_field(t, "HistoryItemType", INVALID))
        .transpose()?;
    let start = input.opt_f64("StartDate")?.map(|t| (t * 1000.0) as i64);
    let end = input.opt_f64("EndDate")?.map(|t| (t * 1000.0) as i64);
    let types = input.str_list("AlarmTypes")?;
    let metric_alarms_wanted = types.is_empty() || types.contains(&"MetricAlarm");
    let ascending = match input.opt_str("ScanBy")? {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(AwsError::new(
                INVALID,
                format!("ScanBy must be TimestampDescending or TimestampAscending (got {other:?})"),
            ));
        }
    };
    let mut items: Vec<&AlarmHistoryItem> = s
        .alarm_history
        .iter()
        .filter(|_| metric_alarms_wanted)
        .filter(|i| name.is_none_or(|n| i.alarm_name == n))
        .filter(|i| item_type.is_none_or(|t| i.item_type == t))
        .filter(|i| start.is_none_or(|t| i.at >= t) && end.is_none_or(|t| i.at <= t))
        .collect();
    if !ascending {
        items.reverse();
    }
    let (page, next) = paginate(&items, input.opt_str("NextToken")?, max_records(input)?)
        .map_err(|_| AwsError::new("InvalidNextToken", "the next token is not valid"))?;
    let items: Vec<Value> = page
        .into_iter()
        .map(|i| {
            json!({
                "AlarmName": i.alarm_name,
                "AlarmType": "MetricAlarm",
                "Timestamp": epoch(i.at),
                "HistoryItemType": i.item_type,
                "HistorySummary": i.summary,
                "HistoryData": i.data,
            })
        })
        .collect();
    Ok(json!({"AlarmHistoryItems": items, "NextToken": next}))
}

/// An alarm as DescribeAlarms answers it.
pub fn alarm_json(a: &MetricAlarm) -> Value {
    let dimensions: Vec<Value> = a
        .metric
        .dimensions
        .iter()
        .map(|(name, value)| json!({"Name": name, "Value": value}))
        .collect();
    let (statistic, extended) = if a.extended {
        (None, Some(&a.statistic_name))
    } else {
        (Some(&a.statistic_name), None)
    };
    json!({
        "AlarmName": a.name,
        "AlarmArn": a.arn,
        "AlarmDescription": a.description,
        "AlarmConfigurationUpdatedTimestamp": epoch(a.configuration_updated_at),
        "ActionsEnabled": a.actions_enabled,
        "OKActions": a.ok_actions,
        "AlarmActions": a.alarm_actions,
        "InsufficientDataActions": a.insufficient_data_actions,
        "StateValue": a.state,
        "StateReason": a.state_reason,
        "StateReasonData": a.state_reason_data,
        "StateUpdatedTimestamp": epoch(a.state_updated_at),
        "MetricName": a.metric.metric_name,
        "Namespace": a.metric.namespace,
        "Statistic": statistic,
        "ExtendedStatistic": extended,
        "Dimensions": dimensions,
        "Period": a.period_seconds,
        "Unit": a.unit,
        "EvaluationPeriods": a.evaluation_periods,
        "DatapointsToAlarm": a.datapoints_to_alarm,
        "Threshold": a.threshold,
        "ComparisonOperator": a.comparison,
        "TreatMissingData": a.treat_missing_data,
        "EvaluateLowSampleCountPercentile": a.evaluate_low_sample_count_percentile,
        "StateTransitionedTimestamp": epoch(a.state_transitioned_at),
    })
}
