//! CodeDeploy deployment configs for ECS and the traffic schedules they imply.
//! The local cloud steps its listeners by these schedules and the dashboard
//! draws them, so both agree on what "linear" means.

use super::{FieldError, Invalid};
use std::time::Duration;

pub const PREDEFINED_PREFIX: &str = "CodeDeployDefault.";

/// How production traffic moves from the original to the replacement task set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficRouting {
    AllAtOnce,
    /// `percentage` more every `interval_minutes`, starting at once.
    TimeBasedLinear {
        percentage: u8,
        interval_minutes: u32,
    },
    /// `percentage` at once, the rest after `interval_minutes`.
    TimeBasedCanary {
        percentage: u8,
        interval_minutes: u32,
    },
}

impl TrafficRouting {
    /// The longest interval accepted: one week. Beyond that a shift is an
    /// abandoned deployment, not a schedule.
    pub const MAX_INTERVAL_MINUTES: u32 = 7 * 24 * 60;

    pub fn linear(percentage: u32, interval_minutes: u32) -> Result<Self, Invalid> {
        let (percentage, interval_minutes) = check_step(percentage, interval_minutes)?;
        Ok(TrafficRouting::TimeBasedLinear {
            percentage,
            interval_minutes,
        })
    }

    pub fn canary(percentage: u32, interval_minutes: u32) -> Result<Self, Invalid> {
        let (percentage, interval_minutes) = check_step(percentage, interval_minutes)?;
        Ok(TrafficRouting::TimeBasedCanary {
            percentage,
            interval_minutes,
        })
    }

    /// The AWS `trafficRoutingConfig.type` value.
    pub fn type_name(self) -> &'static str {
        match self {
            TrafficRouting::AllAtOnce => "AllAtOnce",
            TrafficRouting::TimeBasedLinear { .. } => "TimeBasedLinear",
            TrafficRouting::TimeBasedCanary { .. } => "TimeBasedCanary",
        }
    }

    /// The production traffic schedule: when each step happens, measured
    /// from the start of the AllowTraffic lifecycle event, and the green
    /// weight it sets. Weights only grow and the last one is 100.
    pub fn schedule(self) -> TrafficSchedule {
        let minutes = |n: u32| Duration::from_secs(u64::from(n) * 60);
        let steps = match self {
            TrafficRouting::AllAtOnce => vec![TrafficStep::new(Duration::ZERO, 100)],
            TrafficRouting::TimeBasedLinear {
                percentage,
                interval_minutes,
            } => {
                let count = 100_u32.div_ceil(u32::from(percentage));
                (0..count)
                    .map(|i| {
                        let weight = ((i + 1) * u32::from(percentage)).min(100) as u8;
                        TrafficStep::new(minutes(i * interval_minutes), weight)
                    })
                    .collect()
            }
            TrafficRouting::TimeBasedCanary {
                percentage,
                interval_minutes,
            } => vec![
                TrafficStep::new(Duration::ZERO, percentage),
                TrafficStep::new(minutes(interval_minutes), 100),
            ],
        };
        TrafficSchedule { steps }
    }
}

/// How a sentence says it: "all at once", "10% more every 3 min".
impl std::fmt::Display for TrafficRouting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrafficRouting::AllAtOnce => f.write_str("all at once"),
            TrafficRouting::TimeBasedLinear {
                percentage,
                interval_minutes,
            } => write!(f, "{percentage}% more every {interval_minutes} min"),
            TrafficRouting::TimeBasedCanary {
                percentage,
                interval_minutes,
            } => write!(
                f,
                "{percentage}% at once, the rest after {interval_minutes} min"
            ),
        }
    }
}

fn check_step(percentage: u32, interval_minutes: u32) -> Result<(u8, u32), Invalid> {
    if !(1..=99).contains(&percentage) {
        return Err(Invalid::new(format!(
            "the percentage must be between 1 and 99 (got {percentage})"
        )));
    }
    if !(1..=TrafficRouting::MAX_INTERVAL_MINUTES).contains(&interval_minutes) {
        return Err(Invalid::new(format!(
            "the interval must be between 1 and {} minutes (got {interval_minutes})",
            TrafficRouting::MAX_INTERVAL_MINUTES
        )));
    }
    Ok((percentage as u8, interval_minutes))
}

/// One step of a schedule: at `offset` after traffic starts moving, the
/// replacement (green) task set gets `green_weight` percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficStep {
    pub offset: Duration,
    pub green_weight: u8,
}

impl TrafficStep {
    pub fn new(offset: Duration, green_weight: u8) -> Self {
        TrafficStep {
            offset,
            green_weight,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSchedule {
    steps: Vec<TrafficStep>,
}

impl TrafficSchedule {
    pub fn steps(&self) -> &[TrafficStep] {
        &self.steps
    }

    /// When the last step happens: the shift's total length.
    pub fn duration(&self) -> Duration {
        self.steps.last().map_or(Duration::ZERO, |s| s.offset)
    }

    /// The green weight the schedule prescribes `elapsed` after traffic
    /// started moving.
    pub fn green_weight_at(&self, elapsed: Duration) -> u8 {
        self.steps
            .iter()
            .take_while(|s| s.offset <= elapsed)
            .last()
            .map_or(0, |s| s.green_weight)
    }

    /// The steps due on the wall clock in `(after, until]` (epoch millis)
    /// for a shift that started at `started_at`, when `ratio` wall-clock
    /// milliseconds pass per schedule millisecond: (when, green weight).
    pub fn steps_due(&self, started_at: i64, ratio: f64, after: i64, until: i64) -> Vec<(i64, u8)> {
        self.steps
            .iter()
            .map(|s| {
                let offset = (s.offset.as_millis() as f64 * ratio).round() as i64;
                (started_at.saturating_add(offset), s.green_weight)
            })
            .filter(|(at, _)| *at > after && *at <= until)
            .collect()
    }

    /// When the next step after `elapsed` is due, if any is left.
    pub fn next_step_after(&self, elapsed: Duration) -> Option<TrafficStep> {
        self.steps.iter().copied().find(|s| s.offset > elapsed)
    }
}

/// A named deployment config: one of CodeDeploy's predefined ECS configs or
/// a custom one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentConfig {
    name: String,
    routing: TrafficRouting,
}

impl DeploymentConfig {
    /// The five predefined ECS configs, by their AWS names.
    pub fn predefined() -> [DeploymentConfig; 5] {
        let config = |name: &str, routing| DeploymentConfig {
            name: format!("{PREDEFINED_PREFIX}{name}"),
            routing,
        };
        use TrafficRouting::*;
        [
            config("ECSAllAtOnce", AllAtOnce),
            config(
                "ECSLinear10PercentEvery1Minutes",
                TimeBasedLinear {
                    percentage: 10,
                    interval_minutes: 1,
                },
            ),
            config(
                "ECSLinear10PercentEvery3Minutes",
                TimeBasedLinear {
                    percentage: 10,
                    interval_minutes: 3,
                },
            ),
            config(
                "ECSCanary10Percent5Minutes",
                TimeBasedCanary {
                    percentage: 10,
                    interval_minutes: 5,
                },
            ),
            config(
                "ECSCanary10Percent15Minutes",
                TimeBasedCanary {
                    percentage: 10,
                    interval_minutes: 15,
                },
            ),
        ]
    }

    /// Finds a predefined config by its full AWS name
    /// (`CodeDeployDefault.ECSAllAtOnce`) or the short form people say
    /// (`ECSAllAtOnce`).
    pub fn find_predefined(name: &str) -> Option<DeploymentConfig> {
        let full = if name.starts_with(PREDEFINED_PREFIX) {
            name.to_owned()
        } else {
            format!("{PREDEFINED_PREFIX}{name}")
        };
        Self::predefined().into_iter().find(|c| c.name == full)
    }

    /// A predefined config named by a request's `field`, or the error
    /// that says what would do.
    pub fn parse_predefined(name: &str, field: &str) -> Result<DeploymentConfig, FieldError> {
        Self::find_predefined(name).ok_or_else(|| FieldError {
            field: field.into(),
            message: format!(
                "{name:?} is not a predefined ECS deployment config \
                 (e.g. CodeDeployDefault.ECSLinear10PercentEvery1Minutes)"
            ),
        })
    }

    /// A custom config. Its name follows CodeDeploy's limits and may not
    /// claim the predefined prefix.
    pub fn custom(name: &str, routing: TrafficRouting) -> Result<DeploymentConfig, Invalid> {
        super::check_text(name, "a deployment config name", 1, 100)?;
        if name.starts_with(PREDEFINED_PREFIX) {
            return Err(Invalid::new(format!(
                "{name:?}: names starting with {PREDEFINED_PREFIX} are reserved for AWS's predefined configs"
            )));
        }
        Ok(DeploymentConfig {
            name: name.to_owned(),
            routing,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn routing(&self) -> TrafficRouting {
        self.routing
    }

    pub fn schedule(&self) -> TrafficSchedule {
        self.routing.schedule()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(config: &str) -> Vec<(u64, u8)> {
        DeploymentConfig::find_predefined(config)
            .unwrap_or_else(|| panic!("{config} is predefined"))
            .schedule()
            .steps()
            .iter()
            .map(|s| (s.offset.as_secs(), s.green_weight))
            .collect()
    }

    #[test]
    fn steps_due_in_a_window_of_the_wall_clock() {
        let schedule = DeploymentConfig::find_predefined("ECSLinear10PercentEvery1Minutes")
            .unwrap()
            .schedule();
        // At time scale 60 a minute passes in a second.
        let due = schedule.steps_due(10_000, 1.0 / 60.0, 12_000, 14_500);
        assert_eq!(due, vec![(13_000, 40), (14_000, 50)]);
        assert!(schedule.steps_due(10_000, 1.0, 10_000, 69_999).is_empty());
        assert_eq!(
            schedule.steps_due(10_000, 1.0, 9_999, 10_000),
            vec![(10_000, 10)]
        );
    }

    #[test]
    fn all_at_once_moves_everything_immediately() {
        assert_eq!(steps("CodeDeployDefault.ECSAllAtOnce"), vec![(0, 100)]);
    }

    #[test]
    fn linear_10_every_minute_is_ten_steps_of_ten() {
        let expected: Vec<(u64, u8)> = (0..10).map(|i| (i * 60, (i as u8 + 1) * 10)).collect();
        assert_eq!(
            steps("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
            expected
        );
    }

    #[test]
    fn linear_10_every_three_minutes() {
        let expected: Vec<(u64, u8)> = (0..10).map(|i| (i * 180, (i as u8 + 1) * 10)).collect();
        assert_eq!(
            steps("CodeDeployDefault.ECSLinear10PercentEvery3Minutes"),
            expected
        );
        assert_eq!(
            DeploymentConfig::find_predefined("ECSLinear10PercentEvery3Minutes")
                .unwrap()
                .schedule()
                .duration(),
            Duration::from_secs(27 * 60)
        );
    }

    #[test]
    fn canaries_move_ten_then_the_rest() {
        assert_eq!(
            steps("CodeDeployDefault.ECSCanary10Percent5Minutes"),
            vec![(0, 10), (300, 100)]
        );
        assert_eq!(
            steps("CodeDeployDefault.ECSCanary10Percent15Minutes"),
            vec![(0, 10), (900, 100)]
        );
    }

    #[test]
    fn short_names_find_the_predefined_configs() {
        assert_eq!(
            DeploymentConfig::find_predefined("ECSCanary10Percent5Minutes")
                .unwrap()
                .name(),
            "CodeDeployDefault.ECSCanary10Percent5Minutes"
        );
        assert!(DeploymentConfig::find_predefined("ECSLinear10PercentEvery1Minute").is_none());
        assert!(DeploymentConfig::find_predefined("CodeDeployDefault.OneAtATime").is_none());
        assert_eq!(DeploymentConfig::predefined().len(), 5);
    }

    #[test]
    fn custom_linear_caps_the_last_step_at_100() {
        let routing = TrafficRouting::linear(30, 2).unwrap();
        let s: Vec<(u64, u8)> = routing
            .schedule()
            .steps()
            .iter()
            .map(|s| (s.offset.as_secs(), s.green_weight))
            .collect();
        assert_eq!(s, vec![(0, 30), (120, 60), (240, 90), (360, 100)]);
        let odd = TrafficRouting::linear(33, 1).unwrap().schedule();
        assert_eq!(
            odd.steps()
                .iter()
                .map(|s| s.green_weight)
                .collect::<Vec<_>>(),
            vec![33, 66, 99, 100]
        );
        let fine = TrafficRouting::linear(1, 1).unwrap().schedule();
        assert_eq!(fine.steps().len(), 100);
        assert_eq!(fine.duration(), Duration::from_secs(99 * 60));
    }

    #[test]
    fn custom_canary() {
        let s = TrafficRouting::canary(25, 30).unwrap().schedule();
        assert_eq!(
            s.steps(),
            &[
                TrafficStep::new(Duration::ZERO, 25),
                TrafficStep::new(Duration::from_secs(1800), 100)
            ]
        );
        let config =
            DeploymentConfig::custom("canary-25", TrafficRouting::canary(25, 30).unwrap()).unwrap();
        assert_eq!(config.routing().type_name(), "TimeBasedCanary");
    }

    #[test]
    fn custom_percentages_and_intervals_are_checked() {
        for bad in [0, 100, 250] {
            assert!(TrafficRouting::linear(bad, 1).is_err(), "{bad}% accepted");
            assert!(TrafficRouting::canary(bad, 1).is_err(), "{bad}% accepted");
        }
        assert!(TrafficRouting::linear(10, 0).is_err());
        assert!(TrafficRouting::canary(10, TrafficRouting::MAX_INTERVAL_MINUTES + 1).is_err());
        TrafficRouting::canary(99, TrafficRouting::MAX_INTERVAL_MINUTES).unwrap();
    }

    #[test]
    fn custom_names_cannot_pose_as_predefined() {
        assert!(
            DeploymentConfig::custom("CodeDeployDefault.Mine", TrafficRouting::AllAtOnce).is_err()
        );
        assert!(DeploymentConfig::custom("", TrafficRouting::AllAtOnce).is_err());
        DeploymentConfig::custom("slow-linear", TrafficRouting::linear(5, 10).unwrap()).unwrap();
    }

    #[test]
    fn weight_at_a_moment() {
        let s = TrafficRouting::linear(10, 1).unwrap().schedule();
        assert_eq!(s.green_weight_at(Duration::ZERO), 10);
        assert_eq!(s.green_weight_at(Duration::from_secs(59)), 10);
        assert_eq!(s.green_weight_at(Duration::from_secs(60)), 20);
        assert_eq!(s.green_weight_at(Duration::from_secs(3600)), 100);
        assert_eq!(
            s.next_step_after(Duration::from_secs(61)).unwrap(),
            TrafficStep::new(Duration::from_secs(120), 30)
        );
        assert_eq!(s.next_step_after(Duration::from_secs(540)), None);
    }
}
