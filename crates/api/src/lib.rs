//! The REST API's request and response types, shared by the server (which
//! answers with them) and the CLI (which decodes them). One module per
//! resource, as in the server; `schema` holds what the OpenAPI document says
//! about string fields that the domain types parse.
//!
//! Requests deserialize (the server) and serialize (the CLI); responses
//! serialize (the server) and deserialize (the CLI) back to the same JSON.

pub mod approvals;
pub mod checks;
pub mod deployments;
pub mod diffs;
pub mod environments;
pub mod error;
pub mod events;
pub mod logs;
pub mod pipelines;
pub mod release_policies;
pub mod releases;
pub mod schema;
pub mod stacks;
pub mod users;

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// Decoding an answer and encoding it again gives the very same JSON:
    /// the CLI's `--output json` prints what the server said.
    fn round_trips<T: Serialize + DeserializeOwned>(json: &str) {
        let decoded: T = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&decoded).unwrap(), json);
    }

    #[test]
    fn answers_round_trip() {
        round_trips::<crate::users::LinkedSlackAccount>(
            r#"{"user":"alice","team_id":"T0123","user_id":"U0456"}"#,
        );
        round_trips::<crate::environments::Environment>(concat!(
            r#"{"name":"shop","platform":"aws","region":"us-east-1","aws_profile":null,"#,
            r#""resources":{"cluster":"c","service":null,"codedeploy_application":null,"#,
            r#""deployment_group":null,"pipeline":null,"prod_listener_arn":null,"#,
            r#""test_listener_arn":null},"#,
            r#""container":{"name":"web","port":80,"health_check_path":"/","desired_count":2},"#,
            r#""controller":"ecs","ecs_deployment":{"strategy":"LINEAR","#,
            r#""linear":{"step_percent":12.5,"step_bake_minutes":6},"canary":null,"#,
            r#""bake_time_minutes":5,"gates":[{"stage":"PRE_PRODUCTION_TRAFFIC_SHIFT","#,
            r#""timeout_minutes":60,"timeout_action":"ROLLBACK"}]},"#,
            r#""alarms":{"enabled":true,"target_5xx_threshold":5,"unhealthy_hosts_threshold":1},"#,
            r#""metric_gate":{"enabled":true,"max_5xx_increase_pp":1.0,"max_p99_ratio":1.5,"#,
            r#""window_minutes":5,"min_requests":100},"#,
            r#""deployment_group":{"deployment_config":"CodeDeployDefault.ECSAllAtOnce","#,
            r#""ready_action_on_timeout":"CONTINUE_DEPLOYMENT","ready_wait_minutes":null,"#,
            r#""termination_wait_minutes":5,"auto_rollback":true},"#,
            r#""prod_url":null,"test_url":null,"hooks":{"AfterAllowTestTraffic":"smoke"},"#,
            r#""created_by":"admin","created_at":"2025-11-27T08:00:00.123Z","#,
            r#""source":{"repo":"/srv/shop.git","branch":"main"},"webhook_secret_set":true,"#,
            r#""approval_policy":{"required":1,"allow_self_approval":false},"#,
            r#""notifications":[{"url":"https://hooks.example.com/…","format":"slack"}],"#,
            r#""freeze_windows":[{"kind":"weekly","mode":"deny","time_zone":"Europe/Berlin","#,
            r#""from":"Fri 16:00","to":"Mon 08:00","reason":"release freeze"}],"#,
            r#""freeze":{"frozen":true,"until":"2026-12-14T07:00:00Z","#,
            r#""until_local":"Mon 2026-12-14 08:00 Europe/Berlin","reason":"release freeze"}}"#,
        ));
        round_trips::<crate::deployments::Deployment>(concat!(
            r#"{"id":7,"environment":"shop","#,
            r#""release":{"id":3,"version":"v2","image":"static:/srv/v2","commit":null},"#,
            r#""controller":"ecs","codedeploy_id":null,"#,
            r#""service_deployment_arn":"arn:aws:ecs:us-east-1:0:service-deployment/c/s/1","#,
            r#""deployment_config":"LINEAR: 10% every 1 min","#,
            r#""status":"Failed","ecs_status":"ROLLBACK_SUCCESSFUL","rolled_back":true,"#,
            r#""current_lifecycle_event":null,"#,
            r#""lifecycle_events":[{"name":"SCALE_UP","status":"Succeeded","#,
            r#""started_at":"2025-11-27T08:00:00.123Z","ended_at":null}],"#,
            r#""hooks":[{"hook_id":"h-1","target_type":"PAUSE","status":"TIMED_OUT","#,
            r#""expires_at":"2025-11-27T09:00:00.123Z","timeout_action":"ROLLBACK"}],"#,
            r#""task_sets":{"blue":{"id":"ts-1","status":"PRIMARY","desired":2,"pending":0,"#,
            r#""running":2,"traffic_weight":100.0,"target_group":null},"green":null},"#,
            r#""green_weight":0.0,"traffic_samples":[{"at":"2025-11-27T08:00:00.123Z","#,
            r#""green_weight":10.5}],"planned_schedule":[{"offset_seconds":60,"green_weight":12.5}],"#,
            r#""error":{"code":"HEALTH","message":"unhealthy"},"#,
            r#""alarms":[{"name":"shop-target-5xx","state":"OK","stopped_deployment":true,"#,
            r#""history":[{"at":"2025-11-27T08:00:01.000Z","state":"ALARM","reason":"Threshold Crossed"}]}],"#,
            r#""metric_gate":[{"hold":"POST_TEST_TRAFFIC_SHIFT","held_since":"2025-11-27T08:00:00.500Z","#,
            r#""window_start":"2025-11-27T08:00:01.000Z","window_end":"2025-11-27T08:00:06.000Z","#,
            r#""outcome":"failed","blue":{"requests":200.0,"error_rate_pct":0.0,"p99_ms":310.0},"#,
            r#""green":{"requests":190.0,"error_rate_pct":0.0,"p99_ms":3010.0},"#,
            r#""reasons":["green's p99 3010 ms is above 3 × blue's 310 ms"],"action":"rolled_back","#,
            r#""decided_at":"2025-11-27T08:00:06.100Z"}],"#,
            r#""created_by":"admin","#,
            r#""created_at":"2025-11-27T08:00:00.123Z","updated_at":"2025-11-27T08:00:00.123Z","#,
            r#""completed_at":null}"#,
        ));
        round_trips::<crate::diffs::EnvironmentDiff>(concat!(
            r#"{"environment":"shop","#,
            r#""live":{"version":"v1","image":"shop:1","task_definition_arn":"arn:td/shop:3","commit":null},"#,
            r#""candidate":{"version":"v2","image":"shop:2","task_definition_arn":null,"#,
            r#""commit":"0123456789abcdef0123456789abcdef01234567"},"#,
            r#""changes":{"task_cpu":null,"task_memory":{"before":"512","after":"1024"},"#,
            r#""containers_added":[{"name":"proxy","image":"envoy:1"}],"containers_removed":[],"#,
            r#""containers":[{"name":"web","image":{"before":{"repository":"shop","tag":"1","digest":null},"#,
            r#""after":{"repository":"shop","tag":"2","digest":"sha256:ab"}},"#,
            r#""environment":{"added":[{"name":"NEW","value":"1"}],"removed":[],"#,
            r#""changed":[{"name":"MODE","before":"a","after":"b"}]},"#,
            r#""secrets":{"added":["DB"],"removed":[],"changed":[]},"#,
            r#""command":{"before":[],"after":["serve"]},"entry_point":null,"#,
            r#""port_mappings":{"before":[{"containerPort":80}],"after":[{"containerPort":8080,"protocol":"tcp"}]},"#,
            r#""cpu":{"before":null,"after":128},"memory":null,"memory_reservation":null,"#,
            r#""health_check":{"before":null,"after":{"command":["CMD","true"],"interval":5}},"#,
            r#""essential":{"before":true,"after":false}}]},"#,
            r#""unified":"--- live v1 (shop:1)\n+++ candidate v2 (shop:2)\n","#,
            r#""commits":[{"sha":"0123456789abcdef0123456789abcdef01234567","author":"Ann","#,
            r#""message":"Add NEW"}],"commits_complete":true}"#,
        ));
        round_trips::<crate::stacks::Stack>(concat!(
            r#"{"status":"ready","operation_id":"op-1","log":"done","#,
            r#""outputs":{"prod_url":"http://127.0.0.1:1","test_url":null},"variables":null,"#,
            r#""started_by":"admin","started_at":"2025-11-27T08:00:00.123Z","finished_at":null}"#,
        ));
        round_trips::<crate::error::ErrorBody>(
            r#"{"error":{"code":"conflict","message":"taken"}}"#,
        );
        round_trips::<crate::error::ErrorBody>(
            r#"{"error":{"code":"invalid_value","message":"bad","field":"name"}}"#,
        );
    }
}
