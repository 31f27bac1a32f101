//! CloudWatch: the load balancer's metrics (AWS/ApplicationELB) and metric
//! alarms evaluated on them. `protocol` puts them on the wire (rpcv2Cbor
//! and awsJson1_0), `cbor` is its codec; `call` runs one operation:
//! `alarms` holds the alarm operations, `metrics` the metric queries,
//! `evaluate` the pure evaluation rules and `engine` the evaluator that
//! applies them each period. CodeDeploy groups and ECS deployments read
//! alarm states.

pub mod alarms;
mod cbor;
pub mod engine;
pub mod evaluate;
pub mod metrics;
pub mod model;
pub(crate) mod protocol;

use crate::LocalCloud;
use crate::wire::{AwsError, Input, OpResult};
use serde_json::{Map, Value};

/// One CloudWatch operation, its input and output as awsJson documents
/// (timestamps in epoch seconds, blobs in base64), whichever transport
/// carried them.
pub fn call(cloud: &LocalCloud, operation: &str, body: &Map<String, Value>) -> OpResult {
    let input = Input::new(body, alarms::INVALID);
    let now = crate::now_millis();
    match operation {
        "PutMetricAlarm" => {
            let put = cloud.mutate(|s| alarms::put_metric_alarm(s, &input, now));
            engine::alarms_put(cloud);
            put
        }
        "DescribeAlarms" => cloud.read(|s| alarms::describe_alarms(s, &input)),
        "DeleteAlarms" => {
            let deleted = cloud.mutate(|s| alarms::delete_alarms(s, &input));
            engine::alarms_put(cloud);
            deleted
        }
        "SetAlarmState" => {
            let set = cloud.mutate(|s| alarms::set_alarm_state(s, &input, now));
            alarm_changed(cloud);
            set
        }
        "DescribeAlarmHistory" => cloud.read(|s| alarms::describe_alarm_history(s, &input)),
        "GetMetricStatistics" => metrics::get_metric_statistics(cloud, &input),
        "GetMetricData" => metrics::get_metric_data(cloud, &input),
        "ListMetrics" => metrics::list_metrics(cloud, &input),
        other => Err(AwsError::new(
            "InvalidAction",
            format!("the local cloud does not serve CloudWatch {other}"),
        )),
    }
}

/// Deployments watching alarms look at once: the ECS-native driver sleeps
/// until its next step otherwise, CodeDeploy's drivers until their next tick.
pub fn alarm_changed(cloud: &LocalCloud) {
    cloud.native_wake.notify_one();
    cloud.alarm_changes.send_modify(|n| *n = n.wrapping_add(1));
}

/// What CodeDeploy's drivers watch: it changes with every alarm state.
pub fn alarm_changes(cloud: &LocalCloud) -> tokio::sync::watch::Receiver<u64> {
    cloud.alarm_changes.subscribe()
}

/// The states of the alarms named, as deployments watching them see them:
/// `None` for an alarm that does not exist.
pub fn alarm_states<'a>(
    s: &crate::state::CloudState,
    names: impl IntoIterator<Item = &'a str>,
) -> Vec<(&'a str, Option<model::StateValue>)> {
    names
        .into_iter()
        .map(|name| (name, s.metric_alarms.get(name).map(|a| a.state)))
        .collect()
}
