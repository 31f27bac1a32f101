//! CodeDeploy's ECS deployment configs as the local cloud runs them: the
//! five predefined ones and the routing of custom ones, and the share of
//! production traffic each gives the replacement task set over time.
//!
//! Written apart from the control plane's `domain::deployment_config` on
//! purpose: the dashboard compares the weights it planned with those this
//! cloud sets, which only catches a schedule bug if the two are not the same
//! code.

use std::time::Duration;

/// The names of CodeDeploy's own configs start with this; custom ones may not.
pub const PREDEFINED_PREFIX: &str = "CodeDeployDefault.";

/// A custom config's percentage and interval limits.
const PERCENTAGES: std::ops::RangeInclusive<u32> = 1..=99;
const MAX_INTERVAL_MINUTES: u32 = 7 * 24 * 60;

/// How production traffic moves (`trafficRoutingConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    AllAtOnce,
    /// `percent` more at the start of every `interval_minutes`.
    Linear {
        percent: u32,
        interval_minutes: u32,
    },
    /// `percent` at first, everything once `interval_minutes` have passed.
    Canary {
        percent: u32,
        interval_minutes: u32,
    },
}

/// The predefined ECS configs, by their names without the prefix.
const PREDEFINED: [(&str, Routing); 5] = [
    ("ECSAllAtOnce", Routing::AllAtOnce),
    (
        "ECSLinear10PercentEvery1Minutes",
        Routing::Linear {
            percent: 10,
            interval_minutes: 1,
        },
    ),
    (
        "ECSLinear10PercentEvery3Minutes",
        Routing::Linear {
            percent: 10,
            interval_minutes: 3,
        },
    ),
    (
        "ECSCanary10Percent5Minutes",
        Routing::Canary {
            percent: 10,
            interval_minutes: 5,
        },
    ),
    (
        "ECSCanary10Percent15Minutes",
        Routing::Canary {
            percent: 10,
            interval_minutes: 15,
        },
    ),
];

/// The full names of the predefined configs.
pub fn predefined_names() -> impl Iterator<Item = String> {
    PREDEFINED
        .iter()
        .map(|(name, _)| format!("{PREDEFINED_PREFIX}{name}"))
}

/// The routing of a predefined config, by its full name (AWS accepts no
/// other spelling).
pub fn predefined(name: &str) -> Option<Routing> {
    let short = name.strip_prefix(PREDEFINED_PREFIX)?;
    PREDEFINED
        .iter()
        .find(|(known, _)| *known == short)
        .map(|(_, routing)| *routing)
}

impl Routing {
    /// A custom linear or canary routing, if CodeDeploy would accept it.
    pub fn checked(self) -> Result<Routing, String> {
        let (percent, interval_minutes) = match self {
            Routing::AllAtOnce => return Ok(self),
            Routing::Linear {
                percent,
                interval_minutes,
            }
            | Routing::Canary {
                percent,
                interval_minutes,
            } => (percent, interval_minutes),
        };
        if !PERCENTAGES.contains(&percent) {
            return Err(format!(
                "the percentage must be between 1 and 99 (got {percent})"
            ));
        }
        if !(1..=MAX_INTERVAL_MINUTES).contains(&interval_minutes) {
            return Err(format!(
                "the interval must be between 1 and {MAX_INTERVAL_MINUTES} minutes (got {interval_minutes})"
            ));
        }
        Ok(self)
    }

    /// The percentage of production traffic the replacement task set gets
    /// `elapsed` after AllowTraffic began.
    pub fn green_percent_at(self, elapsed: Duration) -> u32 {
        let intervals_passed = |minutes: u32| elapsed.as_secs() / (u64::from(minutes.max(1)) * 60);
        match self {
            Routing::AllAtOnce => 100,
            Routing::Linear {
                percent,
                interval_minutes,
            } => {
                // The first step is taken at once, one more per interval.
                let steps = intervals_passed(interval_minutes) + 1;
                u32::try_from(steps.saturating_mul(u64::from(percent)))
                    .unwrap_or(u32::MAX)
                    .min(100)
            }
            Routing::Canary {
                percent,
                interval_minutes,
            } => {
                if intervals_passed(interval_minutes) >= 1 {
                    100
                } else {
                    percent
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn linear_ten_percent_every_minute_takes_nine_minutes() {
        let routing = predefined("CodeDeployDefault.ECSLinear10PercentEvery1Minutes").unwrap();
        assert_eq!(routing.green_percent_at(Duration::ZERO), 10);
        assert_eq!(
            routing.green_percent_at(MINUTE - Duration::from_millis(1)),
            10
        );
        assert_eq!(routing.green_percent_at(MINUTE), 20);
        assert_eq!(routing.green_percent_at(8 * MINUTE + MINUTE / 2), 90);
        assert_eq!(routing.green_percent_at(9 * MINUTE), 100);
        assert_eq!(routing.green_percent_at(600 * MINUTE), 100);
    }

    #[test]
    fn an_uneven_linear_step_ends_at_one_hundred() {
        let routing = Routing::Linear {
            percent: 30,
            interval_minutes: 2,
        };
        let at = |minutes| routing.green_percent_at(minutes * MINUTE);
        assert_eq!([at(0), at(2), at(4), at(6), at(8)], [30, 60, 90, 100, 100]);
    }

    #[test]
    fn canary_holds_then_moves_everything() {
        let routing = predefined("CodeDeployDefault.ECSCanary10Percent15Minutes").unwrap();
        assert_eq!(routing.green_percent_at(14 * MINUTE), 10);
        assert_eq!(routing.green_percent_at(15 * MINUTE), 100);
        assert_eq!(
            predefined("CodeDeployDefault.ECSAllAtOnce")
                .unwrap()
                .green_percent_at(Duration::ZERO),
            100
        );
    }

    #[test]
    fn predefined_names_need_their_prefix() {
        assert_eq!(predefined_names().count(), 5);
        assert!(predefined("ECSAllAtOnce").is_none());
        assert!(predefined("CodeDeployDefault.ECSLinear5PercentEvery1Minutes").is_none());
    }

    #[test]
    fn custom_routings_keep_codedeploys_limits() {
        let linear = |percent, interval_minutes| {
            Routing::Linear {
                percent,
                interval_minutes,
            }
            .checked()
        };
        assert!(linear(50, 1).is_ok());
        assert!(linear(0, 1).unwrap_err().contains("between 1 and 99"));
        assert!(linear(100, 1).is_err());
        assert!(linear(10, 0).unwrap_err().contains("interval"));
        assert!(linear(10, MAX_INTERVAL_MINUTES + 1).is_err());
    }
}
