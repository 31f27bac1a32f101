//! The runtime's load balancers: metrics in cloud minutes, host samples.

use super::*;
use crate::tasks::DockerHost;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime(dir: &Path, scale: f64) -> Runtime {
    let runner = TaskRunner::HostProcesses {
        docker_host: DockerHost::default(),
        why_not_containers: "a test".to_owned(),
    };
    Runtime::new(dir, runner, HostTaskLife::TiedToParent, Clock { scale })
}

fn group_record(name: &str) -> TargetGroupRecord {
    TargetGroupRecord {
        name: name.to_owned(),
        arn: format!("arn:{name}"),
        health_check_path: "/".to_owned(),
    }
}

/// The status line of a `GET /` on a connection of its own.
async fn get_status(port: u16) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn load_balancers_count_in_cloud_minutes_and_sample_their_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime(dir.path(), 60.0);
    let groups = [group_record("blue"), group_record("green")];
    let (production, _) = runtime
        .bind_load_balancer("app", &groups, 0, 0)
        .await
        .unwrap();
    let blue = runtime.target_group("arn:blue").unwrap();
    let targets = vec![SocketAddr::from(([127, 0, 0, 1], 1)); 2];
    blue.set_targets(targets);
    runtime.sample_hosts();
    // No forward yet: the load balancer's answer, not a group's.
    assert!(get_status(production).await.contains(" 503 "));

    let traffic = runtime.traffic();
    assert_eq!(traffic.len(), 1);
    assert_eq!(traffic[0].load_balancer, "app");
    let mut arns: Vec<&str> = traffic[0]
        .target_groups
        .iter()
        .map(|(arn, metrics)| {
            // At time scale 60, a cloud minute is a real second.
            assert_eq!(metrics.period_ms(), 1000);
            arn.as_str()
        })
        .collect();
    arns.sort_unstable();
    assert_eq!(arns, ["arn:blue", "arn:green"]);
    let hosts = |arn: &str| {
        let metrics = group_metrics(&traffic[0], arn);
        let periods = metrics.periods(i64::MIN, i64::MAX);
        let last = periods.last().cloned().unwrap_or_default();
        (last.healthy_hosts.max, last.unhealthy_hosts.samples)
    };
    assert_eq!(hosts("arn:blue"), (2.0, 1));
    assert_eq!(hosts("arn:green"), (0.0, 1));
    let unrouted: u64 = traffic[0]
        .unrouted
        .iter()
        .flat_map(|metrics| metrics.periods(i64::MIN, i64::MAX))
        .map(|period| period.elb_5xx)
        .sum();
    assert_eq!(unrouted, 1);
    assert_eq!(runtime.host_sampling_interval(), Duration::from_millis(250));
    runtime.remove_load_balancer("app");
}

fn group_metrics<'a>(traffic: &'a BalancerTraffic, arn: &str) -> &'a TrafficMetrics {
    traffic
        .target_groups
        .iter()
        .find(|(a, _)| a == arn)
        .map(|(_, metrics)| metrics.as_ref())
        .unwrap()
}
