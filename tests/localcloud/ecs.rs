use crate::helpers::{Cloud, Stack, StackOptions, code, register};
use aws_sdk_ecs as ecs;

#[tokio::test]
async fn clusters_task_definitions_services_task_sets_and_tasks() {
    let cloud = Cloud::start().await;
    let stack = Stack::create(&cloud, "shop", StackOptions::default()).await;

    wait_running(&cloud, "shop", 2).await;
    let clusters = cloud.ecs.list_clusters().send().await.unwrap();
    assert_eq!(
        clusters.cluster_arns(),
        ["arn:aws:ecs:us-east-1:000000000000:cluster/shop"]
    );
    let described = cloud
        .ecs
        .describe_clusters()
        .clusters("shop")
        .clusters("nope")
        .send()
        .await
        .unwrap();
    let cluster = &described.clusters()[0];
    assert_eq!(cluster.cluster_name(), Some("shop"));
    assert_eq!(cluster.status(), Some("ACTIVE"));
    assert_eq!(cluster.active_services_count(), 1);
    assert_eq!(cluster.running_tasks_count(), 2);
    assert_eq!(described.failures()[0].reason(), Some("MISSING"));

    let td = cloud
        .ecs
        .describe_task_definition()
        .task_definition("shop")
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!((td.family(), td.revision()), (Some("shop"), 1));
    assert_eq!(
        td.container_definitions()[0].image(),
        Some(format!("static:{}", stack.blue_site.display()).as_str())
    );
    let second = register(&cloud, "shop", &stack.green_site).await;
    assert!(second.ends_with("task-definition/shop:2"));
    let listed = cloud
        .ecs
        .list_task_definitions()
        .family_prefix("shop")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.task_definition_arns().len(), 2);
    let gone = cloud
        .ecs
        .deregister_task_definition()
        .task_definition("shop:2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.task_definition.unwrap().status(),
        Some(&ecs::types::TaskDefinitionStatus::Inactive)
    );
    assert_eq!(
        cloud
            .ecs
            .list_task_definitions()
            .family_prefix("shop")
            .send()
            .await
            .unwrap()
            .task_definition_arns()
            .len(),
        1
    );

    let services = cloud
        .ecs
        .describe_services()
        .cluster("shop")
        .services("web")
        .send()
        .await
        .unwrap();
    let service = &services.services()[0];
    assert_eq!(
        service.deployment_controller().unwrap().r#type(),
        &ecs::types::DeploymentControllerType::CodeDeploy
    );
    assert_eq!((service.desired_count(), service.running_count()), (2, 2));
    assert_eq!(service.load_balancers()[0].container_name(), Some("web"));
    let task_sets = service.task_sets();
    assert_eq!(task_sets.len(), 1);
    assert_eq!(task_sets[0].status(), Some("PRIMARY"));
    assert_eq!(
        task_sets[0].stability_status(),
        Some(&ecs::types::StabilityStatus::SteadyState)
    );
    assert_eq!(
        cloud
            .ecs
            .list_services()
            .cluster("shop")
            .send()
            .await
            .unwrap()
            .service_arns()
            .len(),
        1
    );

    let sets = cloud
        .ecs
        .describe_task_sets()
        .cluster("shop")
        .service("web")
        .send()
        .await
        .unwrap();
    assert_eq!(sets.task_sets()[0].computed_desired_count(), 2);
    assert_eq!(sets.task_sets()[0].scale().unwrap().value(), 100.0);

    let tasks = cloud
        .ecs
        .list_tasks()
        .cluster("shop")
        .service_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.task_arns().len(), 2);
    let described = cloud
        .ecs
        .describe_tasks()
        .cluster("shop")
        .set_tasks(Some(tasks.task_arns().to_vec()))
        .send()
        .await
        .unwrap();
    for task in described.tasks() {
        assert_eq!(task.last_status(), Some("RUNNING"));
        assert_eq!(
            task.health_status(),
            Some(&ecs::types::HealthStatus::Healthy)
        );
        assert_eq!(task.group(), Some("service:web"));
        let port = task.containers()[0].network_bindings()[0]
            .host_port()
            .unwrap();
        let body = cloud
            .http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("blue"), "each task really serves the site");
    }

    // Scale out through UpdateService: three tasks, all behind the listener.
    cloud
        .ecs
        .update_service()
        .cluster("shop")
        .service("web")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    wait_running(&cloud, "shop", 3).await;
}

/// Waits until the service's tasks are all running (healthy).
async fn wait_running(cloud: &Cloud, cluster: &str, count: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let svc = cloud
            .ecs
            .describe_services()
            .cluster(cluster)
            .services("web")
            .send()
            .await
            .unwrap();
        if svc.services()[0].running_count() == count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {count} running tasks"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ecs_errors_are_typed() {
    let cloud = Cloud::start().await;
    let stack = Stack::create(
        &cloud,
        "errs",
        StackOptions {
            desired: 1,
            ..Default::default()
        },
    )
    .await;

    let err = cloud
        .ecs
        .describe_services()
        .cluster("nope")
        .services("web")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_cluster_not_found_exception());
    let err = cloud
        .ecs
        .describe_task_sets()
        .cluster("errs")
        .service("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(err), "ServiceNotFoundException");
    let err = cloud
        .ecs
        .describe_task_definition()
        .task_definition("ghost:7")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_client_exception());
    let err = cloud
        .ecs
        .update_service()
        .cluster("errs")
        .service("web")
        .task_definition("errs")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_invalid_parameter_exception());
    assert!(err.to_string().contains("CODE_DEPLOY") || format!("{err:?}").contains("CODE_DEPLOY"));
    let err = cloud
        .ecs
        .delete_cluster()
        .cluster("errs")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(err), "ClusterContainsServicesException");
    let err = cloud
        .ecs
        .register_task_definition()
        .family("bad family")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(err), "InvalidParameterException");
    let err = cloud
        .ecs
        .delete_service()
        .cluster("errs")
        .service("web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(err),
        "InvalidParameterException",
        "still scaled above 0"
    );

    // Deleting works once scaled in, and the cluster can go after its service.
    cloud
        .ecs
        .delete_service()
        .cluster("errs")
        .service("web")
        .force(true)
        .send()
        .await
        .unwrap();
    cloud
        .ecs
        .delete_cluster()
        .cluster("errs")
        .send()
        .await
        .unwrap();
    let _ = stack;
}

/// Waits until the service deployment has ended; its status.
async fn service_deployment_end(cloud: &Cloud, arn: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let described = cloud
            .ecs
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .unwrap();
        let status = described.service_deployments()[0]
            .status()
            .unwrap()
            .as_str()
            .to_owned();
        if !matches!(
            status.as_str(),
            "PENDING"
                | "IN_PROGRESS"
                | "ROLLBACK_REQUESTED"
                | "ROLLBACK_IN_PROGRESS"
                | "STOP_REQUESTED"
        ) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "{arn} still {status}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_codedeploy_service_moves_to_ecs_own_controller_without_a_failed_request() {
    use ecs::types::{
        AdvancedConfiguration, DeploymentConfiguration, DeploymentController,
        DeploymentControllerType, DeploymentStrategy, LoadBalancer,
    };
    let cloud = Cloud::start().await;
    let stack = Stack::create(&cloud, "move", StackOptions::default()).await;
    // After a CodeDeploy deployment production is on the second target group.
    let id = stack.deploy_green(&cloud, None, &[]).await;
    crate::helpers::wait_finished(&cloud, &id, std::time::Duration::from_secs(40)).await;
    stack.wait_until_serving(&cloud, "green").await;
    let (status, lb) = cloud
        .internal(
            reqwest::Method::GET,
            "/_localcloud/load-balancers/move",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{lb}");
    let target_group = |i: usize| lb["target_groups"][i]["arn"].as_str().unwrap().to_owned();
    let routed = |serving: String, alternate: String| {
        LoadBalancer::builder()
            .target_group_arn(serving)
            .container_name("web")
            .container_port(80)
            .advanced_configuration(
                AdvancedConfiguration::builder()
                    .alternate_target_group_arn(alternate)
                    .production_listener_rule(lb["production_listener_rule_arn"].as_str().unwrap())
                    .test_listener_rule(lb["test_listener_rule_arn"].as_str().unwrap())
                    .role_arn("arn:aws:iam::000000000000:role/ecs-infrastructure")
                    .build(),
            )
            .build()
    };
    let move_to_ecs = |serving: String, alternate: String| {
        cloud
            .ecs
            .update_service()
            .cluster("move")
            .service("web")
            .deployment_controller(
                DeploymentController::builder()
                    .r#type(DeploymentControllerType::Ecs)
                    .build()
                    .unwrap(),
            )
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .strategy(DeploymentStrategy::BlueGreen)
                    .bake_time_in_minutes(0)
                    .build(),
            )
            .load_balancers(routed(serving, alternate))
    };

    // Onto the target group that does not serve: refused, nothing changed.
    let wrong = move_to_ecs(target_group(0), target_group(1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(wrong.into_service_error()),
        "InvalidParameterException"
    );
    let green_td = register(&cloud, "move", &stack.green_site).await;
    let together = move_to_ecs(target_group(1), target_group(0))
        .task_definition(&green_td)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(together.into_service_error()),
        "InvalidParameterException"
    );

    let production = crate::sampler::Sampler::start(&stack.production_url);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let moved = move_to_ecs(target_group(1), target_group(0))
        .send()
        .await
        .unwrap();
    let service = moved.service().unwrap();
    assert_eq!(
        service.deployment_controller().unwrap().r#type(),
        &DeploymentControllerType::Ecs
    );
    assert!(
        service.current_service_deployment().is_some(),
        "{service:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // The first native deployment puts the blue site back, all at once.
    let blue_td = register(&cloud, "move", &stack.blue_site).await;
    let deployed = cloud
        .ecs
        .update_service()
        .cluster("move")
        .service("web")
        .task_definition(&blue_td)
        .send()
        .await
        .unwrap();
    let arn = deployed
        .service()
        .unwrap()
        .current_service_deployment()
        .unwrap()
        .to_owned();
    assert_eq!(service_deployment_end(&cloud, &arn).await, "SUCCESSFUL");
    stack.wait_until_serving(&cloud, "blue").await;
    let samples = production.stop().await;
    let failed: Vec<_> = samples
        .0
        .iter()
        .filter(|s| !matches!(s.outcome, switchyard_loadgen::sampler::Outcome::Served(_)))
        .collect();
    assert!(
        failed.is_empty() && samples.0.len() > 20,
        "{} of {} requests failed: {:?}",
        failed.len(),
        samples.0.len(),
        failed
            .iter()
            .take(3)
            .map(|s| &s.outcome)
            .collect::<Vec<_>>()
    );
    // Back to CodeDeploy is refused: the local cloud moves services one way.
    let back = cloud
        .ecs
        .update_service()
        .cluster("move")
        .service("web")
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::CodeDeploy)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(back.into_service_error()), "InvalidParameterException");
}
