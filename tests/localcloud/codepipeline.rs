//! CodePipeline in the local cloud, driven with aws-sdk-codepipeline: real
//! git repositories, real builds on the host, manual approvals and
//! CodeDeploy blue/green deployments behind the stack's load balancer; the
//! ECS Deploy action's refusals (its rollouts are in tests/api/pipelines.rs).

use crate::git_repo::Repo;
use crate::helpers::{Cloud, Stack, StackOptions};
use aws_sdk_codepipeline as cp;
use aws_sdk_codepipeline::error::ProvideErrorMetadata;
use cp::types::{
    ActionCategory, ActionDeclaration, ActionExecution, ActionExecutionFilter, ActionOwner,
    ActionTypeId, ApprovalResult, ApprovalStatus, ArtifactStore, ArtifactStoreType, InputArtifact,
    OutputArtifact, PipelineDeclaration, PipelineType, PipelineVariable,
    PipelineVariableDeclaration, SourceRevisionOverride, SourceRevisionType, StageDeclaration,
    StageRetryMode,
};
use std::path::Path;
use std::time::{Duration, Instant};

const SAMPLE_APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app-sample");
/// A phrase of the sample app's blue page (index.html) and of its green one.
const SAMPLE_BLUE: &str = "Version 1 of the sample app";
const SAMPLE_GREEN: &str = "Version 2 of the sample app";

fn client(endpoint: &str) -> cp::Client {
    let config = cp::Config::builder()
        .behavior_version(cp::config::BehaviorVersion::latest())
        .region(cp::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(cp::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .retry_config(cp::config::retry::RetryConfig::disabled())
        .build();
    cp::Client::from_conf(config)
}

fn code<E: ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("(none)").to_owned()
}

impl Repo {
    /// A repository holding the sample app, committed.
    fn sample_app(root: &Path, name: &str) -> (Repo, String) {
        let repo = Repo::new(root, name);
        copy_tree(Path::new(SAMPLE_APP), &repo.work);
        let sha = repo.commit("Blue release");
        (repo, sha)
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn action(
    name: &str,
    category: ActionCategory,
    provider: &str,
    configuration: &[(&str, &str)],
    inputs: &[&str],
    outputs: &[&str],
) -> ActionDeclaration {
    let mut action = ActionDeclaration::builder()
        .name(name)
        .action_type_id(
            ActionTypeId::builder()
                .category(category)
                .owner(ActionOwner::Aws)
                .provider(provider)
                .version("1")
                .build()
                .unwrap(),
        )
        .run_order(1);
    for (key, value) in configuration {
        action = action.configuration(*key, *value);
    }
    for input in inputs {
        action = action.input_artifacts(InputArtifact::builder().name(*input).build().unwrap());
    }
    for output in outputs {
        action = action.output_artifacts(OutputArtifact::builder().name(*output).build().unwrap());
    }
    action.build().unwrap()
}

fn source(repo: &Repo) -> ActionDeclaration {
    action(
        "Source",
        ActionCategory::Source,
        "CodeCommit",
        &[("RepositoryName", &repo.url()), ("BranchName", "main")],
        &[],
        &["SourceArtifact"],
    )
}

fn build(project: &str, variables: &[(&str, &str)]) -> ActionDeclaration {
    let variables: Vec<serde_json::Value> = variables
        .iter()
        .map(|(name, value)| serde_json::json!({"name": name, "value": value, "type": "PLAINTEXT"}))
        .collect();
    action(
        "Build",
        ActionCategory::Build,
        "CodeBuild",
        &[
            ("ProjectName", project),
            (
                "EnvironmentVariables",
                &serde_json::Value::Array(variables).to_string(),
            ),
        ],
        &["SourceArtifact"],
        &["BuildArtifact"],
    )
}

fn approval(custom_data: &str) -> ActionDeclaration {
    action(
        "Approve",
        ActionCategory::Approval,
        "Manual",
        &[("CustomData", custom_data)],
        &[],
        &[],
    )
}

fn deploy(stack: &Stack) -> ActionDeclaration {
    let group = format!("{}-dg", stack.name);
    action(
        "Deploy",
        ActionCategory::Deploy,
        "CodeDeployToECS",
        &[
            ("ApplicationName", &stack.name),
            ("DeploymentGroupName", &group),
            ("TaskDefinitionTemplateArtifact", "BuildArtifact"),
            ("TaskDefinitionTemplatePath", "taskdef.json"),
            ("AppSpecTemplateArtifact", "BuildArtifact"),
            ("AppSpecTemplatePath", "appspec.yaml"),
            ("Image1ArtifactName", "BuildArtifact"),
            ("Image1ContainerName", "IMAGE1_NAME"),
        ],
        &["BuildArtifact"],
        &[],
    )
}

fn pipeline(
    name: &str,
    stages: Vec<(&str, Vec<ActionDeclaration>)>,
) -> cp::types::builders::PipelineDeclarationBuilder {
    let mut declaration = PipelineDeclaration::builder()
        .name(name)
        .role_arn("arn:aws:iam::000000000000:role/codepipeline")
        .artifact_store(
            ArtifactStore::builder()
                .r#type(ArtifactStoreType::S3)
                .location("local-artifacts")
                .build()
                .unwrap(),
        );
    for (stage, actions) in stages {
        declaration = declaration.stages(
            StageDeclaration::builder()
                .name(stage)
                .set_actions(Some(actions))
                .build()
                .unwrap(),
        );
    }
    declaration
}

async fn create(cp: &cp::Client, declaration: cp::types::builders::PipelineDeclarationBuilder) {
    cp.create_pipeline()
        .pipeline(declaration.build().unwrap())
        .send()
        .await
        .unwrap();
}

async fn start(cp: &cp::Client, name: &str) -> String {
    cp.start_pipeline_execution()
        .name(name)
        .send()
        .await
        .unwrap()
        .pipeline_execution_id
        .unwrap()
}

/// The latest execution of an action, as GetPipelineState reports it.
fn latest<'a>(
    state: &'a cp::operation::get_pipeline_state::GetPipelineStateOutput,
    stage: &str,
    action: &str,
) -> Option<&'a ActionExecution> {
    state
        .stage_states()
        .iter()
        .find(|s| s.stage_name() == Some(stage))?
        .action_states()
        .iter()
        .find(|a| a.action_name() == Some(action))?
        .latest_execution()
}

fn status_of(execution: Option<&ActionExecution>) -> Option<&str> {
    execution.and_then(|e| e.status()).map(|s| s.as_str())
}

/// Polls GetPipelineState until `done` holds.
async fn wait_state(
    cp: &cp::Client,
    name: &str,
    what: &str,
    done: impl Fn(&cp::operation::get_pipeline_state::GetPipelineStateOutput) -> bool,
) -> cp::operation::get_pipeline_state::GetPipelineStateOutput {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = cp.get_pipeline_state().name(name).send().await.unwrap();
        if done(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "never {what}: {state:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until an approval of `execution` is pending; its token.
async fn pending_approval(cp: &cp::Client, name: &str, stage: &str, execution: &str) -> String {
    let state = wait_state(cp, name, "waiting for approval", |state| {
        let in_stage = state
            .stage_states()
            .iter()
            .find(|s| s.stage_name() == Some(stage))
            .and_then(|s| s.latest_execution())
            .is_some_and(|e| e.pipeline_execution_id() == execution);
        in_stage && status_of(latest(state, stage, "Approve")) == Some("InProgress")
    })
    .await;
    latest(&state, stage, "Approve")
        .unwrap()
        .token()
        .expect("a pending approval has a token")
        .to_owned()
}

async fn execution(cp: &cp::Client, name: &str, id: &str) -> cp::types::PipelineExecution {
    cp.get_pipeline_execution()
        .pipeline_name(name)
        .pipeline_execution_id(id)
        .send()
        .await
        .unwrap()
        .pipeline_execution
        .unwrap()
}

/// Polls until the execution has ended (not InProgress, not Stopping).
async fn wait_finished(
    cp: &cp::Client,
    name: &str,
    id: &str,
    within: Duration,
) -> cp::types::PipelineExecution {
    let deadline = Instant::now() + within;
    loop {
        let e = execution(cp, name, id).await;
        let status = e.status().unwrap().as_str().to_owned();
        if !matches!(status.as_str(), "InProgress" | "Stopping") {
            return e;
        }
        assert!(Instant::now() < deadline, "execution {id} still {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn approve(
    cp: &cp::Client,
    name: &str,
    stage: &str,
    token: &str,
    status: ApprovalStatus,
    summary: &str,
) {
    cp.put_approval_result()
        .pipeline_name(name)
        .stage_name(stage)
        .action_name("Approve")
        .token(token)
        .result(
            ApprovalResult::builder()
                .summary(summary)
                .status(status)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn action_executions(
    cp: &cp::Client,
    name: &str,
    id: &str,
) -> Vec<cp::types::ActionExecutionDetail> {
    cp.list_action_executions()
        .pipeline_name(name)
        .filter(
            ActionExecutionFilter::builder()
                .pipeline_execution_id(id)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .action_execution_details
        .unwrap_or_default()
}

async fn page(cloud: &Cloud, url: &str) -> String {
    cloud
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn wait_page(cloud: &Cloud, url: &str, phrase: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !page(cloud, url).await.contains(phrase) {
        assert!(Instant::now() < deadline, "{url} never served {phrase:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The build log from `offset` on: (the text, the offset to read next,
/// the build's status).
async fn read_log(cloud: &Cloud, url: &str, offset: u64) -> (String, u64, String) {
    let response = cloud
        .http
        .get(format!("{url}?offset={offset}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    let (next, status) = (header("x-next-offset"), header("x-build-status"));
    let text = response.text().await.unwrap();
    let next: u64 = next.parse().unwrap();
    assert_eq!(next, offset + text.len() as u64);
    (text, next, status)
}

/// Source → Build → Approval → Deploy of the sample app onto a stack.
fn release_pipeline(
    name: &str,
    repo: &Repo,
    stack: &Stack,
) -> cp::types::builders::PipelineDeclarationBuilder {
    pipeline(
        name,
        vec![
            ("Source", vec![source(repo)]),
            (
                "Build",
                vec![build(
                    &format!("{name}-build"),
                    &[("TASK_FAMILY", &stack.name)],
                )],
            ),
            ("Approval", vec![approval("Release the sample app?")]),
            ("Deploy", vec![deploy(stack)]),
        ],
    )
}

#[tokio::test]
async fn the_sample_app_is_built_approved_and_deployed_and_a_rejection_changes_nothing() {
    let cloud = Cloud::start().await;
    let cp = client(&cloud.endpoint);
    let stack = Stack::create(
        &cloud,
        "shop",
        StackOptions {
            desired: 1,
            ..Default::default()
        },
    )
    .await;
    let (repo, blue_sha) = Repo::sample_app(cloud.dir.path(), "shop");
    create(&cp, release_pipeline("shop-release", &repo, &stack)).await;

    let started = Instant::now();
    let first = start(&cp, "shop-release").await;
    let token = pending_approval(&cp, "shop-release", "Approval", &first).await;
    println!(
        "source and build of the sample app took {:?}",
        started.elapsed()
    );
    let state = cp
        .get_pipeline_state()
        .name("shop-release")
        .send()
        .await
        .unwrap();
    assert_eq!(state.pipeline_version(), Some(1));
    let source_state = &state.stage_states()[0].action_states()[0];
    assert_eq!(
        source_state.current_revision().unwrap().revision_id(),
        blue_sha
    );
    let source_run = source_state.latest_execution().unwrap();
    assert_eq!(status_of(Some(source_run)), Some("Succeeded"));
    assert_eq!(source_run.summary(), Some("Blue release"));
    let build_run = latest(&state, "Build", "Build").unwrap();
    assert_eq!(status_of(Some(build_run)), Some("Succeeded"));
    assert!(
        build_run
            .external_execution_id()
            .unwrap()
            .starts_with("shop-release-build:"),
        "{build_run:?}"
    );
    let log_url = build_run.external_execution_url().unwrap();
    assert!(
        log_url.starts_with(&format!("{}/_localcloud/builds/", cloud.endpoint))
            && log_url.ends_with("/log"),
        "{log_url}"
    );
    let log = cloud.http.get(log_url).send().await.unwrap();
    assert_eq!(log.headers()["x-build-status"], "Succeeded");
    assert!(
        log.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let log = log.text().await.unwrap();
    assert!(
        log.contains("buildspec.local.yml"),
        "the local buildspec runs: {log}"
    );
    assert!(
        log.contains("Running command cp index.html site/index.html"),
        "{log}"
    );
    assert!(
        log.contains(r#""family": "shop""#),
        "the action's variables reach the build: {log}"
    );
    assert!(
        log.contains("Phase complete: BUILD State: SUCCEEDED"),
        "{log}"
    );
    assert!(
        latest(&state, "Deploy", "Deploy").is_none(),
        "nothing deployed before the approval"
    );
    let approval_stage = &state.stage_states()[2];
    assert_eq!(
        approval_stage.latest_execution().unwrap().status().as_str(),
        "InProgress"
    );
    assert!(approval_stage.inbound_transition_state().unwrap().enabled());

    approve(
        &cp,
        "shop-release",
        "Approval",
        &token,
        ApprovalStatus::Approved,
        "ship it",
    )
    .await;
    let done = wait_finished(&cp, "shop-release", &first, Duration::from_secs(60)).await;
    assert_eq!(done.status().unwrap().as_str(), "Succeeded", "{done:?}");
    println!("source to production took {:?}", started.elapsed());
    wait_page(&cloud, &stack.production_url, SAMPLE_BLUE).await;
    let revision = &done.artifact_revisions()[0];
    assert_eq!(revision.name(), Some("SourceArtifact"));
    assert_eq!(revision.revision_id(), Some(blue_sha.as_str()));
    assert_eq!(revision.revision_summary(), Some("Blue release"));
    assert_eq!(
        done.trigger().unwrap().trigger_type().unwrap().as_str(),
        "StartPipelineExecution"
    );

    let details = action_executions(&cp, "shop-release", &first).await;
    let names: Vec<(&str, &str)> = details
        .iter()
        .map(|d| (d.action_name().unwrap(), d.status().unwrap().as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Deploy", "Succeeded"),
            ("Approve", "Succeeded"),
            ("Build", "Succeeded"),
            ("Source", "Succeeded")
        ],
        "newest first"
    );
    let deployment_id = details[0]
        .output()
        .unwrap()
        .execution_result()
        .unwrap()
        .external_execution_id()
        .unwrap()
        .to_owned();
    let deployment = cloud
        .cd
        .get_deployment()
        .deployment_id(&deployment_id)
        .send()
        .await
        .unwrap()
        .deployment_info
        .unwrap();
    assert_eq!(deployment.status().unwrap().as_str(), "Succeeded");
    assert_eq!(deployment.deployment_group_name(), Some("shop-dg"));
    let build_detail = &details[2];
    assert_eq!(
        build_detail.output().unwrap().output_artifacts()[0].name(),
        Some("BuildArtifact")
    );
    assert_eq!(
        build_detail.input().unwrap().input_artifacts()[0].name(),
        Some("SourceArtifact")
    );
    assert_eq!(
        details[1]
            .output()
            .unwrap()
            .execution_result()
            .unwrap()
            .external_execution_summary(),
        Some("ship it")
    );

    // The task definition the Deploy action registered runs the build's site.
    let service = cloud
        .ecs
        .describe_services()
        .cluster("shop")
        .services("web")
        .send()
        .await
        .unwrap();
    let task_definition = service.services()[0].task_definition().unwrap().to_owned();
    assert!(
        task_definition.contains(":task-definition/shop:"),
        "{task_definition}"
    );
    let described = cloud
        .ecs
        .describe_task_definition()
        .task_definition(&task_definition)
        .send()
        .await
        .unwrap();
    let image = described.task_definition().unwrap().container_definitions()[0]
        .image()
        .unwrap()
        .to_owned();
    assert!(
        image.starts_with(&format!("static:{}", cloud.data_dir.display()))
            && image.ends_with("/BuildArtifact/site"),
        "{image}"
    );

    // The green page, rejected: production keeps the blue one.
    std::fs::copy(
        repo.work.join("index_green.html"),
        repo.work.join("index.html"),
    )
    .unwrap();
    let green_sha = repo.commit("Green release");
    let second = start(&cp, "shop-release").await;
    let token = pending_approval(&cp, "shop-release", "Approval", &second).await;
    approve(
        &cp,
        "shop-release",
        "Approval",
        &token,
        ApprovalStatus::Rejected,
        "not today",
    )
    .await;
    let rejected = wait_finished(&cp, "shop-release", &second, Duration::from_secs(30)).await;
    assert_eq!(rejected.status().unwrap().as_str(), "Failed");
    assert_eq!(
        rejected.artifact_revisions()[0].revision_id(),
        Some(green_sha.as_str())
    );
    let state = cp
        .get_pipeline_state()
        .name("shop-release")
        .send()
        .await
        .unwrap();
    let rejection = latest(&state, "Approval", "Approve").unwrap();
    assert_eq!(status_of(Some(rejection)), Some("Failed"));
    assert_eq!(rejection.summary(), Some("not today"));
    assert!(
        rejection.token().is_none(),
        "a decided approval shows no token"
    );
    let deploy_stage = &state.stage_states()[3];
    assert_eq!(
        deploy_stage
            .latest_execution()
            .unwrap()
            .pipeline_execution_id(),
        first
    );
    for _ in 0..10 {
        let body = page(&cloud, &stack.production_url).await;
        assert!(
            body.contains(SAMPLE_BLUE) && !body.contains(SAMPLE_GREEN),
            "{body}"
        );
    }
    let again = cp
        .put_approval_result()
        .pipeline_name("shop-release")
        .stage_name("Approval")
        .action_name("Approve")
        .token(&token)
        .result(
            ApprovalResult::builder()
                .summary("changed my mind")
                .status(ApprovalStatus::Approved)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        again
            .as_service_error()
            .unwrap()
            .is_approval_already_completed_exception(),
        "{again:?}"
    );

    let executions = cp
        .list_pipeline_executions()
        .pipeline_name("shop-release")
        .send()
        .await
        .unwrap();
    let listed: Vec<(&str, &str)> = executions
        .pipeline_execution_summaries()
        .iter()
        .map(|e| {
            (
                e.pipeline_execution_id().unwrap(),
                e.status().unwrap().as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [(second.as_str(), "Failed"), (first.as_str(), "Succeeded")]
    );
    let sources = executions.pipeline_execution_summaries()[1].source_revisions();
    assert_eq!(sources[0].revision_id(), Some(blue_sha.as_str()));
    assert_eq!(sources[0].action_name(), "Source");
}

#[tokio::test]
async fn a_failing_build_reports_its_exit_status_and_log_tail_and_a_retry_reruns_it() {
    let cloud = Cloud::start().await;
    let cp = client(&cloud.endpoint);
    let repo = Repo::new(cloud.dir.path(), "app");
    repo.write("sub/README", "the build runs here\n");
    repo.write(
        "buildspec.local.yml",
        r#"version: 0.2
env:
  variables:
    GREETING: from-buildspec
phases:
  install:
    commands:
      - echo "building $CODEBUILD_RESOLVED_SOURCE_VERSION as $CODEBUILD_BUILD_ID number $CODEBUILD_BUILD_NUMBER"
      - export CARRIED=carried-over
      - PLAIN=kept-unexported
      - cd sub
  build:
    commands:
      - echo "greeting $GREETING, $CARRIED, $PLAIN, in $(basename "$PWD")"
      - echo "about to check the ready file"
      - test -f "$READY_FILE" || exit 3
      - mkdir -p out && echo built > out/result.txt
    finally:
      - echo "build phase finally ran"
  post_build:
    commands:
      - echo "post_build sees succeeding=$CODEBUILD_BUILD_SUCCEEDING"
artifacts:
  files:
    - '**/*'
  base-directory: sub/out
"#,
    );
    repo.write(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 99\n",
    );
    let sha = repo.commit("A build that needs a ready file");
    let ready = cloud.dir.path().join("ready");
    let ready_path = ready.display().to_string();
    create(
        &cp,
        pipeline(
            "checked",
            vec![
                ("Source", vec![source(&repo)]),
                (
                    "Build",
                    vec![build(
                        "checked",
                        &[("READY_FILE", &ready_path), ("GREETING", "from-action")],
                    )],
                ),
            ],
        ),
    )
    .await;

    let id = start(&cp, "checked").await;
    let failed = wait_finished(&cp, "checked", &id, Duration::from_secs(30)).await;
    assert_eq!(failed.status().unwrap().as_str(), "Failed");
    let summary = failed.status_summary().unwrap_or_default();
    assert!(summary.contains("exit status 3"), "{summary}");
    let state = cp
        .get_pipeline_state()
        .name("checked")
        .send()
        .await
        .unwrap();
    let run = latest(&state, "Build", "Build").unwrap();
    assert_eq!(status_of(Some(run)), Some("Failed"));
    let error = run.error_details().unwrap();
    assert_eq!(error.code(), Some("JobFailed"));
    let message = error.message().unwrap();
    for expected in [
        "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR",
        "Error while executing command: test -f \"$READY_FILE\" || exit 3. Reason: exit status 3",
        "about to check the ready file",
        "build phase finally ran",
        "post_build sees succeeding=0",
    ] {
        assert!(message.contains(expected), "{expected:?} not in {message}");
    }
    assert!(run.summary().unwrap().contains("exit status 3"));
    let log = page(&cloud, run.external_execution_url().unwrap()).await;
    assert!(
        log.contains(&format!("building {sha} as checked:")),
        "{log}"
    );
    assert!(log.contains("number 1"), "{log}");
    assert!(
        log.contains("greeting from-action, carried-over, kept-unexported, in sub"),
        "{log}"
    );
    assert!(
        !log.contains("exit 99"),
        "buildspec.local.yml wins over buildspec.yml: {log}"
    );

    // Only a failed stage is retried.
    let source_retry = cp
        .retry_stage_execution()
        .pipeline_name("checked")
        .stage_name("Source")
        .pipeline_execution_id(&id)
        .retry_mode(StageRetryMode::FailedActions)
        .send()
        .await
        .unwrap_err();
    assert!(
        source_retry
            .as_service_error()
            .unwrap()
            .is_stage_not_retryable_exception(),
        "{source_retry:?}"
    );

    std::fs::write(&ready, "ready\n").unwrap();
    let retried = cp
        .retry_stage_execution()
        .pipeline_name("checked")
        .stage_name("Build")
        .pipeline_execution_id(&id)
        .retry_mode(StageRetryMode::FailedActions)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.pipeline_execution_id(), Some(id.as_str()));
    let done = wait_finished(&cp, "checked", &id, Duration::from_secs(30)).await;
    assert_eq!(done.status().unwrap().as_str(), "Succeeded", "{done:?}");
    let details = action_executions(&cp, "checked", &id).await;
    let runs: Vec<(&str, &str)> = details
        .iter()
        .map(|d| (d.action_name().unwrap(), d.status().unwrap().as_str()))
        .collect();
    assert_eq!(
        runs,
        [
            ("Build", "Succeeded"),
            ("Build", "Failed"),
            ("Source", "Succeeded")
        ]
    );
    let rerun_log = page(
        &cloud,
        details[0]
            .output()
            .unwrap()
            .execution_result()
            .unwrap()
            .external_execution_url()
            .unwrap(),
    )
    .await;
    assert!(
        rerun_log.contains("post_build sees succeeding=1"),
        "{rerun_log}"
    );
    assert!(rerun_log.contains("number 2"), "{rerun_log}");
    assert!(
        rerun_log.contains("Uploaded 1 file(s) to the artifact BuildArtifact"),
        "{rerun_log}"
    );

    // A later execution makes this one no longer retryable.
    let newer = start(&cp, "checked").await;
    wait_finished(&cp, "checked", &newer, Duration::from_secs(30)).await;
    let stale = cp
        .retry_stage_execution()
        .pipeline_name("checked")
        .stage_name("Build")
        .pipeline_execution_id(&id)
        .retry_mode(StageRetryMode::AllActions)
        .send()
        .await
        .unwrap_err();
    assert!(
        stale
            .as_service_error()
            .unwrap()
            .is_not_latest_pipeline_execution_exception(),
        "{stale:?}"
    );
}

#[tokio::test]
async fn a_running_build_log_can_be_tailed_and_executions_stop_waiting_or_abandoning() {
    let cloud = Cloud::start().await;
    let cp = client(&cloud.endpoint);
    let repo = Repo::new(cloud.dir.path(), "slow");
    repo.write(
        "buildspec.yml",
        r#"version: 0.2
phases:
  build:
    commands:
      - echo "first line"
      - echo $$ > "$PID_FILE"
      - while [ ! -f "$GO_FILE" ]; do sleep 0.05; done
      - echo "second line"
"#,
    );
    repo.commit("A build that waits for a go");
    let go = cloud.dir.path().join("go");
    let pid_file = cloud.dir.path().join("pid");
    let mut build_action = build(
        "slow",
        &[
            ("GO_FILE", go.to_str().unwrap()),
            ("PID_FILE", pid_file.to_str().unwrap()),
        ],
    );
    build_action.output_artifacts = None;
    create(
        &cp,
        pipeline(
            "slow",
            vec![
                ("Source", vec![source(&repo)]),
                ("Build", vec![build_action]),
            ],
        ),
    )
    .await;

    let first = start(&cp, "slow").await;
    let state = wait_state(&cp, "slow", "building", |s| {
        status_of(latest(s, "Build", "Build")) == Some("InProgress")
    })
    .await;
    let url = latest(&state, "Build", "Build")
        .unwrap()
        .external_execution_url()
        .unwrap()
        .to_owned();
    // Tail the log while the build runs: each read goes on where the last ended.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut collected = String::new();
    let mut offset = 0;
    while !collected.contains("first line\n") {
        let (text, next, status) = read_log(&cloud, &url, offset).await;
        assert_eq!(status, "InProgress");
        collected.push_str(&text);
        offset = next;
        assert!(
            Instant::now() < deadline,
            "the log never showed the first line: {collected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!collected.contains("second line"), "{collected}");
    let past = cloud
        .http
        .get(format!("{url}?offset={}", offset + 100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 416);
    let bad = cloud
        .http
        .get(format!("{url}?offset=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = cloud
        .http
        .get(format!(
            "{}/_localcloud/builds/00000000-0000-0000-0000-000000000000/log",
            cloud.endpoint
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Stop and wait: the build finishes, then the execution is Stopped.
    cp.stop_pipeline_execution()
        .pipeline_name("slow")
        .pipeline_execution_id(&first)
        .reason("tests stop it")
        .send()
        .await
        .unwrap();
    assert_eq!(
        execution(&cp, "slow", &first)
            .await
            .status()
            .unwrap()
            .as_str(),
        "Stopping"
    );
    let twice = cp
        .stop_pipeline_execution()
        .pipeline_name("slow")
        .pipeline_execution_id(&first)
        .send()
        .await
        .unwrap_err();
    assert!(
        twice
            .as_service_error()
            .unwrap()
            .is_duplicated_stop_request_exception(),
        "{twice:?}"
    );
    std::fs::write(&go, "go").unwrap();
    let stopped = wait_finished(&cp, "slow", &first, Duration::from_secs(20)).await;
    assert_eq!(stopped.status().unwrap().as_str(), "Stopped");
    let (rest, _, status) = read_log(&cloud, &url, offset).await;
    assert_eq!(status, "Succeeded", "stop and wait lets the build finish");
    assert!(
        rest.contains("second line") && !rest.contains("first line"),
        "{rest}"
    );
    collected.push_str(&rest);
    let (whole, _, _) = read_log(&cloud, &url, 0).await;
    assert_eq!(
        collected, whole,
        "the pieces read while tailing make the whole log"
    );
    let state = cp.get_pipeline_state().name("slow").send().await.unwrap();
    assert_eq!(
        state.stage_states()[1]
            .latest_execution()
            .unwrap()
            .status()
            .as_str(),
        "Stopped"
    );
    let finished = cp
        .stop_pipeline_execution()
        .pipeline_name("slow")
        .pipeline_execution_id(&first)
        .send()
        .await
        .unwrap_err();
    assert!(
        finished
            .as_service_error()
            .unwrap()
            .is_pipeline_execution_not_stoppable_exception(),
        "{finished:?}"
    );

    // Stop and abandon: the build's processes are killed at once.
    std::fs::remove_file(&go).unwrap();
    std::fs::remove_file(&pid_file).unwrap();
    let second = start(&cp, "slow").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|p| p.ends_with('\n'))
        {
            break pid.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "the second build never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let abandon_started = Instant::now();
    cp.stop_pipeline_execution()
        .pipeline_name("slow")
        .pipeline_execution_id(&second)
        .abandon(true)
        .reason("no time")
        .send()
        .await
        .unwrap();
    let abandoned = wait_finished(&cp, "slow", &second, Duration::from_secs(10)).await;
    assert_eq!(abandoned.status().unwrap().as_str(), "Stopped");
    assert!(abandon_started.elapsed() < Duration::from_secs(5));
    let state = cp.get_pipeline_state().name("slow").send().await.unwrap();
    assert_eq!(
        status_of(latest(&state, "Build", "Build")),
        Some("Abandoned")
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
    {
        assert!(
            Instant::now() < deadline,
            "the abandoned build's shell {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = cp
        .list_pipeline_executions()
        .pipeline_name("slow")
        .send()
        .await
        .unwrap();
    let newest = &listed.pipeline_execution_summaries()[0];
    assert_eq!(newest.pipeline_execution_id(), Some(second.as_str()));
    assert_eq!(newest.stop_trigger().unwrap().reason(), Some("no time"));
}

#[tokio::test]
async fn a_newer_execution_supersedes_one_waiting_for_approval() {
    let cloud = Cloud::start().await;
    let cp = client(&cloud.endpoint);
    let repo = Repo::new(cloud.dir.path(), "gate");
    repo.write("README", "one\n");
    let first_sha = repo.commit("First");
    repo.write("README", "two\n");
    repo.commit("Second");
    create(
        &cp,
        pipeline(
            "gate",
            vec![
                ("Source", vec![source(&repo)]),
                (
                    "Approval",
                    vec![approval(
                        "release #{variables.release} of #{SourceVariables.CommitId}",
                    )],
                ),
            ],
        )
        .pipeline_type(PipelineType::V2)
        .variables(
            PipelineVariableDeclaration::builder()
                .name("release")
                .default_value("none")
                .build()
                .unwrap(),
        ),
    )
    .await;
    // The source action needs a namespace for #{SourceVariables...}.
    let mut declaration = cp
        .get_pipeline()
        .name("gate")
        .send()
        .await
        .unwrap()
        .pipeline
        .unwrap();
    declaration.stages[0].actions[0].namespace = Some("SourceVariables".into());
    let updated = cp
        .update_pipeline()
        .pipeline(declaration)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.pipeline().unwrap().version(), Some(2));

    let first = cp
        .start_pipeline_execution()
        .name("gate")
        .client_request_token("release-1")
        .variables(
            PipelineVariable::builder()
                .name("release")
                .value("r1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .pipeline_execution_id
        .unwrap();
    let again = cp
        .start_pipeline_execution()
        .name("gate")
        .client_request_token("release-1")
        .send()
        .await
        .unwrap()
        .pipeline_execution_id
        .unwrap();
    assert_eq!(
        again, first,
        "the same clientRequestToken starts nothing new"
    );
    let first_token = pending_approval(&cp, "gate", "Approval", &first).await;

    let second = cp
        .start_pipeline_execution()
        .name("gate")
        .variables(
            PipelineVariable::builder()
                .name("release")
                .value("r2")
                .build()
                .unwrap(),
        )
        .source_revisions(
            SourceRevisionOverride::builder()
                .action_name("Source")
                .revision_type(SourceRevisionType::CommitId)
                .revision_value(&first_sha)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .pipeline_execution_id
        .unwrap();
    let second_token = pending_approval(&cp, "gate", "Approval", &second).await;
    assert_ne!(first_token, second_token);
    let superseded = execution(&cp, "gate", &first).await;
    assert_eq!(superseded.status().unwrap().as_str(), "Superseded");
    assert!(superseded.status_summary().unwrap().contains(&second));
    let fetched = execution(&cp, "gate", &second).await;
    assert_eq!(
        fetched.artifact_revisions()[0].revision_id(),
        Some(first_sha.as_str())
    );
    assert_eq!(
        fetched.artifact_revisions()[0].revision_summary(),
        Some("First")
    );
    assert_eq!(fetched.variables()[0].name(), Some("release"));
    assert_eq!(fetched.variables()[0].resolved_value(), Some("r2"));
    assert_eq!(fetched.pipeline_version(), Some(2));
    let approvals = action_executions(&cp, "gate", &second).await;
    let resolved = approvals[0]
        .input()
        .unwrap()
        .resolved_configuration()
        .unwrap();
    assert_eq!(resolved["CustomData"], format!("release r2 of {first_sha}"));
    let abandoned = action_executions(&cp, "gate", &first).await;
    assert_eq!(abandoned[0].status().unwrap().as_str(), "Abandoned");

    let put = |stage: &str, action: &str, token: &str, summary: String| {
        cp.put_approval_result()
            .pipeline_name("gate")
            .stage_name(stage)
            .action_name(action)
            .token(token)
            .result(
                ApprovalResult::builder()
                    .summary(summary)
                    .status(ApprovalStatus::Approved)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let stale = put("Approval", "Approve", &first_token, "ok".into())
        .await
        .unwrap_err();
    assert!(
        stale
            .as_service_error()
            .unwrap()
            .is_invalid_approval_token_exception(),
        "{stale:?}"
    );
    let long = put("Approval", "Approve", &second_token, "x".repeat(513))
        .await
        .unwrap_err();
    assert!(
        long.as_service_error().unwrap().is_validation_exception(),
        "{long:?}"
    );
    let stage = put("Nope", "Approve", &second_token, "ok".into())
        .await
        .unwrap_err();
    assert!(
        stage
            .as_service_error()
            .unwrap()
            .is_stage_not_found_exception(),
        "{stage:?}"
    );
    let action = put("Approval", "Nope", &second_token, "ok".into())
        .await
        .unwrap_err();
    assert!(
        action
            .as_service_error()
            .unwrap()
            .is_action_not_found_exception(),
        "{action:?}"
    );
    let approved = put("Approval", "Approve", &second_token, "x".repeat(512))
        .await
        .unwrap();
    assert!(approved.approved_at().is_some());
    let done = wait_finished(&cp, "gate", &second, Duration::from_secs(20)).await;
    assert_eq!(done.status().unwrap().as_str(), "Succeeded");

    let undeclared = cp
        .start_pipeline_execution()
        .name("gate")
        .variables(
            PipelineVariable::builder()
                .name("nope")
                .value("x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        undeclared
            .as_service_error()
            .unwrap()
            .is_validation_exception(),
        "{undeclared:?}"
    );
}

#[tokio::test]
async fn declarations_are_checked_and_errors_are_typed() {
    let cloud = Cloud::start().await;
    let cp = client(&cloud.endpoint);
    let repo = Repo::new(cloud.dir.path(), "plain");
    repo.write("README", "hello\n");
    repo.commit("Hello");

    let missing = cp.get_pipeline().name("nope").send().await.unwrap_err();
    assert!(
        missing
            .as_service_error()
            .unwrap()
            .is_pipeline_not_found_exception(),
        "{missing:?}"
    );
    let start_missing = cp
        .start_pipeline_execution()
        .name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        start_missing
            .as_service_error()
            .unwrap()
            .is_pipeline_not_found_exception()
    );

    let one_stage = pipeline("bad", vec![("Source", vec![source(&repo)])]);
    let err = cp
        .create_pipeline()
        .pipeline(one_stage.build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_structure_exception(),
        "{err:?}"
    );
    assert!(err.message().unwrap().contains("minimum of 2 stages"));

    let build_first = pipeline(
        "bad",
        vec![
            ("Build", vec![build("b", &[])]),
            ("Source", vec![source(&repo)]),
        ],
    );
    let err = cp
        .create_pipeline()
        .pipeline(build_first.build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_structure_exception(),
        "{err:?}"
    );

    let jenkins = action(
        "Build",
        ActionCategory::Build,
        "Jenkins",
        &[],
        &["SourceArtifact"],
        &[],
    );
    let unknown = pipeline(
        "bad",
        vec![("Source", vec![source(&repo)]), ("Build", vec![jenkins])],
    );
    let err = cp
        .create_pipeline()
        .pipeline(unknown.build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_action_declaration_exception(),
        "{err:?}"
    );

    let orphan = action(
        "Build",
        ActionCategory::Build,
        "CodeBuild",
        &[("ProjectName", "p")],
        &["Nowhere"],
        &[],
    );
    let unwired = pipeline(
        "bad",
        vec![("Source", vec![source(&repo)]), ("Build", vec![orphan])],
    );
    let err = cp
        .create_pipeline()
        .pipeline(unwired.build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_structure_exception(),
        "{err:?}"
    );
    assert!(err.message().unwrap().contains("Nowhere"));
    assert!(
        cp.list_pipelines()
            .send()
            .await
            .unwrap()
            .pipelines()
            .is_empty(),
        "nothing half-made"
    );

    // A branch that does not exist fails the Source action, saying so.
    let wrong_branch = action(
        "Source",
        ActionCategory::Source,
        "CodeStarSourceConnection",
        &[
            (
                "ConnectionArn",
                "arn:aws:codeconnections:us-east-1:000000000000:connection/local",
            ),
            ("FullRepositoryId", &repo.url()),
            ("BranchName", "nope"),
        ],
        &[],
        &["SourceArtifact"],
    );
    create(
        &cp,
        pipeline(
            "branchless",
            vec![
                ("Source", vec![wrong_branch]),
                ("Build", vec![build("b", &[])]),
            ],
        ),
    )
    .await;
    let again = cp
        .create_pipeline()
        .pipeline(
            pipeline(
                "branchless",
                vec![
                    ("Source", vec![source(&repo)]),
                    ("Build", vec![build("b", &[])]),
                ],
            )
            .build()
            .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        again
            .as_service_error()
            .unwrap()
            .is_pipeline_name_in_use_exception(),
        "{again:?}"
    );
    let id = start(&cp, "branchless").await;
    let failed = wait_finished(&cp, "branchless", &id, Duration::from_secs(20)).await;
    assert_eq!(failed.status().unwrap().as_str(), "Failed");
    let state = cp
        .get_pipeline_state()
        .name("branchless")
        .send()
        .await
        .unwrap();
    let source_run = latest(&state, "Source", "Source").unwrap();
    let message = source_run.error_details().unwrap().message().unwrap();
    assert!(message.contains("Could not fetch branch nope"), "{message}");
    assert!(
        state.stage_states()[1].latest_execution().is_none(),
        "the build never ran"
    );

    // Versions: UpdatePipeline adds one, GetPipeline reads any.
    let fixed = pipeline(
        "branchless",
        vec![
            ("Source", vec![source(&repo)]),
            ("Build", vec![build("b", &[])]),
        ],
    );
    let updated = cp
        .update_pipeline()
        .pipeline(fixed.build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(updated.pipeline().unwrap().version(), Some(2));
    let old = cp
        .get_pipeline()
        .name("branchless")
        .version(1)
        .send()
        .await
        .unwrap();
    let old_config = old.pipeline().unwrap().stages()[0].actions()[0]
        .configuration()
        .unwrap();
    assert_eq!(old_config["BranchName"], "nope");
    let current = cp.get_pipeline().name("branchless").send().await.unwrap();
    assert_eq!(current.pipeline().unwrap().version(), Some(2));
    let metadata = current.metadata().unwrap();
    assert_eq!(
        metadata.pipeline_arn(),
        Some("arn:aws:codepipeline:us-east-1:000000000000:branchless")
    );
    assert!(metadata.created().unwrap() <= metadata.updated().unwrap());
    let missing_version = cp
        .get_pipeline()
        .name("branchless")
        .version(9)
        .send()
        .await
        .unwrap_err();
    assert!(
        missing_version
            .as_service_error()
            .unwrap()
            .is_pipeline_version_not_found_exception()
    );

    let unknown_execution = cp
        .get_pipeline_execution()
        .pipeline_name("branchless")
        .pipeline_execution_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(
        unknown_execution
            .as_service_error()
            .unwrap()
            .is_pipeline_execution_not_found_exception()
    );

    let listed = cp.list_pipelines().send().await.unwrap();
    let names: Vec<&str> = listed.pipelines().iter().filter_map(|p| p.name()).collect();
    assert_eq!(names, ["branchless"]);
    assert_eq!(listed.pipelines()[0].version(), Some(2));

    cp.delete_pipeline()
        .name("branchless")
        .send()
        .await
        .unwrap();
    cp.delete_pipeline()
        .name("branchless")
        .send()
        .await
        .unwrap();
    let gone = cp
        .get_pipeline_state()
        .name("branchless")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&gone), "PipelineNotFoundException");

    // The wire: AWS error shapes, never a 500.
    for (target, body, expected) in [
        (
            "CodePipeline_20150709.LaunchRockets",
            "{}",
            "UnknownOperationException",
        ),
        (
            "CodePipeline_20150709.GetPipeline",
            "{nope",
            "SerializationException",
        ),
        (
            "CodePipeline_20150709.GetPipeline",
            r#"{"name": 5}"#,
            "SerializationException",
        ),
        (
            "CodePipeline_20150709.GetPipeline",
            "{}",
            "ValidationException",
        ),
        (
            "CodePipeline_20150709.GetPipeline",
            r#"{"name": "bad name"}"#,
            "ValidationException",
        ),
        (
            "CodePipeline_20150709.CreatePipeline",
            r#"{"pipeline": {"name": "x", "stages": "no"}}"#,
            "ValidationException",
        ),
        (
            "CodePipeline_20150709.PutApprovalResult",
            r#"{"pipelineName": "nope"}"#,
            "PipelineNotFoundException",
        ),
    ] {
        let response = cloud
            .http
            .post(&cloud.endpoint)
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.1")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{target} {body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["__type"], expected, "{target} {body}: {answer}");
    }
}

#[tokio::test]
async fn pipelines_survive_a_restart() {
    let mut cloud = Cloud::start().await;
    let cp = client(&cloud.endpoint);
    let options = StackOptions {
        desired: 1,
        config: "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        ..Default::default()
    };
    let stack = Stack::create(&cloud, "lasting", options).await;
    let (repo, good) = Repo::sample_app(cloud.dir.path(), "lasting");
    // The branch head hangs in its build until told to stop.
    let hang = cloud.dir.path().join("hang");
    std::fs::write(&hang, "hang").unwrap();
    repo.write(
        "buildspec.local.yml",
        &format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hanging\n      - while [ -f {} ]; do sleep 0.1; done\n",
            hang.display()
        ),
    );
    repo.commit("A build that hangs");
    create(&cp, release_pipeline("lasting", &repo, &stack)).await;

    let first = cp
        .start_pipeline_execution()
        .name("lasting")
        .source_revisions(
            SourceRevisionOverride::builder()
                .action_name("Source")
                .revision_type(SourceRevisionType::CommitId)
                .revision_value(&good)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .pipeline_execution_id
        .unwrap();
    let token = pending_approval(&cp, "lasting", "Approval", &first).await;
    let second = start(&cp, "lasting").await;
    wait_state(&cp, "lasting", "building the hanging commit", |s| {
        s.stage_states()[1]
            .latest_execution()
            .is_some_and(|e| e.pipeline_execution_id() == second)
            && status_of(latest(s, "Build", "Build")) == Some("InProgress")
    })
    .await;

    cloud.crash_and_restart().await;
    let interrupted = wait_finished(&cp, "lasting", &second, Duration::from_secs(10)).await;
    assert_eq!(interrupted.status().unwrap().as_str(), "Failed");
    assert!(
        interrupted
            .status_summary()
            .unwrap()
            .contains("interrupted"),
        "{interrupted:?}"
    );
    let state = cp
        .get_pipeline_state()
        .name("lasting")
        .send()
        .await
        .unwrap();
    let waiting = latest(&state, "Approval", "Approve").unwrap();
    assert_eq!(status_of(Some(waiting)), Some("InProgress"));
    assert_eq!(
        waiting.token(),
        Some(token.as_str()),
        "the approval waits on with its token"
    );
    std::fs::remove_file(&hang).unwrap();

    approve(
        &cp,
        "lasting",
        "Approval",
        &token,
        ApprovalStatus::Approved,
        "after a restart",
    )
    .await;
    let state = wait_state(&cp, "lasting", "deploying", |s| {
        latest(s, "Deploy", "Deploy").is_some_and(|d| d.external_execution_id().is_some())
    })
    .await;
    let deployment = latest(&state, "Deploy", "Deploy")
        .unwrap()
        .external_execution_id()
        .unwrap()
        .to_owned();
    crate::helpers::wait_status(&cloud, &deployment, "InProgress", Duration::from_secs(20)).await;
    cloud.crash_and_restart().await;
    let done = wait_finished(&cp, "lasting", &first, Duration::from_secs(60)).await;
    assert_eq!(done.status().unwrap().as_str(), "Succeeded", "{done:?}");
    let info = crate::helpers::wait_finished(&cloud, &deployment, Duration::from_secs(5)).await;
    assert_eq!(info.status().unwrap().as_str(), "Succeeded");
    wait_page(&cloud, &stack.production_url, SAMPLE_BLUE).await;
    let deploys: Vec<_> = action_executions(&cp, "lasting", &first)
        .await
        .into_iter()
        .filter(|d| d.action_name() == Some("Deploy"))
        .collect();
    assert_eq!(
        deploys.len(),
        1,
        "the Deploy action followed its deployment across the restart"
    );
}

fn ecs_deploy(cluster: &str, service: &str, extra: &[(&str, &str)]) -> ActionDeclaration {
    let mut configuration = vec![("ClusterName", cluster), ("ServiceName", service)];
    configuration.extend_from_slice(extra);
    action(
        "Deploy",
        ActionCategory::Deploy,
        "ECS",
        &configuration,
        &["BuildArtifact"],
        &[],
    )
}

/// The Deploy action's error message, once the execution has failed.
async fn failed_deploy(cp: &cp::Client, name: &str) -> String {
    let id = start(cp, name).await;
    let e = wait_finished(cp, name, &id, Duration::from_secs(120)).await;
    assert_eq!(e.status().unwrap().as_str(), "Failed", "{e:?}");
    let deploy = action_executions(cp, name, &id)
        .await
        .into_iter()
        .find(|a| a.action_name() == Some("Deploy"))
        .expect("the Deploy action ran");
    deploy
        .output()
        .and_then(|o| o.execution_result())
        .and_then(|r| r.error_details())
        .and_then(|d| d.message())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_ecs_deploy_action_fails_saying_why_and_leaves_the_service_as_it_was() {
    let cloud = Cloud::start().await;
    let cp = client(&cloud.endpoint);
    let stack = Stack::create(
        &cloud,
        "refuse",
        StackOptions {
            desired: 1,
            ..Default::default()
        },
    )
    .await;
    let (repo, _) = Repo::sample_app(cloud.dir.path(), "refuse");
    let cases = [
        // The stack's service is CodeDeploy's: ECS refuses the rollout.
        (
            "to-codedeploy",
            ecs_deploy("refuse", "web", &[]),
            "CODE_DEPLOY deployment controller",
        ),
        (
            "to-nothing",
            ecs_deploy("refuse", "nope", &[]),
            "does not exist",
        ),
        (
            "wrong-file",
            ecs_deploy("refuse", "web", &[("FileName", "images.json")]),
            "cannot read images.json",
        ),
    ];
    for (name, deploy, _) in &cases {
        create(
            &cp,
            pipeline(
                name,
                vec![
                    ("Source", vec![source(&repo)]),
                    ("Build", vec![build(&format!("{name}-build"), &[])]),
                    ("Deploy", vec![deploy.clone()]),
                ],
            ),
        )
        .await;
    }
    let before = cloud
        .ecs
        .describe_services()
        .cluster("refuse")
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .task_definition()
        .map(str::to_owned);
    for (name, _, needle) in &cases {
        let message = failed_deploy(&cp, name).await;
        assert!(
            message.contains(needle),
            "{name}: {needle:?} not in {message:?}"
        );
    }
    let after = cloud
        .ecs
        .describe_services()
        .cluster("refuse")
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .task_definition()
        .map(str::to_owned);
    assert_eq!(before, after, "a failed action changed the service");
    stack.wait_until_serving(&cloud, "blue").await;
}
