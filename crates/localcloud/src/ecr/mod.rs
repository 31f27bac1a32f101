//! ECR: repositories and images on the AWS wire (awsJson1_1,
//! `AmazonEC2ContainerRegistry_V20150921`), backed by a real OCI registry
//! served by the local cloud itself under `/v2/` on the same listener, so
//! `aws ecr get-login-password | docker login` and `docker push` work.
//!
//! - `reference`, `manifest`: the pure parts (names, digests, ranges,
//!   manifest references); `auth`: the tokens that are the registry's
//!   passwords; `storage`: the bytes on disk; `registry`: the `/v2/` API.

mod auth;
mod manifest;
mod reference;
pub mod registry;
mod storage;

use super::state::{ACCOUNT, CloudState, Image, Repository, arn};
use super::wire::{AwsError, Input, OpResult, epoch, paginate};
use super::{LocalCloud, now_millis};
use reference::{Digest, valid_repository_name, valid_tag};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::path::Path;

const INVALID: &str = "InvalidParameterException";
/// The most image ids one call takes (ImageIdentifierList).
const MAX_IMAGE_IDS: usize = 100;

/// The registry's storage and the signer of its passwords.
pub struct Registry {
    storage: storage::Storage,
    signer: auth::TokenSigner,
}

impl Registry {
    /// Opens `<data dir>/registry/`, dropping what an interrupted run left.
    pub fn open(data_dir: &Path) -> anyhow::Result<Registry> {
        let root = data_dir.join("registry");
        let storage = storage::Storage::open(&root)
            .and_then(|storage| storage.purge_leftovers().map(|()| storage))
            .map_err(|e| anyhow::anyhow!("cannot open the registry in {}: {e}", root.display()))?;
        let signer = auth::TokenSigner::load_or_create(&root.join("token-secret"))?;
        Ok(Registry { storage, signer })
    }

    /// A fresh password: the token and when it expires (epoch millis).
    pub fn issue_token(&self) -> (String, i64) {
        self.signer.issue(now_millis())
    }

    /// Fresh registry logins (valid 12 hours) for the task runner's pulls; a
    /// closure, as the runner outlives any borrow of the registry.
    pub fn pull_credential(
        &self,
    ) -> Box<dyn Fn() -> crate::tasks::RegistryCredential + Send + Sync> {
        let signer = self.signer.clone();
        Box::new(move || crate::tasks::RegistryCredential {
            username: auth::USER.to_owned(),
            password: signer.issue(now_millis()).0,
        })
    }

    /// Deletes the blobs no repository holds any more. Call it with the
    /// state locked (`LocalCloud::read`), so no upload commits meanwhile.
    pub fn collect_garbage(&self, s: &CloudState) {
        let keep: HashSet<&str> = s
            .repositories
            .values()
            .flat_map(|r| r.blobs.iter().chain(r.images.keys()))
            .map(String::as_str)
            .collect();
        match self.storage.collect_garbage(&keep) {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::debug!(deleted, "registry blobs no repository holds were deleted")
            }
            Err(e) => tracing::warn!(error = %e, "cannot delete the registry's unused blobs"),
        }
    }
}

impl LocalCloud {
    /// `host:port` of the registry, as image names start with it.
    pub fn registry_host(&self) -> String {
        self.endpoint().trim_start_matches("http://").to_owned()
    }
}

/// ECR's words for a repository that does not exist, on the wire and in
/// the registry's NAME_UNKNOWN alike.
pub fn repository_missing_message(name: &str) -> String {
    format!("The repository with name '{name}' does not exist in the registry with id '{ACCOUNT}'")
}

fn repository_not_found(name: &str) -> AwsError {
    AwsError::new(
        "RepositoryNotFoundException",
        repository_missing_message(name),
    )
}

pub fn call(cloud: &LocalCloud, operation: &str, body: &Map<String, Value>) -> OpResult {
    let input = Input::new(body, INVALID);
    if let Some(id) = input.opt_str("registryId")? {
        registry_id(id)?;
    }
    match operation {
        "CreateRepository" => cloud
            .mutate(|s| create_repository(s, &input))
            .map(|r| json!({"repository": repository_json(cloud, &r)})),
        "DescribeRepositories" => cloud.read(|s| describe_repositories(cloud, s, &input)),
        "DeleteRepository" => delete_repository(cloud, &input),
        "GetAuthorizationToken" => get_authorization_token(cloud, &input),
        "DescribeImages" => cloud.read(|s| describe_images(s, &input)),
        "ListImages" => cloud.read(|s| list_images(s, &input)),
        "BatchDeleteImage" => batch_delete_image(cloud, &input),
        other => Err(AwsError::new(
            "UnknownOperationException",
            format!("the local cloud's ECR does not implement {other}"),
        )),
    }
}

/// The local cloud has one registry, the account's own.
fn registry_id(id: &str) -> Result<(), AwsError> {
    if id == ACCOUNT {
        Ok(())
    } else {
        Err(AwsError::new(
            INVALID,
            format!("the local cloud has one registry, {ACCOUNT}; registry {id:?} is not it"),
        ))
    }
}

fn valid_name(name: &str) -> Result<&str, AwsError> {
    if valid_repository_name(name) {
        Ok(name)
    } else {
        Err(AwsError::new(
            INVALID,
            reference::invalid_repository_name_message(name),
        ))
    }
}

fn repository_name<'a>(input: &Input<'a>) -> Result<&'a str, AwsError> {
    valid_name(input.str("repositoryName")?)
}

fn find_repository<'s>(s: &'s CloudState, input: &Input) -> Result<&'s Repository, AwsError> {
    let name = repository_name(input)?;
    s.repositories
        .get(name)
        .ok_or_else(|| repository_not_found(name))
}

fn repository_json(cloud: &LocalCloud, r: &Repository) -> Value {
    json!({
        "repositoryArn": r.arn,
        "registryId": ACCOUNT,
        "repositoryName": r.name,
        "repositoryUri": format!("{}/{}", cloud.registry_host(), r.name),
        "createdAt": epoch(r.created_at),
        "imageTagMutability": r.image_tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": r.scan_on_push},
        "encryptionConfiguration": {"encryptionType": r.encryption_type, "kmsKey": r.kms_key},
    })
}

fn create_repository(s: &mut CloudState, input: &Input) -> Result<Repository, AwsError> {
    let name = repository_name(input)?;
    if s.repositories.contains_key(name) {
        return Err(AwsError::new(
            "RepositoryAlreadyExistsException",
            format!(
                "The repository with name '{name}' already exists in the registry with id '{ACCOUNT}'"
            ),
        ));
    }
    let mutability = match input.opt_str("imageTagMutability")?.unwrap_or("MUTABLE") {
        m @ ("MUTABLE" | "IMMUTABLE") => m,
        m @ ("MUTABLE_WITH_EXCLUSION" | "IMMUTABLE_WITH_EXCLUSION") => {
            return Err(AwsError::new(
                INVALID,
                format!(
                    "imageTagMutability {m} (with exclusion filters) is not supported by the local cloud: use MUTABLE or IMMUTABLE"
                ),
            ));
        }
        other => {
            return Err(AwsError::new(
                INVALID,
                format!("imageTagMutability must be MUTABLE or IMMUTABLE, not {other:?}"),
            ));
        }
    };
    let scan_on_push = match input.nested("imageScanningConfiguration")? {
        Some(config) => config.opt_bool("scanOnPush")?.unwrap_or(false),
        None => false,
    };
    let (encryption_type, kms_key) = match input.nested("encryptionConfiguration")? {
        None => ("AES256".to_owned(), None),
        Some(config) => {
            let kind = config.str("encryptionType")?;
            let key = config.opt_str("kmsKey")?;
            match (kind, key) {
                ("AES256", Some(_)) => {
                    return Err(AwsError::new(
                        INVALID,
                        "kmsKey goes with encryptionType KMS or KMS_DSSE, not AES256",
                    ));
                }
                ("AES256" | "KMS" | "KMS_DSSE", _) => (kind.to_owned(), key.map(str::to_owned)),
                _ => {
                    return Err(AwsError::new(
                        INVALID,
                        format!("encryptionType must be AES256, KMS or KMS_DSSE, not {kind:?}"),
                    ));
                }
            }
        }
    };
    let mut tags = Vec::new();
    for tag in input.list("tags")? {
        let tag = tag
            .as_object()
            .map(|t| Input::new(t, "InvalidTagParameterException"))
            .ok_or_else(|| AwsError::new("SerializationException", "tags must be objects"))?;
        tags.push((
            tag.str("Key")?.to_owned(),
            tag.opt_str("Value")?.unwrap_or_default().to_owned(),
        ));
    }
    let repository = Repository {
        name: name.to_owned(),
        arn: arn("ecr", &format!("repository/{name}")),
        created_at: now_millis(),
        image_tag_mutability: mutability.to_owned(),
        scan_on_push,
        encryption_type,
        kms_key,
        tags,
        images: Default::default(),
        blobs: Default::default(),
    };
    s.repositories.insert(name.to_owned(), repository.clone());
    Ok(repository)
}

fn describe_repositories(cloud: &LocalCloud, s: &CloudState, input: &Input) -> OpResult {
    let names = input.str_list_at_most("repositoryNames", 100)?;
    let max = input.max_results(100, 1000)?;
    if !names.is_empty() {
        let repositories = names
            .into_iter()
            .map(|name| {
                let name = valid_name(name)?;
                s.repositories
                    .get(name)
                    .map(|r| repository_json(cloud, r))
                    .ok_or_else(|| repository_not_found(name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(json!({"repositories": repositories}));
    }
    let all: Vec<&Repository> = s.repositories.values().collect();
    let (page, next) = paginate(&all, input.opt_str("nextToken")?, max)?;
    let repositories: Vec<Value> = page.iter().map(|r| repository_json(cloud, r)).collect();
    Ok(json!({"repositories": repositories, "nextToken": next}))
}

fn delete_repository(cloud: &LocalCloud, input: &Input) -> OpResult {
    let name = repository_name(input)?;
    let force = input.opt_bool("force")?.unwrap_or(false);
    let deleted = cloud.mutate(|s| {
        let repository = s
            .repositories
            .get(name)
            .ok_or_else(|| repository_not_found(name))?;
        if !repository.images.is_empty() && !force {
            return Err(AwsError::new(
                "RepositoryNotEmptyException",
                format!(
                    "The repository with name '{name}' in registry with id '{ACCOUNT}' cannot be deleted because it still contains images"
                ),
            ));
        }
        Ok(s.repositories.remove(name).expect("found above"))
    })?;
    cloud.registry.storage.cancel_uploads_of(name);
    cloud.read(|s| cloud.registry.collect_garbage(s));
    Ok(json!({"repository": repository_json(cloud, &deleted)}))
}

fn get_authorization_token(cloud: &LocalCloud, input: &Input) -> OpResult {
    let ids = input.str_list_at_most("registryIds", 10)?;
    for id in &ids {
        registry_id(id)?;
    }
    let (token, expires_at) = cloud.registry.issue_token();
    let data = json!({
        "authorizationToken": auth::authorization_token(&token),
        "expiresAt": epoch(expires_at),
        "proxyEndpoint": cloud.endpoint(),
    });
    Ok(json!({"authorizationData": vec![data; ids.len().max(1)]}))
}

/// `filter.tagStatus` of DescribeImages and ListImages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

impl TagStatus {
    fn of(input: &Input) -> Result<TagStatus, AwsError> {
        let Some(filter) = input.nested("filter")? else {
            return Ok(TagStatus::Any);
        };
        match filter.opt_str("tagStatus")? {
            None | Some("ANY") => Ok(TagStatus::Any),
            Some("TAGGED") => Ok(TagStatus::Tagged),
            Some("UNTAGGED") => Ok(TagStatus::Untagged),
            Some(other) => Err(AwsError::new(
                INVALID,
                format!("filter.tagStatus must be TAGGED, UNTAGGED or ANY, not {other:?}"),
            )),
        }
    }

    fn admits(self, image: &Image) -> bool {
        match self {
            TagStatus::Any => true,
            TagStatus::Tagged => !image.tags.is_empty(),
            TagStatus::Untagged => image.tags.is_empty(),
        }
    }
}

/// Images, earliest pushed first, as listings return them.
fn images_in_push_order(repository: &Repository) -> Vec<(&String, &Image)> {
    let mut images: Vec<(&String, &Image)> = repository.images.iter().collect();
    images.sort_by(|a, b| (a.1.pushed_at, a.0).cmp(&(b.1.pushed_at, b.0)));
    images
}

fn image_detail(repository: &Repository, digest: &str, image: &Image) -> Value {
    let tags: Vec<&String> = image.tags.iter().collect();
    json!({
        "registryId": ACCOUNT,
        "repositoryName": repository.name,
        "imageDigest": digest,
        "imageTags": if tags.is_empty() { Value::Null } else { json!(tags) },
        "imageSizeInBytes": image.size_bytes,
        "imagePushedAt": epoch(image.pushed_at),
        "imageManifestMediaType": image.media_type,
        "artifactMediaType": image.artifact_media_type,
    })
}

fn describe_images(s: &CloudState, input: &Input) -> OpResult {
    let repository = find_repository(s, input)?;
    let status = TagStatus::of(input)?;
    let ids = image_ids(input)?;
    if !ids.is_empty() {
        let mut seen = HashSet::new();
        let mut details = Vec::new();
        for id in &ids {
            let (digest, image) = resolve(repository, id).map_err(|failure| {
                let (code, message) = match failure {
                    Failure::ImageNotFound => (
                        "ImageNotFoundException",
                        format!(
                            "The image with imageId {} does not exist within the repository with name '{}' in the registry with id '{ACCOUNT}'",
                            id.describe(),
                            repository.name
                        ),
                    ),
                    other => (INVALID, other.reason().to_owned()),
                };
                AwsError::new(code, message)
            })?;
            if status.admits(image) && seen.insert(digest) {
                details.push(image_detail(repository, digest, image));
            }
        }
        return Ok(json!({"imageDetails": details}));
    }
    let max = input.max_results(100, 1000)?;
    let images: Vec<(&String, &Image)> = images_in_push_order(repository)
        .into_iter()
        .filter(|(_, image)| status.admits(image))
        .collect();
    let (page, next) = paginate(&images, input.opt_str("nextToken")?, max)?;
    let details: Vec<Value> = page
        .iter()
        .map(|(digest, image)| image_detail(repository, digest, image))
        .collect();
    Ok(json!({"imageDetails": details, "nextToken": next}))
}

fn list_images(s: &CloudState, input: &Input) -> OpResult {
    let repository = find_repository(s, input)?;
    let status = TagStatus::of(input)?;
    let max = input.max_results(100, 1000)?;
    let ids: Vec<Value> = images_in_push_order(repository)
        .into_iter()
        .filter(|(_, image)| status.admits(image))
        .flat_map(|(digest, image)| identifiers_of(digest, image))
        .collect();
    let (page, next) = paginate(&ids, input.opt_str("nextToken")?, max)?;
    Ok(json!({"imageIds": page, "nextToken": next}))
}

/// An ImageIdentifier as the caller wrote it.
#[derive(Debug, Clone)]
struct ImageId {
    digest: Option<String>,
    tag: Option<String>,
}

impl ImageId {
    /// ECR's rendering in its messages: `{imageDigest:'…', imageTag:'…'}`.
    fn describe(&self) -> String {
        format!(
            "{{imageDigest:'{}', imageTag:'{}'}}",
            self.digest.as_deref().unwrap_or("null"),
            self.tag.as_deref().unwrap_or("null")
        )
    }

    fn json(&self) -> Value {
        json!({"imageDigest": self.digest, "imageTag": self.tag})
    }
}

fn image_ids(input: &Input) -> Result<Vec<ImageId>, AwsError> {
    let items = input.list("imageIds")?;
    if items.len() > MAX_IMAGE_IDS {
        return Err(AwsError::new(
            INVALID,
            format!(
                "imageIds can have at most {MAX_IMAGE_IDS} items (got {})",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .map(|item| {
            let id = item
                .as_object()
                .map(|m| Input::new(m, INVALID))
                .ok_or_else(|| {
                    AwsError::new("SerializationException", "imageIds must be objects")
                })?;
            Ok(ImageId {
                digest: id.opt_str("imageDigest")?.map(str::to_owned),
                tag: id.opt_str("imageTag")?.map(str::to_owned),
            })
        })
        .collect()
}

/// ECR's ImageFailureCode values this registry can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    MissingDigestAndTag,
    InvalidImageDigest,
    InvalidImageTag,
    ImageNotFound,
    ImageTagDoesNotMatchDigest,
    ImageReferencedByManifestList,
}

impl Failure {
    fn code(self) -> &'static str {
        match self {
            Failure::MissingDigestAndTag => "MissingDigestAndTag",
            Failure::InvalidImageDigest => "InvalidImageDigest",
            Failure::InvalidImageTag => "InvalidImageTag",
            Failure::ImageNotFound => "ImageNotFound",
            Failure::ImageTagDoesNotMatchDigest => "ImageTagDoesNotMatchDigest",
            Failure::ImageReferencedByManifestList => "ImageReferencedByManifestList",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Failure::MissingDigestAndTag => {
                "Invalid request parameters: both tag and digest cannot be null"
            }
            Failure::InvalidImageDigest => {
                "Invalid request parameters: image digest should be sha256: and 64 lowercase hex digits"
            }
            Failure::InvalidImageTag => {
                "Invalid request parameters: image tag should be up to 128 letters, digits, '_', '.' and '-'"
            }
            Failure::ImageNotFound => "Requested image not found",
            Failure::ImageTagDoesNotMatchDigest => {
                "Invalid request parameters: image tag does not match digest"
            }
            Failure::ImageReferencedByManifestList => "Requested image referenced by manifest list",
        }
    }
}

/// The stored image an identifier names.
fn resolve<'r>(repository: &'r Repository, id: &ImageId) -> Result<(&'r str, &'r Image), Failure> {
    let by_digest = match &id.digest {
        Some(digest) => {
            let digest = Digest::parse(digest).map_err(|_| Failure::InvalidImageDigest)?;
            Some(
                registry::find_image(repository, &reference::Reference::Digest(digest))
                    .ok_or(Failure::ImageNotFound)?,
            )
        }
        None => None,
    };
    let by_tag = match &id.tag {
        Some(tag) if !valid_tag(tag) => return Err(Failure::InvalidImageTag),
        Some(tag) => Some(
            registry::find_image(repository, &reference::Reference::Tag(tag.clone()))
                .ok_or(Failure::ImageNotFound)?,
        ),
        None => None,
    };
    match (by_digest, by_tag) {
        (Some(d), Some(t)) if d.0 != t.0 => Err(Failure::ImageTagDoesNotMatchDigest),
        (Some(found), _) | (None, Some(found)) => Ok(found),
        (None, None) => Err(Failure::MissingDigestAndTag),
    }
}

/// Deletes the named images. A tag alone removes the tag, and the image
/// with its last tag; a digest removes the image and all its tags.
fn batch_delete_image(cloud: &LocalCloud, input: &Input) -> OpResult {
    let name = repository_name(input)?;
    let ids = image_ids(input)?;
    if ids.is_empty() {
        return Err(AwsError::new(INVALID, "imageIds is required"));
    }
    let (deleted, failures) = cloud.mutate(|s| {
        let repository = s
            .repositories
            .get_mut(name)
            .ok_or_else(|| repository_not_found(name))?;
        let mut deleted = Vec::new();
        let mut failures = Vec::new();
        for id in &ids {
            match delete_image(repository, id) {
                Ok(mut gone) => deleted.append(&mut gone),
                Err(failure) => failures.push(json!({
                    "imageId": id.json(),
                    "failureCode": failure.code(),
                    "failureReason": failure.reason(),
                })),
            }
        }
        Ok((deleted, failures))
    })?;
    cloud.read(|s| cloud.registry.collect_garbage(s));
    Ok(json!({"imageIds": deleted, "failures": failures}))
}

/// Deletes what `id` names; the ids of what went.
fn delete_image(repository: &mut Repository, id: &ImageId) -> Result<Vec<Value>, Failure> {
    let digest = resolve(repository, id)?.0.to_owned();
    let referenced_by_index = repository
        .images
        .values()
        .any(|other| other.is_index && other.references.contains(&digest));
    let image = repository.images.get_mut(&digest).expect("resolved above");
    if let Some(tag) = &id.tag {
        image.tags.remove(tag);
        // An untagged image an index still needs stays.
        if image.tags.is_empty() && !referenced_by_index {
            repository.images.remove(&digest);
        }
        return Ok(vec![json!({"imageDigest": digest, "imageTag": tag})]);
    }
    if referenced_by_index {
        return Err(Failure::ImageReferencedByManifestList);
    }
    let image = repository.images.remove(&digest).expect("resolved above");
    Ok(identifiers_of(&digest, &image))
}

/// ECR's ImageIdentifiers of an image: one per tag, or the digest alone.
fn identifiers_of(digest: &str, image: &Image) -> Vec<Value> {
    if image.tags.is_empty() {
        return vec![json!({"imageDigest": digest})];
    }
    image
        .tags
        .iter()
        .map(|tag| json!({"imageDigest": digest, "imageTag": tag}))
        .collect()
}
