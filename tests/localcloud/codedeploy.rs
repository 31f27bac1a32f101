use crate::helpers::{Cloud, Stack, StackOptions, code, register, revision};
use aws_sdk_codedeploy::types::{
    ComputePlatform, TimeBasedCanary, TimeBasedLinear, TrafficRoutingConfig, TrafficRoutingType,
};

#[tokio::test]
async fn applications_groups_and_configs() {
    let cloud = Cloud::start().await;
    let stack = Stack::create(&cloud, "crud", StackOptions::default()).await;

    let app = cloud
        .cd
        .get_application()
        .application_name("crud")
        .send()
        .await
        .unwrap()
        .application
        .unwrap();
    assert_eq!(app.compute_platform(), Some(&ComputePlatform::Ecs));
    assert_eq!(
        cloud
            .cd
            .list_applications()
            .send()
            .await
            .unwrap()
            .applications(),
        ["crud"]
    );
    let groups = cloud
        .cd
        .list_deployment_groups()
        .application_name("crud")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.deployment_groups(), ["crud-dg"]);

    let group = cloud
        .cd
        .get_deployment_group()
        .application_name("crud")
        .deployment_group_name("crud-dg")
        .send()
        .await
        .unwrap();
    let info = group.deployment_group_info.unwrap();
    assert_eq!(
        info.deployment_config_name(),
        Some("CodeDeployDefault.ECSAllAtOnce")
    );
    assert_eq!(info.ecs_services()[0].service_name(), Some("web"));
    let pair = &info
        .load_balancer_info()
        .unwrap()
        .target_group_pair_info_list()[0];
    assert_eq!(pair.target_groups().len(), 2);
    assert_eq!(
        pair.prod_traffic_route().unwrap().listener_arns(),
        [stack.production_listener.as_str()]
    );
    assert_eq!(
        pair.test_traffic_route().unwrap().listener_arns(),
        [stack.test_listener.as_str()]
    );
    assert!(info.auto_rollback_configuration().unwrap().enabled());

    cloud
        .cd
        .update_deployment_group()
        .application_name("crud")
        .current_deployment_group_name("crud-dg")
        .deployment_config_name("CodeDeployDefault.ECSCanary10Percent5Minutes")
        .send()
        .await
        .unwrap();
    let info = cloud
        .cd
        .get_deployment_group()
        .application_name("crud")
        .deployment_group_name("crud-dg")
        .send()
        .await
        .unwrap()
        .deployment_group_info
        .unwrap();
    assert_eq!(
        info.deployment_config_name(),
        Some("CodeDeployDefault.ECSCanary10Percent5Minutes")
    );

    // The five predefined ECS configs, with their routing.
    let configs = cloud.cd.list_deployment_configs().send().await.unwrap();
    for name in [
        "CodeDeployDefault.ECSAllAtOnce",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
    ] {
        assert!(
            configs.deployment_configs_list().iter().any(|c| c == name),
            "{name}"
        );
    }
    let linear = cloud
        .cd
        .get_deployment_config()
        .deployment_config_name("CodeDeployDefault.ECSLinear10PercentEvery3Minutes")
        .send()
        .await
        .unwrap();
    let routing = linear
        .deployment_config_info
        .unwrap()
        .traffic_routing_config
        .unwrap();
    assert_eq!(routing.r#type(), Some(&TrafficRoutingType::TimeBasedLinear));
    assert_eq!(routing.time_based_linear().unwrap().linear_interval(), 3);

    let canary = TrafficRoutingConfig::builder()
        .r#type(TrafficRoutingType::TimeBasedCanary)
        .time_based_canary(
            TimeBasedCanary::builder()
                .canary_percentage(25)
                .canary_interval(2)
                .build(),
        )
        .build();
    cloud
        .cd
        .create_deployment_config()
        .deployment_config_name("canary-25")
        .compute_platform(ComputePlatform::Ecs)
        .traffic_routing_config(canary.clone())
        .send()
        .await
        .unwrap();
    let got = cloud
        .cd
        .get_deployment_config()
        .deployment_config_name("canary-25")
        .send()
        .await
        .unwrap()
        .deployment_config_info
        .unwrap();
    assert_eq!(
        got.traffic_routing_config()
            .unwrap()
            .time_based_canary()
            .unwrap()
            .canary_percentage(),
        25
    );
    let err = cloud
        .cd
        .create_deployment_config()
        .deployment_config_name("canary-25")
        .compute_platform(ComputePlatform::Ecs)
        .traffic_routing_config(canary)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_deployment_config_already_exists_exception()
    );
    for percentage in [0, 100] {
        let bad = TrafficRoutingConfig::builder()
            .r#type(TrafficRoutingType::TimeBasedLinear)
            .time_based_linear(
                TimeBasedLinear::builder()
                    .linear_percentage(percentage)
                    .linear_interval(1)
                    .build(),
            )
            .build();
        let err = cloud
            .cd
            .create_deployment_config()
            .deployment_config_name("bad")
            .compute_platform(ComputePlatform::Ecs)
            .traffic_routing_config(bad)
            .send()
            .await
            .unwrap_err();
        assert!(
            err.into_service_error()
                .is_invalid_traffic_routing_configuration_exception(),
            "{percentage}%"
        );
    }
    cloud
        .cd
        .delete_deployment_config()
        .deployment_config_name("canary-25")
        .send()
        .await
        .unwrap();
    let err = cloud
        .cd
        .get_deployment_config()
        .deployment_config_name("canary-25")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_deployment_config_does_not_exist_exception()
    );

    cloud
        .cd
        .delete_deployment_group()
        .application_name("crud")
        .deployment_group_name("crud-dg")
        .send()
        .await
        .unwrap();
    cloud
        .cd
        .delete_application()
        .application_name("crud")
        .send()
        .await
        .unwrap();
    assert!(
        cloud
            .cd
            .list_applications()
            .send()
            .await
            .unwrap()
            .applications()
            .is_empty()
    );
}

#[tokio::test]
async fn codedeploy_errors_are_typed() {
    let cloud = Cloud::start().await;
    let stack = Stack::create(&cloud, "oops", StackOptions::default()).await;

    let err = cloud
        .cd
        .create_application()
        .application_name("oops")
        .compute_platform(ComputePlatform::Ecs)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_application_already_exists_exception()
    );
    let err = cloud
        .cd
        .get_application()
        .application_name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_application_does_not_exist_exception()
    );
    let err = cloud
        .cd
        .get_deployment_group()
        .application_name("oops")
        .deployment_group_name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_deployment_group_does_not_exist_exception()
    );
    let err = cloud
        .cd
        .get_deployment()
        .deployment_id("d-ABCDEFGHI")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_deployment_does_not_exist_exception()
    );
    let err = cloud
        .cd
        .get_deployment()
        .deployment_id("not-an-id")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_invalid_deployment_id_exception()
    );
    let err = cloud
        .cd
        .stop_deployment()
        .deployment_id("d-ABCDEFGHI")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(err), "DeploymentDoesNotExistException");

    // A service with the ECS controller cannot be in a blue/green group.
    register(&cloud, "rolling", &stack.blue_site).await;
    cloud
        .ecs
        .create_service()
        .cluster("oops")
        .service_name("rolling")
        .task_definition("rolling")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    let err = cloud
        .cd
        .create_deployment_group()
        .application_name("oops")
        .deployment_group_name("rolling-dg")
        .service_role_arn("arn:aws:iam::000000000000:role/cd")
        .ecs_services(
            aws_sdk_codedeploy::types::EcsService::builder()
                .service_name("rolling")
                .cluster_name("oops")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_ecs_service_exception());

    // Invalid AppSpecs are refused at once, naming what is wrong.
    let td = register(&cloud, "oops", &stack.green_site).await;
    for (content, why) in [
        ("{not yaml: [", "not valid"),
        ("version: 0.0\nResources: []\n", "AWS::ECS::Service"),
        (&Stack::appspec("oops:99", &[]) as &str, "does not exist"),
        (&Stack::appspec(&td, &[("Install", "fn")]), "takes a hook"),
    ] {
        let err = cloud
            .cd
            .create_deployment()
            .application_name("oops")
            .deployment_group_name("oops-dg")
            .revision(revision(content))
            .send()
            .await
            .unwrap_err();
        let err = err.into_service_error();
        assert!(err.is_invalid_revision_exception(), "{content}: {err:?}");
        assert!(format!("{err:?}").contains(why), "{content}: {err:?}");
    }
    let err = cloud
        .cd
        .create_deployment()
        .application_name("oops")
        .deployment_group_name("oops-dg")
        .revision(revision(&Stack::appspec(&td, &[])))
        .deployment_config_name("NoSuchConfig")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_deployment_config_does_not_exist_exception()
    );
    // Nothing was started by any of them.
    let listed = cloud
        .cd
        .list_deployments()
        .application_name("oops")
        .send()
        .await
        .unwrap();
    assert!(listed.deployments().is_empty());
}
