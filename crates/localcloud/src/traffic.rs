//! How a deployment controller moves traffic: one small interface used by
//! CodeDeploy and ECS-native deployments alike, as argo-rollouts has one per
//! router. A controller computes the weights it wants each tick, sets them
//! where the listener's record differs, and verifies them against what the
//! running listener really forwards before it moves on.

use crate::runtime::{ListenerRole, Runtime};
use crate::state::LoadBalancer;
use std::collections::BTreeMap;

/// A listener's weighted forward: (target group ARN, weight), in order.
pub type Weights = Vec<(String, u32)>;

pub trait TrafficRouter {
    /// Makes the listener forward with `weights` from now on; whether that
    /// changed anything (false for an unknown listener).
    fn set_weights(&mut self, listener_arn: &str, weights: &[(String, u32)]) -> bool;

    /// What the running listener forwards now (nothing while it is not
    /// bound); `None` for a listener that does not exist.
    fn observed_weights(&self, listener_arn: &str) -> Option<Weights>;

    /// Whether every listener that exists forwards with `weights` for real.
    fn verify_weights(&self, listener_arns: &[String], weights: &[(String, u32)]) -> bool {
        listener_arns.iter().all(|arn| {
            self.observed_weights(arn)
                .is_none_or(|observed| observed == weights)
        })
    }

    /// Sets `weights` on every listener (where not set yet) and verifies
    /// them: a controller moves on once `applied`.
    fn converge(&mut self, listener_arns: &[String], weights: &[(String, u32)]) -> Converged {
        let changed = self.set_all(listener_arns, weights);
        let applied = self.verify_weights(listener_arns, weights);
        Converged { changed, applied }
    }

    /// Sets `weights` on every listener; whether any changed.
    fn set_all(&mut self, listener_arns: &[String], weights: &[(String, u32)]) -> bool {
        listener_arns.iter().fold(false, |changed, arn| {
            self.set_weights(arn, weights) | changed
        })
    }
}

/// What `TrafficRouter::converge` did: whether it changed a listener's
/// weights, and whether every listener already applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Converged {
    pub changed: bool,
    pub applied: bool,
}

/// `percent` of the traffic to `to`, the rest to `rest` (when there is one).
pub fn split(to: &str, rest: Option<&str>, percent: u32) -> Weights {
    let percent = percent.min(100);
    let mut weights = vec![(to.to_owned(), percent)];
    if let Some(rest) = rest {
        weights.push((rest.to_owned(), 100 - percent));
    }
    weights
}

/// `percent` (to a tenth) of the traffic to `to`, the rest to `rest`:
/// weights in thousandths, for steps such as LINEAR's 33.3 %.
pub fn split_tenths(to: &str, rest: Option<&str>, percent: f64) -> Weights {
    let tenths = (percent * 10.0).round().clamp(0.0, 1000.0) as u32;
    let mut weights = vec![(to.to_owned(), tenths)];
    if let Some(rest) = rest {
        weights.push((rest.to_owned(), 1000 - tenths));
    }
    weights
}

/// The local cloud's load balancers: weights go into their stored records
/// (the runtime applies them to the listeners after the tick) and are read
/// back from the running listeners.
pub struct LocalLoadBalancers<'a> {
    pub records: &'a mut BTreeMap<String, LoadBalancer>,
    pub runtime: &'a Runtime,
}

impl TrafficRouter for LocalLoadBalancers<'_> {
    fn set_weights(&mut self, listener_arn: &str, weights: &[(String, u32)]) -> bool {
        let Some(listener) = self
            .records
            .values_mut()
            .find_map(|lb| lb.listener_mut(listener_arn))
        else {
            return false;
        };
        if listener.forward == weights {
            return false;
        }
        listener.forward = weights.to_vec();
        true
    }

    fn observed_weights(&self, listener_arn: &str) -> Option<Weights> {
        let (lb, role) = self.records.values().find_map(|lb| {
            let role = if lb.production.arn == listener_arn {
                ListenerRole::Production
            } else if lb.test.arn == listener_arn {
                ListenerRole::Test
            } else {
                return None;
            };
            Some((lb, role))
        })?;
        Some(observed_forward(lb, role, self.runtime))
    }
}

/// What one of `lb`'s listeners really forwards now, by target group ARN
/// (nothing while it is not bound).
pub fn observed_forward(lb: &LoadBalancer, role: ListenerRole, runtime: &Runtime) -> Weights {
    let by_name = runtime.listener_forward(&lb.name, role).unwrap_or_default();
    by_name
        .into_iter()
        .filter_map(|(name, weight)| {
            let tg = lb.target_groups.iter().find(|tg| tg.name == name)?;
            Some((tg.arn.clone(), weight))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_gives_the_rest_to_the_other_group_and_caps_at_all() {
        assert_eq!(
            split("green", Some("blue"), 30),
            vec![("green".to_owned(), 30), ("blue".to_owned(), 70)]
        );
        assert_eq!(split("green", None, 100), vec![("green".to_owned(), 100)]);
        assert_eq!(
            split("green", Some("blue"), 130),
            vec![("green".to_owned(), 100), ("blue".to_owned(), 0)]
        );
    }
}
