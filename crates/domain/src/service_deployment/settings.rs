//! The settings an environment deploys with when ECS itself is the
//! deployment controller (`deploymentController.type = ECS`): the strategy,
//! the bake time and the gates, PAUSE hooks that switchyard holds until the
//! team approves. switchyard owns these settings and sends them with every
//! UpdateService, so the limits and defaults here are the ECS API model's.

use crate::{FieldError, ForField, Invalid};
use serde::{Deserialize, Serialize};

/// Which controller shifts an environment's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DeploymentController {
    /// CodeDeploy's ECS blue/green deployments (the walkthrough's path).
    #[default]
    CodeDeploy,
    /// ECS's own blue/green, linear and canary deployments.
    Ecs,
}

impl DeploymentController {
    pub const ALL: [DeploymentController; 2] =
        [DeploymentController::CodeDeploy, DeploymentController::Ecs];

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .ok_or_else(|| {
                Invalid::new(format!(
                    "unknown deployment controller {value:?}: expected \"codedeploy\" or \"ecs\""
                ))
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentController::CodeDeploy => "codedeploy",
            DeploymentController::Ecs => "ecs",
        }
    }

    /// The service's `deploymentController.type`.
    pub fn ecs_type(self) -> &'static str {
        match self {
            DeploymentController::CodeDeploy => "CODE_DEPLOY",
            DeploymentController::Ecs => "ECS",
        }
    }
}

impl std::fmt::Display for DeploymentController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

aws_status!(
    /// `deploymentConfiguration.strategy`, without ROLLING: a rolling update
    /// has no traffic shift for switchyard to show or gate.
    StrategyName,
    "deployment strategy",
    [BlueGreen = "BLUE_GREEN", Linear = "LINEAR", Canary = "CANARY"]
);

aws_status!(
    /// The service deployment stages a PAUSE hook may hold: the hookable
    /// ones, without the two that shift traffic.
    PausableStage,
    "pausable lifecycle stage",
    [
        ReconcileService = "RECONCILE_SERVICE",
        PreScaleUp = "PRE_SCALE_UP",
        PostScaleUp = "POST_SCALE_UP",
        PostTestTrafficShift = "POST_TEST_TRAFFIC_SHIFT",
        PreProductionTrafficShift = "PRE_PRODUCTION_TRAFFIC_SHIFT",
        PostProductionTrafficShift = "POST_PRODUCTION_TRAFFIC_SHIFT",
    ]
);

aws_status!(
    /// What ECS does when a PAUSE hook's timeout passes
    /// (`timeoutConfiguration.action`).
    TimeoutAction,
    "timeout action",
    [Rollback = "ROLLBACK", Continue = "CONTINUE"]
);

/// A percentage the ECS model types as a double: a multiple of 0.1, kept in
/// tenths so it compares and stores exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent {
    tenths: u16,
}

impl Percent {
    /// `value` within `min_tenths`/10 ..= 100, in steps of 0.1.
    fn parse(value: f64, min_tenths: u16) -> Result<Self, Invalid> {
        let tenths = (value * 10.0).round();
        let in_range = tenths >= f64::from(min_tenths) && tenths <= 1000.0;
        if !value.is_finite() || !in_range || (tenths - value * 10.0).abs() > 1e-6 {
            return Err(Invalid::new(format!(
                "must be a multiple of 0.1 from {} to 100 (got {value})",
                f64::from(min_tenths) / 10.0
            )));
        }
        Ok(Percent {
            tenths: tenths as u16,
        })
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.tenths) / 10.0
    }
}

/// Minutes the model bounds at 0 to 1440: bake times.
pub const MAX_BAKE_MINUTES: u32 = 1440;
/// A PAUSE hook's `timeoutInMinutes`: 1 to 20160 (two weeks).
pub const MAX_GATE_TIMEOUT_MINUTES: u32 = 20160;

/// How production traffic moves to the new revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// All at once, after the test traffic shift.
    BlueGreen,
    /// `step` more every `step_bake_minutes`.
    Linear {
        step: Percent,
        step_bake_minutes: u32,
    },
    /// `percent` first, the rest after `bake_minutes`.
    Canary { percent: Percent, bake_minutes: u32 },
}

impl Strategy {
    pub fn name(self) -> StrategyName {
        match self {
            Strategy::BlueGreen => StrategyName::BlueGreen,
            Strategy::Linear { .. } => StrategyName::Linear,
            Strategy::Canary { .. } => StrategyName::Canary,
        }
    }
}

impl Strategy {
    /// The production weights the new revision is planned to get, each at
    /// its offset after the production shift starts: the plan the
    /// dashboard draws against what ECS reports. Percents count in tenths,
    /// the model's granularity, so 33.3 % steps add up without drift.
    pub fn planned_shift(self) -> Vec<(std::time::Duration, f64)> {
        let minutes = |m: u32| std::time::Duration::from_secs(u64::from(m) * 60);
        let percent = |tenths: u16| f64::from(tenths) / 10.0;
        match self {
            Strategy::BlueGreen => vec![(std::time::Duration::ZERO, 100.0)],
            Strategy::Linear {
                step,
                step_bake_minutes,
            } => {
                let count = 1000_u16.div_ceil(step.tenths.max(1));
                (0..count)
                    .map(|k| {
                        let weight = ((k + 1) * step.tenths).min(1000);
                        (minutes(step_bake_minutes) * u32::from(k), percent(weight))
                    })
                    .collect()
            }
            Strategy::Canary {
                percent: canary,
                bake_minutes,
            } if canary.tenths < 1000 => vec![
                (std::time::Duration::ZERO, canary.as_f64()),
                (minutes(bake_minutes), 100.0),
            ],
            Strategy::Canary { .. } => vec![(std::time::Duration::ZERO, 100.0)],
        }
    }
}

/// `LINEAR: 25% every 1 min`, as the dashboard and the CLI show it.
impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::BlueGreen => f.write_str("BLUE_GREEN: all at once"),
            Strategy::Linear {
                step,
                step_bake_minutes,
            } => write!(
                f,
                "LINEAR: {}% every {step_bake_minutes} min",
                step.as_f64()
            ),
            Strategy::Canary {
                percent,
                bake_minutes,
            } => write!(
                f,
                "CANARY: {}%, the rest after {bake_minutes} min",
                percent.as_f64()
            ),
        }
    }
}

/// Hold the deployment at `stage` until the release is approved; when
/// nobody decides within `timeout_minutes`, ECS takes `on_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PauseGate {
    pub stage: PausableStage,
    pub timeout_minutes: u32,
    pub on_timeout: TimeoutAction,
}

impl PauseGate {
    /// ECS's default: a day, then roll back.
    pub const DEFAULT_TIMEOUT_MINUTES: u32 = 1440;
    pub const DEFAULT_STAGE: PausableStage = PausableStage::PreProductionTrafficShift;
}

/// `PRE_PRODUCTION_TRAFFIC_SHIFT until approved, ROLLBACK after 60 min`.
impl std::fmt::Display for PauseGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} until approved, {} after {} min",
            self.stage, self.on_timeout, self.timeout_minutes
        )
    }
}

/// The ECS-controller settings of an environment, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsDeploymentSettings {
    pub strategy: Strategy,
    /// How long both revisions keep running after the last shift.
    pub bake_time_minutes: u32,
    /// At most one gate per stage, in lifecycle order.
    pub gates: Vec<PauseGate>,
}

impl Default for EcsDeploymentSettings {
    fn default() -> Self {
        EcsDeploymentSettings::parse(&EcsDeploymentSpec::default(), "ecs_deployment")
            .expect("the defaults are valid")
    }
}

/// The raw shape of [`EcsDeploymentSettings`], as the API takes it and the
/// store keeps it. Absent parts take ECS's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = EcsDeployment))]
#[serde(deny_unknown_fields)]
pub struct EcsDeploymentSpec {
    /// BLUE_GREEN (default), LINEAR or CANARY.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<StrategyNameSchema>))]
    pub strategy: Option<String>,
    /// With LINEAR only.
    #[serde(default)]
    pub linear: Option<LinearSpec>,
    /// With CANARY only.
    #[serde(default)]
    pub canary: Option<CanarySpec>,
    /// Both revisions keep running this long after the last shift (default 5).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1440))]
    pub bake_time_minutes: Option<i64>,
    /// PAUSE hooks held until the release is approved; one per stage.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 6))]
    pub gates: Option<Vec<GateSpec>>,
}

/// LINEAR: `step_percent` more every `step_bake_minutes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = LinearShift))]
#[serde(deny_unknown_fields)]
pub struct LinearSpec {
    /// A multiple of 0.1 (default 10).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 3, maximum = 100))]
    pub step_percent: Option<f64>,
    /// Default 6.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1440))]
    pub step_bake_minutes: Option<i64>,
}

/// CANARY: `percent` first, the rest after `bake_minutes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CanaryShift))]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    /// A multiple of 0.1 (default 5).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0.1, maximum = 100))]
    pub percent: Option<f64>,
    /// Default 10.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1440))]
    pub bake_minutes: Option<i64>,
}

/// Hold deployments at `stage` until the release is approved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PauseGate))]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// Default PRE_PRODUCTION_TRAFFIC_SHIFT.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PausableStageSchema>))]
    pub stage: Option<String>,
    /// Default 1440 (a day).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 20160))]
    pub timeout_minutes: Option<i64>,
    /// What ECS does when nobody decided in time: ROLLBACK (default) or CONTINUE.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<TimeoutActionSchema>))]
    pub timeout_action: Option<String>,
}

/// The names the API takes, for its OpenAPI document.
#[cfg(feature = "openapi")]
mod schema {
    use super::{PausableStage, StrategyName, TimeoutAction};
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

    fn one_of(values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values))
            .into()
    }

    macro_rules! names {
        ($($schema:ident => $enum:ident),*) => {$(
            pub struct $schema;
            impl utoipa::PartialSchema for $schema {
                fn schema() -> RefOr<Schema> {
                    one_of($enum::ALL.iter().map(|v| v.as_str()))
                }
            }
            impl utoipa::ToSchema for $schema {}
        )*};
    }

    names!(
        StrategyNameSchema => StrategyName,
        PausableStageSchema => PausableStage,
        TimeoutActionSchema => TimeoutAction
    );
}
#[cfg(feature = "openapi")]
use schema::{PausableStageSchema, StrategyNameSchema, TimeoutActionSchema};

/// Defaults of the ECS model.
const DEFAULT_STEP_PERCENT: f64 = 10.0;
const DEFAULT_STEP_BAKE_MINUTES: i64 = 6;
const DEFAULT_CANARY_PERCENT: f64 = 5.0;
const DEFAULT_CANARY_BAKE_MINUTES: i64 = 10;
/// switchyard's default bake time: long enough to roll back by hand
/// before the old revision goes, as CodeDeploy's termination wait.
const DEFAULT_BAKE_TIME_MINUTES: i64 = 5;

fn minutes(value: i64, min: u32, max: u32) -> Result<u32, Invalid> {
    u32::try_from(value)
        .ok()
        .filter(|m| (min..=max).contains(m))
        .ok_or_else(|| Invalid::new(format!("must be {min} to {max} minutes (got {value})")))
}

impl EcsDeploymentSettings {
    /// Parses `spec`; an error names its field under `prefix`
    /// (e.g. `ecs_deployment.linear.step_percent`).
    pub fn parse(spec: &EcsDeploymentSpec, prefix: &str) -> Result<Self, FieldError> {
        let field = |name: &str| format!("{prefix}.{name}");
        let name = match &spec.strategy {
            Some(s) => StrategyName::parse(s).for_field(&field("strategy"))?,
            None => StrategyName::BlueGreen,
        };
        let mismatch = |part: &str, strategy: &str| FieldError {
            field: field(part),
            message: format!("{part} applies to strategy {strategy} only (the strategy is {name})"),
        };
        if spec.linear.is_some() && name != StrategyName::Linear {
            return Err(mismatch("linear", "LINEAR"));
        }
        if spec.canary.is_some() && name != StrategyName::Canary {
            return Err(mismatch("canary", "CANARY"));
        }
        let strategy = match name {
            StrategyName::BlueGreen => Strategy::BlueGreen,
            StrategyName::Linear => {
                let linear = spec.linear.clone().unwrap_or_default();
                Strategy::Linear {
                    step: Percent::parse(linear.step_percent.unwrap_or(DEFAULT_STEP_PERCENT), 30)
                        .for_field(&field("linear.step_percent"))?,
                    step_bake_minutes: minutes(
                        linear
                            .step_bake_minutes
                            .unwrap_or(DEFAULT_STEP_BAKE_MINUTES),
                        0,
                        MAX_BAKE_MINUTES,
                    )
                    .for_field(&field("linear.step_bake_minutes"))?,
                }
            }
            StrategyName::Canary => {
                let canary = spec.canary.clone().unwrap_or_default();
                Strategy::Canary {
                    percent: Percent::parse(canary.percent.unwrap_or(DEFAULT_CANARY_PERCENT), 1)
                        .for_field(&field("canary.percent"))?,
                    bake_minutes: minutes(
                        canary.bake_minutes.unwrap_or(DEFAULT_CANARY_BAKE_MINUTES),
                        0,
                        MAX_BAKE_MINUTES,
                    )
                    .for_field(&field("canary.bake_minutes"))?,
                }
            }
        };
        let bake_time_minutes = minutes(
            spec.bake_time_minutes.unwrap_or(DEFAULT_BAKE_TIME_MINUTES),
            0,
            MAX_BAKE_MINUTES,
        )
        .for_field(&field("bake_time_minutes"))?;
        let gates = parse_gates(spec.gates.as_deref().unwrap_or_default(), &field("gates"))?;
        Ok(EcsDeploymentSettings {
            strategy,
            bake_time_minutes,
            gates,
        })
    }

    /// The whole spec, every default written out: what the API shows and
    /// the store keeps.
    pub fn spec(&self) -> EcsDeploymentSpec {
        let (linear, canary) = match self.strategy {
            Strategy::BlueGreen => (None, None),
            Strategy::Linear {
                step,
                step_bake_minutes,
            } => (
                Some(LinearSpec {
                    step_percent: Some(step.as_f64()),
                    step_bake_minutes: Some(i64::from(step_bake_minutes)),
                }),
                None,
            ),
            Strategy::Canary {
                percent,
                bake_minutes,
            } => (
                None,
                Some(CanarySpec {
                    percent: Some(percent.as_f64()),
                    bake_minutes: Some(i64::from(bake_minutes)),
                }),
            ),
        };
        EcsDeploymentSpec {
            strategy: Some(self.strategy.name().as_str().to_owned()),
            linear,
            canary,
            bake_time_minutes: Some(i64::from(self.bake_time_minutes)),
            gates: Some(
                self.gates
                    .iter()
                    .map(|g| GateSpec {
                        stage: Some(g.stage.as_str().to_owned()),
                        timeout_minutes: Some(i64::from(g.timeout_minutes)),
                        timeout_action: Some(g.on_timeout.as_str().to_owned()),
                    })
                    .collect(),
            ),
        }
    }

    /// The gate a PAUSE hook holds a deployment at, from the stage ECS
    /// reports: its model has no PRE_PRODUCTION_TRAFFIC_SHIFT stage, so a
    /// hold there reads as the production shift at weight 0.
    pub fn gate_holding(&self, reported_stage: &str, production_weight: f64) -> Option<&PauseGate> {
        if reported_stage == "PRODUCTION_TRAFFIC_SHIFT"
            && production_weight == 0.0
            && let Some(gate) = self.gate_at(PausableStage::PreProductionTrafficShift)
        {
            return Some(gate);
        }
        PausableStage::parse(reported_stage)
            .ok()
            .and_then(|stage| self.gate_at(stage))
    }

    /// The gate at `stage`, if the environment holds deployments there.
    pub fn gate_at(&self, stage: PausableStage) -> Option<&PauseGate> {
        self.gates.iter().find(|g| g.stage == stage)
    }
}

fn parse_gates(specs: &[GateSpec], prefix: &str) -> Result<Vec<PauseGate>, FieldError> {
    let mut gates: Vec<PauseGate> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let field = |name: &str| format!("{prefix}[{i}].{name}");
        let gate = PauseGate {
            stage: match &spec.stage {
                Some(stage) => PausableStage::parse(stage).for_field(&field("stage"))?,
                None => PauseGate::DEFAULT_STAGE,
            },
            timeout_minutes: minutes(
                spec.timeout_minutes
                    .unwrap_or(i64::from(PauseGate::DEFAULT_TIMEOUT_MINUTES)),
                1,
                MAX_GATE_TIMEOUT_MINUTES,
            )
            .for_field(&field("timeout_minutes"))?,
            on_timeout: match &spec.timeout_action {
                Some(action) => TimeoutAction::parse(action).for_field(&field("timeout_action"))?,
                None => TimeoutAction::Rollback,
            },
        };
        if gates.iter().any(|g| g.stage == gate.stage) {
            return Err(FieldError {
                field: field("stage"),
                message: format!("two gates at {}: one gate per stage", gate.stage),
            });
        }
        gates.push(gate);
    }
    gates.sort_by_key(|g| PausableStage::ALL.iter().position(|s| *s == g.stage));
    Ok(gates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<EcsDeploymentSettings, FieldError> {
        let spec: EcsDeploymentSpec = serde_json::from_value(json).unwrap();
        EcsDeploymentSettings::parse(&spec, "ecs_deployment")
    }

    fn field_of(json: serde_json::Value) -> String {
        parse(json).unwrap_err().field
    }

    #[test]
    fn absent_parts_take_the_defaults_of_the_model() {
        let blue_green = EcsDeploymentSettings::default();
        assert_eq!(blue_green.strategy, Strategy::BlueGreen);
        assert_eq!(blue_green.bake_time_minutes, 5);
        assert!(blue_green.gates.is_empty());
        let linear = parse(serde_json::json!({"strategy": "LINEAR"})).unwrap();
        assert_eq!(
            linear.strategy,
            Strategy::Linear {
                step: Percent { tenths: 100 },
                step_bake_minutes: 6
            }
        );
        let canary = parse(serde_json::json!({"strategy": "CANARY", "gates": [{}]})).unwrap();
        assert_eq!(
            canary.strategy,
            Strategy::Canary {
                percent: Percent { tenths: 50 },
                bake_minutes: 10
            }
        );
        assert_eq!(
            canary.gates,
            vec![PauseGate {
                stage: PausableStage::PreProductionTrafficShift,
                timeout_minutes: 1440,
                on_timeout: TimeoutAction::Rollback
            }]
        );
    }

    #[test]
    fn limits_are_the_models_and_errors_name_the_field() {
        use serde_json::json;
        let ok = |j| parse(j).unwrap();
        ok(json!({"strategy": "LINEAR", "linear": {"step_percent": 3.0, "step_bake_minutes": 0}}));
        ok(
            json!({"strategy": "LINEAR", "linear": {"step_percent": 100, "step_bake_minutes": 1440}}),
        );
        ok(json!({"strategy": "CANARY", "canary": {"percent": 0.1}}));
        ok(json!({"gates": [{"timeout_minutes": 20160, "timeout_action": "CONTINUE"}]}));
        for (bad, field) in [
            (json!({"strategy": "ROLLING"}), "strategy"),
            (json!({"strategy": "linear"}), "strategy"),
            (
                json!({"strategy": "LINEAR", "linear": {"step_percent": 2.9}}),
                "linear.step_percent",
            ),
            (
                json!({"strategy": "LINEAR", "linear": {"step_percent": 12.55}}),
                "linear.step_percent",
            ),
            (
                json!({"strategy": "LINEAR", "linear": {"step_percent": 100.1}}),
                "linear.step_percent",
            ),
            (
                json!({"strategy": "LINEAR", "linear": {"step_bake_minutes": 1441}}),
                "linear.step_bake_minutes",
            ),
            (
                json!({"strategy": "LINEAR", "linear": {"step_bake_minutes": -1}}),
                "linear.step_bake_minutes",
            ),
            (
                json!({"strategy": "CANARY", "canary": {"percent": 0.05}}),
                "canary.percent",
            ),
            (
                json!({"strategy": "CANARY", "canary": {"bake_minutes": 99999}}),
                "canary.bake_minutes",
            ),
            (json!({"strategy": "CANARY", "linear": {}}), "linear"),
            (json!({"canary": {}}), "canary"),
            (json!({"bake_time_minutes": 1441}), "bake_time_minutes"),
            (
                json!({"gates": [{"stage": "PRODUCTION_TRAFFIC_SHIFT"}]}),
                "gates[0].stage",
            ),
            (json!({"gates": [{"stage": "BAKE_TIME"}]}), "gates[0].stage"),
            (
                json!({"gates": [{}, {"timeout_minutes": 0}]}),
                "gates[1].timeout_minutes",
            ),
            (
                json!({"gates": [{"timeout_minutes": 20161}]}),
                "gates[0].timeout_minutes",
            ),
            (
                json!({"gates": [{"timeout_action": "ABORT"}]}),
                "gates[0].timeout_action",
            ),
            (
                json!({"gates": [{}, {"stage": "PRE_PRODUCTION_TRAFFIC_SHIFT"}]}),
                "gates[1].stage",
            ),
        ] {
            assert_eq!(
                field_of(bad.clone()),
                format!("ecs_deployment.{field}"),
                "{bad}"
            );
        }
        let message = parse(json!({"strategy": "CANARY", "linear": {}}))
            .unwrap_err()
            .message;
        assert_eq!(
            message,
            "linear applies to strategy LINEAR only (the strategy is CANARY)"
        );
    }

    #[test]
    fn the_spec_round_trips_with_every_default_written_out() {
        let settings = parse(serde_json::json!({
            "strategy": "LINEAR",
            "linear": {"step_percent": 12.5},
            "gates": [
                {"stage": "POST_PRODUCTION_TRAFFIC_SHIFT", "timeout_minutes": 30},
                {"stage": "POST_TEST_TRAFFIC_SHIFT", "timeout_action": "CONTINUE"}
            ]
        }))
        .unwrap();
        let spec = settings.spec();
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            serde_json::json!({
                "strategy": "LINEAR",
                "linear": {"step_percent": 12.5, "step_bake_minutes": 6},
                "canary": null,
                "bake_time_minutes": 5,
                "gates": [
                    {"stage": "POST_TEST_TRAFFIC_SHIFT", "timeout_minutes": 1440, "timeout_action": "CONTINUE"},
                    {"stage": "POST_PRODUCTION_TRAFFIC_SHIFT", "timeout_minutes": 30, "timeout_action": "ROLLBACK"}
                ]
            })
        );
        assert_eq!(EcsDeploymentSettings::parse(&spec, "x").unwrap(), settings);
        assert!(
            settings
                .gate_at(PausableStage::PostTestTrafficShift)
                .is_some()
        );
        assert_eq!(settings.strategy.to_string(), "LINEAR: 12.5% every 6 min");
        assert_eq!(
            settings.gates[1].to_string(),
            "POST_PRODUCTION_TRAFFIC_SHIFT until approved, ROLLBACK after 30 min"
        );
        assert!(
            settings
                .gate_at(PausableStage::PreProductionTrafficShift)
                .is_none()
        );
    }

    #[test]
    fn a_hold_reported_as_the_production_shift_at_0_is_the_pre_production_gate() {
        let settings = parse(serde_json::json!({
            "gates": [{"stage": "POST_SCALE_UP"}, {"stage": "PRE_PRODUCTION_TRAFFIC_SHIFT"}]
        }))
        .unwrap();
        let stage = |reported: &str, weight: f64| {
            settings
                .gate_holding(reported, weight)
                .map(|g| g.stage.as_str())
        };
        assert_eq!(
            stage("PRODUCTION_TRAFFIC_SHIFT", 0.0),
            Some("PRE_PRODUCTION_TRAFFIC_SHIFT")
        );
        assert_eq!(stage("POST_SCALE_UP", 0.0), Some("POST_SCALE_UP"));
        assert_eq!(stage("PRODUCTION_TRAFFIC_SHIFT", 10.0), None);
        assert_eq!(stage("POST_TEST_TRAFFIC_SHIFT", 0.0), None);
    }

    #[test]
    fn the_planned_shift_follows_the_strategy() {
        use serde_json::json;
        let plan = |strategy: serde_json::Value| {
            parse(strategy)
                .unwrap()
                .strategy
                .planned_shift()
                .into_iter()
                .map(|(at, w)| (at.as_secs() / 60, w))
                .collect::<Vec<_>>()
        };
        assert_eq!(plan(json!({})), [(0, 100.0)]);
        assert_eq!(
            plan(
                json!({"strategy": "LINEAR", "linear": {"step_percent": 25, "step_bake_minutes": 2}})
            ),
            [(0, 25.0), (2, 50.0), (4, 75.0), (6, 100.0)]
        );
        let thirds = plan(json!({"strategy": "LINEAR", "linear": {"step_percent": 33.3}}));
        assert_eq!(
            thirds.iter().map(|s| s.1).collect::<Vec<_>>(),
            [33.3, 66.6, 99.9, 100.0]
        );
        assert_eq!(
            plan(json!({"strategy": "CANARY", "canary": {"percent": 5, "bake_minutes": 10}})),
            [(0, 5.0), (10, 100.0)]
        );
        assert_eq!(
            plan(json!({"strategy": "CANARY", "canary": {"percent": 100}})),
            [(0, 100.0)]
        );
    }

    #[test]
    fn controllers_are_codedeploy_or_ecs() {
        assert_eq!(
            DeploymentController::default(),
            DeploymentController::CodeDeploy
        );
        assert_eq!(
            DeploymentController::parse("ecs").unwrap().ecs_type(),
            "ECS"
        );
        assert_eq!(
            DeploymentController::parse("codedeploy")
                .unwrap()
                .ecs_type(),
            "CODE_DEPLOY"
        );
        assert!(DeploymentController::parse("ECS").is_err());
        assert_eq!(PausableStage::ALL.len(), 6);
        assert_eq!(
            serde_json::to_value(PausableStage::PreScaleUp).unwrap(),
            "PRE_SCALE_UP"
        );
    }
}
