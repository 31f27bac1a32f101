//! Git push webhooks from each provider, in their real payload formats:
//! signatures, tokens, redeliveries, pings, unfollowed branches and limits.

use crate::helpers::{Answer, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_domain::webhook::{hmac_sha256_hex, sha256_signature_header};

const SECRET: &str = "a webhook secret of some length";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/domain/src/webhook/fixtures"
);

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{name}.json")).unwrap())
        .unwrap()
}

async fn follower(s: &TestServer, name: &str, repo: &str, branch: &str) {
    let created = s
        .post(
            "/api/environments",
            &s.admin_token,
            json!({"name": name, "platform": "local", "source": {"repo": repo, "branch": branch},
                   "webhook_secret": SECRET}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["webhook_secret_set"], true);
    assert!(
        created.body.get("webhook_secret").is_none(),
        "the secret is shown: {:?}",
        created.body
    );
}

async fn send(s: &TestServer, provider: &str, headers: &[(&str, String)], body: Vec<u8>) -> Answer {
    let mut request = s
        .client()
        .post(s.url(&format!("/hooks/{provider}")))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    s.raw(request).await
}

async fn github(
    s: &TestServer,
    event: &str,
    delivery: &str,
    body: &Value,
    secret: Option<&str>,
) -> Answer {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut headers = vec![
        ("x-github-event", event.to_owned()),
        ("x-github-delivery", delivery.to_owned()),
    ];
    if let Some(secret) = secret {
        headers.push((
            "x-hub-signature-256",
            sha256_signature_header(secret, &bytes),
        ));
    }
    send(s, "github", &headers, bytes).await
}

#[tokio::test]
async fn github_pushes_are_verified_recorded_once_and_filtered_by_branch() {
    let s = TestServer::spawn_with(&["--max-webhook-bytes", "65536"]).await;
    let push = fixture("github-push");
    follower(
        &s,
        "shop",
        push["repository"]["clone_url"].as_str().unwrap(),
        "main",
    )
    .await;
    let before = s.event_count("shop").await;

    for (why, secret) in [
        ("no signature", None),
        ("a wrong secret", Some("not the secret at all!")),
    ] {
        let refused = github(&s, "push", "d-1", &push, secret).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{why}: {:?}",
            refused.body
        );
    }
    // An empty signature header (what Gitea sends without a secret) never passes.
    let bytes = serde_json::to_vec(&push).unwrap();
    let empty = send(
        &s,
        "github",
        &[
            ("x-github-event", "push".into()),
            ("x-github-delivery", "d-1".into()),
            ("x-hub-signature-256", "sha256=".into()),
        ],
        bytes,
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.event_count("shop").await,
        before,
        "a refused delivery left a trace"
    );

    let accepted = github(&s, "push", "d-1", &push, Some(SECRET)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    assert_eq!(accepted.body["duplicate"], false);
    // No stack, so no pipeline: recorded, and the answer says why nothing started.
    assert_eq!(accepted.body["not_started"][0]["environment"], "shop");
    assert!(
        accepted.body["not_started"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no pipeline")
    );
    let events = s
        .get("/api/environments/shop/events?limit=5", &s.admin_token)
        .await
        .body;
    let recorded = &events["events"][0];
    assert_eq!(recorded["kind"], "push.received", "{events}");
    assert_eq!(recorded["detail"]["after"], push["after"]);
    assert_eq!(recorded["detail"]["compare"], push["compare"]);
    assert_eq!(recorded["actor"], push["sender"]["login"]);

    let again = github(&s, "push", "d-1", &push, Some(SECRET)).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(
        s.event_kinds("shop")
            .await
            .iter()
            .filter(|k| *k == "push.received")
            .count(),
        1
    );

    // Without a delivery id a repeated body is the same delivery: recorded
    // once, never a second run.
    let mut unlabelled = push.clone();
    unlabelled["after"] = json!("1111111111111111111111111111111111111111");
    unlabelled["head_commit"]["id"] = unlabelled["after"].clone();
    let unlabelled = serde_json::to_vec(&unlabelled).unwrap();
    let without_id = [
        ("x-github-event", "push".to_owned()),
        (
            "x-hub-signature-256",
            sha256_signature_header(SECRET, &unlabelled),
        ),
    ];
    let first = send(&s, "github", &without_id, unlabelled.clone()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    assert_eq!(first.body["duplicate"], false);
    let repeated = send(&s, "github", &without_id, unlabelled).await;
    assert_eq!(repeated.status, StatusCode::OK, "{:?}", repeated.body);
    assert_eq!(repeated.body["duplicate"], true);
    assert_eq!(
        s.event_kinds("shop")
            .await
            .iter()
            .filter(|k| *k == "push.received")
            .count(),
        2
    );

    let ping = github(&s, "ping", "d-2", &fixture("github-ping"), Some(SECRET)).await;
    assert_eq!(
        (ping.status, ping.body["event"].as_str()),
        (StatusCode::OK, Some("ping")),
        "{:?}",
        ping.body
    );

    let mut feature = push.clone();
    feature["ref"] = json!("refs/heads/feature/login");
    let elsewhere = github(&s, "push", "d-3", &feature, Some(SECRET)).await;
    assert_eq!(
        elsewhere.status,
        StatusCode::ACCEPTED,
        "{:?}",
        elsewhere.body
    );
    assert_eq!(elsewhere.body["started"], json!([]));
    assert_eq!(elsewhere.body["not_started"], json!([]));
    assert_eq!(
        s.event_kinds("shop")
            .await
            .iter()
            .filter(|k| *k == "push.received")
            .count(),
        2
    );

    // A repository nobody follows: there is no secret to check it against.
    let mut stranger = push.clone();
    for key in [
        "clone_url",
        "html_url",
        "ssh_url",
        "git_url",
        "url",
        "svn_url",
    ] {
        stranger["repository"][key] = json!(format!("https://github.com/someone/else-{key}"));
    }
    stranger["repository"]["full_name"] = json!("someone/else");
    let unknown = github(&s, "push", "d-4", &stranger, Some(SECRET)).await;
    assert_eq!(
        unknown.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        unknown.body
    );

    let mut huge = push.clone();
    huge["head_commit"]["message"] = json!("x".repeat(70_000));
    let oversized = github(&s, "push", "d-5", &huge, Some(SECRET)).await;
    assert_eq!(
        oversized.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        oversized.body
    );

    let garbage = send(
        &s,
        "github",
        &[
            ("x-github-event", "push".into()),
            ("x-github-delivery", "d-6".into()),
            (
                "x-hub-signature-256",
                sha256_signature_header(SECRET, b"{nope"),
            ),
        ],
        b"{nope".to_vec(),
    )
    .await;
    assert_eq!(
        garbage.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        garbage.body
    );
    assert_eq!(garbage.field(), "body", "{:?}", garbage.body);
    let nowhere = send(&s, "bitbucket", &[], b"{}".to_vec()).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.event_kinds("shop")
            .await
            .iter()
            .filter(|k| *k == "push.received")
            .count(),
        2
    );
}

#[tokio::test]
async fn gitlab_gitea_and_generic_deliveries_in_their_own_formats() {
    let s = TestServer::spawn().await;
    let lab = fixture("gitlab-push");
    follower(
        &s,
        "lab",
        lab["project"]["git_http_url"].as_str().unwrap(),
        "main",
    )
    .await;
    let tea = fixture("gitea-push");
    follower(
        &s,
        "tea",
        tea["repository"]["clone_url"].as_str().unwrap(),
        "develop",
    )
    .await;
    let generic = fixture("generic-push");
    follower(
        &s,
        "script",
        generic["repository"].as_str().unwrap(),
        generic["branch"].as_str().unwrap(),
    )
    .await;

    let lab_bytes = serde_json::to_vec(&lab).unwrap();
    let gitlab = |token: &str, uuid: &str| {
        vec![
            ("x-gitlab-event", "Push Hook".to_owned()),
            ("x-gitlab-event-uuid", uuid.to_owned()),
            ("x-gitlab-token", token.to_owned()),
        ]
    };
    let wrong = send(
        &s,
        "gitlab",
        &gitlab("a-wrong-token-of-length", "u-1"),
        lab_bytes.clone(),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{:?}", wrong.body);
    let right = send(&s, "gitlab", &gitlab(SECRET, "u-1"), lab_bytes.clone()).await;
    assert_eq!(right.status, StatusCode::ACCEPTED, "{:?}", right.body);
    let replay = send(&s, "gitlab", &gitlab(SECRET, "u-1"), lab_bytes).await;
    assert_eq!(replay.body["duplicate"], true, "{:?}", replay.body);
    // GitLab before 14.8 sends no id: each distinct body is a new push, a
    // repeated one a redelivery.
    let unlabelled = [
        ("x-gitlab-event", "Push Hook".to_owned()),
        ("x-gitlab-token", SECRET.to_owned()),
    ];
    for (n, after) in [
        "2222222222222222222222222222222222222222",
        "3333333333333333333333333333333333333333",
    ]
    .into_iter()
    .enumerate()
    {
        let mut older = lab.clone();
        older["after"] = json!(after);
        older["checkout_sha"] = json!(after);
        let bytes = serde_json::to_vec(&older).unwrap();
        let first = send(&s, "gitlab", &unlabelled, bytes.clone()).await;
        assert_eq!(
            (first.status, &first.body["duplicate"]),
            (StatusCode::ACCEPTED, &json!(false)),
            "push {n}: {:?}",
            first.body
        );
        let again = send(&s, "gitlab", &unlabelled, bytes).await;
        assert_eq!(
            (again.status, &again.body["duplicate"]),
            (StatusCode::OK, &json!(true)),
            "push {n}: {:?}",
            again.body
        );
    }
    assert_eq!(
        s.event_kinds("lab")
            .await
            .iter()
            .filter(|k| *k == "push.received")
            .count(),
        3
    );

    let tea_bytes = serde_json::to_vec(&tea).unwrap();
    let gitea_headers = vec![
        ("x-gitea-event", "push".to_owned()),
        ("x-gitea-delivery", "g-1".to_owned()),
        ("x-gitea-signature", hmac_sha256_hex(SECRET, &tea_bytes)),
    ];
    let gitea = send(&s, "gitea", &gitea_headers, tea_bytes.clone()).await;
    assert_eq!(gitea.status, StatusCode::ACCEPTED, "{:?}", gitea.body);
    // Gitea also sends GitHub's headers: at the GitHub endpoint it is told where to go.
    let mut misdirected = gitea_headers.clone();
    misdirected.push(("x-github-event", "push".to_owned()));
    misdirected.push(("x-github-delivery", "g-1".to_owned()));
    misdirected.push((
        "x-hub-signature-256",
        sha256_signature_header(SECRET, &tea_bytes),
    ));
    let wrong_door = send(&s, "github", &misdirected, tea_bytes).await;
    assert_eq!(
        wrong_door.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        wrong_door.body
    );

    let generic_bytes = serde_json::to_vec(&generic).unwrap();
    let script = send(
        &s,
        "generic",
        &[
            ("x-switchyard-event", "push".to_owned()),
            ("x-switchyard-delivery", "ci-42".to_owned()),
            (
                "x-switchyard-signature",
                sha256_signature_header(SECRET, &generic_bytes),
            ),
        ],
        generic_bytes,
    )
    .await;
    assert_eq!(script.status, StatusCode::ACCEPTED, "{:?}", script.body);

    for (environment, sha) in [
        ("lab", &lab["after"]),
        ("tea", &tea["after"]),
        ("script", &generic["after"]),
    ] {
        let events = s
            .get(
                &format!("/api/environments/{environment}/events?limit=5"),
                &s.admin_token,
            )
            .await
            .body;
        let push = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "push.received" && e["detail"]["after"] == *sha);
        assert_eq!(
            push.map(|e| &e["detail"]["after"]),
            Some(sha),
            "{environment}: {events}"
        );
    }
}
