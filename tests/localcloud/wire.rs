use crate::helpers::Cloud;

async fn post(cloud: &Cloud, target: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let mut request = cloud
        .http
        .post(&cloud.endpoint)
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_owned());
    if let Some(target) = target {
        request = request.header("x-amz-target", target);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn protocol_errors_are_aws_shaped_never_500() {
    let cloud = Cloud::start().await;
    let cases = [
        (
            Some("CodeDeploy_20141006.LaunchRockets"),
            "{}",
            "UnknownOperationException",
        ),
        (
            Some("AmazonEC2ContainerServiceV20141113.Nope"),
            "{}",
            "UnknownOperationException",
        ),
        (
            Some("Route53_20130401.ListHostedZones"),
            "{}",
            "UnknownOperationException",
        ),
        (None, "{}", "UnknownOperationException"),
        (
            Some("CodeDeploy_20141006.GetApplication"),
            "{not json",
            "SerializationException",
        ),
        (
            Some("CodeDeploy_20141006.GetApplication"),
            "[1, 2]",
            "SerializationException",
        ),
        (
            Some("CodeDeploy_20141006.GetApplication"),
            r#"{"applicationName": 5}"#,
            "SerializationException",
        ),
        (
            Some("AmazonEC2ContainerServiceV20141113.CreateService"),
            r#"{"serviceName": ["x"]}"#,
            "SerializationException",
        ),
        (
            Some("CodeDeploy_20141006.GetApplication"),
            "{}",
            "ApplicationNameRequiredException",
        ),
    ];
    for (target, body, expected) in cases {
        let (status, answer) = post(&cloud, target, body).await;
        assert_eq!(status, 400, "{target:?} {body}");
        assert_eq!(answer["__type"], expected, "{target:?} {body}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // An empty body is an empty input, as the SDKs send it.
    let (status, answer) = post(&cloud, Some("CodeDeploy_20141006.ListApplications"), "").await;
    assert_eq!(
        (status, answer),
        (200, serde_json::json!({"applications": []}))
    );
}

#[tokio::test]
async fn oversized_bodies_get_an_aws_error_not_a_text_page() {
    let cloud = Cloud::start().await;
    let huge = format!(
        r#"{{"applicationName": "{}"}}"#,
        "a".repeat(3 * 1024 * 1024)
    );
    let (status, answer) = post(&cloud, Some("CodeDeploy_20141006.GetApplication"), &huge).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["__type"], "RequestEntityTooLargeException");
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn page_sizes_and_list_lengths_outside_the_model_are_refused_not_clamped() {
    let cloud = Cloud::start().await;
    let (status, _) = post(
        &cloud,
        Some("AmazonEC2ContainerServiceV20141113.CreateCluster"),
        r#"{"clusterName": "default"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let names = |n: usize| {
        serde_json::to_string(&(0..n).map(|i| format!("s{i}")).collect::<Vec<_>>()).unwrap()
    };
    let refused = [
        (
            "AmazonEC2ContainerServiceV20141113.ListClusters",
            r#"{"maxResults": 0}"#.to_owned(),
            "InvalidParameterException",
        ),
        (
            "AmazonEC2ContainerServiceV20141113.ListServices",
            r#"{"maxResults": 101}"#.to_owned(),
            "InvalidParameterException",
        ),
        (
            "AmazonEC2ContainerServiceV20141113.ListTasks",
            r#"{"maxResults": -1}"#.to_owned(),
            "InvalidParameterException",
        ),
        (
            "AmazonEC2ContainerServiceV20141113.ListTaskDefinitions",
            r#"{"maxResults": 1000}"#.to_owned(),
            "InvalidParameterException",
        ),
        (
            "AmazonEC2ContainerServiceV20141113.DescribeServices",
            format!(r#"{{"services": {}}}"#, names(11)),
            "InvalidParameterException",
        ),
        (
            "AmazonEC2ContainerServiceV20141113.DescribeTasks",
            format!(r#"{{"tasks": {}}}"#, names(101)),
            "InvalidParameterException",
        ),
        (
            "AmazonEC2ContainerServiceV20141113.DescribeClusters",
            format!(r#"{{"clusters": {}}}"#, names(101)),
            "InvalidParameterException",
        ),
        (
            "CodePipeline_20150709.ListPipelines",
            r#"{"maxResults": 1001}"#.to_owned(),
            "ValidationException",
        ),
        (
            "CodePipeline_20150709.ListPipelineExecutions",
            r#"{"pipelineName": "p", "maxResults": 0}"#.to_owned(),
            "ValidationException",
        ),
        (
            "CodeDeploy_20141006.BatchGetDeployments",
            format!(r#"{{"deploymentIds": {}}}"#, names(26)),
            "BatchLimitExceededException",
        ),
    ];
    for (target, body, expected) in refused {
        let (status, answer) = post(&cloud, Some(target), &body).await;
        assert_eq!(
            (status, answer["__type"].as_str()),
            (400, Some(expected)),
            "{target} {answer}"
        );
    }
    // The edges of the ranges are fine.
    let accepted = [
        (
            "AmazonEC2ContainerServiceV20141113.ListClusters",
            r#"{"maxResults": 100}"#.to_owned(),
        ),
        (
            "AmazonEC2ContainerServiceV20141113.ListServices",
            r#"{"maxResults": 1}"#.to_owned(),
        ),
        (
            "AmazonEC2ContainerServiceV20141113.DescribeServices",
            format!(r#"{{"services": {}}}"#, names(10)),
        ),
        (
            "CodePipeline_20150709.ListPipelines",
            r#"{"maxResults": 1000}"#.to_owned(),
        ),
    ];
    for (target, body) in accepted {
        let (status, answer) = post(&cloud, Some(target), &body).await;
        assert_eq!(status, 200, "{target} {answer}");
    }
}

#[tokio::test]
async fn internal_api_validates_load_balancers_and_functions() {
    let cloud = Cloud::start().await;
    let post = reqwest::Method::POST;
    let (status, body) = cloud
        .internal(
            post.clone(),
            "/_localcloud/load-balancers",
            serde_json::json!({"name": "x", "target_groups": [{"name": "a"}]}),
        )
        .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ValidationError"))
    );
    let (status, _) = cloud
        .internal(post.clone(), "/_localcloud/load-balancers", serde_json::json!({"name": "lb", "target_groups": [{"name": "a"}, {"name": "b", "health_check_path": "/health"}]}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = cloud
        .internal(
            post,
            "/_localcloud/load-balancers",
            serde_json::json!({"name": "lb", "target_groups": [{"name": "c"}, {"name": "d"}]}),
        )
        .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("DuplicateLoadBalancerNameException"))
    );
    let (status, body) = cloud
        .internal(
            reqwest::Method::GET,
            "/_localcloud/load-balancers/lb",
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["target_groups"][1]["health_check_path"], "/health");
    // Nothing serves yet: the listener answers 503 like an ALB without healthy targets.
    let response = cloud
        .http
        .get(body["production_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let (status, _) = cloud
        .internal(
            reqwest::Method::PUT,
            "/_localcloud/functions/f",
            serde_json::json!({"command": []}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = cloud
        .internal(
            reqwest::Method::DELETE,
            "/_localcloud/load-balancers/lb",
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, 204);
}

/// SDKs reuse connections: a request refused before its body was read leaves
/// the connection usable for the next call, or says `Connection: close`.
#[tokio::test]
async fn after_an_early_refusal_of_a_body_the_connection_takes_the_next_call() {
    use crate::raw_http::{Connection, Framing, Request};
    let cloud = Cloud::start().await;
    let aws = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "CodeDeploy_20141006.GetApplication"),
    ];
    // Over the endpoint's 2 MiB by less than what the server reads away.
    let over_the_limit = vec![b' '; 2 * 1024 * 1024 + 200 * 1024];
    let small = vec![b' '; 200 * 1024];
    let refusals = [
        (
            "over the body limit",
            413,
            Request::new("POST", "/", &aws),
            &over_the_limit,
        ),
        (
            "no such path",
            404,
            Request::new("POST", "/nowhere", &aws),
            &small,
        ),
        (
            "a method the path does not take",
            405,
            Request::new("PUT", "/", &aws),
            &small,
        ),
    ];
    for framing in [Framing::ContentLength, Framing::Chunked] {
        for (what, status, request, body) in &refusals {
            let mut connection = Connection::open(&cloud.endpoint).await;
            connection.send(&request.with_body(body, framing)).await;
            let refused = connection
                .response()
                .await
                .unwrap_or_else(|| panic!("{what} ({framing:?}): no answer"));
            assert_eq!(refused.status, *status, "{what} ({framing:?})");
            assert!(!refused.closes(), "{what} ({framing:?})");
            let health = Request::new("GET", "/_localcloud/healthz", &[]);
            connection.send(&health.bare()).await;
            let next = connection.response().await.unwrap_or_else(|| {
                panic!("{what} ({framing:?}): the connection was dropped after the refusal")
            });
            assert_eq!(next.status, 200, "{what} ({framing:?})");
        }
    }
    // Far over the limit: refused, said so, and closed.
    let mut connection = Connection::open(&cloud.endpoint).await;
    let sent = vec![b' '; 2 * 1024 * 1024 + 1];
    let request = Request::new("POST", "/", &aws);
    connection
        .send(&request.with_declared_length(64 << 20, &sent))
        .await;
    let refused = connection.response().await.expect("an answer");
    assert_eq!(refused.status, 413);
    assert!(refused.closes(), "{:?}", refused.headers);
    assert!(connection.closed_by_server().await);
}
