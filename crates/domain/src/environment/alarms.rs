//! The CloudWatch alarms that guard an environment's deployments: the two
//! the AWS stack defines (`infra/modules/app_infra`), the thresholds an
//! environment sets for them, and what a deployment saw of their states.

use crate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The default thresholds, as `infra/variables.tf` sets them.
const DEFAULT_5XX_THRESHOLD: u32 = 5;
const DEFAULT_UNHEALTHY_HOSTS_THRESHOLD: u32 = 1;
const MAX_THRESHOLD: i64 = 1_000_000;

/// Whether an environment's stack has its alarms, and their thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmSettings {
    pub enabled: bool,
    /// Target 5xx answers per minute on the load balancer that fire the alarm.
    pub target_5xx_threshold: u32,
    /// Unhealthy targets of a target group, two minutes running, that fire it.
    pub unhealthy_hosts_threshold: u32,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmSettings {
            enabled: true,
            target_5xx_threshold: DEFAULT_5XX_THRESHOLD,
            unhealthy_hosts_threshold: DEFAULT_UNHEALTHY_HOSTS_THRESHOLD,
        }
    }
}

/// The raw shape of [`AlarmSettings`], as the API takes it and the store
/// keeps it. Absent parts keep what they were (or the defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Alarms))]
#[serde(deny_unknown_fields)]
pub struct AlarmsSpec {
    /// Whether the stack has the alarms and deployments stop on them
    /// (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Target 5xx answers in one minute that fire `ENV-target-5xx` (default 5).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub target_5xx_threshold: Option<i64>,
    /// Unhealthy targets, two minutes running, that fire `TG-unhealthy-hosts`
    /// (default 1).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub unhealthy_hosts_threshold: Option<i64>,
}

impl AlarmSettings {
    /// `spec` applied over `base`; an error names its field under `prefix`.
    pub fn parse(spec: &AlarmsSpec, base: AlarmSettings, prefix: &str) -> Result<Self, FieldError> {
        let threshold = |value: Option<i64>, name: &str, current: u32| match value {
            None => Ok(current),
            Some(v) if (1..=MAX_THRESHOLD).contains(&v) => Ok(v as u32),
            Some(v) => Err(FieldError {
                field: format!("{prefix}.{name}"),
                message: format!("{v} is not a threshold: use 1 to {MAX_THRESHOLD}"),
            }),
        };
        Ok(AlarmSettings {
            enabled: spec.enabled.unwrap_or(base.enabled),
            target_5xx_threshold: threshold(
                spec.target_5xx_threshold,
                "target_5xx_threshold",
                base.target_5xx_threshold,
            )?,
            unhealthy_hosts_threshold: threshold(
                spec.unhealthy_hosts_threshold,
                "unhealthy_hosts_threshold",
                base.unhealthy_hosts_threshold,
            )?,
        })
    }

    /// Every value written out, as the store keeps it and the API shows it.
    pub fn spec(&self) -> AlarmsSpec {
        AlarmsSpec {
            enabled: Some(self.enabled),
            target_5xx_threshold: Some(i64::from(self.target_5xx_threshold)),
            unhealthy_hosts_threshold: Some(i64::from(self.unhealthy_hosts_threshold)),
        }
    }
}

impl fmt::Display for AlarmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.enabled {
            return f.write_str("off");
        }
        write!(
            f,
            "on: {} target 5xx a minute, {} unhealthy hosts two minutes running",
            self.target_5xx_threshold, self.unhealthy_hosts_threshold
        )
    }
}

/// A CloudWatch metric dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    pub name: &'static str,
    pub value: String,
}

impl Dimension {
    /// The `LoadBalancer` or `TargetGroup` dimension of an ELB ARN: what
    /// follows `loadbalancer/` in a load balancer's resource, a target
    /// group's whole resource (`targetgroup/NAME/ID`), as AWS's
    /// `arn_suffix` gives them.
    pub fn of_arn(name: &'static str, arn: &str) -> Dimension {
        let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
        let value = resource.strip_prefix("loadbalancer/").unwrap_or(resource);
        Dimension {
            name,
            value: value.to_owned(),
        }
    }
}

aws_status!(
    /// A metric alarm's `StateValue`.
    AlarmState,
    "alarm state",
    [Ok = "OK", Alarm = "ALARM", InsufficientData = "INSUFFICIENT_DATA"]
);

aws_status!(
    /// A metric alarm's `Statistic`.
    AlarmStatistic,
    "statistic",
    [Sum, Maximum]
);

/// One metric alarm as PutMetricAlarm takes it: `GreaterThanOrEqualToThreshold`,
/// missing data not breaching, one-minute periods in `AWS/ApplicationELB`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: String,
    pub description: String,
    pub metric_name: &'static str,
    pub statistic: AlarmStatistic,
    pub evaluation_periods: u32,
    pub threshold: f64,
    pub dimensions: Vec<Dimension>,
}

/// The namespace and period every guard alarm has.
pub const ALARM_NAMESPACE: &str = "AWS/ApplicationELB";
pub const ALARM_PERIOD_SECONDS: u32 = 60;

/// The alarms of a stack named `stack`, as the AWS stack defines them: its
/// load balancer's target 5xx, and each target group's unhealthy hosts.
/// `target_groups` are (name, dimension) pairs.
pub fn guard_alarms(
    stack: &str,
    settings: &AlarmSettings,
    load_balancer: &Dimension,
    target_groups: &[(String, Dimension)],
) -> Vec<AlarmSpec> {
    let mut alarms = vec![AlarmSpec {
        name: format!("{stack}-target-5xx"),
        description: format!("The app of {stack} answers 5xx; rolls a deployment back"),
        metric_name: "HTTPCode_Target_5XX_Count",
        statistic: AlarmStatistic::Sum,
        evaluation_periods: 1,
        threshold: f64::from(settings.target_5xx_threshold),
        dimensions: vec![load_balancer.clone()],
    }];
    alarms.extend(target_groups.iter().map(|(name, group)| AlarmSpec {
        name: format!("{name}-unhealthy-hosts"),
        description: format!("Targets of {name} fail their health check; rolls a deployment back"),
        metric_name: "UnHealthyHostCount",
        statistic: AlarmStatistic::Maximum,
        evaluation_periods: 2,
        threshold: f64::from(settings.unhealthy_hosts_threshold),
        dimensions: vec![load_balancer.clone(), group.clone()],
    }));
    alarms
}

/// One state change of an alarm, as its history tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmStateChange {
    /// Unix milliseconds.
    pub at: i64,
    pub state: AlarmState,
    /// CloudWatch's `StateReason`.
    pub reason: String,
}

/// What a deployment saw of one alarm that guarded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentAlarm {
    pub name: String,
    pub state: AlarmState,
    /// Whether this alarm is the one the controller stopped the deployment on.
    #[serde(default)]
    pub stopped_deployment: bool,
    /// Its changes while the deployment ran, oldest first.
    #[serde(default)]
    pub history: Vec<AlarmStateChange>,
}

/// One reading of an alarm: its state now and its changes since the
/// deployment began (a change may be read again; it is kept once).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmReading {
    pub name: String,
    pub state: AlarmState,
    pub changes: Vec<AlarmStateChange>,
}

/// Folds `readings` into what the deployment saw; the changes it had not
/// seen yet, by alarm, oldest first.
pub fn observe_alarms(
    seen: &mut Vec<DeploymentAlarm>,
    readings: &[AlarmReading],
) -> Vec<(String, AlarmStateChange)> {
    let mut new = Vec::new();
    for reading in readings {
        let index = match seen.iter().position(|a| a.name == reading.name) {
            Some(i) => i,
            None => {
                seen.push(DeploymentAlarm {
                    name: reading.name.clone(),
                    state: reading.state,
                    stopped_deployment: false,
                    history: Vec::new(),
                });
                seen.len() - 1
            }
        };
        let alarm = &mut seen[index];
        alarm.state = reading.state;
        let mut changes = reading.changes.clone();
        changes.sort_by_key(|c| c.at);
        for change in changes {
            if alarm.history.contains(&change) {
                continue;
            }
            alarm.history.push(change.clone());
            new.push((alarm.name.clone(), change));
        }
        alarm.history.sort_by_key(|c| c.at);
    }
    new
}

/// The alarm a controller's stop message names, among those seen in ALARM
/// during the deployment (CodeDeploy: "Activated alarms: <name>"; ECS names
/// it in its rollback reason).
pub fn alarm_named_in<'a>(message: &str, seen: &'a [DeploymentAlarm]) -> Option<&'a str> {
    seen.iter()
        .filter(|a| {
            a.history.iter().any(|c| c.state == AlarmState::Alarm) || a.state == AlarmState::Alarm
        })
        .map(|a| a.name.as_str())
        .filter(|name| message.contains(name))
        // The longest match: `demo-blue-unhealthy-hosts` over a shorter name it contains.
        .max_by_key(|name| name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_as_the_terraform_variables_do_and_patch_in_parts() {
        let base = AlarmSettings::default();
        assert_eq!(
            AlarmSettings::parse(&AlarmsSpec::default(), base, "alarms").unwrap(),
            base
        );
        let changed = AlarmSettings::parse(
            &AlarmsSpec {
                target_5xx_threshold: Some(20),
                ..Default::default()
            },
            base,
            "alarms",
        )
        .unwrap();
        assert_eq!(changed.target_5xx_threshold, 20);
        assert_eq!(changed.unhealthy_hosts_threshold, 1);
        assert!(changed.enabled);
        let off = AlarmSettings::parse(
            &AlarmsSpec {
                enabled: Some(false),
                ..Default::default()
            },
            changed,
            "alarms",
        )
        .unwrap();
        assert_eq!(off.target_5xx_threshold, 20, "off keeps the thresholds");
        assert_eq!(off.to_string(), "off");
        assert_eq!(AlarmSettings::parse(&off.spec(), base, "x").unwrap(), off);
    }

    #[test]
    fn thresholds_out_of_range_name_their_field() {
        for bad in [0, -1, 1_000_001] {
            let err = AlarmSettings::parse(
                &AlarmsSpec {
                    unhealthy_hosts_threshold: Some(bad),
                    ..Default::default()
                },
                AlarmSettings::default(),
                "alarms",
            )
            .unwrap_err();
            assert_eq!(err.field, "alarms.unhealthy_hosts_threshold");
            assert!(err.message.contains(&bad.to_string()), "{err}");
        }
    }

    #[test]
    fn dimensions_are_the_arn_suffixes() {
        let lb = Dimension::of_arn(
            "LoadBalancer",
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/demo/50dc6c495c0c9188",
        );
        assert_eq!(lb.value, "app/demo/50dc6c495c0c9188");
        let tg = Dimension::of_arn(
            "TargetGroup",
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/demo-blue/73e2d6bc24d8a067",
        );
        assert_eq!(tg.value, "targetgroup/demo-blue/73e2d6bc24d8a067");
    }

    #[test]
    fn a_stack_has_a_5xx_alarm_and_one_unhealthy_hosts_alarm_per_group() {
        let lb = Dimension {
            name: "LoadBalancer",
            value: "app/demo/1".into(),
        };
        let groups: Vec<(String, Dimension)> = ["demo-blue", "demo-green"]
            .map(|n| {
                let value = format!("targetgroup/{n}/1");
                (
                    n.to_owned(),
                    Dimension {
                        name: "TargetGroup",
                        value,
                    },
                )
            })
            .into();
        let settings = AlarmSettings {
            target_5xx_threshold: 7,
            ..Default::default()
        };
        let alarms = guard_alarms("demo", &settings, &lb, &groups);
        let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo-target-5xx",
                "demo-blue-unhealthy-hosts",
                "demo-green-unhealthy-hosts"
            ]
        );
        assert_eq!(alarms[0].threshold, 7.0);
        assert_eq!(alarms[0].dimensions, [lb]);
        assert_eq!(alarms[2].statistic, AlarmStatistic::Maximum);
        assert_eq!(alarms[2].evaluation_periods, 2);
        assert_eq!(alarms[2].dimensions[1].value, "targetgroup/demo-green/1");
    }

    fn change(at: i64, state: AlarmState) -> AlarmStateChange {
        AlarmStateChange {
            at,
            state,
            reason: format!("at {at}"),
        }
    }

    #[test]
    fn readings_fold_into_what_the_deployment_saw_once_each() {
        let mut seen = Vec::new();
        let first = AlarmReading {
            name: "demo-target-5xx".into(),
            state: AlarmState::Ok,
            changes: vec![change(10, AlarmState::Ok)],
        };
        let new = observe_alarms(&mut seen, std::slice::from_ref(&first));
        assert_eq!(new.len(), 1);
        assert_eq!(
            observe_alarms(&mut seen, &[first]),
            [],
            "read again, kept once"
        );
        let later = AlarmReading {
            name: "demo-target-5xx".into(),
            state: AlarmState::Ok,
            // Newest first, as DescribeAlarmHistory scans by default.
            changes: vec![
                change(30, AlarmState::Ok),
                change(20, AlarmState::Alarm),
                change(10, AlarmState::Ok),
            ],
        };
        let new = observe_alarms(&mut seen, &[later]);
        let states: Vec<_> = new.iter().map(|(_, c)| (c.at, c.state)).collect();
        assert_eq!(states, [(20, AlarmState::Alarm), (30, AlarmState::Ok)]);
        assert_eq!(seen[0].history.len(), 3);
        assert_eq!(seen[0].state, AlarmState::Ok);
    }

    #[test]
    fn the_stopping_alarm_is_the_one_the_message_names_that_was_in_alarm() {
        let alarm = |name: &str, state| DeploymentAlarm {
            name: name.into(),
            state,
            stopped_deployment: false,
            history: vec![],
        };
        let seen = [
            alarm("demo-blue-unhealthy-hosts", AlarmState::Ok),
            alarm("demo-target-5xx", AlarmState::Alarm),
        ];
        let message = "One or more alarms have been activated according to the Amazon \
                       CloudWatch metrics you selected. Activated alarms: <demo-target-5xx>";
        assert_eq!(alarm_named_in(message, &seen), Some("demo-target-5xx"));
        assert_eq!(alarm_named_in("stopped by a user", &seen), None);
        assert_eq!(
            alarm_named_in("Activated alarms: <demo-blue-unhealthy-hosts>", &seen),
            None,
            "an alarm never seen in ALARM is not blamed"
        );
    }
}
