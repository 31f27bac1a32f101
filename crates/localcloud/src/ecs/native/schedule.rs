//! Which stages a deployment passes through, and where production traffic
//! stands after it has been shifting for a while: pure functions of the
//! configuration and of elapsed cloud time, so an engine can resume from
//! stored timestamps and sleep until the next change instead of ticking.

use super::config::{DeploymentConfiguration, DeploymentStrategy};
use std::time::Duration;

aws_enum!(
    /// A deployment's stages, in the order it passes them. The model's
    /// `ServiceDeploymentLifecycleStage` lacks PRE_PRODUCTION_TRAFFIC_SHIFT,
    /// which `DeploymentLifecycleHookStage` has: this is the union of both.
    LifecycleStage, "lifecycle stage", {
    ReconcileService = "RECONCILE_SERVICE",
    PreScaleUp = "PRE_SCALE_UP",
    ScaleUp = "SCALE_UP",
    PostScaleUp = "POST_SCALE_UP",
    TestTrafficShift = "TEST_TRAFFIC_SHIFT",
    PostTestTrafficShift = "POST_TEST_TRAFFIC_SHIFT",
    PreProductionTrafficShift = "PRE_PRODUCTION_TRAFFIC_SHIFT",
    ProductionTrafficShift = "PRODUCTION_TRAFFIC_SHIFT",
    PostProductionTrafficShift = "POST_PRODUCTION_TRAFFIC_SHIFT",
    BakeTime = "BAKE_TIME",
    CleanUp = "CLEAN_UP",
});

impl LifecycleStage {
    /// Whether a lifecycle hook can run at this stage: all but SCALE_UP,
    /// BAKE_TIME and CLEAN_UP.
    pub fn is_hookable(self) -> bool {
        !matches!(
            self,
            LifecycleStage::ScaleUp | LifecycleStage::BakeTime | LifecycleStage::CleanUp
        )
    }

    /// Whether a PAUSE hook can: a hookable stage that is not itself a
    /// traffic shift.
    pub fn allows_pause(self) -> bool {
        self.is_hookable()
            && !matches!(
                self,
                LifecycleStage::TestTrafficShift | LifecycleStage::ProductionTrafficShift
            )
    }
}

/// The stages a deployment with this configuration passes, in order.
/// RECONCILE_SERVICE comes first only when the deployment starts with more
/// than one active revision (`reconcile`). LINEAR and CANARY repeat
/// PRODUCTION_TRAFFIC_SHIFT per step. A
/// ROLLING update has none of these stages.
pub fn lifecycle_stages(config: &DeploymentConfiguration, reconcile: bool) -> Vec<LifecycleStage> {
    use LifecycleStage::*;
    if config.strategy() == DeploymentStrategy::Rolling {
        return Vec::new();
    }
    let steps = TrafficShift::of(config).steps().len();
    let mut stages = Vec::new();
    if reconcile {
        stages.push(ReconcileService);
    }
    stages.extend([
        PreScaleUp,
        ScaleUp,
        PostScaleUp,
        TestTrafficShift,
        PostTestTrafficShift,
    ]);
    stages.push(PreProductionTrafficShift);
    // Hooks at PRODUCTION_TRAFFIC_SHIFT run at every step (AWS's linear
    // deployment guide), so the stage repeats; the one before it does not.
    stages.extend(std::iter::repeat_n(ProductionTrafficShift, steps));
    stages.extend([PostProductionTrafficShift, BakeTime, CleanUp]);
    stages
}

/// How long both revisions keep running after production has shifted.
pub fn bake_time(config: &DeploymentConfiguration) -> Duration {
    minutes(config.bake_time_in_minutes.unwrap_or(0))
}

/// How production traffic moves to the target revision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrafficShift {
    /// BLUE_GREEN (and ROLLING, which has no shift of its own).
    AllAtOnce,
    Linear {
        step_percent: f64,
        step_bake: Duration,
    },
    Canary {
        canary_percent: f64,
        canary_bake: Duration,
    },
}

/// One production traffic shift: the target revision's weight after it, in
/// percent, and how long ECS waits before the next one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficStep {
    pub weight: f64,
    pub wait_after: Duration,
}

impl TrafficShift {
    pub fn of(config: &DeploymentConfiguration) -> TrafficShift {
        match config.strategy() {
            DeploymentStrategy::Rolling | DeploymentStrategy::BlueGreen => TrafficShift::AllAtOnce,
            DeploymentStrategy::Linear => {
                let linear = config.linear_configuration.clone().unwrap_or_default();
                TrafficShift::Linear {
                    step_percent: linear.step_percent(),
                    step_bake: minutes(linear.step_bake_time_in_minutes()),
                }
            }
            DeploymentStrategy::Canary => {
                let canary = config.canary_configuration.clone().unwrap_or_default();
                TrafficShift::Canary {
                    canary_percent: canary.canary_percent(),
                    canary_bake: minutes(canary.canary_bake_time_in_minutes()),
                }
            }
        }
    }

    /// The shifts in order; the last one reaches 100 and waits no longer.
    /// Percents count in tenths (the model's granularity) so that steps
    /// such as 33.3 add up without floating-point drift.
    pub fn steps(&self) -> Vec<TrafficStep> {
        let full = TrafficStep {
            weight: 100.0,
            wait_after: Duration::ZERO,
        };
        match *self {
            TrafficShift::AllAtOnce => vec![full],
            TrafficShift::Linear {
                step_percent,
                step_bake,
            } => {
                let step = tenths(step_percent).max(1);
                let count = 1000_u32.div_ceil(step);
                (1..=count)
                    .map(|k| TrafficStep {
                        weight: f64::from((k * step).min(1000)) / 10.0,
                        wait_after: if k < count { step_bake } else { Duration::ZERO },
                    })
                    .collect()
            }
            TrafficShift::Canary {
                canary_percent,
                canary_bake,
            } => {
                let canary = tenths(canary_percent);
                if canary >= 1000 {
                    return vec![full];
                }
                let first = TrafficStep {
                    weight: f64::from(canary) / 10.0,
                    wait_after: canary_bake,
                };
                vec![first, full]
            }
        }
    }
}

fn tenths(percent: f64) -> u32 {
    (percent * 10.0).round().clamp(0.0, 1000.0) as u32
}

fn minutes(count: i64) -> Duration {
    Duration::from_secs(count.max(0).unsigned_abs() * 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::native::config::{CanaryConfiguration, LinearConfiguration};

    fn config(strategy: DeploymentStrategy) -> DeploymentConfiguration {
        DeploymentConfiguration {
            strategy: Some(strategy),
            ..DeploymentConfiguration::default()
        }
    }

    fn linear(step_percent: f64, step_bake_minutes: i64) -> TrafficShift {
        TrafficShift::of(&DeploymentConfiguration {
            linear_configuration: Some(LinearConfiguration {
                step_percent: Some(step_percent),
                step_bake_time_in_minutes: Some(step_bake_minutes),
            }),
            ..config(DeploymentStrategy::Linear)
        })
    }

    fn weights(shift: TrafficShift) -> Vec<f64> {
        shift.steps().iter().map(|s| s.weight).collect()
    }

    fn total_wait(shift: TrafficShift) -> Duration {
        shift.steps().iter().map(|s| s.wait_after).sum()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn blue_green_shifts_everything_at_once() {
        let shift = TrafficShift::of(&config(DeploymentStrategy::BlueGreen));
        assert_eq!(
            shift.steps(),
            vec![TrafficStep {
                weight: 100.0,
                wait_after: Duration::ZERO
            }]
        );
    }

    #[test]
    fn linear_steps_wait_between_steps_and_cap_the_last_at_100() {
        assert_eq!(weights(linear(25.0, 1)), vec![25.0, 50.0, 75.0, 100.0]);
        assert_eq!(weights(linear(33.3, 1)), vec![33.3, 66.6, 99.9, 100.0]);
        assert_eq!(weights(linear(40.0, 1)), vec![40.0, 80.0, 100.0]);
        assert_eq!(weights(linear(100.0, 1)), vec![100.0]);
        assert_eq!(linear(3.0, 0).steps().len(), 34);
        // No bake after 100: three waits for four steps.
        assert_eq!(total_wait(linear(25.0, 2)), 6 * MINUTE);
    }

    #[test]
    fn canary_then_the_rest_after_its_bake() {
        let shift = TrafficShift::of(&DeploymentConfiguration {
            canary_configuration: Some(CanaryConfiguration {
                canary_percent: Some(0.1),
                canary_bake_time_in_minutes: Some(15),
            }),
            ..config(DeploymentStrategy::Canary)
        });
        assert_eq!(weights(shift), vec![0.1, 100.0]);
        assert_eq!(shift.steps()[0].wait_after, 15 * MINUTE);
    }

    #[test]
    fn defaults_apply_when_settings_are_left_out() {
        let canary = TrafficShift::of(&config(DeploymentStrategy::Canary));
        assert_eq!(
            canary,
            TrafficShift::Canary {
                canary_percent: 5.0,
                canary_bake: 10 * MINUTE
            }
        );
        let linear = TrafficShift::of(&config(DeploymentStrategy::Linear));
        assert_eq!(linear.steps().len(), 10);
        assert_eq!(total_wait(linear), 9 * 6 * MINUTE);
        assert_eq!(
            bake_time(&config(DeploymentStrategy::BlueGreen)),
            Duration::ZERO
        );
    }

    #[test]
    fn stages_in_order_with_production_shifts_per_step() {
        use LifecycleStage::*;
        let blue_green = lifecycle_stages(&config(DeploymentStrategy::BlueGreen), false);
        assert_eq!(
            blue_green,
            vec![
                PreScaleUp,
                ScaleUp,
                PostScaleUp,
                TestTrafficShift,
                PostTestTrafficShift,
                PreProductionTrafficShift,
                ProductionTrafficShift,
                PostProductionTrafficShift,
                BakeTime,
                CleanUp
            ]
        );
        let canary = lifecycle_stages(&config(DeploymentStrategy::Canary), true);
        assert_eq!(canary.first(), Some(&ReconcileService));
        assert_eq!(
            canary
                .iter()
                .filter(|s| **s == ProductionTrafficShift)
                .count(),
            2
        );
        assert!(lifecycle_stages(&config(DeploymentStrategy::Rolling), true).is_empty());
    }

    #[test]
    fn hookable_and_pausable_stages() {
        let hookable: Vec<&str> = LifecycleStage::ALL
            .iter()
            .filter(|s| s.is_hookable())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(
            hookable,
            vec![
                "RECONCILE_SERVICE",
                "PRE_SCALE_UP",
                "POST_SCALE_UP",
                "TEST_TRAFFIC_SHIFT",
                "POST_TEST_TRAFFIC_SHIFT",
                "PRE_PRODUCTION_TRAFFIC_SHIFT",
                "PRODUCTION_TRAFFIC_SHIFT",
                "POST_PRODUCTION_TRAFFIC_SHIFT"
            ]
        );
        assert!(!LifecycleStage::TestTrafficShift.allows_pause());
        assert!(!LifecycleStage::ProductionTrafficShift.allows_pause());
        assert!(!LifecycleStage::BakeTime.allows_pause());
        assert!(LifecycleStage::PreProductionTrafficShift.allows_pause());
    }
}
