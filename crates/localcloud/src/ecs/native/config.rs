//! A service's `deploymentConfiguration`, `deploymentController` and a load
//! balancer's `advancedConfiguration`, parsed and checked as ECS checks them.
//!
//! Values are stored as given (so DescribeServices echoes what was asked
//! for); `with_defaults` fills in what ECS fills in, and `updated` merges an
//! UpdateService request into the stored configuration.

use super::members;
use super::schedule::LifecycleStage;
pub use crate::state::DeploymentControllerType;
use crate::wire::{AwsError, Input};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::ops::RangeInclusive;

const INVALID: &str = "InvalidParameterException";
const CONFIG: &str = "deploymentConfiguration";

/// Minutes of `bakeTimeInMinutes`, `stepBakeTimeInMinutes` and `canaryBakeTimeInMinutes`.
const BAKE_MINUTES: RangeInclusive<i64> = 0..=1440;
const HOOK_TIMEOUT_MINUTES: RangeInclusive<i64> = 1..=20160;
pub const DEFAULT_STEP_PERCENT: f64 = 10.0;
pub const DEFAULT_STEP_BAKE_MINUTES: i64 = 6;
pub const DEFAULT_CANARY_PERCENT: f64 = 5.0;
pub const DEFAULT_CANARY_BAKE_MINUTES: i64 = 10;
pub const DEFAULT_HOOK_TIMEOUT_MINUTES: i64 = 1440;
pub const DEFAULT_MAXIMUM_PERCENT: i64 = 200;
pub const DEFAULT_MINIMUM_HEALTHY_PERCENT: i64 = 100;

aws_enum!(DeploymentStrategy, "deployment strategy", {
    Rolling = "ROLLING",
    BlueGreen = "BLUE_GREEN",
    Linear = "LINEAR",
    Canary = "CANARY",
});

aws_enum!(DeploymentLifecycleHookTargetType, "lifecycle hook target type", {
    AwsLambda = "AWS_LAMBDA",
    Pause = "PAUSE",
});

aws_enum!(DeploymentLifecycleHookAction, "lifecycle hook action", {
    Rollback = "ROLLBACK",
    Continue = "CONTINUE",
});

aws_enum!(ThresholdType, "circuit breaker threshold type", {
    Count = "COUNT",
    BoundedPercent = "BOUNDED_PERCENT",
    UnboundedPercent = "UNBOUNDED_PERCENT",
});

aws_enum!(ServiceRevisionCleanup, "source service revision cleanup", {
    Blocking = "BLOCKING",
    Deferred = "DEFERRED",
});

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentConfiguration {
    pub strategy: Option<DeploymentStrategy>,
    pub bake_time_in_minutes: Option<i64>,
    pub linear_configuration: Option<LinearConfiguration>,
    pub canary_configuration: Option<CanaryConfiguration>,
    /// `None` when not given, so an update without it keeps the stored hooks.
    pub lifecycle_hooks: Option<Vec<DeploymentLifecycleHook>>,
    pub alarms: Option<DeploymentAlarms>,
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    pub maximum_percent: Option<i64>,
    pub minimum_healthy_percent: Option<i64>,
    pub early_success_criteria: Option<DeploymentEarlySuccessCriteria>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinearConfiguration {
    pub step_percent: Option<f64>,
    pub step_bake_time_in_minutes: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CanaryConfiguration {
    pub canary_percent: Option<f64>,
    pub canary_bake_time_in_minutes: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentLifecycleHook {
    /// `None` means AWS_LAMBDA, the model's default.
    pub target_type: Option<DeploymentLifecycleHookTargetType>,
    pub hook_target_arn: Option<String>,
    pub role_arn: Option<String>,
    pub lifecycle_stages: Vec<LifecycleStage>,
    /// Any JSON, passed to the Lambda function on each invocation.
    pub hook_details: Option<Value>,
    pub timeout_configuration: Option<DeploymentLifecycleHookTimeoutConfiguration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentLifecycleHookTimeoutConfiguration {
    pub timeout_in_minutes: Option<i64>,
    pub action: Option<DeploymentLifecycleHookAction>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentAlarms {
    pub alarm_names: Vec<String>,
    pub enable: bool,
    pub rollback: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentCircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
    pub reset_on_healthy_task: Option<bool>,
    pub threshold_configuration: Option<ThresholdConfiguration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdConfiguration {
    pub threshold_type: ThresholdType,
    pub value: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentEarlySuccessCriteria {
    pub enable: bool,
    pub healthy_percent: Option<i64>,
    pub source_service_revision_cleanup: Option<ServiceRevisionCleanup>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeploymentController {
    pub controller_type: DeploymentControllerType,
}

/// A load balancer's settings for ECS-native blue/green: the target group
/// the new revision starts on, and the listener rules ECS rewrites.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdvancedConfiguration {
    pub alternate_target_group_arn: String,
    pub production_listener_rule: String,
    pub test_listener_rule: Option<String>,
    pub role_arn: String,
}

impl DeploymentConfiguration {
    /// Parses the members of a `deploymentConfiguration` object. Rules that
    /// span members are `validate`'s, run after an update is merged.
    pub fn parse(input: &Input) -> Result<DeploymentConfiguration, AwsError> {
        let strategy = input
            .opt_str("strategy")?
            .map(|v| {
                DeploymentStrategy::parse_field(v, "deploymentConfiguration.strategy", INVALID)
            })
            .transpose()?;
        Ok(DeploymentConfiguration {
            strategy,
            bake_time_in_minutes: int_within(input, "bakeTimeInMinutes", CONFIG, BAKE_MINUTES)?,
            linear_configuration: nested(input, "linearConfiguration", LinearConfiguration::parse)?,
            canary_configuration: nested(input, "canaryConfiguration", CanaryConfiguration::parse)?,
            lifecycle_hooks: parse_hooks(input)?,
            alarms: nested(input, "alarms", DeploymentAlarms::parse)?,
            deployment_circuit_breaker: nested(
                input,
                "deploymentCircuitBreaker",
                DeploymentCircuitBreaker::parse,
            )?,
            maximum_percent: int_within(input, "maximumPercent", CONFIG, 0..=i64::from(i32::MAX))?,
            minimum_healthy_percent: int_within(input, "minimumHealthyPercent", CONFIG, 0..=100)?,
            early_success_criteria: nested(
                input,
                "earlySuccessCriteria",
                DeploymentEarlySuccessCriteria::parse,
            )?,
        })
    }

    /// CreateService's configuration: checked, with ECS's defaults.
    pub fn for_create(
        input: Option<&Input>,
        controller: DeploymentControllerType,
    ) -> Result<DeploymentConfiguration, AwsError> {
        let given = input.map(Self::parse).transpose()?.unwrap_or_default();
        given.checked(controller)
    }

    /// UpdateService's configuration: the members given replace the stored
    /// ones, the others stay (UpdateService does not reset what it is not
    /// sent; see `updated`).
    pub fn for_update(
        &self,
        input: &Input,
        controller: DeploymentControllerType,
    ) -> Result<DeploymentConfiguration, AwsError> {
        self.updated(&Self::parse(input)?).checked(controller)
    }

    fn checked(
        self,
        controller: DeploymentControllerType,
    ) -> Result<DeploymentConfiguration, AwsError> {
        self.validate()?;
        self.check_controller(controller)?;
        Ok(self.with_defaults(controller))
    }

    /// This configuration with `changes` applied: each member `changes` sets
    /// replaces the stored one whole (a list or structure is not merged
    /// item by item); a member it leaves out keeps its stored value. A
    /// strategy change drops the stored linear or canary settings it no
    /// longer uses, unless `changes` gives them (then `validate` refuses).
    pub fn updated(&self, changes: &DeploymentConfiguration) -> DeploymentConfiguration {
        let mut merged = self.clone();
        let c = changes.clone();
        if c.strategy.is_some() && c.strategy != self.strategy {
            merged.linear_configuration = None;
            merged.canary_configuration = None;
        }
        replace(&mut merged.strategy, c.strategy);
        replace(&mut merged.bake_time_in_minutes, c.bake_time_in_minutes);
        replace(&mut merged.linear_configuration, c.linear_configuration);
        replace(&mut merged.canary_configuration, c.canary_configuration);
        replace(&mut merged.lifecycle_hooks, c.lifecycle_hooks);
        replace(&mut merged.alarms, c.alarms);
        replace(
            &mut merged.deployment_circuit_breaker,
            c.deployment_circuit_breaker,
        );
        replace(&mut merged.maximum_percent, c.maximum_percent);
        replace(
            &mut merged.minimum_healthy_percent,
            c.minimum_healthy_percent,
        );
        replace(&mut merged.early_success_criteria, c.early_success_criteria);
        merged
    }

    /// The rules between members: strategy settings only with their
    /// strategy, early success no lower than the minimum healthy percent.
    pub fn validate(&self) -> Result<(), AwsError> {
        let strategy = self.strategy();
        if self.linear_configuration.is_some() && strategy != DeploymentStrategy::Linear {
            return Err(invalid(format!(
                "deploymentConfiguration.linearConfiguration is only valid with strategy LINEAR (the strategy is {strategy})."
            )));
        }
        if self.canary_configuration.is_some() && strategy != DeploymentStrategy::Canary {
            return Err(invalid(format!(
                "deploymentConfiguration.canaryConfiguration is only valid with strategy CANARY (the strategy is {strategy})."
            )));
        }
        let healthy = self
            .early_success_criteria
            .as_ref()
            .and_then(|c| c.healthy_percent);
        if let (Some(healthy), Some(minimum)) = (healthy, self.minimum_healthy_percent)
            && healthy < minimum
        {
            return Err(invalid(format!(
                "deploymentConfiguration.earlySuccessCriteria.healthyPercent ({healthy}) must be at least deploymentConfiguration.minimumHealthyPercent ({minimum})."
            )));
        }
        Ok(())
    }

    /// Blue/green, linear and canary are the ECS controller's strategies.
    pub fn check_controller(&self, controller: DeploymentControllerType) -> Result<(), AwsError> {
        let strategy = self.strategy();
        if strategy != DeploymentStrategy::Rolling && controller != DeploymentControllerType::Ecs {
            return Err(invalid(format!(
                "deploymentConfiguration.strategy {strategy} requires the ECS deployment controller (the service uses {controller})."
            )));
        }
        Ok(())
    }

    /// What ECS fills in for members left out, as DescribeServices shows
    /// them: maximum 200 and minimum healthy 100 percent; for the ECS
    /// controller the ROLLING strategy and a disabled circuit breaker; the
    /// settings of a LINEAR or CANARY strategy and of each hook.
    pub fn with_defaults(
        mut self,
        controller: DeploymentControllerType,
    ) -> DeploymentConfiguration {
        self.maximum_percent.get_or_insert(DEFAULT_MAXIMUM_PERCENT);
        self.minimum_healthy_percent
            .get_or_insert(DEFAULT_MINIMUM_HEALTHY_PERCENT);
        if controller == DeploymentControllerType::Ecs {
            self.strategy.get_or_insert(DeploymentStrategy::Rolling);
            self.deployment_circuit_breaker.get_or_insert_default();
        }
        match self.strategy() {
            DeploymentStrategy::Linear => {
                let linear = self.linear_configuration.get_or_insert_default();
                linear.step_percent = Some(linear.step_percent());
                linear.step_bake_time_in_minutes = Some(linear.step_bake_time_in_minutes());
            }
            DeploymentStrategy::Canary => {
                let canary = self.canary_configuration.get_or_insert_default();
                canary.canary_percent = Some(canary.canary_percent());
                canary.canary_bake_time_in_minutes = Some(canary.canary_bake_time_in_minutes());
            }
            DeploymentStrategy::Rolling | DeploymentStrategy::BlueGreen => {}
        }
        for hook in self.lifecycle_hooks.iter_mut().flatten() {
            hook.fill_defaults();
        }
        self
    }

    /// The strategy in force: ROLLING when none was given.
    pub fn strategy(&self) -> DeploymentStrategy {
        self.strategy.unwrap_or(DeploymentStrategy::Rolling)
    }

    pub fn hooks(&self) -> &[DeploymentLifecycleHook] {
        self.lifecycle_hooks.as_deref().unwrap_or_default()
    }

    /// As DescribeServices shows it: the members that are set.
    pub fn to_json(&self) -> Value {
        members([
            ("strategy", self.strategy.map(Value::from)),
            (
                "bakeTimeInMinutes",
                self.bake_time_in_minutes.map(Value::from),
            ),
            (
                "linearConfiguration",
                self.linear_configuration
                    .as_ref()
                    .map(LinearConfiguration::to_json),
            ),
            (
                "canaryConfiguration",
                self.canary_configuration
                    .as_ref()
                    .map(CanaryConfiguration::to_json),
            ),
            (
                "lifecycleHooks",
                self.lifecycle_hooks
                    .as_ref()
                    .map(|hooks| hooks.iter().map(DeploymentLifecycleHook::to_json).collect()),
            ),
            (
                "alarms",
                self.alarms.as_ref().map(DeploymentAlarms::to_json),
            ),
            (
                "deploymentCircuitBreaker",
                self.deployment_circuit_breaker
                    .as_ref()
                    .map(DeploymentCircuitBreaker::to_json),
            ),
            ("maximumPercent", self.maximum_percent.map(Value::from)),
            (
                "minimumHealthyPercent",
                self.minimum_healthy_percent.map(Value::from),
            ),
            (
                "earlySuccessCriteria",
                self.early_success_criteria
                    .as_ref()
                    .map(DeploymentEarlySuccessCriteria::to_json),
            ),
        ])
    }
}

impl LinearConfiguration {
    const PATH: &str = "deploymentConfiguration.linearConfiguration";

    pub fn parse(input: &Input) -> Result<LinearConfiguration, AwsError> {
        Ok(LinearConfiguration {
            step_percent: tenths_percent(input, "stepPercent", Self::PATH, 3.0)?,
            step_bake_time_in_minutes: int_within(
                input,
                "stepBakeTimeInMinutes",
                Self::PATH,
                BAKE_MINUTES,
            )?,
        })
    }

    pub fn step_percent(&self) -> f64 {
        self.step_percent.unwrap_or(DEFAULT_STEP_PERCENT)
    }

    pub fn step_bake_time_in_minutes(&self) -> i64 {
        self.step_bake_time_in_minutes
            .unwrap_or(DEFAULT_STEP_BAKE_MINUTES)
    }

    pub fn to_json(&self) -> Value {
        members([
            ("stepPercent", self.step_percent.map(Value::from)),
            (
                "stepBakeTimeInMinutes",
                self.step_bake_time_in_minutes.map(Value::from),
            ),
        ])
    }
}

impl CanaryConfiguration {
    const PATH: &str = "deploymentConfiguration.canaryConfiguration";

    pub fn parse(input: &Input) -> Result<CanaryConfiguration, AwsError> {
        Ok(CanaryConfiguration {
            canary_percent: tenths_percent(input, "canaryPercent", Self::PATH, 0.1)?,
            canary_bake_time_in_minutes: int_within(
                input,
                "canaryBakeTimeInMinutes",
                Self::PATH,
                BAKE_MINUTES,
            )?,
        })
    }

    pub fn canary_percent(&self) -> f64 {
        self.canary_percent.unwrap_or(DEFAULT_CANARY_PERCENT)
    }

    pub fn canary_bake_time_in_minutes(&self) -> i64 {
        self.canary_bake_time_in_minutes
            .unwrap_or(DEFAULT_CANARY_BAKE_MINUTES)
    }

    pub fn to_json(&self) -> Value {
        members([
            ("canaryPercent", self.canary_percent.map(Value::from)),
            (
                "canaryBakeTimeInMinutes",
                self.canary_bake_time_in_minutes.map(Value::from),
            ),
        ])
    }
}

fn parse_hooks(input: &Input) -> Result<Option<Vec<DeploymentLifecycleHook>>, AwsError> {
    if input.map.get("lifecycleHooks").is_none_or(Value::is_null) {
        return Ok(None);
    }
    let hooks = objects(input, "lifecycleHooks")?
        .iter()
        .enumerate()
        .map(|(i, hook)| {
            DeploymentLifecycleHook::parse_at(hook, &format!("{CONFIG}.lifecycleHooks[{i}]"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(hooks))
}

impl DeploymentLifecycleHook {
    pub fn parse(input: &Input) -> Result<DeploymentLifecycleHook, AwsError> {
        Self::parse_at(input, &format!("{CONFIG}.lifecycleHooks[]"))
    }

    /// `path` names the hook in error messages.
    fn parse_at(input: &Input, path: &str) -> Result<DeploymentLifecycleHook, AwsError> {
        let target_type = input
            .opt_str("targetType")?
            .map(|v| {
                DeploymentLifecycleHookTargetType::parse_field(
                    v,
                    &format!("{path}.targetType"),
                    INVALID,
                )
            })
            .transpose()?;
        let hook = DeploymentLifecycleHook {
            target_type,
            hook_target_arn: arn_field(input, "hookTargetArn", path)?,
            role_arn: arn_field(input, "roleArn", path)?,
            lifecycle_stages: hook_stages(input, path)?,
            hook_details: input
                .map
                .get("hookDetails")
                .filter(|v| !v.is_null())
                .cloned(),
            timeout_configuration: input
                .nested("timeoutConfiguration")?
                .map(|t| DeploymentLifecycleHookTimeoutConfiguration::parse_at(&t, path))
                .transpose()?,
        };
        hook.check_target(path)?;
        Ok(hook)
    }

    /// A Lambda hook names its function and the role ECS invokes it with; a
    /// PAUSE hook waits for ContinueServiceDeployment, so it cannot be at a
    /// stage that shifts traffic.
    fn check_target(&self, path: &str) -> Result<(), AwsError> {
        match self.target_type() {
            DeploymentLifecycleHookTargetType::AwsLambda => {
                if self.hook_target_arn.is_none() {
                    return Err(invalid(format!(
                        "{path}.hookTargetArn is required for an AWS_LAMBDA lifecycle hook."
                    )));
                }
                if self.role_arn.is_none() {
                    return Err(invalid(format!(
                        "{path}.roleArn is required for an AWS_LAMBDA lifecycle hook: ECS invokes the function with it."
                    )));
                }
            }
            DeploymentLifecycleHookTargetType::Pause => {
                if let Some(stage) = self.lifecycle_stages.iter().find(|s| !s.allows_pause()) {
                    return Err(invalid(format!(
                        "{path}.lifecycleStages: PAUSE hooks cannot be configured at {stage}; that stage is only valid for AWS_LAMBDA hooks."
                    )));
                }
            }
        }
        Ok(())
    }

    fn fill_defaults(&mut self) {
        self.target_type = Some(self.target_type());
        let timeout = self.timeout_configuration.get_or_insert_default();
        timeout.timeout_in_minutes = Some(timeout.timeout_in_minutes());
        timeout.action = Some(timeout.action());
    }

    pub fn target_type(&self) -> DeploymentLifecycleHookTargetType {
        self.target_type
            .unwrap_or(DeploymentLifecycleHookTargetType::AwsLambda)
    }

    pub fn timeout(&self) -> DeploymentLifecycleHookTimeoutConfiguration {
        let given = self.timeout_configuration.clone().unwrap_or_default();
        DeploymentLifecycleHookTimeoutConfiguration {
            timeout_in_minutes: Some(given.timeout_in_minutes()),
            action: Some(given.action()),
        }
    }

    pub fn to_json(&self) -> Value {
        members([
            ("targetType", self.target_type.map(Value::from)),
            (
                "hookTargetArn",
                self.hook_target_arn.clone().map(Value::from),
            ),
            ("roleArn", self.role_arn.clone().map(Value::from)),
            ("lifecycleStages", Some(json!(self.lifecycle_stages))),
            ("hookDetails", self.hook_details.clone()),
            (
                "timeoutConfiguration",
                self.timeout_configuration
                    .as_ref()
                    .map(DeploymentLifecycleHookTimeoutConfiguration::to_json),
            ),
        ])
    }
}

/// A hook's stages: at least one, each one that can have a hook.
fn hook_stages(input: &Input, path: &str) -> Result<Vec<LifecycleStage>, AwsError> {
    let field = format!("{path}.lifecycleStages");
    let names = input.str_list("lifecycleStages")?;
    if names.is_empty() {
        return Err(invalid(format!(
            "{field} is required: name at least one stage."
        )));
    }
    names.iter().map(|name| hook_stage(name, &field)).collect()
}

fn hook_stage(name: &str, field: &str) -> Result<LifecycleStage, AwsError> {
    let hookable: Vec<&str> = LifecycleStage::ALL
        .iter()
        .filter(|s| s.is_hookable())
        .map(|s| s.as_str())
        .collect();
    match LifecycleStage::parse(name) {
        Some(stage) if stage.is_hookable() => Ok(stage),
        Some(stage) => Err(invalid(format!(
            "{field}: {stage} cannot have a lifecycle hook; the stages that can are {}.",
            hookable.join(", ")
        ))),
        None => Err(invalid(format!(
            "Invalid lifecycle stage {name:?} for {field}: expected one of {}.",
            hookable.join(", ")
        ))),
    }
}

impl DeploymentLifecycleHookTimeoutConfiguration {
    fn parse_at(
        input: &Input,
        hook: &str,
    ) -> Result<DeploymentLifecycleHookTimeoutConfiguration, AwsError> {
        let path = format!("{hook}.timeoutConfiguration");
        let action = input
            .opt_str("action")?
            .map(|v| {
                DeploymentLifecycleHookAction::parse_field(v, &format!("{path}.action"), INVALID)
            })
            .transpose()?;
        Ok(DeploymentLifecycleHookTimeoutConfiguration {
            timeout_in_minutes: int_within(input, "timeoutInMinutes", &path, HOOK_TIMEOUT_MINUTES)?,
            action,
        })
    }

    pub fn timeout_in_minutes(&self) -> i64 {
        self.timeout_in_minutes
            .unwrap_or(DEFAULT_HOOK_TIMEOUT_MINUTES)
    }

    pub fn action(&self) -> DeploymentLifecycleHookAction {
        self.action
            .unwrap_or(DeploymentLifecycleHookAction::Rollback)
    }

    pub fn to_json(&self) -> Value {
        members([
            ("timeoutInMinutes", self.timeout_in_minutes.map(Value::from)),
            ("action", self.action.map(Value::from)),
        ])
    }
}

impl DeploymentAlarms {
    const PATH: &str = "deploymentConfiguration.alarms";

    pub fn parse(input: &Input) -> Result<DeploymentAlarms, AwsError> {
        if !input.map.contains_key("alarmNames") {
            return Err(invalid(format!("{}.alarmNames is required.", Self::PATH)));
        }
        Ok(DeploymentAlarms {
            alarm_names: input
                .str_list("alarmNames")?
                .into_iter()
                .map(str::to_owned)
                .collect(),
            enable: required_bool(input, "enable", Self::PATH)?,
            rollback: required_bool(input, "rollback", Self::PATH)?,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({"alarmNames": self.alarm_names, "enable": self.enable, "rollback": self.rollback})
    }
}

impl DeploymentCircuitBreaker {
    const PATH: &str = "deploymentConfiguration.deploymentCircuitBreaker";

    pub fn parse(input: &Input) -> Result<DeploymentCircuitBreaker, AwsError> {
        Ok(DeploymentCircuitBreaker {
            enable: required_bool(input, "enable", Self::PATH)?,
            rollback: required_bool(input, "rollback", Self::PATH)?,
            reset_on_healthy_task: input.opt_bool("resetOnHealthyTask")?,
            threshold_configuration: input
                .nested("thresholdConfiguration")?
                .map(|t| ThresholdConfiguration::parse(&t))
                .transpose()?,
        })
    }

    pub fn to_json(&self) -> Value {
        members([
            ("enable", Some(Value::from(self.enable))),
            ("rollback", Some(Value::from(self.rollback))),
            (
                "resetOnHealthyTask",
                self.reset_on_healthy_task.map(Value::from),
            ),
            (
                "thresholdConfiguration",
                self.threshold_configuration
                    .as_ref()
                    .map(ThresholdConfiguration::to_json),
            ),
        ])
    }
}

impl ThresholdConfiguration {
    const PATH: &str = "deploymentConfiguration.deploymentCircuitBreaker.thresholdConfiguration";

    pub fn parse(input: &Input) -> Result<ThresholdConfiguration, AwsError> {
        let name = input
            .opt_str("type")?
            .ok_or_else(|| invalid(format!("{}.type is required.", Self::PATH)))?;
        let threshold_type =
            ThresholdType::parse_field(name, &format!("{}.type", Self::PATH), INVALID)?;
        let value = int_within(input, "value", Self::PATH, 0..=i64::from(i32::MAX))?
            .ok_or_else(|| invalid(format!("{}.value is required.", Self::PATH)))?;
        Ok(ThresholdConfiguration {
            threshold_type,
            value,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({"type": self.threshold_type, "value": self.value})
    }
}

impl DeploymentEarlySuccessCriteria {
    const PATH: &str = "deploymentConfiguration.earlySuccessCriteria";

    pub fn parse(input: &Input) -> Result<DeploymentEarlySuccessCriteria, AwsError> {
        let cleanup = input
            .opt_str("sourceServiceRevisionCleanup")?
            .map(|v| {
                ServiceRevisionCleanup::parse_field(
                    v,
                    &format!("{}.sourceServiceRevisionCleanup", Self::PATH),
                    INVALID,
                )
            })
            .transpose()?;
        let criteria = DeploymentEarlySuccessCriteria {
            enable: required_bool(input, "enable", Self::PATH)?,
            healthy_percent: int_within(input, "healthyPercent", Self::PATH, 0..=100)?,
            source_service_revision_cleanup: cleanup,
        };
        if criteria.enable && (criteria.healthy_percent.is_none() || cleanup.is_none()) {
            return Err(invalid(format!(
                "{0}.healthyPercent and {0}.sourceServiceRevisionCleanup are required when {0}.enable is true.",
                Self::PATH
            )));
        }
        Ok(criteria)
    }

    pub fn to_json(&self) -> Value {
        members([
            ("enable", Some(Value::from(self.enable))),
            ("healthyPercent", self.healthy_percent.map(Value::from)),
            (
                "sourceServiceRevisionCleanup",
                self.source_service_revision_cleanup.map(Value::from),
            ),
        ])
    }
}

impl DeploymentController {
    /// The `deploymentController` object; CreateService without one means ECS.
    pub fn parse(input: &Input) -> Result<DeploymentController, AwsError> {
        let name = input
            .opt_str("type")?
            .ok_or_else(|| invalid("deploymentController.type is required."))?;
        Ok(DeploymentController {
            controller_type: DeploymentControllerType::parse_field(
                name,
                "deploymentController.type",
                INVALID,
            )?,
        })
    }

    pub fn to_json(self) -> Value {
        json!({"type": self.controller_type})
    }
}

impl Default for DeploymentController {
    fn default() -> DeploymentController {
        DeploymentController {
            controller_type: DeploymentControllerType::Ecs,
        }
    }
}

impl AdvancedConfiguration {
    pub fn parse(input: &Input) -> Result<AdvancedConfiguration, AwsError> {
        Self::parse_at(input, "loadBalancers[].advancedConfiguration")
    }

    /// `path` names the load balancer in error messages. ECS needs the
    /// alternate target group, the production rule it rewrites and the role
    /// it calls Elastic Load Balancing with; the test rule is optional.
    pub fn parse_at(input: &Input, path: &str) -> Result<AdvancedConfiguration, AwsError> {
        let required = |key: &str| {
            arn_field(input, key, path)?
                .ok_or_else(|| invalid(format!("{path}.{key} is required.")))
        };
        Ok(AdvancedConfiguration {
            alternate_target_group_arn: required("alternateTargetGroupArn")?,
            production_listener_rule: required("productionListenerRule")?,
            test_listener_rule: arn_field(input, "testListenerRule", path)?,
            role_arn: required("roleArn")?,
        })
    }

    pub fn to_json(&self) -> Value {
        members([
            (
                "alternateTargetGroupArn",
                Some(json!(self.alternate_target_group_arn)),
            ),
            (
                "productionListenerRule",
                Some(json!(self.production_listener_rule)),
            ),
            (
                "testListenerRule",
                self.test_listener_rule.clone().map(Value::from),
            ),
            ("roleArn", Some(json!(self.role_arn))),
        ])
    }
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new(INVALID, message)
}

fn replace<T>(stored: &mut Option<T>, given: Option<T>) {
    if given.is_some() {
        *stored = given;
    }
}

fn nested<T>(
    input: &Input,
    key: &str,
    parse: impl FnOnce(&Input) -> Result<T, AwsError>,
) -> Result<Option<T>, AwsError> {
    input.nested(key)?.map(|inner| parse(&inner)).transpose()
}

/// The objects of a list member, as inputs of their own.
fn objects<'a>(input: &Input<'a>, key: &str) -> Result<Vec<Input<'a>>, AwsError> {
    input
        .list(key)?
        .iter()
        .map(|item| {
            item.as_object()
                .map(|map| Input::new(map, input.invalid))
                .ok_or_else(|| {
                    AwsError::new(
                        "SerializationException",
                        format!("{key} must be a list of objects"),
                    )
                })
        })
        .collect()
}

fn int_within(
    input: &Input,
    key: &str,
    path: &str,
    range: RangeInclusive<i64>,
) -> Result<Option<i64>, AwsError> {
    let Some(value) = input.opt_i64(key)? else {
        return Ok(None);
    };
    if !range.contains(&value) {
        return Err(invalid(format!(
            "{path}.{key} must be between {} and {} (got {value}).",
            range.start(),
            range.end()
        )));
    }
    Ok(Some(value))
}

/// A percent the model types as a double: a multiple of 0.1 from `min` to 100.
fn tenths_percent(input: &Input, key: &str, path: &str, min: f64) -> Result<Option<f64>, AwsError> {
    let value = match input.map.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(_) => {
            return Err(AwsError::new(
                "SerializationException",
                format!("{key} must be a number"),
            ));
        }
    };
    let tenths = value * 10.0;
    let in_range = value >= min - 1e-9 && value <= 100.0 + 1e-9;
    if !in_range || (tenths - tenths.round()).abs() > 1e-6 {
        return Err(invalid(format!(
            "{path}.{key} must be a multiple of 0.1 from {min:.1} to 100.0 (got {value})."
        )));
    }
    Ok(Some(value))
}

fn required_bool(input: &Input, key: &str, path: &str) -> Result<bool, AwsError> {
    input
        .opt_bool(key)?
        .ok_or_else(|| invalid(format!("{path}.{key} is required.")))
}

/// An ARN-valued member: refused when it is not an ARN.
fn arn_field(input: &Input, key: &str, path: &str) -> Result<Option<String>, AwsError> {
    match input.opt_str(key)?.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(value) if value.starts_with("arn:") => Ok(Some(value.to_owned())),
        Some(value) => Err(invalid(format!(
            "{path}.{key} must be an ARN (got {value:?})."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn parse(value: Value) -> Result<DeploymentConfiguration, AwsError> {
        let map: Map<String, Value> = serde_json::from_value(value).unwrap();
        DeploymentConfiguration::for_create(
            Some(&Input::new(&map, INVALID)),
            DeploymentControllerType::Ecs,
        )
    }

    fn refused(value: Value) -> String {
        let error = parse(value).unwrap_err();
        assert_eq!(error.code, INVALID, "{}", error.message);
        error.message
    }

    fn lambda_hook(stages: &[&str]) -> Value {
        json!({
            "hookTargetArn": "arn:aws:lambda:us-east-1:000000000000:function:check",
            "roleArn": "arn:aws:iam::000000000000:role/hooks",
            "lifecycleStages": stages,
        })
    }

    #[test]
    fn linear_and_canary_take_their_documented_defaults() {
        let linear = parse(json!({"strategy": "LINEAR"})).unwrap();
        let settings = linear.linear_configuration.unwrap();
        assert_eq!(settings.step_percent, Some(10.0));
        assert_eq!(settings.step_bake_time_in_minutes, Some(6));
        let canary =
            parse(json!({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 20.0}}))
                .unwrap();
        let settings = canary.canary_configuration.unwrap();
        assert_eq!(settings.canary_percent, Some(20.0));
        assert_eq!(settings.canary_bake_time_in_minutes, Some(10));
    }

    #[test]
    fn a_service_without_configuration_rolls_with_200_and_100_percent() {
        let config =
            DeploymentConfiguration::for_create(None, DeploymentControllerType::Ecs).unwrap();
        assert_eq!(
            config.to_json(),
            json!({
                "strategy": "ROLLING",
                "deploymentCircuitBreaker": {"enable": false, "rollback": false},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            })
        );
        let code_deploy =
            DeploymentConfiguration::for_create(None, DeploymentControllerType::CodeDeploy)
                .unwrap();
        assert_eq!(
            code_deploy.to_json(),
            json!({"maximumPercent": 200, "minimumHealthyPercent": 100})
        );
    }

    #[test]
    fn percents_are_multiples_of_a_tenth_within_the_model_range() {
        assert!(
            refused(json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2.9}}))
                .contains("linearConfiguration.stepPercent")
        );
        assert!(
            refused(json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 10.05}}))
                .contains("multiple of 0.1")
        );
        assert!(
            parse(json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 33.3}}))
                .is_ok()
        );
        assert!(
            refused(json!({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.0}}))
                .contains("canaryConfiguration.canaryPercent")
        );
        assert!(
            parse(json!({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.1}}))
                .is_ok()
        );
        assert!(
            refused(json!({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 100.1}}))
                .contains("100.0")
        );
    }

    #[test]
    fn minutes_stay_within_their_ranges() {
        assert!(
            refused(json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1441}))
                .contains("bakeTimeInMinutes")
        );
        assert!(
            refused(
                json!({"strategy": "LINEAR", "linearConfiguration": {"stepBakeTimeInMinutes": -1}})
            )
            .contains("stepBakeTimeInMinutes")
        );
        assert!(refused(json!({"strategy": "CANARY", "canaryConfiguration": {"canaryBakeTimeInMinutes": 1441}}))
            .contains("canaryBakeTimeInMinutes"));
        let mut hook = lambda_hook(&["POST_SCALE_UP"]);
        hook["timeoutConfiguration"] = json!({"timeoutInMinutes": 0});
        assert!(
            refused(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [hook]}))
                .contains("timeoutInMinutes")
        );
        hook["timeoutConfiguration"] = json!({"timeoutInMinutes": 20160, "action": "CONTINUE"});
        assert!(parse(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [hook]})).is_ok());
        assert!(refused(json!({"minimumHealthyPercent": 101})).contains("minimumHealthyPercent"));
    }

    #[test]
    fn strategy_settings_only_with_their_strategy() {
        assert!(
            refused(json!({"strategy": "BLUE_GREEN", "linearConfiguration": {}}))
                .contains("only valid with strategy LINEAR")
        );
        assert!(refused(json!({"canaryConfiguration": {}})).contains("the strategy is ROLLING"));
        assert!(
            refused(json!({"strategy": "SIDEWAYS"}))
                .contains("ROLLING, BLUE_GREEN, LINEAR, CANARY")
        );
    }

    #[test]
    fn hooks_only_at_hookable_stages_and_pause_not_while_shifting() {
        assert!(
            refused(
                json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [lambda_hook(&["SCALE_UP"])]})
            )
            .contains("SCALE_UP cannot have a lifecycle hook")
        );
        assert!(
            refused(
                json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [lambda_hook(&["BAKE_TIME"])]})
            )
            .contains("lifecycleHooks[0].lifecycleStages")
        );
        assert!(
            refused(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [lambda_hook(&[])]}))
                .contains("is required")
        );
        let pause = |stage: &str| json!({"targetType": "PAUSE", "lifecycleStages": [stage]});
        for stage in ["TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"] {
            assert!(
                refused(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [pause(stage)]}))
                    .contains("PAUSE hooks cannot be configured")
            );
        }
        assert!(parse(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [pause("POST_TEST_TRAFFIC_SHIFT")]})).is_ok());
        assert!(
            parse(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [lambda_hook(&["PRODUCTION_TRAFFIC_SHIFT"])]}))
                .is_ok()
        );
    }

    #[test]
    fn a_lambda_hook_names_its_function_and_role_and_a_pause_hook_neither() {
        let mut hook = lambda_hook(&["POST_SCALE_UP"]);
        hook.as_object_mut().unwrap().remove("hookTargetArn");
        assert!(
            refused(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [hook]}))
                .contains("hookTargetArn is required")
        );
        let mut hook = lambda_hook(&["POST_SCALE_UP"]);
        hook["roleArn"] = json!("my-role");
        assert!(
            refused(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [hook]}))
                .contains("must be an ARN")
        );
        let config = parse(json!({"strategy": "BLUE_GREEN", "lifecycleHooks": [
            {"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"]}
        ]}))
        .unwrap();
        let hook = &config.hooks()[0];
        assert_eq!(hook.hook_target_arn, None);
        assert_eq!(hook.timeout().timeout_in_minutes, Some(1440));
        assert_eq!(
            hook.timeout().action,
            Some(DeploymentLifecycleHookAction::Rollback)
        );
    }

    #[test]
    fn echoes_only_what_is_set_with_numbers_typed_as_the_model() {
        let config = parse(json!({
            "strategy": "LINEAR",
            "bakeTimeInMinutes": 5,
            "linearConfiguration": {"stepPercent": 25},
            "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                "hookDetails": {"ticket": null, "n": 1}}],
            "alarms": {"alarmNames": ["5xx"], "enable": true, "rollback": true},
        }))
        .unwrap();
        let json = config.to_json();
        assert_eq!(
            json["linearConfiguration"],
            json!({"stepPercent": 25.0, "stepBakeTimeInMinutes": 6})
        );
        assert!(json["linearConfiguration"]["stepPercent"].is_f64());
        assert!(json["bakeTimeInMinutes"].is_i64());
        assert_eq!(
            json["lifecycleHooks"][0]["hookDetails"],
            json!({"ticket": null, "n": 1})
        );
        assert_eq!(
            json["lifecycleHooks"][0]["timeoutConfiguration"],
            json!({"timeoutInMinutes": 1440, "action": "ROLLBACK"})
        );
        assert!(json["lifecycleHooks"][0].get("hookTargetArn").is_none());
        assert_eq!(
            json["alarms"],
            json!({"alarmNames": ["5xx"], "enable": true, "rollback": true})
        );
        assert!(json.get("earlySuccessCriteria").is_none());
    }

    #[test]
    fn an_update_replaces_the_members_it_gives_and_keeps_the_others() {
        let stored = parse(json!({
            "strategy": "LINEAR",
            "bakeTimeInMinutes": 5,
            "linearConfiguration": {"stepPercent": 20},
            "alarms": {"alarmNames": ["5xx"], "enable": true, "rollback": true},
        }))
        .unwrap();
        let update = |value: Value| {
            let map: Map<String, Value> = serde_json::from_value(value).unwrap();
            stored.for_update(&Input::new(&map, INVALID), DeploymentControllerType::Ecs)
        };
        let kept = update(json!({"bakeTimeInMinutes": 1})).unwrap();
        assert_eq!(kept.bake_time_in_minutes, Some(1));
        assert_eq!(kept.linear_configuration, stored.linear_configuration);
        assert_eq!(kept.alarms, stored.alarms);
        let canary = update(json!({"strategy": "CANARY"})).unwrap();
        assert_eq!(canary.linear_configuration, None);
        assert_eq!(
            canary.canary_configuration.unwrap().canary_percent,
            Some(5.0)
        );
        assert_eq!(canary.bake_time_in_minutes, Some(5));
        let error =
            update(json!({"strategy": "BLUE_GREEN", "linearConfiguration": {}})).unwrap_err();
        assert!(error.message.contains("only valid with strategy LINEAR"));
        let hooks_cleared = update(json!({"lifecycleHooks": []})).unwrap();
        assert_eq!(hooks_cleared.lifecycle_hooks, Some(vec![]));
    }

    #[test]
    fn native_strategies_need_the_ecs_controller() {
        let map: Map<String, Value> =
            serde_json::from_value(json!({"strategy": "BLUE_GREEN"})).unwrap();
        let error = DeploymentConfiguration::for_create(
            Some(&Input::new(&map, INVALID)),
            DeploymentControllerType::CodeDeploy,
        )
        .unwrap_err();
        assert!(
            error
                .message
                .contains("requires the ECS deployment controller")
        );
    }

    #[test]
    fn alarms_circuit_breaker_and_early_success_need_their_required_members() {
        assert!(
            refused(json!({"alarms": {"alarmNames": [], "enable": true}}))
                .contains("alarms.rollback is required")
        );
        assert!(
            refused(json!({"deploymentCircuitBreaker": {"enable": true}}))
                .contains("deploymentCircuitBreaker.rollback")
        );
        assert!(
            refused(json!({"earlySuccessCriteria": {"enable": true, "healthyPercent": 100}}))
                .contains("sourceServiceRevisionCleanup")
        );
        assert!(
            refused(json!({"minimumHealthyPercent": 50, "earlySuccessCriteria":
            {"enable": true, "healthyPercent": 40, "sourceServiceRevisionCleanup": "DEFERRED"}}))
            .contains("at least")
        );
        let config = parse(
            json!({"deploymentCircuitBreaker": {"enable": true, "rollback": true,
            "thresholdConfiguration": {"type": "COUNT", "value": 3}}}),
        )
        .unwrap();
        assert_eq!(
            config.to_json()["deploymentCircuitBreaker"],
            json!({"enable": true, "rollback": true, "thresholdConfiguration": {"type": "COUNT", "value": 3}})
        );
    }

    #[test]
    fn controller_and_advanced_configuration() {
        let map: Map<String, Value> = serde_json::from_value(json!({"type": "EXTERNAL"})).unwrap();
        let controller = DeploymentController::parse(&Input::new(&map, INVALID)).unwrap();
        assert_eq!(controller.to_json(), json!({"type": "EXTERNAL"}));
        let map: Map<String, Value> = serde_json::from_value(json!({"type": "ARGO"})).unwrap();
        assert_eq!(
            DeploymentController::parse(&Input::new(&map, INVALID))
                .unwrap_err()
                .code,
            INVALID
        );
        let advanced = json!({
            "alternateTargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/green/1",
            "productionListenerRule": "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/lb/1/2/3",
            "roleArn": "arn:aws:iam::000000000000:role/ecs-elb",
        });
        let map: Map<String, Value> = serde_json::from_value(advanced.clone()).unwrap();
        let parsed = AdvancedConfiguration::parse(&Input::new(&map, INVALID)).unwrap();
        assert_eq!(parsed.to_json(), advanced);
        let mut without_rule = map.clone();
        without_rule.remove("productionListenerRule");
        let error = AdvancedConfiguration::parse_at(
            &Input::new(&without_rule, INVALID),
            "loadBalancers[0].advancedConfiguration",
        )
        .unwrap_err();
        assert_eq!(
            error.message,
            "loadBalancers[0].advancedConfiguration.productionListenerRule is required."
        );
    }

    #[test]
    fn stored_configurations_load_back_and_tolerate_missing_members() {
        let config = parse(json!({"strategy": "CANARY", "lifecycleHooks": [lambda_hook(&["POST_PRODUCTION_TRAFFIC_SHIFT"])]})).unwrap();
        let stored = serde_json::to_string(&config).unwrap();
        assert_eq!(
            serde_json::from_str::<DeploymentConfiguration>(&stored).unwrap(),
            config
        );
        let old: DeploymentConfiguration =
            serde_json::from_str(r#"{"strategy":"BLUE_GREEN"}"#).unwrap();
        assert_eq!(old.strategy(), DeploymentStrategy::BlueGreen);
    }
}
