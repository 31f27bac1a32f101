//! `switchyard approvals`, `approve ID`, `reject ID`, and the pipeline verbs
//! `pipeline runs ENV`, `pipeline start ENV`.

use super::client::{ApiClient, CliError, segment};
use super::output::{Output, or_dash, table};
use switchyard_api::approvals::{Approval, ApprovalList, DecisionBody};
use switchyard_api::pipelines::{PipelineRun, PipelineRunPage, StartRunBody};

/// Without a state, the pending approvals the caller may vote on; with
/// one, every approval in that state (`all`: in any).
pub async fn list(client: &ApiClient, out: Output, state: Option<&str>) -> Result<(), CliError> {
    let path = match state {
        None => "/api/approvals?votable=true".to_owned(),
        Some(state) => format!("/api/approvals?state={}", segment(state)),
    };
    let answer: ApprovalList = client.get(&path).await?;
    if out == Output::Json {
        return Output::json(&answer);
    }
    let rows: Vec<Vec<String>> = answer
        .approvals
        .iter()
        .map(|a| {
            let waiting = match (a.pipeline_run_id, a.deployment_id, &a.hook_id) {
                (Some(run), ..) => format!("pipeline run {run}"),
                (_, Some(d), Some(_)) => format!(
                    "deployment {d} at {}",
                    a.stage.as_deref().unwrap_or("a PAUSE gate")
                ),
                (_, Some(d), None) => format!("deployment {d} (Ready)"),
                _ => "-".into(),
            };
            // A gate's timeout: what happens if nobody decides, and when.
            let timeout = match (&a.expires_at, &a.timeout_action) {
                (Some(at), Some(action)) if a.state == "pending" => format!("{action} at {at}"),
                _ => "-".into(),
            };
            let votes: Vec<String> = a
                .votes
                .iter()
                .map(|v| format!("{}:{}", v.voter, v.decision))
                .collect();
            vec![
                a.id.to_string(),
                a.environment.clone(),
                a.state.clone(),
                waiting,
                a.author.clone(),
                format!("{} more", a.remaining),
                if votes.is_empty() {
                    "-".into()
                } else {
                    votes.join(" ")
                },
                timeout,
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
                "VOTES",
                "ON TIMEOUT"
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
    let body = DecisionBody {
        decision: decision.to_owned(),
        comment: comment.map(str::to_owned),
    };
    let answer: Approval = client
        .post(&format!("/api/approvals/{id}/decisions"), &body)
        .await?;
    if out == Output::Json {
        return Output::json(&answer);
    }
    match answer.state.as_str() {
        "pending" => println!(
            "approval {id}: your {decision} is recorded; {} more approval(s) needed",
            answer.remaining
        ),
        "approved" => println!("approval {id}: approved; the release goes on"),
        "rejected" => println!("approval {id}: rejected; nothing reaches production"),
        other => println!("approval {id}: {other}"),
    }
    Ok(())
}

fn stage_line(run: &PipelineRun) -> String {
    run.stages
        .iter()
        .map(|s| format!("{}:{}", s.name, s.status))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn runs(client: &ApiClient, out: Output, environment: &str) -> Result<(), CliError> {
    let answer: PipelineRunPage = client
        .get(&format!(
            "/api/environments/{}/pipeline/runs",
            segment(environment)
        ))
        .await?;
    if out == Output::Json {
        return Output::json(&answer);
    }
    let rows: Vec<Vec<String>> = answer
        .runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.status.clone(),
                or_dash(r.commit.sha.as_ref()).chars().take(12).collect(),
                r.commit.author.clone(),
                stage_line(r),
                r.created_at.clone(),
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
    let body = StartRunBody {
        commit: commit.map(str::to_owned),
    };
    let answer: PipelineRun = client
        .post(
            &format!("/api/environments/{}/pipeline/runs", segment(environment)),
            &body,
        )
        .await?;
    if out == Output::Json {
        return Output::json(&answer);
    }
    println!(
        "pipeline run {} started ({}): {}",
        answer.id,
        answer.execution_id,
        stage_line(&answer)
    );
    Ok(())
}
