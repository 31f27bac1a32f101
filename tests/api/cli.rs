use crate::helpers::{BIN, TestServer};
use serde_json::Value;

#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) async fn cli(s: &TestServer, token: Option<&str>, args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env("SWITCHYARD_URL", &s.base)
        .env_remove("SWITCHYARD_TOKEN");
    if let Some(token) = token {
        command.env("SWITCHYARD_TOKEN", token);
    }
    let output = command.output().await.unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[tokio::test]
async fn env_create_list_show_delete() {
    let s = TestServer::spawn().await;
    let token = Some(s.admin_token.as_str());
    let created = cli(
        &s,
        token,
        &[
            "env",
            "create",
            "demo",
            "--platform",
            "local",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(created.code, Some(0), "{}", created.stderr);
    let created: Value = serde_json::from_str(&created.stdout).unwrap();
    assert_eq!(created["name"], "demo");

    let aws = cli(
        &s,
        token,
        &[
            "env",
            "create",
            "prod",
            "--platform",
            "aws",
            "--region",
            "us-east-1",
            "--cluster",
            "web",
        ],
    )
    .await;
    assert_eq!(aws.code, Some(0), "{}", aws.stderr);
    assert!(
        aws.stdout.contains("cluster") && aws.stdout.contains("web"),
        "{}",
        aws.stdout
    );

    let list = cli(&s, token, &["env", "list"]).await;
    assert_eq!(list.code, Some(0));
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("PLATFORM"),
        "{}",
        list.stdout
    );
    assert!(lines[1].starts_with("demo ") && lines[1].contains("local"));
    assert!(lines[2].starts_with("prod ") && lines[2].contains("us-east-1"));

    let json = cli(&s, token, &["--output", "json", "env", "list"]).await;
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["environments"].as_array().unwrap().len(), 2);

    let show = cli(&s, token, &["env", "show", "prod"]).await;
    assert!(show.stdout.contains("region") && show.stdout.contains("us-east-1"));

    let deleted = cli(&s, token, &["env", "delete", "demo"]).await;
    assert_eq!(deleted.code, Some(0));
    assert_eq!(deleted.stdout.trim(), "deleted environment demo");
}

#[tokio::test]
async fn releases_page_and_walk_all() {
    let s = TestServer::spawn().await;
    s.environment("demo").await;
    for v in 1..=5 {
        s.release("demo", &format!("v{v}")).await;
    }
    let token = Some(s.admin_token.as_str());
    let page = cli(&s, token, &["releases", "demo", "--limit", "2"]).await;
    assert_eq!(page.code, Some(0), "{}", page.stderr);
    let rows: Vec<&str> = page.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{}", page.stdout);
    assert!(rows[0].starts_with("ID") && rows[1].contains("v5") && rows[2].contains("v4"));
    assert!(
        page.stderr.contains("--before"),
        "tells how to get more: {}",
        page.stderr
    );

    let all = cli(
        &s,
        token,
        &["releases", "demo", "--limit", "2", "--all", "-o", "json"],
    )
    .await;
    let all: Value = serde_json::from_str(&all.stdout).unwrap();
    let versions: Vec<&str> = all["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v5", "v4", "v3", "v2", "v1"]);
}

#[tokio::test]
async fn errors_are_clear_and_exit_non_zero() {
    let s = TestServer::spawn().await;
    let token = Some(s.admin_token.as_str());

    let missing = cli(&s, token, &["env", "show", "nope"]).await;
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("no environment named \"nope\"") && missing.stderr.contains("404"),
        "{}",
        missing.stderr
    );
    assert!(missing.stdout.is_empty());

    let invalid = cli(&s, token, &["env", "create", "Bad_Name"]).await;
    assert_eq!(invalid.code, Some(1));
    assert!(invalid.stderr.contains("name:"), "{}", invalid.stderr);

    let no_token = cli(&s, None, &["env", "list"]).await;
    assert_eq!(no_token.code, Some(2));
    assert!(
        no_token.stderr.contains("SWITCHYARD_TOKEN"),
        "{}",
        no_token.stderr
    );

    let bad_token = cli(&s, Some("sy_wrong"), &["env", "list"]).await;
    assert_eq!(bad_token.code, Some(1));
    assert!(bad_token.stderr.contains("401"));

    let viewer = s.user("vera", "viewer").await;
    let forbidden = cli(&s, Some(&viewer), &["env", "create", "other"]).await;
    assert_eq!(forbidden.code, Some(1));
    assert!(
        forbidden.stderr.contains("admin role"),
        "{}",
        forbidden.stderr
    );

    let unreachable = tokio::process::Command::new(BIN)
        .args(["env", "list", "--server", "http://127.0.0.1:9"])
        .env("SWITCHYARD_TOKEN", "sy_x")
        .output()
        .await
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach"));
}

#[tokio::test]
async fn the_token_can_come_from_a_file() {
    let s = TestServer::spawn().await;
    let token_file = s.data_dir.join("admin-token");
    let run = cli(
        &s,
        None,
        &["env", "list", "--token-file", token_file.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// A pipeline set up from the command line alone: an environment that
/// follows a repository, its policy changed, its stack provisioned and
/// destroyed, waiting for each.
#[tokio::test]
async fn env_and_stack_commands_set_up_a_pipeline() {
    let s = TestServer::spawn().await;
    let token = Some(s.admin_token.as_str());
    let repo = tempfile::tempdir().unwrap();
    let repo_path = repo.path().to_str().unwrap();
    let secret_file = repo.path().join("webhook-secret");
    std::fs::write(&secret_file, "a webhook secret of some length\n").unwrap();
    let secret_path = secret_file.to_str().unwrap();

    let created = cli(
        &s,
        token,
        &[
            "env",
            "create",
            "shop",
            "--source-repo",
            repo_path,
            "--branch",
            "main",
            "--webhook-secret-file",
            secret_path,
            "--approvals",
            "2",
            "--deployment-config",
            "ECSCanary10Percent5Minutes",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(created.code, Some(0), "{}", created.stderr);
    let created: Value = serde_json::from_str(&created.stdout).unwrap();
    assert_eq!(
        created["source"],
        serde_json::json!({"repo": repo_path, "branch": "main"})
    );
    assert_eq!(created["webhook_secret_set"], true);
    assert_eq!(
        created["approval_policy"],
        serde_json::json!({"required": 2, "allow_self_approval": false})
    );
    assert_eq!(
        created["deployment_group"]["deployment_config"],
        "CodeDeployDefault.ECSCanary10Percent5Minutes"
    );
    // The secret went in whole, without the file's line break.
    let body = br#"{"repository": "REPO", "branch": "main", "after": "4444444444444444444444444444444444444444"}"#;
    let body = String::from_utf8_lossy(body).replace("REPO", repo_path);
    let push = s
        .client()
        .post(s.url("/hooks/generic"))
        .header("x-switchyard-event", "push")
        .header(
            "x-switchyard-signature",
            switchyard_domain::webhook::sha256_signature_header(
                "a webhook secret of some length",
                body.as_bytes(),
            ),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), reqwest::StatusCode::ACCEPTED);

    let updated = cli(
        &s,
        token,
        &[
            "env",
            "update",
            "shop",
            "--approvals",
            "1",
            "--allow-self-approval",
        ],
    )
    .await;
    assert_eq!(updated.code, Some(0), "{}", updated.stderr);
    assert!(
        updated
            .stdout
            .contains("1 required, the author's own counts")
            && updated.stdout.contains(repo_path)
            && updated.stdout.contains("webhook secret"),
        "{}",
        updated.stdout
    );
    let nothing = cli(&s, token, &["env", "update", "shop"]).await;
    assert_eq!(nothing.code, Some(2));
    assert!(
        nothing.stderr.contains("nothing to change"),
        "{}",
        nothing.stderr
    );
    let unreadable = cli(
        &s,
        token,
        &[
            "env",
            "update",
            "shop",
            "--webhook-secret-file",
            "/nonexistent/secret",
        ],
    )
    .await;
    assert_eq!(unreadable.code, Some(2));
    assert!(
        unreadable.stderr.contains("/nonexistent/secret"),
        "{}",
        unreadable.stderr
    );
    let half = cli(&s, token, &["env", "update", "shop", "--branch", "dev"]).await;
    assert_eq!(half.code, Some(2), "{}", half.stderr);

    let status = cli(&s, token, &["stack", "status", "shop"]).await;
    assert_eq!(status.code, Some(0), "{}", status.stderr);
    assert!(
        status.stdout.contains("not_provisioned"),
        "{}",
        status.stdout
    );

    let provisioned = cli(&s, token, &["stack", "provision", "shop", "--wait"]).await;
    assert_eq!(provisioned.code, Some(0), "{}", provisioned.stderr);
    assert!(
        provisioned.stdout.contains("ready") && provisioned.stdout.contains("http://127.0.0.1:"),
        "{}",
        provisioned.stdout
    );
    assert!(
        provisioned.stderr.contains("ECS service"),
        "the log is shown as it grows: {}",
        provisioned.stderr
    );
    let status = cli(&s, token, &["stack", "status", "shop", "--output", "json"]).await;
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["status"], "ready");
    let env = cli(&s, token, &["env", "show", "shop", "--output", "json"]).await;
    let env: Value = serde_json::from_str(&env.stdout).unwrap();
    assert_eq!(env["resources"]["pipeline"], "shop", "{env}");

    let dropped = cli(&s, token, &["env", "update", "shop", "--no-source"]).await;
    assert_eq!(dropped.code, Some(0), "{}", dropped.stderr);
    assert!(!dropped.stdout.contains(repo_path), "{}", dropped.stdout);

    let destroyed = cli(&s, token, &["stack", "destroy", "shop", "--wait"]).await;
    assert_eq!(destroyed.code, Some(0), "{}", destroyed.stderr);
    assert!(
        destroyed.stdout.contains("destroyed"),
        "{}",
        destroyed.stdout
    );
}
