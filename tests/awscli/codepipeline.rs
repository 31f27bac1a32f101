//! CodePipeline through the AWS CLI: a pipeline over a real git repository,
//! started, waiting for and given a manual approval, and listed, with the
//! CLI's own parsing of every answer.

use super::{Cli, TIME_SCALE};
use crate::git_repo::Repo;
use crate::support::LocalCloud;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn action<'a>(state: &'a Value, stage: &str, action: &str) -> &'a Value {
    state["stageStates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stageName"] == stage)
        .and_then(|s| {
            s["actionStates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["actionName"] == action)
        })
        .unwrap_or_else(|| panic!("no action {stage}/{action} in {state}"))
}

#[tokio::test]
async fn a_pipeline_waits_for_approval_through_the_cli() {
    let cloud = LocalCloud::start(TIME_SCALE).await;
    let cli = Cli::new(&cloud.endpoint);
    // A bare repository with one commit on main.
    let repo = Repo::new(cloud.dir.path(), "app");
    repo.write("README", "hello\n");
    let sha = repo.commit("Hello from git");
    let repo = repo.url();
    let declaration = json!({"pipeline": {
        "name": "gate",
        "roleArn": "arn:aws:iam::000000000000:role/codepipeline",
        "artifactStore": {"type": "S3", "location": "local-artifacts"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "configuration": {"RepositoryName": repo, "BranchName": "main"},
                "outputArtifacts": [{"name": "SourceArtifact"}],
            }]},
            {"name": "Approval", "actions": [{
                "name": "Approve",
                "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                "configuration": {"CustomData": "Ship it?"},
            }]},
        ],
    }});
    let file = cloud.dir.path().join("pipeline.json");
    std::fs::write(&file, declaration.to_string()).unwrap();
    let created = cli
        .ok(&[
            "codepipeline",
            "create-pipeline",
            "--cli-input-json",
            &format!("file://{}", file.display()),
        ])
        .await;
    assert_eq!(created["pipeline"]["version"], 1, "{created}");
    assert_eq!(
        created["pipeline"]["stages"][1]["actions"][0]["runOrder"],
        1
    );

    let started = cli
        .ok(&["codepipeline", "start-pipeline-execution", "--name", "gate"])
        .await;
    let id = started["pipelineExecutionId"].as_str().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(40);
    let state = loop {
        let state = cli
            .ok(&["codepipeline", "get-pipeline-state", "--name", "gate"])
            .await;
        if action(&state, "Approval", "Approve")["latestExecution"]["status"] == "InProgress" {
            break state;
        }
        assert!(
            Instant::now() < deadline,
            "never waited for approval: {state}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(state["pipelineName"], "gate");
    assert_eq!(state["pipelineVersion"], 1);
    assert!(
        state["created"].is_number() && state["updated"].is_number(),
        "{state}"
    );
    let source = action(&state, "Source", "Source");
    assert_eq!(source["currentRevision"]["revisionId"], sha.as_str());
    assert_eq!(source["latestExecution"]["status"], "Succeeded");
    assert_eq!(source["latestExecution"]["summary"], "Hello from git");
    assert!(source["latestExecution"]["lastStatusChange"].is_number());
    let approval_stage = &state["stageStates"][1];
    assert_eq!(
        approval_stage["latestExecution"],
        json!({"pipelineExecutionId": id, "status": "InProgress"})
    );
    assert_eq!(approval_stage["inboundTransitionState"]["enabled"], true);
    let token = action(&state, "Approval", "Approve")["latestExecution"]["token"]
        .as_str()
        .expect("a pending approval has a token")
        .to_owned();

    let approved = cli
        .ok(&[
            "codepipeline",
            "put-approval-result",
            "--pipeline-name",
            "gate",
            "--stage-name",
            "Approval",
            "--action-name",
            "Approve",
            "--result",
            "summary=Looks good,status=Approved",
            "--token",
            &token,
        ])
        .await;
    assert!(approved["approvedAt"].is_number(), "{approved}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let e = cli
            .ok(&[
                "codepipeline",
                "get-pipeline-execution",
                "--pipeline-name",
                "gate",
                "--pipeline-execution-id",
                &id,
            ])
            .await["pipelineExecution"]
            .clone();
        if e["status"] != "InProgress" {
            break e;
        }
        assert!(Instant::now() < deadline, "still running: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(done["artifactRevisions"][0]["revisionId"], sha.as_str());
    assert_eq!(
        done["artifactRevisions"][0]["revisionSummary"],
        "Hello from git"
    );
    assert_eq!(done["trigger"]["triggerType"], "StartPipelineExecution");

    let listed = cli
        .ok(&[
            "codepipeline",
            "list-pipeline-executions",
            "--pipeline-name",
            "gate",
        ])
        .await;
    let summaries = listed["pipelineExecutionSummaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 1, "{listed}");
    assert_eq!(summaries[0]["pipelineExecutionId"], id.as_str());
    assert_eq!(summaries[0]["status"], "Succeeded");
    assert!(summaries[0]["startTime"].is_number() && summaries[0]["lastUpdateTime"].is_number());
    assert_eq!(
        summaries[0]["sourceRevisions"][0]["revisionId"],
        sha.as_str()
    );

    let actions = cli
        .ok(&[
            "codepipeline",
            "list-action-executions",
            "--pipeline-name",
            "gate",
            "--filter",
            &format!("pipelineExecutionId={id}"),
        ])
        .await;
    let details = actions["actionExecutionDetails"].as_array().unwrap();
    let names: Vec<&str> = details
        .iter()
        .map(|d| d["actionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Approve", "Source"]);
    assert_eq!(
        details[0]["output"]["executionResult"]["externalExecutionSummary"],
        "Looks good"
    );
    assert_eq!(
        details[0]["input"]["configuration"]["CustomData"],
        "Ship it?"
    );
    assert_eq!(
        details[1]["output"]["outputArtifacts"][0]["name"],
        "SourceArtifact"
    );

    let again = [
        "codepipeline",
        "put-approval-result",
        "--pipeline-name",
        "gate",
        "--stage-name",
        "Approval",
        "--action-name",
        "Approve",
        "--result",
        "summary=Again,status=Approved",
        "--token",
        &token,
    ];
    let stop = [
        "codepipeline",
        "stop-pipeline-execution",
        "--pipeline-name",
        "gate",
        "--pipeline-execution-id",
        &id,
    ];
    let missing = ["codepipeline", "get-pipeline-state", "--name", "nope"];
    tokio::join!(
        cli.fails(
            &again,
            "ApprovalAlreadyCompletedException",
            "PutApprovalResult"
        ),
        cli.fails(
            &stop,
            "PipelineExecutionNotStoppableException",
            "StopPipelineExecution"
        ),
        cli.fails(&missing, "PipelineNotFoundException", "GetPipelineState"),
    );
}
