//! The only code that talks to AWS: the ECS, CodeDeploy, CodePipeline and
//! CloudWatch clients, built from aws-config (CodeDeploy deployments in
//! `deployments`, ECS-native ones in `service_deployments`, the alarms that
//! guard both and the metrics they watch in `alarms` and `metrics`). Real AWS and the local cloud
//! take the same path; only the endpoint and credentials differ.

pub mod alarms;
pub mod check;
pub mod deployments;
pub mod local_ecr;
pub mod metrics;
pub mod pipelines;
pub mod service_deployments;
pub mod task_definitions;
pub mod tasks;

use aws_config::{BehaviorVersion, Region};

/// AWS clients for one environment.
#[derive(Debug, Clone)]
pub struct Cloud {
    pub ecs: aws_sdk_ecs::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

/// The region the control plane asks the local cloud for (it answers in
/// one region only; its own constant says which).
pub const LOCAL_REGION: &str = "us-east-1";
/// The account the local cloud's ARNs carry.
pub const LOCAL_ACCOUNT: &str = "000000000000";

impl Cloud {
    /// Clients for the local cloud at `endpoint`. It checks no signatures,
    /// so fixed credentials do; nothing is read from the user's AWS setup.
    pub async fn local(endpoint: &str) -> Cloud {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(LOCAL_REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "switchyard-local-cloud",
            ))
            .load()
            .await;
        Cloud::from_config(&config)
    }

    /// Clients for AWS, or for whatever answers in its stead at `endpoint`
    /// (an emulator such as moto in tests). A named profile supplies the
    /// credentials even when the server's environment has keys of its own.
    pub async fn aws_at(region: &str, profile: Option<&str>, endpoint: Option<&str>) -> Cloud {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
        if let Some(profile) = profile {
            loader = loader.profile_name(profile).credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(profile)
                    .build(),
            );
        }
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        Cloud::from_config(&loader.load().await)
    }

    fn from_config(config: &aws_config::SdkConfig) -> Cloud {
        Cloud {
            ecs: aws_sdk_ecs::Client::new(config),
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            codepipeline: aws_sdk_codepipeline::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

/// An SDK error as one line: the AWS error code and message when there is
/// one, else the transport failure.
pub fn describe<E, R>(error: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ecs::error::ProvideErrorMetadata;
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    }
}
