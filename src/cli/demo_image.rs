//! The demo's container images: the sample app's Dockerfile and nginx.conf
//! with the blue or the green page as index.html, built on the engine
//! through its API (the build context is a tar made in memory, so no docker
//! CLI is needed) and pushed to the environment's local ECR repository.

use super::client::CliError;
use crate::sample_app;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptionsBuilder, PushImageOptionsBuilder};
use futures_util::StreamExt;
use localcloud::tasks::ContainerEngine;

/// A login for the local ECR, from its GetAuthorizationToken.
pub struct RegistryLogin {
    /// host:port, as the repository URI starts.
    registry: String,
    username: String,
    password: String,
}

impl RegistryLogin {
    /// Asks the local cloud behind `repository_uri`'s registry host (the
    /// local ECR's registry is the local cloud's own address).
    pub async fn for_repository(
        http: &reqwest::Client,
        repository_uri: &str,
    ) -> Result<RegistryLogin, CliError> {
        let registry = repository_uri
            .split_once('/')
            .map(|(host, _)| host.to_owned())
            .ok_or_else(|| {
                CliError::Deployment(format!(
                    "the stack's repository_uri {repository_uri:?} names no registry host"
                ))
            })?;
        // ECR's own JSON protocol, not switchyard's API: no shared types for it.
        let answer = switchyard_core::cloud::local_ecr::call(
            http,
            &format!("http://{registry}"),
            "GetAuthorizationToken",
            serde_json::json!({}),
        )
        .await
        .map_err(|e| CliError::Unreachable(format!("the local ECR at {registry}: {e:#}")))?
        .map_err(|(code, message)| {
            CliError::Deployment(format!(
                "the local ECR gave no authorization token: {code}: {message}"
            ))
        })?;
        let token = answer["authorizationData"][0]["authorizationToken"]
            .as_str()
            .ok_or_else(|| {
                CliError::Deployment(format!(
                    "the local ECR gave no authorization token: {answer}"
                ))
            })?;
        // "AWS:<password>", base64, as ECR's tokens are.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some((username, password)) = decoded.as_deref().and_then(|t| t.split_once(':')) else {
            return Err(CliError::Deployment(
                "the local ECR's authorization token is not base64 of user:password".into(),
            ));
        };
        Ok(RegistryLogin {
            registry,
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }
}

/// Builds the sample image with `page` as index.html, tagged
/// `repository_uri:tag`, and pushes it; returns the image reference. With
/// `fail_percent`, the image has that FAIL_PERCENT baked in (ENV): a bad
/// release that answers 500 to that share of its requests.
pub async fn build_and_push(
    engine: &ContainerEngine,
    login: &RegistryLogin,
    repository_uri: &str,
    tag: &str,
    page: &str,
    fail_percent: Option<u8>,
) -> Result<String, CliError> {
    let image = format!("{repository_uri}:{tag}");
    let dockerfile = match fail_percent {
        None => sample_app::DOCKERFILE.to_owned(),
        Some(percent) => format!(
            "{}\n# A bad release: the sample's switch, on.\nENV FAIL_PERCENT={percent}\n",
            sample_app::DOCKERFILE.trim_end()
        ),
    };
    let context = tar(&[
        ("Dockerfile", &dockerfile),
        ("nginx.conf", sample_app::NGINX_CONF),
        ("entrypoint.sh", sample_app::ENTRYPOINT),
        ("index.html", page),
    ]);
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&image)
        .rm(true)
        .build();
    let mut build = engine.docker().build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context))),
    );
    let mut output = String::new();
    while let Some(step) = build.next().await {
        let failure = match step {
            Ok(info) => {
                output.push_str(info.stream.as_deref().unwrap_or_default());
                info.error_detail.and_then(|d| d.message)
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failure {
            return Err(build_failed(&why, &output));
        }
    }

    let credentials = DockerCredentials {
        username: Some(login.username.clone()),
        password: Some(login.password.clone()),
        serveraddress: Some(login.registry.clone()),
        ..DockerCredentials::default()
    };
    let mut push = engine.docker().push_image(
        repository_uri,
        Some(PushImageOptionsBuilder::default().tag(tag).build()),
        Some(credentials),
    );
    while let Some(step) = push.next().await {
        let failure = match step {
            Ok(info) => info.error_detail.and_then(|d| d.message),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failure {
            return Err(CliError::Deployment(format!(
                "pushing {image} to the local ECR failed: {why}"
            )));
        }
    }
    Ok(image)
}

fn build_failed(why: &str, output: &str) -> CliError {
    let base = sample_app::base_image();
    CliError::Deployment(format!(
        "building the sample image failed: {}\n{}\nIts Dockerfile builds FROM {base}: the engine \
         needs that image (it cannot be pulled offline; scripts/setup-test-deps builds one). \
         `switchyard demo --static` runs the demo on static sites instead.",
        why.trim(),
        output.trim_end()
    ))
}

/// A ustar archive of regular files (mode 0644), as a build context.
fn tar(files: &[(&str, &str)]) -> Vec<u8> {
    const BLOCK: usize = 512;
    let mut archive = Vec::new();
    for (name, text) in files {
        let mut header = [0u8; BLOCK];
        let mut field = |offset: usize, value: &[u8]| {
            header[offset..offset + value.len()].copy_from_slice(value);
        };
        field(0, name.as_bytes());
        field(100, b"0000644\0");
        field(108, b"0000000\0");
        field(116, b"0000000\0");
        field(124, format!("{:011o}\0", text.len()).as_bytes());
        field(136, b"00000000000\0");
        field(156, b"0");
        field(257, b"ustar\0");
        field(263, b"00");
        // The checksum is taken with its own field as spaces.
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        archive.extend_from_slice(&header);
        archive.extend_from_slice(text.as_bytes());
        archive.resize(archive.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    // The end of the archive: two zero blocks.
    archive.resize(archive.len() + 2 * BLOCK, 0);
    archive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_names_the_base_image_and_the_static_fallback() {
        let message = build_failed("pull access denied\n", "Step 1/4 : FROM x\n").to_string();
        assert!(message.contains("pull access denied"), "{message}");
        assert!(
            message.contains("FROM public.ecr.aws/nginx/nginx:stable-alpine"),
            "{message}"
        );
        assert!(message.contains("switchyard demo --static"), "{message}");
    }

    #[test]
    fn the_tar_holds_each_file_in_blocks_with_a_valid_checksum() {
        let archive = tar(&[("Dockerfile", "FROM scratch\n"), ("index.html", "")]);
        // Header + one data block, header with no data, two end blocks.
        assert_eq!(archive.len(), 5 * 512);
        assert_eq!(&archive[..10], b"Dockerfile");
        assert_eq!(&archive[124..136], b"00000000015\0");
        assert_eq!(&archive[512..525], b"FROM scratch\n");
        assert_eq!(&archive[1024..1034], b"index.html");
        let header = &archive[..512];
        let stored = u32::from_str_radix(std::str::from_utf8(&header[148..154]).unwrap(), 8);
        let sum: u32 = header
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(*b)
                }
            })
            .sum();
        assert_eq!(stored, Ok(sum));
        assert!(archive[1536..].iter().all(|b| *b == 0));
    }
}
