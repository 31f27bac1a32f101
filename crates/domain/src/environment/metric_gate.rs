//! Metric gates: while a deployment is held with green on test traffic only
//! (CodeDeploy's ready wait, an ECS PAUSE hook after the test traffic
//! shift), green's figures over a window of whole periods are judged against
//! blue's, and the gate continues the deployment, rolls it back, or leaves
//! it to people. What alarms cannot do: compare the two sides.

use crate::FieldError;
use crate::environment::{PeriodFigures, ReadyAction, Side};
use crate::service_deployment::{EcsDeploymentSettings, PausableStage};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An environment's gate: off unless asked for, since it needs a hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricGateSettings {
    pub enabled: bool,
    /// How many percentage points green's 5xx rate may exceed blue's by.
    pub max_5xx_increase_pp: f64,
    /// How many times blue's p99 latency green's may reach.
    pub max_p99_ratio: f64,
    /// The window's length in (cloud) minutes, counted from the hold.
    pub window_minutes: u32,
    /// Requests each side must have served in the window to be judged.
    pub min_requests: u32,
}

impl Default for MetricGateSettings {
    fn default() -> Self {
        MetricGateSettings {
            enabled: false,
            max_5xx_increase_pp: 1.0,
            max_p99_ratio: 1.5,
            window_minutes: 5,
            min_requests: 100,
        }
    }
}

/// The raw shape of [`MetricGateSettings`], as the API takes it and the
/// store keeps it. Absent parts keep what they were (or the defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = MetricGate))]
#[serde(deny_unknown_fields)]
pub struct MetricGateSpec {
    /// Whether held deployments are judged (default false).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Percentage points green's 5xx rate may exceed blue's by (default 1).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub max_5xx_increase_pp: Option<f64>,
    /// Times blue's p99 latency green's may reach (default 1.5).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub max_p99_ratio: Option<f64>,
    /// Minutes of the hold judged, whole periods from its start (default 5).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 60))]
    pub window_minutes: Option<i64>,
    /// Requests each side must serve in the window (default 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub min_requests: Option<i64>,
}

impl MetricGateSettings {
    /// `spec` applied over `base`; an error names its field under `prefix`.
    pub fn parse(
        spec: &MetricGateSpec,
        base: MetricGateSettings,
        prefix: &str,
    ) -> Result<Self, FieldError> {
        let field = |name: &str, message: String| FieldError {
            field: format!("{prefix}.{name}"),
            message,
        };
        let real = |value: Option<f64>, name: &str, current: f64, (lo, hi): (f64, f64)| match value
        {
            None => Ok(current),
            Some(v) if (lo..=hi).contains(&v) => Ok(v),
            Some(v) => Err(field(
                name,
                format!("{v} is out of range: use {lo} to {hi}"),
            )),
        };
        let whole = |value: Option<i64>, name: &str, current: u32, hi: i64| match value {
            None => Ok(current),
            Some(v) if (1..=hi).contains(&v) => Ok(v as u32),
            Some(v) => Err(field(name, format!("{v} is out of range: use 1 to {hi}"))),
        };
        Ok(MetricGateSettings {
            enabled: spec.enabled.unwrap_or(base.enabled),
            max_5xx_increase_pp: real(
                spec.max_5xx_increase_pp,
                "max_5xx_increase_pp",
                base.max_5xx_increase_pp,
                (0.0, 100.0),
            )?,
            max_p99_ratio: real(
                spec.max_p99_ratio,
                "max_p99_ratio",
                base.max_p99_ratio,
                (1.0, 100.0),
            )?,
            window_minutes: whole(
                spec.window_minutes,
                "window_minutes",
                base.window_minutes,
                60,
            )?,
            min_requests: whole(
                spec.min_requests,
                "min_requests",
                base.min_requests,
                1_000_000,
            )?,
        })
    }

    /// Every value written out, as the store keeps it and the API shows it.
    pub fn spec(&self) -> MetricGateSpec {
        MetricGateSpec {
            enabled: Some(self.enabled),
            max_5xx_increase_pp: Some(self.max_5xx_increase_pp),
            max_p99_ratio: Some(self.max_p99_ratio),
            window_minutes: Some(i64::from(self.window_minutes)),
            min_requests: Some(i64::from(self.min_requests)),
        }
    }

    /// Refuses a gate that would never judge: one without a hold to act at.
    pub fn check_holds(&self, hold: Option<GateHold>) -> Result<(), FieldError> {
        if !self.enabled || hold.is_some() {
            return Ok(());
        }
        Err(FieldError {
            field: "metric_gate.enabled".into(),
            message: "a metric gate judges green while a deployment is held with test traffic \
                      only, and this environment never holds one: with codedeploy set a ready \
                      wait (ready_action STOP_DEPLOYMENT), with ecs a PAUSE gate at \
                      POST_TEST_TRAFFIC_SHIFT or PRE_PRODUCTION_TRAFFIC_SHIFT"
                .into(),
        })
    }
}

impl fmt::Display for MetricGateSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.enabled {
            return f.write_str("off");
        }
        write!(
            f,
            "on: green 5xx rate ≤ blue's + {} pp, green p99 ≤ {} × blue's, over {} min of the \
             hold, at least {} requests a side",
            self.max_5xx_increase_pp, self.max_p99_ratio, self.window_minutes, self.min_requests
        )
    }
}

aws_status!(
    /// Where a gate judges: a hold in which green takes test traffic only.
    GateHold,
    "gate hold",
    [
        ReadyWait = "READY_WAIT",
        PostTestTrafficShift = "POST_TEST_TRAFFIC_SHIFT",
        PreProductionTrafficShift = "PRE_PRODUCTION_TRAFFIC_SHIFT",
    ]
);

impl GateHold {
    /// The hold a PAUSE hook at `stage` makes, if green is judged there.
    pub fn at_stage(stage: PausableStage) -> Option<GateHold> {
        match stage {
            PausableStage::PostTestTrafficShift => Some(GateHold::PostTestTrafficShift),
            PausableStage::PreProductionTrafficShift => Some(GateHold::PreProductionTrafficShift),
            _ => None,
        }
    }

    /// The first hold an environment's deployments make: CodeDeploy's
    /// ready wait when it waits for a continue, else ECS's first PAUSE gate
    /// with only test traffic on green.
    pub fn of(ready_action: ReadyAction, ecs: Option<&EcsDeploymentSettings>) -> Option<GateHold> {
        match ecs {
            None => (ready_action == ReadyAction::Stop).then_some(GateHold::ReadyWait),
            Some(settings) => settings
                .gates
                .iter()
                .find_map(|g| GateHold::at_stage(g.stage)),
        }
    }

    /// How a sentence names it.
    pub fn describe(self) -> &'static str {
        match self {
            GateHold::ReadyWait => "the ready wait",
            GateHold::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            GateHold::PreProductionTrafficShift => "PRE_PRODUCTION_TRAFFIC_SHIFT",
        }
    }
}

/// One side's figures over a gate's window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SideFigures {
    pub requests: f64,
    /// Target 5xx answers per 100 requests.
    pub error_rate_pct: f64,
    /// Per-period p99s averaged by their requests: CloudWatch keeps no
    /// samples to take a window's p99 from.
    pub p99_ms: Option<f64>,
}

impl SideFigures {
    /// `side`'s figures of the periods that start in `[start, end)`.
    pub fn of(periods: &[PeriodFigures], side: Side, (start, end): (i64, i64)) -> SideFigures {
        let inside: Vec<&PeriodFigures> = periods
            .iter()
            .filter(|p| p.side == side && (start..end).contains(&p.period_start))
            .collect();
        let requests: f64 = inside.iter().map(|p| p.requests).sum();
        let errors: f64 = inside.iter().map(|p| p.target_5xx).sum();
        let timed: Vec<(f64, f64)> = inside
            .iter()
            .filter_map(|p| Some((p.requests, p.p99_seconds?)))
            .collect();
        let timed_requests: f64 = timed.iter().map(|(n, _)| n).sum();
        SideFigures {
            requests,
            error_rate_pct: if requests > 0.0 {
                errors * 100.0 / requests
            } else {
                0.0
            },
            p99_ms: (timed_requests > 0.0).then(|| {
                timed.iter().map(|(n, p99)| n * p99).sum::<f64>() * 1000.0 / timed_requests
            }),
        }
    }
}

aws_status!(
    /// What a gate found green to be.
    GateOutcome,
    "gate outcome",
    [
        Passed = "passed",
        Failed = "failed",
        InsufficientData = "insufficient_data"
    ]
);

/// A gate's verdict on green, with the reasons that decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct GateJudgement {
    pub outcome: GateOutcome,
    pub reasons: Vec<String>,
}

/// Judges green against blue: too few requests on either side is no
/// verdict; any bound broken fails green; otherwise it passes.
pub fn judge(
    settings: &MetricGateSettings,
    blue: &SideFigures,
    green: &SideFigures,
) -> GateJudgement {
    let min = f64::from(settings.min_requests);
    let scant: Vec<String> = [("blue", blue), ("green", green)]
        .iter()
        .filter(|(_, f)| f.requests < min)
        .map(|(name, f)| {
            format!(
                "{name} served {} requests in the window, fewer than the {} needed",
                f.requests, settings.min_requests
            )
        })
        .collect();
    if !scant.is_empty() {
        return GateJudgement {
            outcome: GateOutcome::InsufficientData,
            reasons: scant,
        };
    }
    let (Some(blue_p99), Some(green_p99)) = (blue.p99_ms, green.p99_ms) else {
        return GateJudgement {
            outcome: GateOutcome::InsufficientData,
            reasons: vec!["the load balancer reported no response times for a side".into()],
        };
    };
    let errors_ok = green.error_rate_pct <= blue.error_rate_pct + settings.max_5xx_increase_pp;
    let latency_ok = green_p99 <= blue_p99 * settings.max_p99_ratio;
    let reasons = vec![
        format!(
            "green's 5xx rate {:.1} % is {} blue's {:.1} % + {} pp",
            green.error_rate_pct,
            if errors_ok { "within" } else { "above" },
            blue.error_rate_pct,
            settings.max_5xx_increase_pp
        ),
        format!(
            "green's p99 {green_p99:.0} ms is {} {} × blue's {blue_p99:.0} ms",
            if latency_ok { "within" } else { "above" },
            settings.max_p99_ratio
        ),
    ];
    let outcome = if errors_ok && latency_ok {
        GateOutcome::Passed
    } else {
        GateOutcome::Failed
    };
    GateJudgement { outcome, reasons }
}

/// The window a gate judges: the first `periods` whole periods that start
/// once the hold began, so green's figures are its own (its target group
/// may have served another release before). `(start, end)`, Unix ms.
pub fn window(held_since: i64, period_ms: i64, periods: u32) -> (i64, i64) {
    let start = (held_since + period_ms - 1).div_euclid(period_ms) * period_ms;
    (start, start + i64::from(periods) * period_ms)
}

aws_status!(
    /// What a gate did with its verdict.
    GateAction,
    "gate action",
    [
        Continued = "continued",
        RolledBack = "rolled_back",
        LeftToApprovers = "left_to_approvers",
        LeftToPeople = "left_to_people",
    ]
);

impl GateAction {
    /// What the gate did, as a sentence's predicate says it.
    pub fn describe(self) -> &'static str {
        match self {
            GateAction::Continued => "continued the deployment",
            GateAction::RolledBack => "rolled it back",
            GateAction::LeftToApprovers => "left the decision to the approvers",
            GateAction::LeftToPeople => "left it held for someone to continue or roll back",
        }
    }
}

/// A gate at one hold of a deployment: watching until its window has passed,
/// then what it found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    pub hold: GateHold,
    /// When the gate first saw the hold (Unix ms).
    pub held_since: i64,
    pub window_start: i64,
    pub window_end: i64,
    /// None while the window has not passed.
    pub outcome: Option<GateOutcome>,
    pub blue: Option<SideFigures>,
    pub green: Option<SideFigures>,
    pub reasons: Vec<String>,
    pub action: Option<GateAction>,
    pub decided_at: Option<i64>,
}

impl GateDecision {
    /// A gate that has just seen the hold and watches its window.
    pub fn seen(hold: GateHold, held_since: i64, period_ms: i64, periods: u32) -> GateDecision {
        let (window_start, window_end) = window(held_since, period_ms, periods);
        GateDecision {
            hold,
            held_since,
            window_start,
            window_end,
            outcome: None,
            blue: None,
            green: None,
            reasons: Vec::new(),
            action: None,
            decided_at: None,
        }
    }

    /// Whether figures read at `read_at` cover the whole window, `lag`
    /// being how late the last period's figures are complete.
    pub fn window_read(&self, read_at: i64, lag_ms: i64) -> bool {
        self.outcome.is_none() && read_at >= self.window_end + lag_ms
    }

    /// The gate with its verdict, before it acts.
    pub fn judged(
        &self,
        settings: &MetricGateSettings,
        periods: &[PeriodFigures],
        now: i64,
    ) -> GateDecision {
        let range = (self.window_start, self.window_end);
        let blue = SideFigures::of(periods, Side::Blue, range);
        let green = SideFigures::of(periods, Side::Green, range);
        let verdict = judge(settings, &blue, &green);
        GateDecision {
            outcome: Some(verdict.outcome),
            blue: Some(blue),
            green: Some(green),
            reasons: verdict.reasons,
            decided_at: Some(now),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service_deployment::{EcsDeploymentSpec, GateSpec};

    fn on() -> MetricGateSettings {
        MetricGateSettings {
            enabled: true,
            min_requests: 10,
            ..Default::default()
        }
    }

    fn figures(requests: f64, error_rate_pct: f64, p99_ms: f64) -> SideFigures {
        SideFigures {
            requests,
            error_rate_pct,
            p99_ms: Some(p99_ms),
        }
    }

    fn period(side: Side, start: i64, requests: f64, errors: f64, p99: f64) -> PeriodFigures {
        PeriodFigures {
            side,
            period_start: start,
            requests,
            target_5xx: errors,
            p99_seconds: Some(p99),
        }
    }

    #[test]
    fn specs_apply_over_a_base_and_name_the_bad_field() {
        let spec = MetricGateSpec {
            enabled: Some(true),
            max_p99_ratio: Some(3.0),
            ..Default::default()
        };
        let settings = MetricGateSettings::parse(&spec, Default::default(), "metric_gate").unwrap();
        assert!(settings.enabled);
        assert_eq!(settings.max_p99_ratio, 3.0);
        assert_eq!(settings.window_minutes, 5);
        let again = MetricGateSettings::parse(&settings.spec(), Default::default(), "g").unwrap();
        assert_eq!(again, settings);
        for (bad, field) in [
            (
                MetricGateSpec {
                    max_p99_ratio: Some(0.5),
                    ..Default::default()
                },
                "metric_gate.max_p99_ratio",
            ),
            (
                MetricGateSpec {
                    max_5xx_increase_pp: Some(-1.0),
                    ..Default::default()
                },
                "metric_gate.max_5xx_increase_pp",
            ),
            (
                MetricGateSpec {
                    window_minutes: Some(0),
                    ..Default::default()
                },
                "metric_gate.window_minutes",
            ),
            (
                MetricGateSpec {
                    min_requests: Some(2_000_000),
                    ..Default::default()
                },
                "metric_gate.min_requests",
            ),
        ] {
            let err =
                MetricGateSettings::parse(&bad, Default::default(), "metric_gate").unwrap_err();
            assert_eq!(err.field, field);
        }
    }

    #[test]
    fn a_gate_needs_a_hold_with_test_traffic_only() {
        let codedeploy_waits = GateHold::of(ReadyAction::Stop, None);
        assert_eq!(codedeploy_waits, Some(GateHold::ReadyWait));
        assert_eq!(GateHold::of(ReadyAction::Continue, None), None);
        let ecs = |stages: &[&str]| {
            let spec = EcsDeploymentSpec {
                gates: Some(
                    stages
                        .iter()
                        .map(|s| GateSpec {
                            stage: Some((*s).into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            };
            EcsDeploymentSettings::parse(&spec, "ecs_deployment").unwrap()
        };
        let after_scale_up = ecs(&["POST_SCALE_UP"]);
        assert_eq!(GateHold::of(ReadyAction::Stop, Some(&after_scale_up)), None);
        let both = ecs(&["POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT"]);
        assert_eq!(
            GateHold::of(ReadyAction::Continue, Some(&both)),
            Some(GateHold::PostTestTrafficShift)
        );
        assert_eq!(
            on().check_holds(None).unwrap_err().field,
            "metric_gate.enabled"
        );
        on().check_holds(codedeploy_waits).unwrap();
        MetricGateSettings::default().check_holds(None).unwrap();
    }

    #[test]
    fn a_windows_figures_are_its_sides_whole_periods() {
        let periods = [
            period(Side::Green, 0, 100.0, 100.0, 9.0),
            period(Side::Green, 1000, 100.0, 10.0, 0.2),
            period(Side::Green, 2000, 300.0, 0.0, 0.4),
            period(Side::Blue, 1000, 50.0, 0.0, 0.1),
            period(Side::Green, 3000, 100.0, 100.0, 9.0),
        ];
        let green = SideFigures::of(&periods, Side::Green, (1000, 3000));
        assert_eq!(green.requests, 400.0);
        assert_eq!(green.error_rate_pct, 2.5);
        assert!((green.p99_ms.unwrap() - 350.0).abs() < 1e-9);
        let blue = SideFigures::of(&periods, Side::Blue, (2000, 3000));
        assert_eq!(
            (blue.requests, blue.error_rate_pct, blue.p99_ms),
            (0.0, 0.0, None)
        );
    }

    #[test]
    fn a_good_green_passes() {
        let verdict = judge(
            &on(),
            &figures(500.0, 0.2, 300.0),
            &figures(480.0, 1.0, 420.0),
        );
        assert_eq!(verdict.outcome, GateOutcome::Passed);
        assert!(
            verdict.reasons.iter().all(|r| r.contains("within")),
            "{verdict:?}"
        );
    }

    #[test]
    fn more_errors_or_slower_answers_fail_green() {
        let errors = judge(
            &on(),
            &figures(500.0, 0.0, 300.0),
            &figures(500.0, 30.0, 300.0),
        );
        assert_eq!(errors.outcome, GateOutcome::Failed);
        assert!(
            errors.reasons[0].contains("30.0 % is above blue's 0.0 % + 1 pp"),
            "{errors:?}"
        );
        let slow = judge(
            &on(),
            &figures(500.0, 0.0, 300.0),
            &figures(500.0, 0.0, 3000.0),
        );
        assert_eq!(slow.outcome, GateOutcome::Failed);
        assert!(
            slow.reasons[1].contains("3000 ms is above 1.5 × blue's 300 ms"),
            "{slow:?}"
        );
    }

    #[test]
    fn bounds_are_inclusive() {
        let verdict = judge(
            &on(),
            &figures(100.0, 1.0, 200.0),
            &figures(100.0, 2.0, 300.0),
        );
        assert_eq!(verdict.outcome, GateOutcome::Passed, "{verdict:?}");
    }

    #[test]
    fn too_few_requests_is_no_verdict() {
        let verdict = judge(
            &on(),
            &figures(500.0, 0.0, 300.0),
            &figures(9.0, 100.0, 9000.0),
        );
        assert_eq!(verdict.outcome, GateOutcome::InsufficientData);
        assert_eq!(verdict.reasons.len(), 1);
        assert!(
            verdict.reasons[0].starts_with("green served 9 requests"),
            "{verdict:?}"
        );
        let untimed = SideFigures {
            p99_ms: None,
            ..figures(500.0, 0.0, 0.0)
        };
        let verdict = judge(&on(), &untimed, &figures(500.0, 0.0, 300.0));
        assert_eq!(verdict.outcome, GateOutcome::InsufficientData);
    }

    #[test]
    fn the_window_starts_at_the_first_whole_period_of_the_hold() {
        assert_eq!(window(2500, 1000, 5), (3000, 8000));
        assert_eq!(window(3000, 1000, 5), (3000, 8000));
        assert_eq!(window(60_001, 60_000, 1), (120_000, 180_000));
    }

    #[test]
    fn a_gate_judges_once_its_window_is_read_whole() {
        let seen = GateDecision::seen(GateHold::ReadyWait, 2500, 1000, 2);
        assert!(!seen.window_read(5050, 100));
        assert!(seen.window_read(5100, 100));
        let periods = [
            // Before the hold: another release on green's target group.
            period(Side::Green, 2000, 100.0, 100.0, 9.0),
            period(Side::Blue, 3000, 100.0, 0.0, 0.3),
            period(Side::Green, 3000, 100.0, 0.0, 0.3),
            period(Side::Blue, 4000, 100.0, 0.0, 0.3),
            period(Side::Green, 4000, 100.0, 0.0, 0.3),
        ];
        let judged = seen.judged(&on(), &periods, 5100);
        assert_eq!(judged.outcome, Some(GateOutcome::Passed));
        assert_eq!(judged.green.unwrap().requests, 200.0);
        assert_eq!(judged.decided_at, Some(5100));
        assert!(!judged.window_read(9000, 100), "judged once");
    }

    #[test]
    fn settings_and_actions_read_as_sentences() {
        assert_eq!(MetricGateSettings::default().to_string(), "off");
        assert!(
            on().to_string()
                .starts_with("on: green 5xx rate ≤ blue's + 1 pp")
        );
        assert_eq!(GateAction::RolledBack.as_str(), "rolled_back");
        assert_eq!(
            GateHold::parse("READY_WAIT").unwrap().describe(),
            "the ready wait"
        );
    }
}
