//! A service deployment's progress as DescribeServiceDeployments reports
//! it, and what that means in the one history switchyard keeps for both
//! controllers: the status in switchyard's vocabulary, the stages as
//! lifecycle rows, the hook that waits for a decision.

use super::TimeoutAction;
use crate::deployment::{
    DeploymentState, DeploymentStatus, LifecycleEventState, LifecycleEventStatus,
};
use serde::{Deserialize, Serialize};

aws_status!(
    /// A service deployment's `status`.
    ServiceDeploymentStatus,
    "service deployment status",
    [
        Pending = "PENDING",
        InProgress = "IN_PROGRESS",
        Successful = "SUCCESSFUL",
        Stopped = "STOPPED",
        StopRequested = "STOP_REQUESTED",
        RollbackRequested = "ROLLBACK_REQUESTED",
        RollbackInProgress = "ROLLBACK_IN_PROGRESS",
        RollbackSuccessful = "ROLLBACK_SUCCESSFUL",
        RollbackFailed = "ROLLBACK_FAILED",
    ]
);

impl ServiceDeploymentStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Successful | Self::Stopped | Self::RollbackSuccessful | Self::RollbackFailed
        )
    }
}

aws_status!(
    /// A lifecycle hook execution's `status` (`lifecycleHookDetails[]`).
    HookStatus,
    "lifecycle hook status",
    [
        AwaitingAction = "AWAITING_ACTION",
        InProgress = "IN_PROGRESS",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        TimedOut = "TIMED_OUT",
    ]
);

aws_status!(
    /// What runs a lifecycle hook.
    HookTargetType,
    "lifecycle hook target type",
    [AwsLambda = "AWS_LAMBDA", Pause = "PAUSE"]
);

/// The stages in which the shift is done and both revisions still run.
const BAKE_STAGES: [&str; 2] = ["BAKE_TIME", "CLEAN_UP"];

/// The stages every blue/green, linear or canary deployment goes through,
/// in order (the hook-only stages between them run only with hooks).
const MAIN_STAGES: [&str; 5] = [
    "SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

/// A lifecycle hook's execution as ECS last reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookState {
    pub hook_id: String,
    pub target_type: HookTargetType,
    pub status: HookStatus,
    /// When a PAUSE hook's timeout fires (epoch milliseconds).
    pub expires_at: Option<i64>,
    pub timeout_action: Option<TimeoutAction>,
}

impl HookState {
    pub fn is_awaiting(&self) -> bool {
        self.status == HookStatus::AwaitingAction
    }
}

/// What ECS reports of a service deployment now, as far as the history
/// needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeProgress {
    pub status: ServiceDeploymentStatus,
    /// As ECS spells it: AWS adds stages, and says to tolerate unknown ones.
    pub stage: Option<String>,
    pub hooks: Vec<HookState>,
}

impl NativeProgress {
    /// The hook holding the deployment until ContinueServiceDeployment.
    pub fn awaiting(&self) -> Option<&HookState> {
        self.hooks.iter().find(|h| h.is_awaiting())
    }

    /// The deployment's state in the vocabulary both controllers share: a
    /// deployment held by a hook is Ready (held), one in its bake time is
    /// Baking, and a rollback that ended says whether ECS failed the
    /// deployment (a hook failed or timed out) or was asked to stop it.
    pub fn state(&self) -> DeploymentState {
        use DeploymentStatus::*;
        use ServiceDeploymentStatus as S;
        let baking = self
            .stage
            .as_deref()
            .is_some_and(|stage| BAKE_STAGES.contains(&stage));
        let moving = if baking { Baking } else { InProgress };
        let (status, rolled_back) = match self.status {
            S::Pending => (Created, false),
            S::InProgress if self.awaiting().is_some() => (Ready, false),
            S::InProgress | S::StopRequested | S::RollbackRequested | S::RollbackInProgress => {
                (moving, false)
            }
            S::Successful => (Succeeded, false),
            S::Stopped => (Stopped, false),
            S::RollbackSuccessful if self.failed_by_a_hook() => (Failed, true),
            S::RollbackSuccessful => (Stopped, true),
            S::RollbackFailed => (Failed, false),
        };
        DeploymentState {
            status,
            rolled_back,
        }
    }

    fn failed_by_a_hook(&self) -> bool {
        self.hooks
            .iter()
            .any(|h| matches!(h.status, HookStatus::Failed | HookStatus::TimedOut))
    }

    /// The stage rows after this observation, made at `at`: ECS reports only
    /// the stage it is in, so a new stage closes the open row and opens its
    /// own, and the end of the deployment closes the last. Main stages a
    /// poll did not see (they passed between two polls) get rows without
    /// times: they ran, but nobody saw when.
    pub fn advance_stages(
        &self,
        rows: &[LifecycleEventState],
        at: i64,
    ) -> Vec<LifecycleEventState> {
        let mut rows = rows.to_vec();
        let close = |rows: &mut Vec<LifecycleEventState>, status| {
            if let Some(open) = rows
                .last_mut()
                .filter(|r| r.status == LifecycleEventStatus::InProgress)
            {
                open.status = status;
                open.ended_at = Some(at);
            }
        };
        if self.status.is_terminal() {
            let succeeded = self.status == ServiceDeploymentStatus::Successful;
            close(
                &mut rows,
                if succeeded {
                    LifecycleEventStatus::Succeeded
                } else {
                    LifecycleEventStatus::Failed
                },
            );
            if succeeded {
                add_unseen_main_stages(&mut rows, MAIN_STAGES.len());
            }
            return rows;
        }
        let Some(stage) = &self.stage else {
            return rows;
        };
        let open = rows
            .last()
            .filter(|r| r.status == LifecycleEventStatus::InProgress);
        if open.is_none_or(|r| &r.name != stage) {
            close(&mut rows, LifecycleEventStatus::Succeeded);
            if let Some(index) = main_stage_index(stage) {
                add_unseen_main_stages(&mut rows, index);
            }
            rows.push(LifecycleEventState {
                name: stage.clone(),
                status: LifecycleEventStatus::InProgress,
                started_at: Some(at),
                ended_at: None,
            });
        }
        rows
    }
}

fn main_stage_index(stage: &str) -> Option<usize> {
    MAIN_STAGES.iter().position(|s| *s == stage)
}

/// Adds rows for the main stages before `MAIN_STAGES[until]` that come after
/// the last main stage seen; only forwards (a rollback revisits stages).
fn add_unseen_main_stages(rows: &mut Vec<LifecycleEventState>, until: usize) {
    let after = rows
        .iter()
        .rev()
        .find_map(|r| main_stage_index(&r.name))
        .map_or(0, |last| last + 1);
    for stage in MAIN_STAGES.get(after..until).unwrap_or_default() {
        rows.push(LifecycleEventState {
            name: (*stage).to_owned(),
            status: LifecycleEventStatus::Succeeded,
            started_at: None,
            ended_at: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeploymentStatus::*;
    use ServiceDeploymentStatus as S;

    fn progress(status: S, stage: Option<&str>, hooks: &[HookStatus]) -> NativeProgress {
        NativeProgress {
            status,
            stage: stage.map(str::to_owned),
            hooks: hooks
                .iter()
                .enumerate()
                .map(|(i, status)| HookState {
                    hook_id: format!("hook-{i}"),
                    target_type: HookTargetType::Pause,
                    status: *status,
                    expires_at: None,
                    timeout_action: Some(TimeoutAction::Rollback),
                })
                .collect(),
        }
    }

    fn state(p: NativeProgress) -> (DeploymentStatus, bool) {
        let s = p.state();
        (s.status, s.rolled_back)
    }

    #[test]
    fn ecs_statuses_read_as_the_shared_vocabulary() {
        let shift = Some("PRODUCTION_TRAFFIC_SHIFT");
        assert_eq!(state(progress(S::Pending, None, &[])), (Created, false));
        assert_eq!(
            state(progress(S::InProgress, shift, &[])),
            (InProgress, false)
        );
        assert_eq!(
            state(progress(
                S::InProgress,
                shift,
                &[HookStatus::AwaitingAction]
            )),
            (Ready, false),
            "a PAUSE hook holds the deployment"
        );
        assert_eq!(
            state(progress(S::InProgress, Some("BAKE_TIME"), &[])),
            (Baking, false)
        );
        assert_eq!(
            state(progress(S::RollbackInProgress, Some("BAKE_TIME"), &[])),
            (Baking, false),
            "a rollback out of bake time stays a bake for the state machine"
        );
        assert_eq!(
            state(progress(S::RollbackInProgress, shift, &[])),
            (InProgress, false)
        );
        assert_eq!(
            state(progress(S::Successful, None, &[])),
            (Succeeded, false)
        );
        assert_eq!(state(progress(S::Stopped, None, &[])), (Stopped, false));
        assert_eq!(
            state(progress(
                S::RollbackSuccessful,
                None,
                &[HookStatus::Succeeded]
            )),
            (Stopped, true),
            "asked to roll back"
        );
        assert_eq!(
            state(progress(
                S::RollbackSuccessful,
                None,
                &[HookStatus::TimedOut]
            )),
            (Failed, true),
            "a gate nobody decided rolled it back"
        );
        assert_eq!(
            state(progress(S::RollbackFailed, None, &[])),
            (Failed, false)
        );
    }

    #[test]
    fn every_mapped_state_is_one_the_state_machine_accepts() {
        for status in S::ALL {
            let to = progress(*status, Some("SCALE_UP"), &[]).state();
            assert!(
                DeploymentState::created().transition(to).is_ok(),
                "{status} maps to {to:?}"
            );
        }
    }

    #[test]
    fn stages_become_rows_closed_by_the_next_and_by_the_end() {
        let mut rows = Vec::new();
        for (at, stage) in [
            (1, "SCALE_UP"),
            (2, "SCALE_UP"),
            (3, "TEST_TRAFFIC_SHIFT"),
            (5, "PRODUCTION_TRAFFIC_SHIFT"),
            (9, "PRODUCTION_TRAFFIC_SHIFT"),
            (10, "BAKE_TIME"),
        ] {
            rows = progress(S::InProgress, Some(stage), &[]).advance_stages(&rows, at);
        }
        rows = progress(S::Successful, None, &[]).advance_stages(&rows, 20);
        let seen: Vec<(&str, LifecycleEventStatus, Option<i64>, Option<i64>)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.status, r.started_at, r.ended_at))
            .collect();
        use LifecycleEventStatus::Succeeded as Done;
        assert_eq!(
            seen,
            [
                ("SCALE_UP", Done, Some(1), Some(3)),
                ("TEST_TRAFFIC_SHIFT", Done, Some(3), Some(5)),
                ("PRODUCTION_TRAFFIC_SHIFT", Done, Some(5), Some(10)),
                ("BAKE_TIME", Done, Some(10), Some(20)),
                ("CLEAN_UP", Done, None, None),
            ]
        );
        let skipped = progress(S::InProgress, Some("PRODUCTION_TRAFFIC_SHIFT"), &[])
            .advance_stages(&rows[..1], 7);
        let names: Vec<(&str, Option<i64>)> = skipped
            .iter()
            .map(|r| (r.name.as_str(), r.started_at))
            .collect();
        assert_eq!(
            names,
            [
                ("SCALE_UP", Some(1)),
                ("TEST_TRAFFIC_SHIFT", None),
                ("PRODUCTION_TRAFFIC_SHIFT", Some(7)),
            ],
            "a stage passed between polls is a row without times"
        );
        let open = progress(S::InProgress, Some("SCALE_UP"), &[]).advance_stages(&[], 1);
        let rolled_back = progress(S::RollbackSuccessful, None, &[]).advance_stages(&open, 4);
        assert_eq!(
            (rolled_back[0].status, rolled_back[0].ended_at),
            (LifecycleEventStatus::Failed, Some(4)),
            "the stage a rollback ended is not a success"
        );
    }
}
