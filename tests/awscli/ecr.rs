//! The local ECR through the AWS CLI: repositories, the login password,
//! images pushed over the registry API and described, listed and deleted
//! with the CLI's own parsing of every answer.

use super::{Cli, TIME_SCALE};
use crate::registry_client::{Registry, digest, error};
use crate::support::LocalCloud;
use serde_json::{Value, json};

#[tokio::test]
async fn repositories_through_the_cli() {
    let cloud = LocalCloud::start(TIME_SCALE).await;
    let cli = Cli::new(&cloud.endpoint);
    let host = cloud.endpoint.trim_start_matches("http://");

    let created = cli
        .ok(&[
            "ecr",
            "create-repository",
            "--repository-name",
            "shop/web",
            "--image-scanning-configuration",
            "scanOnPush=true",
            "--tags",
            "Key=team,Value=shop",
        ])
        .await;
    let repository = &created["repository"];
    assert_eq!(repository["repositoryName"], "shop/web");
    assert_eq!(repository["registryId"], "000000000000");
    assert_eq!(
        repository["repositoryArn"],
        "arn:aws:ecr:us-east-1:000000000000:repository/shop/web"
    );
    assert_eq!(repository["repositoryUri"], format!("{host}/shop/web"));
    assert_eq!(repository["imageTagMutability"], "MUTABLE");
    assert_eq!(repository["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(
        repository["encryptionConfiguration"]["encryptionType"],
        "AES256"
    );
    assert!(repository["createdAt"].is_number(), "{repository}");
    cli.ok(&["ecr", "create-repository", "--repository-name", "api"])
        .await;

    let all = cli.ok(&["ecr", "describe-repositories"]).await;
    let names: Vec<&str> = all["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repositoryName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "shop/web"]);
    let one = cli
        .ok(&[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "shop/web",
        ])
        .await;
    assert_eq!(one["repositories"][0], *repository);

    let duplicate = ["ecr", "create-repository", "--repository-name", "api"];
    let invalid = ["ecr", "create-repository", "--repository-name", "Shop_Web"];
    let missing = ["ecr", "describe-repositories", "--repository-names", "nope"];
    let foreign = [
        "ecr",
        "describe-repositories",
        "--registry-id",
        "123456789012",
    ];
    tokio::join!(
        cli.fails(
            &duplicate,
            "RepositoryAlreadyExistsException",
            "CreateRepository"
        ),
        cli.fails(&invalid, "InvalidParameterException", "CreateRepository"),
        cli.fails(
            &missing,
            "RepositoryNotFoundException",
            "DescribeRepositories"
        ),
        cli.fails(
            &foreign,
            "InvalidParameterException",
            "DescribeRepositories"
        ),
    );

    // The login password is a live registry password.
    let token = cli.ok(&["ecr", "get-authorization-token"]).await;
    let data = &token["authorizationData"][0];
    assert_eq!(data["proxyEndpoint"], cloud.endpoint.as_str());
    let in_twelve_hours = chrono::Utc::now().timestamp() as f64 + 12.0 * 3600.0;
    let expires = data["expiresAt"]
        .as_f64()
        .expect("expiresAt in epoch seconds");
    assert!((expires - in_twelve_hours).abs() < 60.0, "{data}");
    let password = cli.text(&["ecr", "get-login-password"]).await;
    let password = password.trim();
    let registry = Registry {
        endpoint: cloud.endpoint.clone(),
        password: password.to_owned(),
        http: reqwest::Client::new(),
    };
    let response = registry
        .request(reqwest::Method::GET, "/v2/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let impostor = Registry {
        password: format!("{password}0"),
        ..registry
    };
    let (status, code, _) = error(
        impostor
            .request(reqwest::Method::GET, "/v2/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "UNAUTHORIZED"));
}

/// The image details of a repository, by digest.
async fn details(cli: &Cli, repository: &str) -> Vec<Value> {
    let described = cli
        .ok(&["ecr", "describe-images", "--repository-name", repository])
        .await;
    described["imageDetails"].as_array().unwrap().clone()
}

#[tokio::test]
async fn images_through_the_cli() {
    let cloud = LocalCloud::start(TIME_SCALE).await;
    let cli = Cli::new(&cloud.endpoint);
    cli.ok(&["ecr", "create-repository", "--repository-name", "web"])
        .await;
    let registry = Registry::login(&cloud.endpoint).await;
    let before_push = chrono::Utc::now().timestamp() as f64 - 1.0;
    let v1 = registry
        .push_image("web", "v1", &[b"base layer", b"app layer"])
        .await;
    let v2 = registry.push_image("web", "v2", &[b"base layer"]).await;
    // `old` is pushed twice; its first image is left untagged.
    let first_old = registry.push_image("web", "old", &[b"first"]).await;
    registry.push_image("web", "old", &[b"second"]).await;

    let images = details(&cli, "web").await;
    assert_eq!(images.len(), 4, "{images:?}");
    let v1_detail = images
        .iter()
        .find(|d| d["imageDigest"] == v1.digest.as_str())
        .expect("v1 is described");
    assert_eq!(v1_detail["imageTags"], json!(["v1"]));
    assert_eq!(v1_detail["repositoryName"], "web");
    assert_eq!(v1_detail["registryId"], "000000000000");
    assert_eq!(v1_detail["imageSizeInBytes"], v1.size);
    assert_eq!(
        v1_detail["imageManifestMediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        v1_detail["artifactMediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert!(
        v1_detail["imagePushedAt"]
            .as_f64()
            .is_some_and(|at| at >= before_push),
        "{v1_detail}"
    );
    let by_tag = cli
        .ok(&[
            "ecr",
            "describe-images",
            "--repository-name",
            "web",
            "--image-ids",
            "imageTag=v2",
        ])
        .await;
    assert_eq!(by_tag["imageDetails"][0]["imageDigest"], v2.digest.as_str());

    let untagged = cli
        .ok(&[
            "ecr",
            "list-images",
            "--repository-name",
            "web",
            "--filter",
            "tagStatus=UNTAGGED",
        ])
        .await;
    assert_eq!(
        untagged["imageIds"],
        json!([{"imageDigest": first_old.digest}])
    );
    let tagged = cli
        .ok(&[
            "ecr",
            "list-images",
            "--repository-name",
            "web",
            "--filter",
            "tagStatus=TAGGED",
        ])
        .await;
    let mut tags: Vec<&str> = tagged["imageIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id["imageTag"].as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["old", "v1", "v2"]);

    let no_such_image = [
        "ecr",
        "describe-images",
        "--repository-name",
        "web",
        "--image-ids",
        "imageTag=v9",
    ];
    let not_empty = ["ecr", "delete-repository", "--repository-name", "web"];
    tokio::join!(
        cli.fails(&no_such_image, "ImageNotFoundException", "DescribeImages"),
        cli.fails(
            &not_empty,
            "RepositoryNotEmptyException",
            "DeleteRepository"
        ),
    );

    let deleted = cli
        .ok(&[
            "ecr",
            "batch-delete-image",
            "--repository-name",
            "web",
            "--image-ids",
            "imageTag=v1",
            &format!("imageDigest={}", first_old.digest),
            "imageTag=v9",
        ])
        .await;
    assert_eq!(
        deleted["imageIds"],
        json!([
            {"imageDigest": v1.digest, "imageTag": "v1"},
            {"imageDigest": first_old.digest},
        ])
    );
    assert_eq!(
        deleted["failures"],
        json!([{
            "imageId": {"imageTag": "v9"},
            "failureCode": "ImageNotFound",
            "failureReason": "Requested image not found",
        }])
    );
    let left: Vec<String> = details(&cli, "web")
        .await
        .iter()
        .map(|d| d["imageDigest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.contains(&v1.digest) && !left.contains(&first_old.digest));
    let gone = registry
        .request(reqwest::Method::GET, "/v2/web/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);

    let forced = cli
        .ok(&[
            "ecr",
            "delete-repository",
            "--repository-name",
            "web",
            "--force",
        ])
        .await;
    assert_eq!(forced["repository"]["repositoryName"], "web");
    cli.fails(
        &["ecr", "describe-images", "--repository-name", "web"],
        "RepositoryNotFoundException",
        "DescribeImages",
    )
    .await;
    // The registry forgot it too.
    let (status, code, _) = error(
        registry
            .request(
                reqwest::Method::GET,
                &format!("/v2/web/blobs/{}", digest(b"base layer")),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "NAME_UNKNOWN"));
}
