//! `GET /api/environments/{name}/diff` and `switchyard diff`: a release
//! that changes the image and adds an environment variable, against the
//! live one; and the answers for what cannot be compared.

use crate::deployments::{Env, cli};
use aws_sdk_ecs::types::KeyValuePair;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_core::cloud::Cloud;

/// Registers the family's next revision as someone would by hand: the
/// latest one with `FEATURE=on` added to its first container.
async fn register_revision_with_a_new_variable(e: &Env, family: &str) {
    let ecs = Cloud::local(&e.s.local_cloud_url()).await.ecs;
    let current = ecs
        .describe_task_definition()
        .task_definition(family)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let mut containers = current.container_definitions().to_vec();
    containers[0]
        .environment
        .get_or_insert_with(Vec::new)
        .push(KeyValuePair::builder().name("FEATURE").value("on").build());
    ecs.register_task_definition()
        .family(family)
        .set_container_definitions(Some(containers))
        .set_cpu(current.cpu().map(str::to_owned))
        .set_memory(current.memory().map(str::to_owned))
        .set_network_mode(current.network_mode().cloned())
        .set_requires_compatibilities(Some(current.requires_compatibilities().to_vec()))
        .send()
        .await
        .unwrap();
}

/// The container's diff names the new image's tag and the added variable.
fn assert_names_the_changes(diff: &Value, v2_image: &str) {
    let container = &diff["changes"]["containers"][0];
    let after = &container["image"]["after"];
    // A static image has no tag: all of it is the repository.
    assert_eq!(after["repository"], v2_image, "{diff}");
    assert!(
        container["image"]["before"]["repository"]
            .as_str()
            .unwrap()
            .ends_with("/v1"),
        "{diff}"
    );
    assert_eq!(
        container["environment"]["added"],
        json!([{"name": "FEATURE", "value": "on"}]),
        "{diff}"
    );
    let unified = diff["unified"].as_str().unwrap();
    assert!(
        unified.contains(&format!("+image: {v2_image}\n")),
        "{unified}"
    );
    assert!(unified.contains("+env FEATURE=on\n"), "{unified}");
}

#[tokio::test]
async fn a_release_s_diff_names_its_new_image_and_added_variable() {
    let e = Env::new("diffs", json!({})).await;
    let viewer = e.s.user("vera", "viewer").await;
    let path = "/api/environments/diffs/diff";

    let nothing_live = e.s.get(&format!("{path}?version=v1"), &viewer).await;
    assert_eq!(
        nothing_live.status,
        StatusCode::CONFLICT,
        "{:?}",
        nothing_live.body
    );
    assert!(
        nothing_live.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing is live")
    );

    let started = e.deploy("diffs", "v1", None).await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    e.wait(started.body["id"].as_i64().unwrap(), &["Succeeded"])
        .await;

    register_revision_with_a_new_variable(&e, "diffs").await;
    let v2 = e.image("v2");
    let recorded =
        e.s.post(
            "/api/environments/diffs/releases",
            &e.s.admin_token,
            json!({"version": "v2", "image": v2}),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{:?}", recorded.body);

    // Viewers may read diffs.
    let answer = e.s.get(&format!("{path}?version=v2"), &viewer).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_names_the_changes(&answer.body, &v2);
    assert_eq!(answer.body["live"]["version"], "v1");
    assert_eq!(answer.body["candidate"]["task_definition_arn"], Value::Null);

    let (code, stdout, stderr) = cli(&e, &["diff", "diffs", "v2"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("--- live v1"), "{stdout}");
    assert!(stdout.contains(&format!("+image: {v2}\n")), "{stdout}");
    assert!(stdout.contains("+env FEATURE=on\n"), "{stdout}");

    let (code, stdout, stderr) = cli(&e, &["diff", "diffs", "v2", "--output", "json"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_names_the_changes(&json, &v2);

    let (code, stdout, stderr) = cli(&e, &["diff", "diffs", "--image", &v2]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("+env FEATURE=on\n"), "{stdout}");

    for (query, status, field) in [
        ("version=v9", StatusCode::NOT_FOUND, ""),
        ("", StatusCode::UNPROCESSABLE_ENTITY, "version"),
        (
            "version=v2&image=nginx:1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "image",
        ),
        (
            "image=not%20an%20image",
            StatusCode::UNPROCESSABLE_ENTITY,
            "image",
        ),
    ] {
        let answer = e.s.get(&format!("{path}?{query}"), &viewer).await;
        assert_eq!(answer.status, status, "{query}: {:?}", answer.body);
        assert_eq!(answer.field(), field, "{query}: {:?}", answer.body);
    }
    let unknown =
        e.s.get("/api/environments/nowhere/diff?version=v1", &viewer)
            .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
}
