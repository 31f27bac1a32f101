//! What the load balancer counts of a deployment's two sides, as CloudWatch
//! reports it: requests, 5xx and latency per period, and the hosts of each
//! target group. The alarms, the metric gate and the page read them.

use serde::{Deserialize, Serialize};

aws_status!(
    /// Blue or green: which task set (or service revision) a target group serves.
    Side,
    "side",
    [Blue = "blue", Green = "green"]
);

/// One side's load balancer figures for one period.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodFigures {
    pub side: Side,
    /// Unix ms, a multiple of the period.
    pub period_start: i64,
    pub requests: f64,
    pub target_5xx: f64,
    pub p99_seconds: Option<f64>,
}

/// A target group's hosts, as the load balancer last counted them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub side: Side,
    /// The period they were counted in (Unix ms).
    pub period_start: i64,
    /// HealthyHostCount's Minimum and UnHealthyHostCount's Maximum over
    /// the period: what held throughout it.
    pub healthy: f64,
    pub unhealthy: f64,
}
