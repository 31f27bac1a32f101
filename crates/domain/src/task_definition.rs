//! The parts of an ECS task definition a release changes, as ECS spells
//! them (DescribeTaskDefinition's `taskDefinition`): what a diff compares.
//! Fields ECS has that a release does not change (roles, network mode,
//! log configuration) are left out and ignored when parsing.

use crate::Invalid;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    /// Task-level CPU units and memory (MiB), as ECS's strings ("256", "0.5 vCPU").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default)]
    pub container_definitions: Vec<ContainerDefinition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub environment: Vec<EnvironmentVariable>,
    /// Where each secret comes from (an ARN), never its value.
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub entry_point: Vec<String>,
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvironmentVariable {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub name: String,
    pub value_from: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthCheck {
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i32>,
}

/// What CodeDeployToECS replaces with the image of `Image1ArtifactName`.
pub const IMAGE_PLACEHOLDER: &str = "<IMAGE1_NAME>";

impl TaskDefinition {
    /// Reads DescribeTaskDefinition's `taskDefinition` object (or a
    /// RegisterTaskDefinition input). Container names must be present and
    /// distinct: the diff pairs containers by name.
    pub fn parse(json: &str) -> Result<TaskDefinition, Invalid> {
        let parsed: TaskDefinition = serde_json::from_str(json)
            .map_err(|e| Invalid::new(format!("not an ECS task definition: {e}")))?;
        parsed.checked()
    }

    /// The same, from a JSON value already read.
    pub fn from_value(value: serde_json::Value) -> Result<TaskDefinition, Invalid> {
        let parsed: TaskDefinition = serde_json::from_value(value)
            .map_err(|e| Invalid::new(format!("not an ECS task definition: {e}")))?;
        parsed.checked()
    }

    /// A task definition template as a pipeline's CodeDeployToECS action
    /// registers it: `<IMAGE1_NAME>` replaced by the build's image.
    pub fn from_template(template: &str, image: &str) -> Result<TaskDefinition, Invalid> {
        Self::parse(&template.replace(IMAGE_PLACEHOLDER, image))
    }

    fn checked(self) -> Result<TaskDefinition, Invalid> {
        let mut names = std::collections::HashSet::new();
        for container in &self.container_definitions {
            if container.name.is_empty() {
                return Err(Invalid::new("a container definition has no name"));
            }
            if !names.insert(container.name.as_str()) {
                return Err(Invalid::new(format!(
                    "two container definitions are named {}",
                    container.name
                )));
            }
        }
        Ok(self)
    }

    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }
}

/// An image reference split as a registry reads it:
/// `repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageParts {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageParts {
    pub fn split(image: &str) -> ImageParts {
        let (named, digest) = match image.split_once('@') {
            Some((named, digest)) => (named, Some(digest.to_owned())),
            None => (image, None),
        };
        // A colon after the last slash starts the tag; one before it is a
        // registry's port.
        let name_start = named.rfind('/').map_or(0, |slash| slash + 1);
        match named[name_start..].rfind(':') {
            Some(colon) => ImageParts {
                repository: named[..name_start + colon].to_owned(),
                tag: Some(named[name_start + colon + 1..].to_owned()),
                digest,
            },
            None => ImageParts {
                repository: named.to_owned(),
                tag: None,
                digest,
            },
        }
    }
}

impl std::fmt::Display for ImageParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_gets_the_build_s_image_where_codedeploy_puts_it() {
        let td = TaskDefinition::from_template(
            r#"{"containerDefinitions":[{"name":"web","image":"<IMAGE1_NAME>"}]}"#,
            "123.dkr.ecr.eu-west-1.amazonaws.com/shop:abc",
        )
        .unwrap();
        assert_eq!(
            td.container("web").unwrap().image,
            "123.dkr.ecr.eu-west-1.amazonaws.com/shop:abc"
        );
        assert!(TaskDefinition::from_template("{", "x").is_err());
    }

    #[test]
    fn parses_what_describe_task_definition_answers_ignoring_the_rest() {
        let td = TaskDefinition::parse(
            r#"{"family":"shop","cpu":"256","memory":"512","networkMode":"awsvpc",
                "containerDefinitions":[{"name":"web","image":"nginx:1.25",
                "environment":[{"name":"A","value":"1"}],
                "secrets":[{"name":"DB","valueFrom":"arn:aws:ssm:us-east-1:0:parameter/db"}],
                "portMappings":[{"containerPort":80,"protocol":"tcp"}],
                "healthCheck":{"command":["CMD","true"],"interval":5},"essential":true,
                "logConfiguration":{"logDriver":"awslogs"}}]}"#,
        )
        .unwrap();
        assert_eq!(td.cpu.as_deref(), Some("256"));
        let web = td.container("web").unwrap();
        assert_eq!(web.environment[0].value, "1");
        assert_eq!(web.secrets[0].name, "DB");
        assert_eq!(web.port_mappings[0].container_port, Some(80));
        assert_eq!(web.health_check.as_ref().unwrap().interval, Some(5));
    }

    #[test]
    fn refuses_unnamed_and_doubled_containers() {
        assert!(TaskDefinition::parse(r#"{"containerDefinitions":[{"name":""}]}"#).is_err());
        let doubled =
            TaskDefinition::parse(r#"{"containerDefinitions":[{"name":"web"},{"name":"web"}]}"#);
        assert!(doubled.unwrap_err().0.contains("two container definitions"));
        assert!(TaskDefinition::parse("42").is_err());
    }

    #[test]
    fn splits_images_with_registry_ports_tags_and_digests() {
        let full = ImageParts::split("localhost:5000/team/web:1.2@sha256:abc");
        assert_eq!(full.repository, "localhost:5000/team/web");
        assert_eq!(full.tag.as_deref(), Some("1.2"));
        assert_eq!(full.digest.as_deref(), Some("sha256:abc"));
        let bare = ImageParts::split("localhost:5000/web");
        assert_eq!(
            (bare.repository.as_str(), bare.tag),
            ("localhost:5000/web", None)
        );
        assert_eq!(
            ImageParts::split("nginx@sha256:def").to_string(),
            "nginx@sha256:def"
        );
    }
}
