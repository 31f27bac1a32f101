//! CloudWatch's names and the stored shape of a metric alarm, in the
//! spelling of botocore's `cloudwatch` model.

use serde::{Deserialize, Serialize};

aws_enum!(
    /// An alarm's state.
    StateValue, "state value",
    {
        Ok = "OK",
        Alarm = "ALARM",
        InsufficientData = "INSUFFICIENT_DATA",
    }
);

aws_enum!(
    /// How the statistic is compared with the threshold. The anomaly
    /// detection operators are in the model but need a band this local
    /// cloud does not compute; they are refused when an alarm is put.
    #[allow(clippy::enum_variant_names)] // AWS's names
    ComparisonOperator, "comparison operator",
    {
        GreaterThanOrEqualToThreshold = "GreaterThanOrEqualToThreshold",
        GreaterThanThreshold = "GreaterThanThreshold",
        LessThanThreshold = "LessThanThreshold",
        LessThanOrEqualToThreshold = "LessThanOrEqualToThreshold",
        LessThanLowerOrGreaterThanUpperThreshold = "LessThanLowerOrGreaterThanUpperThreshold",
        LessThanLowerThreshold = "LessThanLowerThreshold",
        GreaterThanUpperThreshold = "GreaterThanUpperThreshold",
    }
);

impl ComparisonOperator {
    /// Whether `value` is on the alarming side of `threshold`; `None` for
    /// the anomaly band operators.
    pub fn breaches(self, value: f64, threshold: f64) -> Option<bool> {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => Some(value >= threshold),
            ComparisonOperator::GreaterThanThreshold => Some(value > threshold),
            ComparisonOperator::LessThanThreshold => Some(value < threshold),
            ComparisonOperator::LessThanOrEqualToThreshold => Some(value <= threshold),
            _ => None,
        }
    }

    /// The words AWS uses in a state reason ("was greater than or equal
    /// to the threshold").
    pub fn phrase(self) -> &'static str {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => "greater than or equal to",
            ComparisonOperator::GreaterThanThreshold => "greater than",
            ComparisonOperator::LessThanThreshold => "less than",
            ComparisonOperator::LessThanOrEqualToThreshold => "less than or equal to",
            _ => "outside the band of",
        }
    }
}

aws_enum!(
    /// What a period without a datapoint counts as.
    TreatMissingData, "missing data treatment",
    {
        Breaching = "breaching",
        NotBreaching = "notBreaching",
        Ignore = "ignore",
        Missing = "missing",
    }
);

aws_enum!(
    /// The plain statistics (percentiles are extended statistics).
    Statistic, "statistic",
    {
        SampleCount = "SampleCount",
        Average = "Average",
        Sum = "Sum",
        Minimum = "Minimum",
        Maximum = "Maximum",
    }
);

aws_enum!(
    /// Kinds of alarm history items.
    HistoryItemType, "history item type",
    {
        ConfigurationUpdate = "ConfigurationUpdate",
        StateUpdate = "StateUpdate",
        Action = "Action",
        AlarmContributorStateUpdate = "AlarmContributorStateUpdate",
        AlarmContributorAction = "AlarmContributorAction",
    }
);

/// What an alarm or a query aggregates per period: a plain statistic or a
/// percentile (`p99`, `p99.9`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value")]
pub enum Aggregate {
    Statistic(Statistic),
    Percentile(f64),
}

impl Aggregate {
    /// An extended statistic as AWS spells it; only percentiles (`p0.0` to
    /// `p100`) are computed here.
    pub fn parse_extended(text: &str) -> Option<Aggregate> {
        let number = text.strip_prefix('p')?;
        let valid_digits = number
            .split_once('.')
            .map_or(number.len() <= 3, |(_, decimals)| decimals.len() <= 2);
        let value: f64 = number.parse().ok()?;
        ((0.0..=100.0).contains(&value) && valid_digits).then_some(Aggregate::Percentile(value))
    }

    /// The name a datapoint or an alarm carries.
    pub fn name(&self) -> String {
        match self {
            Aggregate::Statistic(statistic) => statistic.as_str().to_owned(),
            Aggregate::Percentile(p) => format!("p{p}"),
        }
    }
}

/// A metric's name and dimensions: what a datapoint belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MetricId {
    pub namespace: String,
    pub metric_name: String,
    /// Sorted by name, as a metric is the same whatever order they came in.
    pub dimensions: Vec<(String, String)>,
}

/// A metric alarm as PutMetricAlarm defined it, and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricAlarm {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric: MetricId,
    /// The statistic name as it was given (`Sum`, `p99`), kept for the answer.
    pub statistic_name: String,
    pub aggregate: Aggregate,
    pub extended: bool,
    pub period_seconds: u32,
    pub unit: Option<String>,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: Option<u32>,
    pub threshold: f64,
    pub comparison: ComparisonOperator,
    pub treat_missing_data: Option<TreatMissingData>,
    pub evaluate_low_sample_count_percentile: Option<String>,
    pub configuration_updated_at: i64,
    pub state: StateValue,
    pub state_reason: String,
    pub state_reason_data: Option<String>,
    pub state_updated_at: i64,
    /// When the state last changed value (a SetAlarmState to the same
    /// state updates `state_updated_at` only).
    pub state_transitioned_at: i64,
}

impl MetricAlarm {
    pub fn datapoints_to_alarm(&self) -> u32 {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods)
    }

    pub fn treat_missing(&self) -> TreatMissingData {
        self.treat_missing_data.unwrap_or(TreatMissingData::Missing)
    }
}

/// One entry of an alarm's history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlarmHistoryItem {
    pub alarm_name: String,
    pub at: i64,
    pub item_type: HistoryItemType,
    pub summary: String,
    /// JSON text, as DescribeAlarmHistory answers it.
    pub data: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_parse_as_aws_spells_them() {
        assert_eq!(
            Aggregate::parse_extended("p99"),
            Some(Aggregate::Percentile(99.0))
        );
        assert_eq!(
            Aggregate::parse_extended("p99.9"),
            Some(Aggregate::Percentile(99.9))
        );
        assert_eq!(
            Aggregate::parse_extended("p0"),
            Some(Aggregate::Percentile(0.0))
        );
        for bad in ["p101", "99", "p", "px", "p99.999", "tm99", "P99"] {
            assert_eq!(Aggregate::parse_extended(bad), None, "{bad}");
        }
        assert_eq!(Aggregate::Percentile(99.9).name(), "p99.9");
        assert_eq!(Aggregate::Percentile(99.0).name(), "p99");
    }

    #[test]
    fn comparisons() {
        use ComparisonOperator::*;
        assert_eq!(GreaterThanOrEqualToThreshold.breaches(1.0, 1.0), Some(true));
        assert_eq!(GreaterThanThreshold.breaches(1.0, 1.0), Some(false));
        assert_eq!(LessThanThreshold.breaches(0.5, 1.0), Some(true));
        assert_eq!(LessThanOrEqualToThreshold.breaches(1.0, 1.0), Some(true));
        assert_eq!(GreaterThanUpperThreshold.breaches(1.0, 1.0), None);
    }
}
