//! A small client of the local cloud's ECR for tests: ECR calls on the AWS
//! wire (plain awsJson1_1 requests), and the OCI distribution API under
//! `/v2/` spoken step by step, so tests can push images and check each
//! answer without Docker. tests/awscli includes this file with `#[path]`.

// Each test target uses a part of this module.
#![allow(dead_code)]

use base64::Engine as _;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921";

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An ECR operation on the wire: (HTTP status, JSON answer).
pub async fn ecr(endpoint: &str, operation: &str, input: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("{ECR_TARGET}.{operation}"))
        .body(input.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

pub async fn create_repository(endpoint: &str, name: &str, extra: Value) {
    let mut input = json!({"repositoryName": name});
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let (status, answer) = ecr(endpoint, "CreateRepository", input).await;
    assert_eq!(status, 200, "CreateRepository {name}: {answer}");
}

/// The password GetAuthorizationToken hands out (the token after `AWS:`).
pub async fn password(endpoint: &str) -> String {
    let (status, answer) = ecr(endpoint, "GetAuthorizationToken", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["authorizationData"][0]["authorizationToken"]
        .as_str()
        .unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    decoded
        .strip_prefix("AWS:")
        .unwrap_or_else(|| panic!("the token decodes to AWS:<password>, not {decoded}"))
        .to_owned()
}

/// The registry at `endpoint`, logged in as AWS with `password`.
pub struct Registry {
    pub endpoint: String,
    pub password: String,
    pub http: reqwest::Client,
}

/// A pushed image: its manifest and digest.
pub struct Pushed {
    pub manifest: Vec<u8>,
    pub digest: String,
    /// config + layers, as ECR's imageSizeInBytes counts them.
    pub size: u64,
}

impl Registry {
    pub async fn login(endpoint: &str) -> Registry {
        Registry {
            endpoint: endpoint.to_owned(),
            password: password(endpoint).await,
            http: reqwest::Client::new(),
        }
    }

    /// A request to `path` (relative to the endpoint, or a Location header).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.endpoint))
            .basic_auth("AWS", Some(&self.password))
    }

    /// Starts an upload; its Location.
    pub async fn start_upload(&self, repository: &str) -> String {
        let response = self
            .request(Method::POST, &format!("/v2/{repository}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202, "{}", text(response).await);
        header(&response, "location")
    }

    /// Pushes a blob as Docker does: POST, one PATCH, PUT ?digest=.
    pub async fn push_blob(&self, repository: &str, bytes: &[u8]) -> String {
        let location = self.start_upload(repository).await;
        let response = self
            .request(Method::PATCH, &location)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202, "{}", text(response).await);
        let location = header(&response, "location");
        let digest = digest(bytes);
        let response = self
            .request(Method::PUT, &with_digest(&location, &digest))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201, "{}", text(response).await);
        assert_eq!(header(&response, "docker-content-digest"), digest);
        digest
    }

    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Response {
        self.request(
            Method::PUT,
            &format!("/v2/{repository}/manifests/{reference}"),
        )
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
    }

    /// Pushes a config and `layers`, then a Docker schema 2 manifest tagged
    /// `tag`.
    pub async fn push_image(&self, repository: &str, tag: &str, layers: &[&[u8]]) -> Pushed {
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| digest(l)).collect::<Vec<_>>()},
        })
        .to_string();
        let config_digest = self.push_blob(repository, config.as_bytes()).await;
        let mut descriptors = Vec::new();
        for layer in layers {
            let layer_digest = self.push_blob(repository, layer).await;
            descriptors.push(json!({
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": layer.len(),
                "digest": layer_digest,
            }));
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": config_digest},
            "layers": descriptors,
        }))
        .unwrap();
        let response = self
            .put_manifest(repository, tag, DOCKER_MANIFEST, &manifest)
            .await;
        assert_eq!(response.status().as_u16(), 201, "{}", text(response).await);
        let digest = digest(&manifest);
        assert_eq!(header(&response, "docker-content-digest"), digest);
        Pushed {
            size: config.len() as u64 + layers.iter().map(|l| l.len() as u64).sum::<u64>(),
            manifest,
            digest,
        }
    }
}

/// `location` with `digest=` added to its query.
pub fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {:?}", response.headers()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub async fn text(response: Response) -> String {
    let status = response.status();
    format!("{status}: {}", response.text().await.unwrap_or_default())
}

/// A registry error answer: status and the first error's code and message.
pub async fn error(response: Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}
