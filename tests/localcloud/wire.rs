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
