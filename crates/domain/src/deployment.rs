//! The deployment state machine, in CodeDeploy's own status vocabulary.

use super::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A CodeDeploy deployment status, spelled as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeploymentStatus {
    Created,
    Queued,
    InProgress,
    /// Held before production traffic moves (ready wait with STOP_DEPLOYMENT).
    Ready,
    /// Traffic shifted; the original task set waits out the termination wait.
    Baking,
    Succeeded,
    Failed,
    Stopped,
}

use DeploymentStatus::*;

impl DeploymentStatus {
    pub const ALL: [DeploymentStatus; 8] = [
        Created, Queued, InProgress, Ready, Baking, Succeeded, Failed, Stopped,
    ];

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| Invalid::new(format!("unknown deployment status {value:?}")))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Created => "Created",
            Queued => "Queued",
            InProgress => "InProgress",
            Ready => "Ready",
            Baking => "Baking",
            Succeeded => "Succeeded",
            Failed => "Failed",
            Stopped => "Stopped",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Succeeded | Failed | Stopped)
    }

    /// Statuses in which a deployment holds its deployment group: a second
    /// one cannot start.
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }

    /// The statuses CodeDeploy can move to in one step from this one.
    pub fn next_statuses(self) -> &'static [DeploymentStatus] {
        match self {
            Created => &[Queued, InProgress, Failed, Stopped],
            Queued => &[InProgress, Failed, Stopped],
            InProgress => &[Ready, Baking, Succeeded, Failed, Stopped],
            // ContinueDeployment(READY_WAIT) resumes the shift; a timed-out
            // ready wait with STOP_DEPLOYMENT fails.
            Ready => &[InProgress, Failed, Stopped],
            Baking => &[Succeeded, Failed, Stopped],
            Succeeded | Failed | Stopped => &[],
        }
    }

    /// Whether `to` can follow this status after any number of steps. A
    /// poller observes levels, not edges, so it may legitimately see
    /// `Created` and then `Succeeded`; it must never see `Succeeded` and then
    /// `InProgress`.
    pub fn can_reach(self, to: DeploymentStatus) -> bool {
        let mut seen = [false; 8];
        let mut stack = vec![self];
        while let Some(status) = stack.pop() {
            for &next in status.next_statuses() {
                if next == to {
                    return true;
                }
                if !seen[next as usize] {
                    seen[next as usize] = true;
                    stack.push(next);
                }
            }
        }
        false
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployment's status together with whether its traffic went back to the
/// original (blue) task set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentState {
    pub status: DeploymentStatus,
    pub rolled_back: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: DeploymentState,
    pub to: DeploymentState,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = |s: &DeploymentState| {
            if s.rolled_back {
                format!("{} (rolled back)", s.status)
            } else {
                s.status.to_string()
            }
        };
        write!(
            f,
            "a deployment cannot go from {} to {}",
            label(&self.from),
            label(&self.to)
        )
    }
}

impl std::error::Error for IllegalTransition {}

impl DeploymentState {
    pub fn created() -> Self {
        DeploymentState {
            status: Created,
            rolled_back: false,
        }
    }

    /// Moves to an observed state. Staying put is allowed (the same level
    /// observed twice); a rollback can only be reported with a failed or
    /// stopped deployment, and is never undone.
    pub fn transition(self, to: DeploymentState) -> Result<DeploymentState, IllegalTransition> {
        let illegal = || IllegalTransition { from: self, to };
        if to.rolled_back && !matches!(to.status, Failed | Stopped) {
            return Err(illegal());
        }
        if self.rolled_back && !to.rolled_back {
            return Err(illegal());
        }
        if self.status == to.status {
            // Only a finished deployment learns later that it was rolled back.
            return if self.rolled_back == to.rolled_back || to.status.is_terminal() {
                Ok(to)
            } else {
                Err(illegal())
            };
        }
        if self.status.can_reach(to.status) {
            Ok(to)
        } else {
            Err(illegal())
        }
    }
}

aws_status!(
    /// A lifecycle event's status, as CodeDeploy names it.
    LifecycleEventStatus,
    "lifecycle event status",
    [Pending, InProgress, Succeeded, Failed, Skipped, Unknown]
);

/// A lifecycle event of a deployment as the cloud last reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEventState {
    pub name: String,
    pub status: LifecycleEventStatus,
    /// Epoch milliseconds.
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

/// The lifecycle event a deployment is at: the one in progress, else, while
/// the deployment has not finished, the next one pending.
pub fn current_lifecycle_event(
    events: &[LifecycleEventState],
    finished: bool,
) -> Option<&LifecycleEventState> {
    events
        .iter()
        .find(|e| e.status == LifecycleEventStatus::InProgress)
        .or_else(|| {
            (!finished)
                .then(|| {
                    events
                        .iter()
                        .find(|e| e.status == LifecycleEventStatus::Pending)
                })
                .flatten()
        })
}

/// A task set of a deployment as the cloud last reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSetState {
    /// Blue (the original) or Green (the replacement).
    pub label: String,
    pub id: String,
    pub status: String,
    pub desired: i64,
    pub pending: i64,
    pub running: i64,
    pub traffic_weight: f64,
    pub target_group: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: DeploymentStatus) -> DeploymentState {
        DeploymentState {
            status,
            rolled_back: false,
        }
    }

    fn rolled_back(status: DeploymentStatus) -> DeploymentState {
        DeploymentState {
            status,
            rolled_back: true,
        }
    }

    #[test]
    fn statuses_round_trip_in_aws_spelling() {
        for status in DeploymentStatus::ALL {
            assert_eq!(DeploymentStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(DeploymentStatus::parse("IN_PROGRESS").is_err());
        assert!(DeploymentStatus::parse("succeeded").is_err());
    }

    #[test]
    fn the_happy_path_is_legal_step_by_step() {
        let mut s = DeploymentState::created();
        for next in [Queued, InProgress, Ready, InProgress, Baking, Succeeded] {
            s = s.transition(state(next)).unwrap();
        }
        assert_eq!(s.status, Succeeded);
    }

    #[test]
    fn observations_may_skip_states() {
        assert!(state(Created).transition(state(Succeeded)).is_ok());
        assert!(state(Queued).transition(state(Baking)).is_ok());
        assert!(state(Ready).transition(state(Succeeded)).is_ok());
    }

    #[test]
    fn finished_deployments_do_not_move() {
        for end in [Succeeded, Failed, Stopped] {
            assert!(end.is_terminal() && !end.is_active());
            for to in DeploymentStatus::ALL {
                if to != end {
                    assert!(state(end).transition(state(to)).is_err(), "{end} -> {to}");
                }
            }
        }
    }

    #[test]
    fn no_way_back() {
        assert!(state(InProgress).transition(state(Created)).is_err());
        assert!(state(InProgress).transition(state(Queued)).is_err());
        assert!(state(Baking).transition(state(InProgress)).is_err());
        assert!(state(Baking).transition(state(Ready)).is_err());
        let err = state(Succeeded).transition(state(InProgress)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a deployment cannot go from Succeeded to InProgress"
        );
    }

    #[test]
    fn rollback_only_with_failure_or_stop() {
        assert!(state(InProgress).transition(rolled_back(Stopped)).is_ok());
        assert!(state(Baking).transition(rolled_back(Failed)).is_ok());
        assert!(
            state(InProgress)
                .transition(rolled_back(Succeeded))
                .is_err()
        );
        assert!(
            state(InProgress)
                .transition(rolled_back(InProgress))
                .is_err()
        );
        // Learned after the fact, and never taken back.
        assert!(state(Stopped).transition(rolled_back(Stopped)).is_ok());
        assert!(rolled_back(Stopped).transition(state(Stopped)).is_err());
        assert!(state(Succeeded).transition(rolled_back(Succeeded)).is_err());
    }

    #[test]
    fn one_step_edges_are_what_codedeploy_does() {
        assert_eq!(Ready.next_statuses(), &[InProgress, Failed, Stopped]);
        assert!(Created.is_active() && Ready.is_active() && Baking.is_active());
        assert!(!Created.can_reach(Created));
        assert!(
            InProgress.can_reach(InProgress),
            "via Ready and ContinueDeployment"
        );
    }

    #[test]
    fn the_current_lifecycle_event_is_the_running_one_else_the_next_while_unfinished() {
        let event = |name: &str, status: &str| LifecycleEventState {
            name: name.into(),
            status: LifecycleEventStatus::parse(status).unwrap(),
            started_at: None,
            ended_at: None,
        };
        let events = [
            event("Install", "Succeeded"),
            event("AllowTraffic", "InProgress"),
            event("AfterAllowTraffic", "Pending"),
        ];
        let name = |e: Option<&LifecycleEventState>| e.map(|e| e.name.clone());
        assert_eq!(
            name(current_lifecycle_event(&events, false)).as_deref(),
            Some("AllowTraffic")
        );
        let waiting = [
            event("Install", "Succeeded"),
            event("AllowTraffic", "Pending"),
        ];
        assert_eq!(
            name(current_lifecycle_event(&waiting, false)).as_deref(),
            Some("AllowTraffic")
        );
        assert_eq!(current_lifecycle_event(&waiting, true), None);
    }
}
