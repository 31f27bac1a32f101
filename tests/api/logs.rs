//! Task logs through the REST API, the CLI and the dashboard: a local
//! environment's tasks (static sites, whose server logs where it listens)
//! show their lines; bad input and AWS environments get clear answers.

use crate::cli::cli;
use crate::dashboard::Session;
use crate::deployments::Env;
use crate::helpers::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The site's directory name is in its server's first log line; the markup
/// in it shows whether the dashboard escapes log lines.
const MARKER: &str = "logs-<i>marker</i>";

fn lines_of(task: &Value) -> Vec<&str> {
    task["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect()
}

/// The environment's tasks once only the released (Green) ones are left:
/// the original task set goes after the termination wait.
async fn green_tasks(e: &Env, environment: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logs =
            e.s.get(
                &format!("/api/environments/{environment}/logs"),
                &e.s.admin_token,
            )
            .await;
        assert_eq!(logs.status, StatusCode::OK, "{:?}", logs.body);
        let tasks = logs.body["tasks"].as_array().unwrap().clone();
        let settled = tasks.len() == 2
            && tasks
                .iter()
                .all(|t| t["task_set_label"] == "Green" && t["last_status"] == "RUNNING");
        if settled {
            return tasks;
        }
        assert!(
            Instant::now() < deadline,
            "the Green tasks never were the only ones: {}",
            logs.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_local_environment_s_task_logs_through_the_api_the_cli_and_the_dashboard() {
    let e = Env::new("shop", json!({})).await;
    let image = e.s.write_site(MARKER);
    let started =
        e.s.post(
            "/api/environments/shop/deployments",
            &e.s.admin_token,
            json!({"image": image, "version": "marked"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    e.wait(started.body["id"].as_i64().unwrap(), &["Succeeded"])
        .await;

    let tasks = green_tasks(&e, "shop").await;
    for task in &tasks {
        let lines = lines_of(task);
        assert!(
            lines.iter().any(|l| l.contains(MARKER)),
            "task {} logged {lines:?}",
            task["task_id"]
        );
        assert_eq!(task["stopped_reason"], Value::Null);
    }
    let ids: Vec<&str> = tasks
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    let short: Vec<&str> = ids.iter().map(|id| &id[..8]).collect();

    let tail =
        e.s.get("/api/environments/shop/logs?tail=1", &e.s.admin_token)
            .await;
    assert_eq!(tail.status, StatusCode::OK, "{:?}", tail.body);
    for task in tail.body["tasks"].as_array().unwrap() {
        assert_eq!(lines_of(task).len(), 1, "{task}");
    }
    // Whoever may read the environment may read its logs.
    let viewer = e.s.user("vera", "viewer").await;
    let seen = e.s.get("/api/environments/shop/logs", &viewer).await;
    assert_eq!(seen.status, StatusCode::OK, "{:?}", seen.body);

    let token = Some(e.s.admin_token.as_str());
    let all = cli(&e.s, token, &["logs", "shop"]).await;
    assert_eq!(all.code, Some(0), "{}", all.stderr);
    assert!(all.stdout.contains(MARKER), "{}", all.stdout);
    for line in all.stdout.lines() {
        assert!(
            short.iter().any(|id| line.starts_with(&format!("{id} "))),
            "every line starts with its task's short id: {line:?}"
        );
    }
    for id in &short {
        assert!(
            all.stderr.contains(&format!("task {id} (Green, RUNNING)")),
            "{}",
            all.stderr
        );
    }

    let last = cli(&e.s, token, &["logs", "shop", "--tail", "1"]).await;
    assert_eq!(last.code, Some(0), "{}", last.stderr);
    let mut prefixes: Vec<&str> = last.stdout.lines().map(|l| &l[..8]).collect();
    prefixes.sort_unstable();
    let mut expected = short.clone();
    expected.sort_unstable();
    assert_eq!(prefixes, expected, "one line per task: {}", last.stdout);

    let one = cli(&e.s, token, &["logs", "shop", "--task", short[0]]).await;
    assert_eq!(one.code, Some(0), "{}", one.stderr);
    assert!(!one.stdout.is_empty());
    assert!(
        one.stdout.lines().all(|l| l.starts_with(short[0])),
        "{}",
        one.stdout
    );

    let json = cli(&e.s, token, &["logs", "shop", "--json", "--tail", "5"]).await;
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    let mut listed: Vec<&str> = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut ids = ids.clone();
    ids.sort_unstable();
    assert_eq!(listed, ids);

    let unknown = cli(&e.s, token, &["logs", "shop", "--task", "ffffffffffff"]).await;
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("has no task \"ffffffffffff\"")
            && unknown.stderr.contains(short[0])
            && unknown.stderr.contains("404"),
        "{}",
        unknown.stderr
    );

    // The dashboard: the panel on the environment's page, and the full view.
    let session = Session::sign_in(&e.s, &e.s.admin_token).await;
    // Named or numeric character references: either is escaped.
    let escaped = [
        "logs-&lt;i&gt;marker&lt;/i&gt;",
        "logs-&#60;i&#62;marker&#60;/i&#62;",
    ];
    for path in ["/environments/shop", "/environments/shop/logs"] {
        let (status, page) = session.page(&e.s, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert!(page.contains("Task logs"), "{path}");
        assert!(
            escaped.iter().any(|e| page.contains(e)),
            "{path} shows the lines: {page}"
        );
        assert!(!page.contains(MARKER), "{path} escapes the lines");
        for id in &short {
            assert!(page.contains(&format!(">{id}</code>")), "{path}: {id}");
        }
        assert!(page.contains("Green"), "{path}");
    }
    let (_, page) = session.page(&e.s, "/environments/shop").await;
    assert!(page.contains("href=\"/environments/shop/logs\""));
}

#[tokio::test]
async fn bad_input_unknown_environments_and_aws_get_clear_answers() {
    let s = TestServer::spawn().await;
    s.environment("bare").await;
    let aws = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": "cloud", "platform": "aws", "region": "eu-west-1"}),
        )
        .await;
    assert_eq!(aws.status, StatusCode::CREATED, "{:?}", aws.body);
    let token = &s.admin_token;

    let missing = s.get("/api/environments/nope/logs", token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.body["error"]["message"],
        "no environment named \"nope\""
    );
    for bad in ["0", "1001", "ten", "-1"] {
        let answer = s
            .get(&format!("/api/environments/bare/logs?tail={bad}"), token)
            .await;
        assert_eq!(
            (answer.status, answer.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, "tail"),
            "{bad}: {:?}",
            answer.body
        );
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("from 1 to 1000"),
            "{:?}",
            answer.body
        );
    }
    let task = s.get("/api/environments/bare/logs?task=a%2Fb", token).await;
    assert_eq!(
        (task.status, task.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "task")
    );
    let no_stack = s.get("/api/environments/bare/logs", token).await;
    assert_eq!(no_stack.status, StatusCode::CONFLICT, "{:?}", no_stack.body);
    assert!(
        no_stack.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no provisioned stack"),
        "{:?}",
        no_stack.body
    );
    let on_aws = s.get("/api/environments/cloud/logs", token).await;
    assert_eq!(on_aws.status, StatusCode::CONFLICT, "{:?}", on_aws.body);
    let why = on_aws.body["error"]["message"].as_str().unwrap().to_owned();
    assert!(why.contains("CloudWatch Logs"), "{why}");
    let anonymous = s
        .request(
            reqwest::Method::GET,
            "/api/environments/bare/logs",
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let cli_token = Some(token.as_str());
    let unknown = cli(&s, cli_token, &["logs", "nope"]).await;
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("no environment named \"nope\"") && unknown.stderr.contains("404"),
        "{}",
        unknown.stderr
    );
    let zero = cli(&s, cli_token, &["logs", "bare", "--tail", "0"]).await;
    assert_eq!(zero.code, Some(1));
    assert!(
        zero.stderr.contains("tail: tail must be") && zero.stderr.contains("422"),
        "{}",
        zero.stderr
    );

    // The pages say the same in place of the logs, and still render.
    let session = Session::sign_in(&s, token).await;
    for path in ["/environments/cloud", "/environments/cloud/logs"] {
        let (status, page) = session.page(&s, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(page.contains("CloudWatch Logs"), "{path}: {page}");
    }
    let (status, page) = session.page(&s, "/environments/bare").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("no provisioned stack"), "{page}");
    let (status, _) = session.page(&s, "/environments/nope/logs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
