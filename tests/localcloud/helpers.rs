use aws_sdk_codedeploy as codedeploy;
use aws_sdk_ecs as ecs;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
/// One minute of a deployment config passes in one second.
pub const TIME_SCALE: &str = "60";

pub struct Cloud {
    pub child: Child,
    pub endpoint: String,
    pub data_dir: PathBuf,
    pub ecs: ecs::Client,
    pub cd: codedeploy::Client,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// The container engine address the local cloud was given.
    pub docker_host: String,
    /// Every line the local cloud wrote to stderr, in order.
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// Flags given on every start besides the harness's own.
    extra: Vec<String>,
}

impl Cloud {
    /// A local cloud that finds no container engine (its socket does not
    /// exist), so that its tasks run as host processes whatever the machine has.
    pub async fn start() -> Cloud {
        Self::start_with(&[]).await
    }

    /// `start` with these flags besides.
    pub async fn start_with(extra: &[&str]) -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let no_engine = format!("unix://{}/no-engine.sock", dir.path().display());
        Self::start_in(dir, &no_engine, extra).await
    }

    /// A local cloud whose tasks run on the container engine at `docker_host`.
    pub async fn start_on_engine(docker_host: &str) -> Cloud {
        Self::start_in(tempfile::tempdir().unwrap(), docker_host, &[]).await
    }

    async fn start_in(dir: tempfile::TempDir, docker_host: &str, extra: &[&str]) -> Cloud {
        let data_dir = dir.path().join("cloud");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, endpoint) =
            launch(&data_dir, "127.0.0.1:0", docker_host, &extra, &stderr).await;
        Cloud {
            child,
            ecs: ecs_client(&endpoint),
            cd: codedeploy_client(&endpoint),
            endpoint,
            data_dir,
            http: reqwest::Client::new(),
            dir,
            docker_host: docker_host.to_owned(),
            stderr,
            extra,
        }
    }

    /// Whether the local cloud has written a line to stderr that contains `needle`.
    pub fn said(&self, needle: &str) -> bool {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(needle))
    }

    /// kill -9, then start again on the same data dir and port. The task
    /// processes outlive the crash, and the restarted local cloud adopts
    /// them: the same processes run on.
    pub async fn crash_and_restart(&mut self) {
        let tasks = self.task_processes();
        assert!(!tasks.is_empty(), "task processes run before the crash");
        self.kill().await;
        self.restart().await;
        let after = self.task_processes();
        assert!(
            tasks.iter().all(|pid| after.contains(pid)),
            "the task processes {tasks:?} were not adopted: {after:?} run now"
        );
    }

    /// The static site task processes of this local cloud, sorted.
    pub fn task_processes(&self) -> Vec<u32> {
        let mut pids = processes_mentioning(&self.dir.path().to_string_lossy());
        pids.sort_unstable();
        pids
    }

    /// kill -9, and wait until it is gone.
    pub async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// SIGTERM, and wait until it has shut down.
    pub async fn terminate(&mut self) {
        let pid = self.child.id().expect("the local cloud runs") as libc::pid_t;
        // SAFETY: kill(2) has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the local cloud shuts down within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "the local cloud exited with {status}");
    }

    /// Starts the local cloud again (after `kill` or `terminate`) on the
    /// same data dir, port and container engine.
    pub async fn restart(&mut self) {
        let listen = self.endpoint.trim_start_matches("http://").to_owned();
        let (child, endpoint) = launch(
            &self.data_dir,
            &listen,
            &self.docker_host,
            &self.extra,
            &self.stderr,
        )
        .await;
        self.child = child;
        assert_eq!(endpoint, self.endpoint);
    }

    pub fn site(&self, name: &str, body: &str) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), body).unwrap();
        dir
    }

    pub async fn internal(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.endpoint))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn register_function(&self, name: &str, command: &[&str]) {
        let (status, body) = self
            .internal(
                reqwest::Method::PUT,
                &format!("/_localcloud/functions/{name}"),
                json!({"command": command}),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
}

impl Drop for Cloud {
    /// Shuts the local cloud down as SIGTERM does, so its task containers go too.
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            crate::shutdown::stop_gracefully(pid);
        }
    }
}

/// Live static site task processes whose command line mentions `needle`
/// (they name their directory, which lives in the test's temp dir).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c).contains(needle)
                    && String::from_utf8_lossy(&c).contains("--static-dir")
            })
        })
        .collect()
}

async fn launch(
    data_dir: &Path,
    listen: &str,
    docker_host: &str,
    extra: &[String],
    stderr: &Arc<Mutex<Vec<String>>>,
) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "localcloud",
            "--listen",
            listen,
            "--time-scale",
            TIME_SCALE,
            "--docker-host",
            docker_host,
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Passed on to the test's own stderr, and kept for the tests to read.
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    let kept = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            eprintln!("{line}");
            kept.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("the local cloud starts");
        if let Some((_, url)) = line.split_once("listening on ") {
            break url.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, endpoint)
}

pub fn ecs_client(endpoint: &str) -> ecs::Client {
    let config = ecs::Config::builder()
        .behavior_version(ecs::config::BehaviorVersion::latest())
        .region(ecs::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(ecs::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .retry_config(ecs::config::retry::RetryConfig::disabled())
        .build();
    ecs::Client::from_conf(config)
}

pub fn codedeploy_client(endpoint: &str) -> codedeploy::Client {
    let config = codedeploy::Config::builder()
        .behavior_version(codedeploy::config::BehaviorVersion::latest())
        .region(codedeploy::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(codedeploy::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .retry_config(codedeploy::config::retry::RetryConfig::disabled())
        .build();
    codedeploy::Client::from_conf(config)
}

/// The AWS error code of a failed SDK call.
pub fn code(error: impl aws_sdk_ecs::error::ProvideErrorMetadata) -> String {
    error.code().unwrap_or("(none)").to_owned()
}

/// A blue/green stack: load balancer, cluster, service on the blue site, a
/// CodeDeploy application and deployment group.
pub struct Stack {
    pub name: String,
    pub production_url: String,
    pub test_url: String,
    pub production_listener: String,
    pub test_listener: String,
    pub blue_site: PathBuf,
    pub green_site: PathBuf,
}

pub struct StackOptions {
    pub desired: i32,
    pub config: &'static str,
    pub ready_action: &'static str,
    pub termination_wait: i32,
    pub auto_rollback: bool,
    /// The service's first task definition; empty means one container "web"
    /// serving the blue static site.
    pub containers: Vec<ecs::types::ContainerDefinition>,
    /// The load balancer's container port.
    pub container_port: i32,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            desired: 2,
            config: "CodeDeployDefault.ECSAllAtOnce",
            ready_action: "CONTINUE_DEPLOYMENT",
            termination_wait: 0,
            auto_rollback: true,
            containers: Vec::new(),
            container_port: 80,
        }
    }
}

impl Stack {
    /// Provisions the stack and waits until its production listener serves
    /// the blue page (`<h1>blue</h1>`).
    pub async fn create(cloud: &Cloud, name: &str, options: StackOptions) -> Stack {
        let stack = Self::provision(cloud, name, options).await;
        stack.wait_until_serving(cloud, "blue").await;
        stack
    }

    /// Provisions the stack without waiting for its tasks.
    pub async fn provision(cloud: &Cloud, name: &str, options: StackOptions) -> Stack {
        let (status, lb) = cloud
            .internal(
                reqwest::Method::POST,
                "/_localcloud/load-balancers",
                json!({"name": name, "target_groups": [{"name": format!("{name}-blue")}, {"name": format!("{name}-green")}]}),
            )
            .await;
        assert_eq!(status, 201, "{lb}");
        let blue_site = cloud.site(&format!("{name}-blue-site"), "<h1>blue</h1>");
        let green_site = cloud.site(&format!("{name}-green-site"), "<h1>green</h1>");
        cloud
            .ecs
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .unwrap();
        if options.containers.is_empty() {
            register(cloud, name, &blue_site).await;
        } else {
            register_containers(cloud, name, options.containers).await;
        }
        cloud
            .ecs
            .create_service()
            .cluster(name)
            .service_name("web")
            .task_definition(name)
            .desired_count(options.desired)
            .deployment_controller(
                ecs::types::DeploymentController::builder()
                    .r#type(ecs::types::DeploymentControllerType::CodeDeploy)
                    .build()
                    .unwrap(),
            )
            .load_balancers(
                ecs::types::LoadBalancer::builder()
                    .target_group_arn(lb["target_groups"][0]["arn"].as_str().unwrap())
                    .container_name("web")
                    .container_port(options.container_port)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        cloud
            .cd
            .create_application()
            .application_name(name)
            .compute_platform(codedeploy::types::ComputePlatform::Ecs)
            .send()
            .await
            .unwrap();
        use codedeploy::types::*;
        let prod = lb["production_listener_arn"].as_str().unwrap().to_owned();
        let test = lb["test_listener_arn"].as_str().unwrap().to_owned();
        cloud
            .cd
            .create_deployment_group()
            .application_name(name)
            .deployment_group_name(format!("{name}-dg"))
            .service_role_arn("arn:aws:iam::000000000000:role/codedeploy")
            .deployment_config_name(options.config)
            .ecs_services(
                EcsService::builder()
                    .service_name("web")
                    .cluster_name(name)
                    .build(),
            )
            .deployment_style(
                DeploymentStyle::builder()
                    .deployment_type(DeploymentType::BlueGreen)
                    .deployment_option(DeploymentOption::WithTrafficControl)
                    .build(),
            )
            .blue_green_deployment_configuration(
                BlueGreenDeploymentConfiguration::builder()
                    .deployment_ready_option(
                        DeploymentReadyOption::builder()
                            .action_on_timeout(DeploymentReadyAction::from(options.ready_action))
                            .wait_time_in_minutes(30)
                            .build(),
                    )
                    .terminate_blue_instances_on_deployment_success(
                        BlueInstanceTerminationOption::builder()
                            .action(InstanceAction::Terminate)
                            .termination_wait_time_in_minutes(options.termination_wait)
                            .build(),
                    )
                    .build(),
            )
            .load_balancer_info(
                LoadBalancerInfo::builder()
                    .target_group_pair_info_list(
                        TargetGroupPairInfo::builder()
                            .target_groups(
                                TargetGroupInfo::builder()
                                    .name(format!("{name}-blue"))
                                    .build(),
                            )
                            .target_groups(
                                TargetGroupInfo::builder()
                                    .name(format!("{name}-green"))
                                    .build(),
                            )
                            .prod_traffic_route(
                                TrafficRoute::builder().listener_arns(&prod).build(),
                            )
                            .test_traffic_route(
                                TrafficRoute::builder().listener_arns(&test).build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .auto_rollback_configuration(
                AutoRollbackConfiguration::builder()
                    .enabled(options.auto_rollback)
                    .events(AutoRollbackEvent::DeploymentFailure)
                    .events(AutoRollbackEvent::DeploymentStopOnRequest)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        Stack {
            name: name.to_owned(),
            production_url: lb["production_url"].as_str().unwrap().to_owned(),
            test_url: lb["test_url"].as_str().unwrap().to_owned(),
            production_listener: prod,
            test_listener: test,
            blue_site,
            green_site,
        }
    }

    pub async fn wait_until_serving(&self, cloud: &Cloud, colour: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = cloud.http.get(&self.production_url).send().await
                && r.status().is_success()
                && r.text()
                    .await
                    .unwrap_or_default()
                    .contains(&format!("<h1>{colour}</h1>"))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never served {colour}",
                self.production_url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn appspec(task_definition: &str, hooks: &[(&str, &str)]) -> String {
        let mut spec = format!(
            "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"{task_definition}\"\n        LoadBalancerInfo:\n          ContainerName: \"web\"\n          ContainerPort: 80\n"
        );
        if !hooks.is_empty() {
            spec.push_str("Hooks:\n");
            for (event, function) in hooks {
                spec.push_str(&format!("  - {event}: \"{function}\"\n"));
            }
        }
        spec
    }

    /// Registers the green site as a new revision and starts a deployment.
    pub async fn deploy_green(
        &self,
        cloud: &Cloud,
        config: Option<&str>,
        hooks: &[(&str, &str)],
    ) -> String {
        let td = register(cloud, &self.name, &self.green_site).await;
        let mut request = cloud
            .cd
            .create_deployment()
            .application_name(&self.name)
            .deployment_group_name(format!("{}-dg", self.name))
            .revision(revision(&Self::appspec(&td, hooks)));
        if let Some(config) = config {
            request = request.deployment_config_name(config);
        }
        request.send().await.unwrap().deployment_id.unwrap()
    }

    pub fn target(&self) -> String {
        format!("{}:web", self.name)
    }
}

pub fn revision(appspec: &str) -> codedeploy::types::RevisionLocation {
    codedeploy::types::RevisionLocation::builder()
        .revision_type(codedeploy::types::RevisionLocationType::AppSpecContent)
        .app_spec_content(
            codedeploy::types::AppSpecContent::builder()
                .content(appspec)
                .build(),
        )
        .build()
}

pub async fn register(cloud: &Cloud, family: &str, site: &Path) -> String {
    let web = ecs::types::ContainerDefinition::builder()
        .name("web")
        .image(format!("static:{}", site.display()))
        .port_mappings(
            ecs::types::PortMapping::builder()
                .container_port(80)
                .build(),
        )
        .build();
    register_containers(cloud, family, vec![web]).await
}

/// Registers a revision of `family` with these containers; returns its ARN.
pub async fn register_containers(
    cloud: &Cloud,
    family: &str,
    containers: Vec<ecs::types::ContainerDefinition>,
) -> String {
    cloud
        .ecs
        .register_task_definition()
        .family(family)
        .set_container_definitions(Some(containers))
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

/// Polls until the deployment reaches a finished status.
pub async fn wait_finished(
    cloud: &Cloud,
    id: &str,
    within: Duration,
) -> codedeploy::types::DeploymentInfo {
    let deadline = Instant::now() + within;
    loop {
        let info = cloud
            .cd
            .get_deployment()
            .deployment_id(id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
        let status = info.status.clone().unwrap();
        if matches!(status.as_str(), "Succeeded" | "Failed" | "Stopped") {
            return info;
        }
        assert!(Instant::now() < deadline, "deployment {id} still {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_status(cloud: &Cloud, id: &str, wanted: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let info = cloud
            .cd
            .get_deployment()
            .deployment_id(id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
        if info.status.as_ref().map(|s| s.as_str()) == Some(wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "deployment {id} is {:?}, never {wanted}",
            info.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Share of `n` requests to `url` answered by the green site.
pub async fn green_share(http: &reqwest::Client, url: &str, n: usize) -> f64 {
    let mut green = 0;
    for _ in 0..n {
        let response = http.get(url).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "{url} answered {status}: {body}");
        if body.contains("<h1>green</h1>") {
            green += 1;
        }
    }
    green as f64 / n as f64
}
