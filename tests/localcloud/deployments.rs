use crate::helpers::{Cloud, Stack, StackOptions, green_share, wait_finished, wait_status};
use crate::sampler::Sampler;
use aws_sdk_codedeploy::types::{DeploymentStatus, DeploymentWaitType, TargetLabel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn linear_deployment_shifts_traffic_by_the_schedule() {
    let cloud = Cloud::start().await;
    let stack = Stack::create(
        &cloud,
        "lin",
        StackOptions {
            termination_wait: 2,
            ..Default::default()
        },
    )
    .await;
    let id = stack
        .deploy_green(
            &cloud,
            Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
            &[],
        )
        .await;

    // One deployment at a time per group.
    let err = cloud
        .cd
        .create_deployment()
        .application_name("lin")
        .deployment_group_name("lin-dg")
        .revision(crate::helpers::revision(&Stack::appspec("lin:1", &[])))
        .send()
        .await
        .unwrap_err();
    // AWS answers DeploymentLimitExceededException ("already has an active Deployment").
    let err = err.into_service_error();
    assert!(err.is_deployment_limit_exceeded_exception(), "{err:?}");
    assert!(format!("{err:?}").contains(&id));
    // Not held in Ready: nothing to continue.
    let err = cloud
        .cd
        .continue_deployment()
        .deployment_id(&id)
        .deployment_wait_type(DeploymentWaitType::ReadyWait)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_deployment_is_not_in_ready_state_exception()
    );

    // Sample production traffic through the whole shift on keep-alive connections.
    let mut samples: Vec<(f64, bool)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut allow_traffic_start: Option<f64> = None;
    loop {
        for _ in 0..20 {
            let response = cloud.http.get(&stack.production_url).send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_eq!(status, 200, "no failed request during the shift: {body}");
            samples.push((now_secs(), body.contains("<h1>green</h1>")));
        }
        let target = cloud
            .cd
            .get_deployment_target()
            .deployment_id(&id)
            .target_id(stack.target())
            .send()
            .await
            .unwrap();
        let ecs = target.deployment_target.unwrap().ecs_target.unwrap();
        let allow = ecs
            .lifecycle_events()
            .iter()
            .find(|e| e.lifecycle_event_name() == Some("AllowTraffic"))
            .unwrap();
        if let Some(start) = allow.start_time() {
            allow_traffic_start = Some(start.as_secs_f64());
        }
        if allow.status() == Some(&aws_sdk_codedeploy::types::LifecycleEventStatus::Succeeded) {
            break;
        }
        assert!(Instant::now() < deadline, "the shift did not end");
    }
    let start = allow_traffic_start.expect("AllowTraffic started");
    // Step k (green = 10(k+1) %) runs from start+k s to start+(k+1) s at this time scale.
    // Compare the observed share within each step, away from its edges.
    let mut steps_checked = 0;
    for k in 0..9 {
        let (from, to) = (start + k as f64 + 0.15, start + k as f64 + 0.85);
        let in_step: Vec<bool> = samples
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, g)| *g)
            .collect();
        if in_step.len() < 20 {
            continue;
        }
        let share = in_step.iter().filter(|g| **g).count() as f64 / in_step.len() as f64;
        let expected = 0.1 * (k + 1) as f64;
        assert!(
            (share - expected).abs() <= 0.1,
            "step {k}: observed {share:.2}, expected {expected:.2} over {} requests",
            in_step.len()
        );
        steps_checked += 1;
    }
    assert!(
        steps_checked >= 6,
        "too few samples per step ({steps_checked} steps checked)"
    );
    assert!(
        samples.iter().any(|(_, g)| !g) && samples.iter().any(|(_, g)| *g),
        "both versions served"
    );

    // Traffic is all green; the termination wait holds blue for two (scaled) minutes.
    wait_status(&cloud, &id, "Baking", Duration::from_secs(5)).await;
    let target = cloud
        .cd
        .batch_get_deployment_targets()
        .deployment_id(&id)
        .target_ids(stack.target())
        .send()
        .await
        .unwrap();
    let ecs = target.deployment_targets()[0].ecs_target().unwrap();
    let green = ecs
        .task_sets_info()
        .iter()
        .find(|t| t.task_set_label() == Some(&TargetLabel::Green))
        .unwrap();
    let blue = ecs
        .task_sets_info()
        .iter()
        .find(|t| t.task_set_label() == Some(&TargetLabel::Blue))
        .unwrap();
    assert_eq!(
        (green.traffic_weight(), blue.traffic_weight()),
        (100.0, 0.0)
    );
    assert_eq!(
        blue.running_count(),
        2,
        "blue waits out the termination wait"
    );
    assert!(green.identifer().unwrap().starts_with("ecs-svc/"));
    assert_eq!(green.target_group().unwrap().name(), Some("lin-green"));
    assert_eq!(
        green_share(&cloud.http, &stack.production_url, 50).await,
        1.0
    );

    let info = wait_finished(&cloud, &id, Duration::from_secs(10)).await;
    assert_eq!(info.status(), Some(&DeploymentStatus::Succeeded));
    let sets = cloud
        .ecs
        .describe_task_sets()
        .cluster("lin")
        .service("web")
        .send()
        .await
        .unwrap();
    assert_eq!(sets.task_sets().len(), 1, "blue is gone");
    assert_eq!(sets.task_sets()[0].status(), Some("PRIMARY"));
    assert_eq!(sets.task_sets()[0].external_id(), Some(id.as_str()));
    let err = cloud
        .cd
        .stop_deployment()
        .deployment_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_deployment_already_completed_exception()
    );
    let events = cloud
        .cd
        .get_deployment_target()
        .deployment_id(&id)
        .target_id(stack.target())
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = events
        .deployment_target()
        .unwrap()
        .ecs_target()
        .unwrap()
        .lifecycle_events()
        .iter()
        .map(|e| e.lifecycle_event_name().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "BeforeInstall",
            "Install",
            "AfterInstall",
            "AllowTestTraffic",
            "AfterAllowTestTraffic",
            "BeforeAllowTraffic",
            "AllowTraffic",
            "AfterAllowTraffic"
        ]
    );
    let listed = cloud
        .cd
        .list_deployments()
        .application_name("lin")
        .deployment_group_name("lin-dg")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.deployments(), [id.as_str()]);
}

#[tokio::test]
async fn a_stopped_canary_rolls_back_to_blue() {
    let cloud = Cloud::start().await;
    let stack = Stack::create(&cloud, "can", StackOptions::default()).await;
    let id = stack
        .deploy_green(
            &cloud,
            Some("CodeDeployDefault.ECSCanary10Percent15Minutes"),
            &[],
        )
        .await;
    // Wait for the canary step: 10 % on green, on the test listener all of it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let share = green_share(&cloud.http, &stack.production_url, 50).await;
        if share > 0.0 {
            assert!(share <= 0.2, "canary share {share}");
            break;
        }
        assert!(Instant::now() < deadline, "the canary never started");
    }
    assert_eq!(
        green_share(&cloud.http, &stack.test_url, 20).await,
        1.0,
        "the test listener serves green"
    );

    let stopped = cloud
        .cd
        .stop_deployment()
        .deployment_id(&id)
        .auto_rollback_enabled(true)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status().map(|s| s.as_str()), Some("Pending"));
    let info = wait_finished(&cloud, &id, Duration::from_secs(5)).await;
    assert_eq!(info.status(), Some(&DeploymentStatus::Stopped));
    let rollback = info.rollback_info().unwrap();
    let rollback_id = rollback.rollback_deployment_id().unwrap();
    assert_eq!(
        info.error_information().unwrap().code().map(|c| c.as_str()),
        Some("MANUAL_STOP")
    );
    let back = cloud
        .cd
        .get_deployment()
        .deployment_id(rollback_id)
        .send()
        .await
        .unwrap()
        .deployment_info
        .unwrap();
    assert_eq!(
        back.rollback_info()
            .unwrap()
            .rollback_triggering_deployment_id(),
        Some(id.as_str())
    );
    assert_eq!(
        green_share(&cloud.http, &stack.production_url, 100).await,
        0.0,
        "100 % back on blue"
    );
    assert_eq!(green_share(&cloud.http, &stack.test_url, 20).await, 0.0);
    let sets = cloud
        .ecs
        .describe_task_sets()
        .cluster("can")
        .service("web")
        .send()
        .await
        .unwrap();
    assert_eq!(sets.task_sets().len(), 1, "green is removed");
}

#[tokio::test]
async fn a_failing_hook_rolls_back_automatically() {
    let cloud = Cloud::start().await;
    let stack = Stack::create(&cloud, "hook", StackOptions::default()).await;
    cloud.register_function("smoke-test", &["sh", "-c", "echo checking $LIFECYCLE_EVENT of $DEPLOYMENT_ID; echo 'error: /health answered 500' >&2; exit 3"]).await;
    let id = stack
        .deploy_green(&cloud, None, &[("AfterAllowTestTraffic", "smoke-test")])
        .await;
    let info = wait_finished(&cloud, &id, Duration::from_secs(30)).await;
    assert_eq!(info.status(), Some(&DeploymentStatus::Failed));
    assert_eq!(
        info.error_information().unwrap().code().map(|c| c.as_str()),
        Some("HOOK_EXECUTION_FAILURE")
    );
    assert!(
        info.rollback_info()
            .unwrap()
            .rollback_deployment_id()
            .is_some()
    );
    let events = lifecycle_events(&cloud, &id, &stack).await;
    let hook = events
        .iter()
        .find(|e| e.lifecycle_event_name() == Some("AfterAllowTestTraffic"))
        .unwrap();
    assert_eq!(hook.status().map(|s| s.as_str()), Some("Failed"));
    assert!(
        hook.diagnostics()
            .unwrap()
            .log_tail()
            .unwrap()
            .contains("answered 500"),
        "{hook:?}"
    );
    assert_eq!(
        events.last().unwrap().status().map(|s| s.as_str()),
        Some("Skipped")
    );
    assert_eq!(
        green_share(&cloud.http, &stack.production_url, 50).await,
        0.0
    );
    assert_eq!(green_share(&cloud.http, &stack.test_url, 20).await, 0.0);
}

#[tokio::test]
async fn hooks_report_through_the_api_and_ready_waits_for_continue() {
    let cloud = Cloud::start().await;
    let stack = Stack::create(
        &cloud,
        "ready",
        StackOptions {
            ready_action: "STOP_DEPLOYMENT",
            ..Default::default()
        },
    )
    .await;
    // A hook that hands its execution id to the test and waits to be told.
    let handoff = cloud.dir.path().join("hook-execution-id");
    let script = format!(
        "echo $LIFECYCLE_EVENT_HOOK_EXECUTION_ID > {}; sleep 60",
        handoff.display()
    );
    cloud
        .register_function("approval-gate", &["sh", "-c", &script])
        .await;
    let id = stack
        .deploy_green(&cloud, None, &[("BeforeInstall", "approval-gate")])
        .await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let execution = loop {
        if let Ok(text) = std::fs::read_to_string(&handoff)
            && !text.trim().is_empty()
        {
            break text.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "the hook never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let err = cloud
        .cd
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(&id)
        .lifecycle_event_hook_execution_id("nope")
        .status(aws_sdk_codedeploy::types::LifecycleEventStatus::Succeeded)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_invalid_lifecycle_event_hook_execution_id_exception()
    );
    let done = cloud
        .cd
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(&id)
        .lifecycle_event_hook_execution_id(&execution)
        .status(aws_sdk_codedeploy::types::LifecycleEventStatus::Succeeded)
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.lifecycle_event_hook_execution_id(),
        Some(execution.as_str())
    );
    let err = cloud
        .cd
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(&id)
        .lifecycle_event_hook_execution_id(&execution)
        .status(aws_sdk_codedeploy::types::LifecycleEventStatus::Failed)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_lifecycle_event_already_completed_exception()
    );

    // Held in Ready with test traffic on green and production on blue.
    wait_status(&cloud, &id, "Ready", Duration::from_secs(20)).await;
    assert_eq!(green_share(&cloud.http, &stack.test_url, 20).await, 1.0);
    assert_eq!(
        green_share(&cloud.http, &stack.production_url, 20).await,
        0.0
    );
    let err = cloud
        .cd
        .continue_deployment()
        .deployment_id(&id)
        .deployment_wait_type(DeploymentWaitType::TerminationWait)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_deployment_is_not_in_ready_state_exception()
    );
    cloud
        .cd
        .continue_deployment()
        .deployment_id(&id)
        .deployment_wait_type(DeploymentWaitType::ReadyWait)
        .send()
        .await
        .unwrap();
    let info = wait_finished(&cloud, &id, Duration::from_secs(10)).await;
    assert_eq!(info.status(), Some(&DeploymentStatus::Succeeded));
    assert_eq!(
        green_share(&cloud.http, &stack.production_url, 20).await,
        1.0
    );
}

#[tokio::test]
async fn a_killed_local_cloud_keeps_production_serving_and_resumes_the_shift_after_restart() {
    let mut cloud = Cloud::start().await;
    let stack = Stack::create(&cloud, "crash", StackOptions::default()).await;
    let id = stack
        .deploy_green(
            &cloud,
            Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
            &[],
        )
        .await;
    // Mid-shift: some traffic on green, not all.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let share = green_share(&cloud.http, &stack.production_url, 20).await;
        if (0.2..0.8).contains(&share) {
            break;
        }
        assert!(Instant::now() < deadline, "never mid-shift");
    }
    let tasks = cloud.task_processes();
    let production = Sampler::start(&stack.production_url);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    cloud.kill().await;
    let dead = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cloud.restart().await;
    let restarted = Instant::now();
    assert_eq!(
        cloud.task_processes(),
        tasks,
        "the tasks run on, adopted, and none was started anew"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = production.stop().await;
    samples.assert_only_lost_while_down(killed, dead, restarted);

    let info = wait_finished(&cloud, &id, Duration::from_secs(40)).await;
    assert_eq!(
        info.status(),
        Some(&DeploymentStatus::Succeeded),
        "{info:?}"
    );
    stack.wait_until_serving(&cloud, "green").await;
    assert_eq!(
        green_share(&cloud.http, &stack.production_url, 50).await,
        1.0
    );
    let events = lifecycle_events(&cloud, &id, &stack).await;
    assert!(
        events
            .iter()
            .all(|e| e.status().map(|s| s.as_str()) == Some("Succeeded")),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_tasks_of_a_local_cloud_that_does_not_come_back_stop_themselves() {
    let mut cloud = Cloud::start_with(&["--task-orphan-grace", "1"]).await;
    let stack = Stack::create(&cloud, "orphans", StackOptions::default()).await;
    let tasks = cloud.task_processes();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    cloud.kill().await;
    let killed = Instant::now();
    let answer = cloud.http.get(&stack.production_url).send().await;
    assert!(answer.is_err(), "nothing listens on production any more");
    let deadline = killed + Duration::from_secs(10);
    while !cloud.task_processes().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the tasks {:?} outlived their grace",
            cloud.task_processes()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        killed.elapsed() >= Duration::from_secs(1),
        "the tasks waited for the grace"
    );
}

/// The lifecycle events of the deployment's ECS target.
async fn lifecycle_events(
    cloud: &Cloud,
    id: &str,
    stack: &Stack,
) -> Vec<aws_sdk_codedeploy::types::LifecycleEvent> {
    let target = cloud
        .cd
        .get_deployment_target()
        .deployment_id(id)
        .target_id(stack.target())
        .send()
        .await
        .unwrap();
    target
        .deployment_target()
        .unwrap()
        .ecs_target()
        .unwrap()
        .lifecycle_events()
        .to_vec()
}
