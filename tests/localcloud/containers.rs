//! Tasks as containers on a real Docker engine (the one scripts/test starts,
//! named by SWITCHYARD_TEST_DOCKER_HOST), with the image
//! switchyard-test/busybox:latest that it builds offline. Nothing is pulled
//! from a remote registry.

use crate::helpers::{Cloud, Stack, StackOptions, register_containers, revision, wait_finished};
use crate::sampler::Sampler;
use aws_sdk_ecs as ecs;
use bollard::Docker;
use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{KillContainerOptions, ListContainersOptions};
use ecs::types::{ContainerDefinition, HealthCheck, KeyValuePair, PortMapping};
use localcloud::tasks::{ContainerEngine, DockerHost};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

const IMAGE: &str = "switchyard-test/busybox:latest";
const GREETING: &str = "greetings from the task definition";
/// Writes a page with $GREETING in it, says so, and serves it on 8080.
const SERVE_PAGE: &str = r#"mkdir -p /www && echo "<h1>blue</h1><p>$GREETING</p>" > /www/index.html && echo "page written for $GREETING" && exec httpd -f -p 8080 -h /www"#;

fn engine_host() -> String {
    std::env::var("SWITCHYARD_TEST_DOCKER_HOST").unwrap_or_else(|_| {
        panic!(
            "SWITCHYARD_TEST_DOCKER_HOST is not set: these tests need a Docker engine with the image {IMAGE}; \
             run scripts/test, which starts one and builds the image"
        )
    })
}

/// The test's own client of the engine the local cloud uses.
async fn docker(host: &str) -> Docker {
    let host = DockerHost::parse(host).unwrap();
    ContainerEngine::connect(&host, "tests")
        .await
        .unwrap_or_else(|e| panic!("no Docker engine at {host}: {e}"))
        .docker()
        .clone()
}

async fn start_cloud() -> (Cloud, Docker) {
    let host = engine_host();
    let engine = docker(&host).await;
    let cloud = Cloud::start_on_engine(&host).await;
    wait_for("the runner line", Duration::from_secs(5), || async {
        cloud
            .said("local cloud: tasks run as containers on ")
            .then_some(())
    })
    .await;
    (cloud, engine)
}

fn container(name: &str, command: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name(name)
        .image(IMAGE)
        .command("sh")
        .command("-c")
        .command(command)
        .environment(
            KeyValuePair::builder()
                .name("GREETING")
                .value(GREETING)
                .build(),
        )
        .build()
}

fn web(command: &str) -> ContainerDefinition {
    let mut web = container("web", command);
    web.port_mappings = Some(vec![PortMapping::builder().container_port(8080).build()]);
    web
}

fn on_8080(containers: Vec<ContainerDefinition>, desired: i32) -> StackOptions {
    StackOptions {
        desired,
        containers,
        container_port: 8080,
        ..Default::default()
    }
}

/// Polls `check` until it gives Some, failing the test after `limit`.
async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ids of the stack's tasks that are (not) stopped.
async fn task_ids(cloud: &Cloud, cluster: &str, stopped: bool) -> Vec<String> {
    let status = if stopped {
        ecs::types::DesiredStatus::Stopped
    } else {
        ecs::types::DesiredStatus::Running
    };
    let listed = cloud
        .ecs
        .list_tasks()
        .cluster(cluster)
        .desired_status(status)
        .send()
        .await
        .unwrap();
    listed
        .task_arns()
        .iter()
        .map(|arn| arn.rsplit('/').next().unwrap().to_owned())
        .collect()
}

async fn describe(cloud: &Cloud, cluster: &str, task_id: &str) -> ecs::types::Task {
    cloud
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(task_id)
        .send()
        .await
        .unwrap()
        .tasks()
        .first()
        .unwrap_or_else(|| panic!("no task {task_id}"))
        .clone()
}

/// The one task that is RUNNING, once there is exactly one.
async fn the_running_task(cloud: &Cloud, cluster: &str) -> String {
    wait_for("one running task", Duration::from_secs(30), || async {
        let ids = task_ids(cloud, cluster, false).await;
        let [id] = ids.as_slice() else { return None };
        let task = describe(cloud, cluster, id).await;
        (task.last_status() == Some("RUNNING")).then(|| id.clone())
    })
    .await
}

/// Containers (running or not) carrying the label `key=value`.
async fn labelled(docker: &Docker, key: &str, value: &str) -> Vec<ContainerSummary> {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{key}={value}")])]);
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap()
}

async fn task_log(cloud: &Cloud, task_id: &str, tail: &str) -> (u16, String) {
    let response = cloud
        .http
        .get(format!(
            "{}/_localcloud/tasks/{task_id}/logs?tail={tail}",
            cloud.endpoint
        ))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn page(cloud: &Cloud, url: &str) -> Option<String> {
    let response = cloud.http.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

#[tokio::test]
async fn a_container_task_serves_through_the_load_balancer_logs_and_is_removed_with_its_service() {
    let (cloud, docker) = start_cloud().await;
    let stack = Stack::create(&cloud, "boxes", on_8080(vec![web(SERVE_PAGE)], 1)).await;
    let body = page(&cloud, &stack.production_url).await.unwrap();
    assert!(
        body.contains(GREETING),
        "the environment reached the page: {body}"
    );

    let task_id = the_running_task(&cloud, "boxes").await;
    let log = wait_for(
        "the task's output in its log",
        Duration::from_secs(10),
        || async {
            let (status, log) = task_log(&cloud, &task_id, "20").await;
            assert_eq!(status, 200, "{log}");
            log.contains(&format!("page written for {GREETING}"))
                .then_some(log)
        },
    )
    .await;
    assert!(
        !log.contains("web | "),
        "a single container's lines have no prefix: {log}"
    );
    let file = std::fs::read_to_string(cloud.data_dir.join("tasks").join(format!("{task_id}.log")))
        .unwrap();
    assert!(file.contains("page written"), "{file}");
    let (status, _) = task_log(&cloud, &"f".repeat(32), "5").await;
    assert_eq!(status, 404, "an unknown task has no log");
    let (status, _) = task_log(&cloud, &task_id, "lots").await;
    assert_eq!(status, 400);

    let containers = labelled(&docker, "switchyard.task-id", &task_id).await;
    assert_eq!(containers.len(), 1, "{containers:#?}");
    let summary = &containers[0];
    assert_eq!(
        summary.names.as_deref(),
        Some(&[format!("/switchyard-{task_id}-web")][..])
    );
    assert_eq!(summary.image.as_deref(), Some(IMAGE));
    let labels = summary.labels.as_ref().unwrap();
    assert_eq!(labels["switchyard.container"], "web");
    assert_eq!(labels["switchyard.localcloud"].len(), 16);
    let task = describe(&cloud, "boxes", &task_id).await;
    assert_eq!(task.last_status(), Some("RUNNING"));
    assert_eq!(task.containers()[0].runtime_id(), summary.id.as_deref());

    cloud
        .ecs
        .delete_service()
        .cluster("boxes")
        .service("web")
        .force(true)
        .send()
        .await
        .unwrap();
    wait_for(
        "the containers to go with the service",
        Duration::from_secs(20),
        || async {
            labelled(&docker, "switchyard.task-id", &task_id)
                .await
                .is_empty()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_killed_container_is_replaced_by_a_new_task() {
    let (cloud, docker) = start_cloud().await;
    let stack = Stack::create(&cloud, "kills", on_8080(vec![web(SERVE_PAGE)], 1)).await;
    let victim = the_running_task(&cloud, "kills").await;
    docker
        .kill_container(
            &format!("switchyard-{victim}-web"),
            Some(KillContainerOptions {
                signal: "SIGKILL".to_owned(),
            }),
        )
        .await
        .unwrap();

    let replacement = wait_for("a running replacement", Duration::from_secs(30), || async {
        let running = task_ids(&cloud, "kills", false).await;
        let [id] = running.as_slice() else {
            return None;
        };
        let task = describe(&cloud, "kills", id).await;
        (id != &victim && task.last_status() == Some("RUNNING")).then(|| id.clone())
    })
    .await;
    assert!(task_ids(&cloud, "kills", true).await.contains(&victim));
    let stopped = describe(&cloud, "kills", &victim).await;
    assert_eq!(stopped.last_status(), Some("STOPPED"));
    assert_eq!(
        stopped.stopped_reason(),
        Some("Essential container in task exited (web: exit code 137)")
    );
    assert!(
        labelled(&docker, "switchyard.task-id", &victim)
            .await
            .is_empty(),
        "the killed task's container was removed"
    );
    assert_eq!(
        labelled(&docker, "switchyard.task-id", &replacement)
            .await
            .len(),
        1
    );
    stack.wait_until_serving(&cloud, "blue").await;
}

#[tokio::test]
async fn a_non_essential_sidecar_shares_the_tasks_localhost_and_may_exit() {
    let (cloud, docker) = start_cloud().await;
    // The sidecar serves a page on localhost:9090 for a few seconds; the web
    // container fetches it from there before it serves its own page.
    let mut sidecar = container(
        "sidecar",
        "mkdir -p /s && echo 'said by the sidecar' > /s/index.html && httpd -p 127.0.0.1:9090 -h /s \
         && echo 'sidecar up' && sleep 4 && echo 'sidecar done'",
    );
    sidecar.essential = Some(false);
    let fetch_then_serve = "mkdir -p /www && echo '<h1>blue</h1>' > /www/index.html && \
         until wget -q -O - http://127.0.0.1:9090/ >> /www/index.html; do sleep 0.2; done && \
         echo 'fetched from the sidecar' && exec httpd -f -p 8080 -h /www";
    let stack = Stack::create(
        &cloud,
        "pairs",
        on_8080(vec![sidecar, web(fetch_then_serve)], 1),
    )
    .await;
    let body = page(&cloud, &stack.production_url).await.unwrap();
    assert!(body.contains("said by the sidecar"), "{body}");
    let task_id = the_running_task(&cloud, "pairs").await;
    let names: Vec<String> = labelled(&docker, "switchyard.task-id", &task_id)
        .await
        .iter()
        .flat_map(|c| c.names.clone().unwrap_or_default())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let log = wait_for("the sidecar to finish", Duration::from_secs(20), || async {
        let (_, log) = task_log(&cloud, &task_id, "100").await;
        log.contains("sidecar | sidecar done").then_some(log)
    })
    .await;
    assert!(log.contains("sidecar | sidecar up"), "{log}");
    assert!(log.contains("web | fetched from the sidecar"), "{log}");
    // Its exit is only logged: the task runs on and still serves.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(the_running_task(&cloud, "pairs").await, task_id);
    assert!(task_ids(&cloud, "pairs", true).await.is_empty());
    stack.wait_until_serving(&cloud, "blue").await;
}

#[tokio::test]
async fn a_failing_container_health_check_gets_the_task_replaced() {
    let (cloud, docker) = start_cloud().await;
    let mut sick = web(SERVE_PAGE);
    sick.health_check = Some(
        HealthCheck::builder()
            .command("CMD-SHELL")
            .command("exit 1")
            .interval(1)
            .timeout(1)
            .retries(1)
            .build()
            .unwrap(),
    );
    Stack::provision(&cloud, "sick", on_8080(vec![sick], 1)).await;
    let first = wait_for("a stopped task", Duration::from_secs(30), || async {
        task_ids(&cloud, "sick", true).await.first().cloned()
    })
    .await;
    let stopped = describe(&cloud, "sick", &first).await;
    assert_eq!(
        stopped.stopped_reason(),
        Some("Task failed container health checks (web)")
    );
    wait_for("a replacement task", Duration::from_secs(30), || async {
        let live = task_ids(&cloud, "sick", false).await;
        live.iter().any(|id| id != &first).then_some(())
    })
    .await;
    assert!(
        labelled(&docker, "switchyard.task-id", &first)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_stops_the_task_with_the_engines_reason() {
    let (cloud, _docker) = start_cloud().await;
    // A registry on a loopback port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut absent = web(SERVE_PAGE);
    absent.image = Some(format!("127.0.0.1:{closed}/switchyard-test/absent:1"));
    Stack::provision(&cloud, "absent", on_8080(vec![absent], 1)).await;
    let stopped = wait_for("a stopped task", Duration::from_secs(30), || async {
        task_ids(&cloud, "absent", true).await.first().cloned()
    })
    .await;
    let reason = describe(&cloud, "absent", &stopped)
        .await
        .stopped_reason()
        .unwrap()
        .to_owned();
    assert!(reason.starts_with("CannotPullContainerError: "), "{reason}");
    assert!(reason.contains(&format!("127.0.0.1:{closed}")), "{reason}");
    let (_, log) = task_log(&cloud, &stopped, "10").await;
    assert!(log.contains("[local cloud] pulling image"), "{log}");
}

#[tokio::test]
async fn without_an_engine_host_commands_run_and_images_without_one_are_refused_naming_it() {
    let cloud = Cloud::start_on_engine("unix:///nonexistent.sock").await;
    wait_for("the fallback line", Duration::from_secs(5), || async {
        cloud
            .said(
                "local cloud: no container engine at unix:///nonexistent.sock (no socket at /nonexistent.sock); \
                 tasks run as host processes (static: images, or an entryPoint/command run on the host)",
            )
            .then_some(())
    })
    .await;
    let site = cloud.site("hosted-site", "<h1>blue</h1>");
    let mut on_host = container(
        "web",
        r#"exec python3 -m http.server --bind "$HOST" "$PORT""#,
    );
    on_host.working_directory = Some(site.display().to_string());
    Stack::create(
        &cloud,
        "hosted",
        StackOptions {
            desired: 1,
            containers: vec![on_host],
            ..Default::default()
        },
    )
    .await;

    let image_only = ContainerDefinition::builder()
        .name("web")
        .image(IMAGE)
        .port_mappings(PortMapping::builder().container_port(80).build())
        .build();
    let td = register_containers(&cloud, "hosted", vec![image_only]).await;
    let id = cloud
        .cd
        .create_deployment()
        .application_name("hosted")
        .deployment_group_name("hosted-dg")
        .revision(revision(&Stack::appspec(&td, &[])))
        .send()
        .await
        .unwrap()
        .deployment_id
        .unwrap();
    let info = wait_finished(&cloud, &id, Duration::from_secs(30)).await;
    assert_eq!(info.status().unwrap().as_str(), "Failed");
    let message = info.error_information().unwrap().message().unwrap();
    assert!(
        message.contains(&format!(
            "image {IMAGE} needs a container engine, and no container engine was reachable at unix:///nonexistent.sock"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn shutdown_removes_the_containers_and_a_restart_adopts_those_a_crash_left() {
    let (mut cloud, docker) = start_cloud().await;
    let stack = Stack::create(&cloud, "lives", on_8080(vec![web(SERVE_PAGE)], 2)).await;
    let first = task_ids(&cloud, "lives", false).await;
    let owner = labelled(&docker, "switchyard.task-id", &first[0]).await[0]
        .labels
        .as_ref()
        .unwrap()["switchyard.localcloud"]
        .clone();
    let own = || labelled(&docker, "switchyard.localcloud", &owner);
    let running = || async {
        let mut ids: Vec<String> = own()
            .await
            .into_iter()
            .filter(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING))
            .filter_map(|c| c.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(own().await.len(), 2);

    cloud.terminate().await;
    assert!(
        own().await.is_empty(),
        "a shutdown leaves no container behind"
    );

    cloud.restart().await;
    // RUNNING, not just listed: a listed task may still be starting its
    // container, which the crash below would then catch half-started.
    wait_for(
        "two tasks running again",
        Duration::from_secs(30),
        || async {
            let tasks = task_ids(&cloud, "lives", false).await;
            for task in &tasks {
                if describe(&cloud, "lives", task).await.last_status() != Some("RUNNING") {
                    return None;
                }
            }
            (tasks.len() == 2).then_some(())
        },
    )
    .await;
    stack.wait_until_serving(&cloud, "blue").await;
    let containers = running().await;
    let mut tasks = task_ids(&cloud, "lives", false).await;
    tasks.sort();
    assert_eq!(containers.len(), 2);

    // A crash leaves the containers running; the next start takes them over
    // with their task ids, and production serves on through the restart.
    let production = Sampler::start(&stack.production_url);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    cloud.kill().await;
    let dead = Instant::now();
    assert_eq!(running().await, containers, "containers outlive a crash");
    tokio::time::sleep(Duration::from_millis(300)).await;
    cloud.restart().await;
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    production
        .stop()
        .await
        .assert_only_lost_while_down(killed, dead, restarted);
    let mut adopted = task_ids(&cloud, "lives", false).await;
    adopted.sort();
    assert_eq!(adopted, tasks, "the tasks keep their ids");
    assert_eq!(running().await, containers, "and their containers");
    // Their health is checked on: a task whose container dies now is replaced.
    docker
        .kill_container(&containers[0], None::<KillContainerOptions>)
        .await
        .unwrap();
    wait_for(
        "the killed task replaced",
        Duration::from_secs(30),
        || async {
            let now = task_ids(&cloud, "lives", false).await;
            (now.len() == 2 && now.iter().filter(|t| tasks.contains(t)).count() == 1).then_some(())
        },
    )
    .await;

    cloud.terminate().await;
    assert!(own().await.is_empty());
}
