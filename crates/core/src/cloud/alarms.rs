//! The CloudWatch alarms that guard deployments: made with a local stack,
//! changed with the environment's thresholds, and read while a deployment
//! runs (their states, and their changes from the alarm history, so an
//! alarm that was in ALARM between two readings is not missed).

use super::Cloud;
use super::deployments::{CloudError, cloud_error};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types as cw;
use switchyard_domain::environment::{
    ALARM_NAMESPACE, ALARM_PERIOD_SECONDS, AlarmSpec, AlarmState, AlarmStateChange,
};

/// Creates or replaces each alarm (PutMetricAlarm does both).
pub async fn put(cloud: &Cloud, alarms: &[AlarmSpec]) -> Result<(), CloudError> {
    for alarm in alarms {
        let statistic = cw::Statistic::from(alarm.statistic.as_str());
        cloud
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&alarm.name)
            .alarm_description(&alarm.description)
            .namespace(ALARM_NAMESPACE)
            .metric_name(alarm.metric_name)
            .statistic(statistic)
            .period(ALARM_PERIOD_SECONDS as i32)
            .evaluation_periods(alarm.evaluation_periods as i32)
            .threshold(alarm.threshold)
            .comparison_operator(cw::ComparisonOperator::GreaterThanOrEqualToThreshold)
            .treat_missing_data("notBreaching")
            .set_dimensions(Some(
                alarm
                    .dimensions
                    .iter()
                    .map(|d| {
                        cw::Dimension::builder()
                            .name(d.name)
                            .value(&d.value)
                            .build()
                    })
                    .collect(),
            ))
            .send()
            .await
            .map_err(cloud_error)?;
    }
    Ok(())
}

/// Deletes the alarms named; those already gone are fine.
pub async fn delete(cloud: &Cloud, names: &[String]) -> Result<(), CloudError> {
    for name in names {
        let deleted = cloud
            .cloudwatch
            .delete_alarms()
            .alarm_names(name)
            .send()
            .await
            .map_err(cloud_error);
        match deleted {
            Err(e) if e.code.as_deref() == Some("ResourceNotFound") => {}
            other => other.map(|_| ())?,
        }
    }
    Ok(())
}

/// An alarm's state now, and when it last changed (Unix ms).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmNow {
    pub name: String,
    pub state: AlarmState,
    pub updated_at: i64,
}

/// The states of the alarms named (100 per call, as DescribeAlarms takes
/// them); an alarm that does not exist is left out.
pub async fn states(cloud: &Cloud, names: &[String]) -> Result<Vec<AlarmNow>, CloudError> {
    let mut found = Vec::new();
    for chunk in names.chunks(100) {
        let answer = cloud
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .alarm_types(cw::AlarmType::MetricAlarm)
            .send()
            .await
            .map_err(cloud_error)?;
        for alarm in answer.metric_alarms() {
            let state = alarm.state_value().map_or("", |s| s.as_str());
            found.push(AlarmNow {
                name: alarm.alarm_name().unwrap_or_default().to_owned(),
                state: parse_state(state)?,
                updated_at: millis(alarm.state_updated_timestamp()).unwrap_or(0),
            });
        }
    }
    Ok(found)
}

/// An alarm's state changes since `since` (Unix ms), oldest first.
pub async fn history(
    cloud: &Cloud,
    name: &str,
    since: i64,
) -> Result<Vec<AlarmStateChange>, CloudError> {
    let answer = cloud
        .cloudwatch
        .describe_alarm_history()
        .alarm_name(name)
        .history_item_type(cw::HistoryItemType::StateUpdate)
        .start_date(DateTime::from_millis(since))
        .end_date(DateTime::from_millis(crate::store::now_millis() + 60_000))
        .scan_by(cw::ScanBy::TimestampAscending)
        .send()
        .await
        .map_err(cloud_error)?;
    answer
        .alarm_history_items()
        .iter()
        .filter_map(|item| {
            let data: serde_json::Value = serde_json::from_str(item.history_data()?).ok()?;
            let state = data["newState"]["stateValue"].as_str()?.to_owned();
            let reason = data["newState"]["stateReason"]
                .as_str()
                .unwrap_or_else(|| item.history_summary().unwrap_or_default())
                .to_owned();
            Some((millis(item.timestamp())?, state, reason))
        })
        .map(|(at, state, reason)| {
            Ok(AlarmStateChange {
                at,
                state: parse_state(&state)?,
                reason,
            })
        })
        .collect()
}

fn parse_state(value: &str) -> Result<AlarmState, CloudError> {
    AlarmState::parse(value).map_err(|e| CloudError {
        code: None,
        message: e.0,
    })
}

fn millis(t: Option<&DateTime>) -> Option<i64> {
    t.and_then(|t| t.to_millis().ok())
}
