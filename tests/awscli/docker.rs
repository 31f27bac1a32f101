//! The local ECR with the real Docker CLI and engine: `aws ecr
//! get-login-password | docker login`, `docker push`, `docker pull` and a
//! run of what was pulled, before and after a restart of the local cloud.
//! The engine is the one scripts/test starts (SWITCHYARD_TEST_DOCKER_HOST);
//! each test logs in with a Docker config dir of its own.

use super::{Cli, TIME_SCALE};
use crate::support::LocalCloud;
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The image scripts/test builds offline (FROM scratch + static busybox).
const BASE_IMAGE: &str = "switchyard-test/busybox:latest";

fn docker_host() -> String {
    match std::env::var("SWITCHYARD_TEST_DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host,
        _ => panic!(
            "SWITCHYARD_TEST_DOCKER_HOST is not set: run scripts/test, which starts a Docker engine for the tests \
             (with the image {BASE_IMAGE}) and exports its socket"
        ),
    }
}

/// The docker CLI on the test engine, with its own config dir (so logins
/// stay out of ~/.docker). What it made is removed when it is dropped.
struct Docker {
    host: String,
    config: tempfile::TempDir,
    images: std::sync::Mutex<Vec<String>>,
    containers: std::sync::Mutex<Vec<String>>,
}

impl Docker {
    fn new() -> Docker {
        Docker {
            host: docker_host(),
            config: tempfile::tempdir().unwrap(),
            images: Default::default(),
            containers: Default::default(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.config.path())
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.config.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = self.command(args);
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run docker (is the docker CLI on PATH?): {e}"));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).await.unwrap();
            drop(pipe);
        }
        tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("docker {} took over 120 s", args.join(" ")))
            .unwrap()
    }

    /// Runs a command that must succeed; its stdout.
    async fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let output = self.output(args, stdin).await;
        assert!(
            output.status.success(),
            "docker {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs a command that must fail; its stderr.
    async fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let output = self.output(args, stdin).await;
        assert!(
            !output.status.success(),
            "docker {} succeeded but should not have: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Remembers an image name to remove at the end.
    fn made(&self, image: &str) {
        self.images.lock().unwrap().push(image.to_owned());
    }

    /// Remembers a container name to remove at the end.
    fn made_container(&self, container: &str) {
        self.containers.lock().unwrap().push(container.to_owned());
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let containers = std::mem::take(&mut *self.containers.lock().unwrap());
        let images = std::mem::take(&mut *self.images.lock().unwrap());
        for (verb, names) in [("rm", containers), ("rmi", images)] {
            if names.is_empty() {
                continue;
            }
            let _ = std::process::Command::new("docker")
                .args([verb, "--force"])
                .args(&names)
                .env("DOCKER_HOST", &self.host)
                .env("DOCKER_CONFIG", self.config.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The digest in `docker push`'s last line: `v1: digest: sha256:… size: N`.
fn pushed_digest(output: &str) -> String {
    output
        .lines()
        .find_map(|line| line.split_once("digest: ")?.1.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in the push output: {output}"))
        .to_owned()
}

#[tokio::test]
async fn docker_logs_in_pushes_and_pulls_through_the_local_ecr() {
    let docker = Docker::new();
    let mut cloud = LocalCloud::start(TIME_SCALE).await;
    let cli = Cli::new(&cloud.endpoint);
    let host = cloud.endpoint.trim_start_matches("http://").to_owned();
    cli.ok(&["ecr", "create-repository", "--repository-name", "app"])
        .await;

    // The registry really checks the password.
    let refused = docker
        .fails(
            &["login", "--username", "AWS", "--password-stdin", &host],
            Some("not-a-token"),
        )
        .await;
    assert!(refused.contains("401"), "{refused}");
    let password = cli.text(&["ecr", "get-login-password"]).await;
    let login = docker
        .ok(
            &["login", "--username", "AWS", "--password-stdin", &host],
            Some(&password),
        )
        .await;
    assert!(login.contains("Login Succeeded"), "{login}");

    // An image with a layer of its own (the engine cannot pull it back
    // from anywhere else once it is removed), pushed.
    let nonce = format!("{:016x}", rand::random::<u64>());
    let container = format!("switchyard-ecr-test-{nonce}");
    let image = format!("{host}/app:v1");
    docker.made_container(&container);
    docker
        .ok(
            &[
                "run",
                "--name",
                &container,
                BASE_IMAGE,
                "sh",
                "-c",
                &format!("echo {nonce} > /nonce"),
            ],
            None,
        )
        .await;
    docker.made(&image);
    docker.ok(&["commit", &container, &image], None).await;
    docker.ok(&["rm", &container], None).await;
    let pushed = docker.ok(&["push", &image], None).await;
    let digest = pushed_digest(&pushed);

    let described = cli
        .ok(&["ecr", "describe-images", "--repository-name", "app"])
        .await;
    let detail = &described["imageDetails"][0];
    assert_eq!(detail["imageDigest"], digest.as_str(), "{described}");
    assert_eq!(detail["imageTags"], serde_json::json!(["v1"]));
    assert_eq!(
        detail["imageManifestMediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert!(detail["imageSizeInBytes"].as_u64().is_some_and(|s| s > 0));

    // A repository nobody created refuses the push, in ECR's words.
    let stray = format!("{host}/missing:v1");
    docker.made(&stray);
    docker.ok(&["tag", &image, &stray], None).await;
    let refused = docker.fails(&["push", &stray], None).await;
    assert!(
        refused.contains(
            "name unknown: The repository with name 'missing' does not exist in the registry with id '000000000000'"
        ),
        "{refused}"
    );

    // Removed, pulled back, run.
    let check_pull = || async {
        docker.ok(&["rmi", &image], None).await;
        let pulled = docker.ok(&["pull", &image], None).await;
        assert!(pulled.contains(&digest), "{pulled}");
        let ran = docker
            .ok(&["run", "--rm", &image, "cat", "/nonce"], None)
            .await;
        assert_eq!(ran.trim(), nonce);
    };
    docker.ok(&["rmi", &stray], None).await;
    check_pull().await;

    // After a restart the login and the images are still there.
    cloud.restart().await;
    check_pull().await;
}
