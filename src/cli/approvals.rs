//! `switchyard approvals`, `approve ID`, `reject ID`, and the pipeline verbs
//! `pipeline runs ENV`, `pipeline start ENV`.

use super::client::{ApiClient, CliError, segment};
use super::output::{Output, table, text};
use serde_json::{Value, json};

/// Without a state, the pending approvals the caller may vote on; with
/// one, every approval in that state (`all`: in any).
pub async fn list(client: &ApiClient, out: Output, state: Option<&str>) -> Result<(), CliError> {
    let path = match state {
        None => "/api/approvals?votable=true".to_owned(),
        Some(state) => format!("/api/approvals?state={}", segment(state)),
    };
    let answer = client.get(&path).await?;
    if out == Output::Json {
        return Output::json(&answer);
    }
    let rows: Vec<Vec<String>> = answer["approvals"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let waiting = match (a["pipeline_run_id"].as_i64(), a["deployment_id"].as_i64()) {
                (Some(run), _) => format!("pipeline run {run}"),
                (_, Some(d)) => format!("deployment {d} (Ready)"),
                _ => "-".into(),
            };
            let votes: Vec<String> = a["votes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| format!("{}:{}", text(&v["voter"]), text(&v["decision"])))
                .collect();
            vec![
                text(&a["id"]),
                text(&a["environment"]),
                text(&a["state"]),
                waiting,
                text(&a["author"]),
                format!("{} more", text(&a["remaining"])),
                if votes.is_empty() {
                    "-".into()
                } else {
                    votes.join(" ")
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "ID",
                "ENVIRONMENT",
                "STATE",
                "WAITING",
                "AUTHOR",
                "NEEDS",
                "VOTES"
            ],
            &rows
        )
    );
    Ok(())
}

pub async fn decide(
    client: &ApiClient,
    out: Output,
    id: i64,
    decision: &str,
    comment: Option<&str>,
) -> Result<(), CliError> {
    let answer = client
        .post(
            &format!("/api/approvals/{id}/decisions"),
            &json!({"decision": decision, "comment": comment}),
        )
        .await?;
    if out == Output::Json {
        return Output::json(&answer);
    }
    let state = text(&answer["state"]);
    match state.as_str() {
        "pending" => println!(
            "approval {id}: your {decision} is recorded; {} more approval(s) needed",
            text(&answer["remaining"])
        ),
        "approved" => println!("approval {id}: approved; the release goes on"),
        "rejected" => println!("approval {id}: rejected; nothing reaches production"),
        other => println!("approval {id}: {other}"),
    }
    Ok(())
}

fn stage_line(run: &Value) -> String {
    run["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("{}:{}", text(&s["name"]), text(&s["status"])))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn runs(client: &ApiClient, out: Output, environment: &str) -> Result<(), CliError> {
    let answer = client
        .get(&format!(
            "/api/environments/{}/pipeline/runs",
            segment(environment)
        ))
        .await?;
    if out == Output::Json {
        return Output::json(&answer);
    }
    let rows: Vec<Vec<String>> = answer["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let sha = text(&r["commit"]["sha"]);
            vec![
                text(&r["id"]),
                text(&r["status"]),
                sha.chars().take(12).collect(),
                text(&r["commit"]["author"]),
                stage_line(r),
                text(&r["created_at"]),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["RUN", "STATUS", "COMMIT", "AUTHOR", "STAGES", "STARTED"],
            &rows
        )
    );
    Ok(())
}

pub async fn start(
    client: &ApiClient,
    out: Output,
    environment: &str,
    commit: Option<&str>,
) -> Result<(), CliError> {
    let answer = client
        .post(
            &format!("/api/environments/{}/pipeline/runs", segment(environment)),
            &json!({"commit": commit}),
        )
        .await?;
    if out == Output::Json {
        return Output::json(&answer);
    }
    println!(
        "pipeline run {} started ({}): {}",
        text(&answer["id"]),
        text(&answer["execution_id"]),
        stage_line(&answer)
    );
    Ok(())
}
