//! The local cloud's ECR, over its awsJson1_1 wire. The control plane has no
//! ECR client (on AWS, Terraform makes the repository and CodeBuild pushes),
//! so the local provisioner and the demo call these few operations directly.

use anyhow::Context;
use serde_json::Value;

/// An ECR error: its code (e.g. `RepositoryAlreadyExistsException`) and message.
pub type EcrError = (String, String);

/// `operation` with `body` on the local cloud at `endpoint`; an AWS error
/// comes back as `Ok(Err(..))`, a failed request as `Err`.
pub async fn call(
    http: &reqwest::Client,
    endpoint: &str,
    operation: &str,
    body: Value,
) -> anyhow::Result<Result<Value, EcrError>> {
    let response = http
        .post(format!("{}/", endpoint.trim_end_matches('/')))
        .header(
            "x-amz-target",
            format!("AmazonEC2ContainerRegistry_V20150921.{operation}"),
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("ECR {operation} on the local cloud at {endpoint}"))?;
    let ok = response.status().is_success();
    let answer: Value = response.json().await.unwrap_or_default();
    if ok {
        return Ok(Ok(answer));
    }
    let code = answer["__type"].as_str().unwrap_or("UnknownError");
    let code = code.rsplit('#').next().unwrap_or(code).to_owned();
    let message = answer["message"].as_str().unwrap_or_default().to_owned();
    Ok(Err((code, message)))
}
