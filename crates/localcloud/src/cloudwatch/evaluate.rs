//! Alarm evaluation as CloudWatch documents it ("Evaluating an alarm",
//! "Configuring how CloudWatch alarms treat missing data"): of the last
//! EvaluationPeriods periods, DatapointsToAlarm breaching ones put the alarm
//! in ALARM. Missing periods count as TreatMissingData says; with `missing`
//! and `ignore` the alarm looks back over a longer evaluation range for the
//! most recent datapoints that exist, and when fewer than DatapointsToAlarm
//! exist and all of them breach, `missing` alarms and `ignore` keeps the
//! state. Pure: no clock, no I/O.

use super::model::{ComparisonOperator, StateValue, TreatMissingData};
use serde_json::json;

/// Periods further back than EvaluationPeriods that `missing` and `ignore`
/// look at for datapoints that exist (AWS's evaluation range is larger
/// than the evaluation periods; its own example looks at five for three).
pub const EXTRA_RANGE: u32 = 2;

/// The alarm's rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub comparison: ComparisonOperator,
    pub threshold: f64,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub treat_missing: TreatMissingData,
}

impl Rule {
    /// How many periods, counted back from the newest complete one, the
    /// evaluation needs.
    pub fn range(&self) -> u32 {
        match self.treat_missing {
            TreatMissingData::Missing | TreatMissingData::Ignore => {
                self.evaluation_periods + EXTRA_RANGE
            }
            TreatMissingData::Breaching | TreatMissingData::NotBreaching => self.evaluation_periods,
        }
    }

    fn breaches(&self, value: f64) -> bool {
        self.comparison
            .breaches(value, self.threshold)
            .unwrap_or(false)
    }
}

/// One period of the evaluation range: its start and its datapoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    pub start_ms: i64,
    pub value: Option<f64>,
}

/// What the periods say.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The state the alarm should be in; `None`: keep the current one.
    pub state: Option<StateValue>,
    /// The datapoints that decided, newest first.
    pub decided_by: Vec<Period>,
    pub breaching: u32,
}

/// Evaluates `range` (oldest first, ending with the newest complete period).
pub fn evaluate(rule: &Rule, range: &[Period]) -> Evaluation {
    let n = rule.evaluation_periods as usize;
    let m = rule.datapoints_to_alarm;
    match rule.treat_missing {
        TreatMissingData::Breaching | TreatMissingData::NotBreaching => {
            let missing_breaches = rule.treat_missing == TreatMissingData::Breaching;
            let last: Vec<Period> = range.iter().rev().take(n).copied().collect();
            let breaching = last
                .iter()
                .filter(|p| p.value.map_or(missing_breaches, |v| rule.breaches(v)))
                .count() as u32;
            let state = if breaching >= m {
                StateValue::Alarm
            } else {
                StateValue::Ok
            };
            Evaluation {
                state: Some(state),
                decided_by: last,
                breaching,
            }
        }
        TreatMissingData::Missing | TreatMissingData::Ignore => {
            let present: Vec<Period> = range
                .iter()
                .rev()
                .filter(|p| p.value.is_some())
                .take(n)
                .copied()
                .collect();
            let breaching = present
                .iter()
                .filter(|p| p.value.is_some_and(|v| rule.breaches(v)))
                .count() as u32;
            let all_breach = breaching as usize == present.len();
            let keep = rule.treat_missing == TreatMissingData::Ignore;
            let state = if present.is_empty() {
                (!keep).then_some(StateValue::InsufficientData)
            } else if breaching >= m {
                Some(StateValue::Alarm)
            } else if all_breach {
                (!keep).then_some(StateValue::Alarm)
            } else {
                Some(StateValue::Ok)
            };
            Evaluation {
                state,
                decided_by: present,
                breaching,
            }
        }
    }
}

/// The state reason AWS writes for a transition, e.g. "Threshold Crossed:
/// 2 out of the last 3 datapoints [5.0 (06/12/26 17:21:00), ...] were
/// greater than or equal to the threshold (1.0) (minimum 2 datapoints for
/// OK -> ALARM transition)."
pub fn reason(rule: &Rule, evaluation: &Evaluation, from: StateValue, to: StateValue) -> String {
    if to == StateValue::InsufficientData {
        return format!(
            "Insufficient Data: {} datapoints were unknown.",
            rule.evaluation_periods
        );
    }
    let points: Vec<String> = evaluation
        .decided_by
        .iter()
        .filter_map(|p| {
            p.value
                .map(|v| format!("{} ({})", number(v), period_time(p.start_ms)))
        })
        .collect();
    let considered = evaluation.decided_by.len();
    let (count, negation) = if to == StateValue::Alarm {
        (evaluation.breaching as usize, "")
    } else {
        (considered - evaluation.breaching as usize, "not ")
    };
    let plural = |n: usize| if n == 1 { "datapoint" } else { "datapoints" };
    let verb = if count == 1 { "was" } else { "were" };
    format!(
        "Threshold Crossed: {count} out of the last {considered} {} [{}] {verb} {negation}{} the \
         threshold ({}) (minimum {} {} for {} -> {} transition).",
        plural(considered),
        points.join(", "),
        rule.comparison.phrase(),
        number(rule.threshold),
        rule.datapoints_to_alarm,
        plural(rule.datapoints_to_alarm as usize),
        from,
        to,
    )
}

/// The JSON AWS puts in StateReasonData for a threshold alarm.
pub fn reason_data(
    rule: &Rule,
    evaluation: &Evaluation,
    statistic: &str,
    period_seconds: u32,
    now_ms: i64,
) -> String {
    let recent: Vec<f64> = evaluation
        .decided_by
        .iter()
        .filter_map(|p| p.value)
        .collect();
    let evaluated: Vec<serde_json::Value> = evaluation
        .decided_by
        .iter()
        .map(|p| match p.value {
            Some(v) => json!({"timestamp": iso(p.start_ms), "value": v}),
            None => json!({"timestamp": iso(p.start_ms)}),
        })
        .collect();
    let start = evaluation.decided_by.last().map_or(now_ms, |p| p.start_ms);
    json!({
        "version": "1.0",
        "queryDate": iso(now_ms),
        "startDate": iso(start),
        "statistic": statistic,
        "period": period_seconds,
        "recentDatapoints": recent,
        "threshold": rule.threshold,
        "evaluatedDatapoints": evaluated,
    })
    .to_string()
}

/// A number as AWS prints it in reasons: always with a decimal point.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else {
        value.to_string()
    }
}

fn period_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%d/%m/%y %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Periods from a picture, oldest first: `X` breaching (5.0), `0` not
    /// breaching (0.0), `-` missing.
    fn periods(picture: &str) -> Vec<Period> {
        picture
            .split_whitespace()
            .enumerate()
            .map(|(i, p)| Period {
                start_ms: i as i64 * 60_000,
                value: match p {
                    "X" => Some(5.0),
                    "0" => Some(0.0),
                    _ => None,
                },
            })
            .collect()
    }

    fn rule(n: u32, m: u32, treat_missing: TreatMissingData) -> Rule {
        Rule {
            comparison: ComparisonOperator::GreaterThanOrEqualToThreshold,
            threshold: 1.0,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            treat_missing,
        }
    }

    use StateValue::{Alarm, InsufficientData, Ok as Fine};
    use TreatMissingData::{Breaching, Ignore, Missing, NotBreaching};

    /// 3 of 3 over an evaluation range of five, each treatment of missing
    /// data (AWS's documented examples use these pictures).
    #[test]
    fn missing_data_treatments() {
        let cases: [(&str, [Option<StateValue>; 4]); 5] = [
            (
                "0 - X - X",
                [Some(Fine), Some(Fine), Some(Alarm), Some(Fine)],
            ),
            (
                "0 - - - -",
                [Some(Fine), Some(Fine), Some(Alarm), Some(Fine)],
            ),
            (
                "- - - - -",
                [Some(InsufficientData), None, Some(Alarm), Some(Fine)],
            ),
            (
                "0 X X - X",
                [Some(Alarm), Some(Alarm), Some(Alarm), Some(Fine)],
            ),
            ("- - X - -", [Some(Alarm), None, Some(Alarm), Some(Fine)]),
        ];
        for (picture, expected) in cases {
            for (treat, want) in [Missing, Ignore, Breaching, NotBreaching]
                .into_iter()
                .zip(expected)
            {
                let got = evaluate(&rule(3, 3, treat), &periods(picture)).state;
                assert_eq!(got, want, "{picture} treated as {treat}");
            }
        }
    }

    #[test]
    fn m_out_of_n() {
        let two_of_three = rule(3, 2, NotBreaching);
        assert_eq!(
            evaluate(&two_of_three, &periods("X 0 X")).state,
            Some(Alarm)
        );
        assert_eq!(
            evaluate(&two_of_three, &periods("X X 0 0")).state,
            Some(Fine),
            "only the last three periods count"
        );
        let one_of_one = rule(1, 1, NotBreaching);
        assert_eq!(evaluate(&one_of_one, &periods("X 0")).state, Some(Fine));
        assert_eq!(evaluate(&one_of_one, &periods("0 X")).state, Some(Alarm));
    }

    #[test]
    fn the_reason_names_the_datapoints_and_the_transition() {
        let r = rule(3, 2, NotBreaching);
        let evaluation = evaluate(&r, &periods("X 0 X"));
        let text = reason(&r, &evaluation, Fine, Alarm);
        assert!(
            text.starts_with(
                "Threshold Crossed: 2 out of the last 3 datapoints [5.0 (01/01/70 00:02:00)"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "were greater than or equal to the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."
            ),
            "{text}"
        );
        let data: serde_json::Value =
            serde_json::from_str(&reason_data(&r, &evaluation, "Sum", 60, 180_000)).unwrap();
        assert_eq!(data["recentDatapoints"], json!([5.0, 0.0, 5.0]));
        assert_eq!(data["statistic"], "Sum");
    }
}
