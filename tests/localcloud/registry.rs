//! The local ECR's OCI registry under `/v2/`, spoken step by step over
//! HTTP: authentication, chunked and monolithic uploads, digests, mounts,
//! manifests of every supported kind, and what survives a restart.

use crate::helpers::Cloud;
use crate::registry_client::{
    DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Registry, create_repository, digest, ecr, error,
    header, password, text, with_digest,
};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn the_registry_wants_a_token_it_issued() {
    let cloud = Cloud::start().await;
    let base = format!("{}/v2/", cloud.endpoint);
    let token = password(&cloud.endpoint).await;
    let refused = [
        None,
        Some(basic("AWS", "not-a-token")),
        Some(basic("admin", &token)),
        Some(format!("Bearer {token}")),
    ];
    for authorization in refused {
        let mut request = cloud.http.get(&base);
        if let Some(authorization) = &authorization {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await.unwrap();
        let challenge = header(&response, "www-authenticate");
        assert!(
            challenge.starts_with("Basic realm=\""),
            "{authorization:?}: {challenge}"
        );
        assert_eq!(
            header(&response, "docker-distribution-api-version"),
            "registry/2.0"
        );
        let (status, code, message) = error(response).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "UNAUTHORIZED"),
            "{authorization:?}"
        );
        assert!(!message.is_empty());
    }
    let response = cloud
        .http
        .get(&base)
        .header("authorization", basic("AWS", &token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, "docker-distribution-api-version"),
        "registry/2.0"
    );
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
}

#[tokio::test]
async fn blobs_upload_in_chunks_and_are_verified() {
    let cloud = Cloud::start().await;
    create_repository(&cloud.endpoint, "web", json!({})).await;
    let registry = Registry::login(&cloud.endpoint).await;

    // POST, then chunks with Content-Range, then PUT with the last chunk.
    let response = registry
        .request(Method::POST, "/v2/web/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(header(&response, "range"), "0-0");
    let id = header(&response, "docker-upload-uuid");
    let location = header(&response, "location");
    assert_eq!(location, format!("/v2/web/blobs/uploads/{id}"));
    // Larger than the AWS wire's 2 MiB limit, which the registry does not have.
    let blob: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let response = registry
        .request(Method::PATCH, &location)
        .header("content-range", "0-2499999")
        .body(blob[..2_500_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202, "{}", text(response).await);
    assert_eq!(header(&response, "range"), "0-2499999");
    // A chunk that does not start where the upload ends.
    let response = registry
        .request(Method::PATCH, &location)
        .header("content-range", "2000000-2499999")
        .body(blob[2_000_000..2_500_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "range"), "0-2499999");
    // The refused chunk is left unread, so the connection is not reused.
    assert_eq!(header(&response, "connection"), "close");
    let (status, code, message) = error(response).await;
    assert_eq!((status, code.as_str()), (416, "RANGE_INVALID"));
    assert!(message.contains("starts at byte 2500000"), "{message}");
    let response = registry
        .request(Method::GET, &location)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(header(&response, "range"), "0-2499999");
    let blob_digest = digest(&blob);
    let response = registry
        .request(Method::PUT, &with_digest(&location, &blob_digest))
        .body(blob[2_500_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", text(response).await);
    assert_eq!(
        header(&response, "location"),
        format!("/v2/web/blobs/{blob_digest}")
    );
    assert_eq!(header(&response, "docker-content-digest"), blob_digest);
    // The upload is over.
    let (status, code, _) = error(
        registry
            .request(Method::PATCH, &location)
            .body("more")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));

    let blob_path = format!("/v2/web/blobs/{blob_digest}");
    let response = registry
        .request(Method::HEAD, &blob_path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "content-length"), "3000000");
    assert_eq!(header(&response, "docker-content-digest"), blob_digest);
    let response = registry
        .request(Method::GET, &blob_path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), blob.as_slice());
    let response = registry
        .request(Method::GET, &blob_path)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 206);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &blob[10..20]);

    // Content that is not what its digest says is refused, and the upload
    // is discarded.
    let location = registry.start_upload("web").await;
    let claimed = digest(b"what I meant");
    let response = registry
        .request(Method::PUT, &with_digest(&location, &claimed))
        .body("what I sent")
        .send()
        .await
        .unwrap();
    let (status, code, message) = error(response).await;
    assert_eq!((status, code.as_str()), (400, "DIGEST_INVALID"));
    assert!(message.contains(&digest(b"what I sent")), "{message}");
    let (status, code, _) = error(
        registry
            .request(Method::GET, &location)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    let refused = registry
        .request(
            Method::HEAD,
            &format!("/v2/web/blobs/{}", digest(b"what I sent")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 404, "nothing of it was stored");

    // A whole blob in the POST.
    let small = b"monolithic".to_vec();
    let response = registry
        .request(
            Method::POST,
            &format!("/v2/web/blobs/uploads/?digest={}", digest(&small)),
        )
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", text(response).await);
    assert_eq!(header(&response, "docker-content-digest"), digest(&small));

    // Cancelling an upload.
    let location = registry.start_upload("web").await;
    let response = registry
        .request(Method::DELETE, &location)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, code, _) = error(
        registry
            .request(Method::DELETE, &location)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    // An upload id the registry never gave, or one of another repository.
    create_repository(&cloud.endpoint, "other", json!({})).await;
    let elsewhere = registry.start_upload("other").await;
    let foreign_id = elsewhere.rsplit('/').next().unwrap();
    for id in [
        "00000000-0000-0000-0000-000000000000",
        "token-secret",
        foreign_id,
    ] {
        let (status, code, _) = error(
            registry
                .request(Method::PATCH, &format!("/v2/web/blobs/uploads/{id}"))
                .body("x")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (404, "BLOB_UPLOAD_UNKNOWN"),
            "{id}"
        );
    }

    let (status, code, _) = error(
        registry
            .request(Method::GET, "/v2/web/blobs/sha256:abc")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "DIGEST_INVALID"));
    let (status, code, _) = error(
        registry
            .request(
                Method::GET,
                &format!("/v2/web/blobs/{}", digest(b"never pushed")),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "BLOB_UNKNOWN"));
}

#[tokio::test]
async fn blobs_belong_to_repositories_and_mount_across_them() {
    let cloud = Cloud::start().await;
    for name in ["base", "app"] {
        create_repository(&cloud.endpoint, name, json!({})).await;
    }
    let registry = Registry::login(&cloud.endpoint).await;
    let layer = registry.push_blob("base", b"a shared layer").await;
    let in_app = format!("/v2/app/blobs/{layer}");
    let response = registry
        .request(Method::HEAD, &in_app)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404, "not pushed to app yet");

    // Mounting something the source does not hold starts an upload.
    let response = registry
        .request(
            Method::POST,
            &format!(
                "/v2/app/blobs/uploads/?mount={}&from=base",
                digest(b"nothing")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert!(header(&response, "location").starts_with("/v2/app/blobs/uploads/"));

    for _ in 0..2 {
        // The first mount links it, the second finds it there.
        let response = registry
            .request(
                Method::POST,
                &format!("/v2/app/blobs/uploads/?mount={layer}&from=base"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201, "{}", text(response).await);
        assert_eq!(header(&response, "location"), in_app);
        assert_eq!(header(&response, "docker-content-digest"), layer);
    }
    let response = registry.request(Method::GET, &in_app).send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"a shared layer");
}

#[tokio::test]
async fn manifests_keep_their_media_type_and_need_their_blobs() {
    let cloud = Cloud::start().await;
    create_repository(&cloud.endpoint, "team/web", json!({})).await;
    let registry = Registry::login(&cloud.endpoint).await;
    let pushed = registry
        .push_image("team/web", "v1", &[b"layer one", b"layer two"])
        .await;

    for (method, reference) in [(Method::GET, "v1"), (Method::HEAD, pushed.digest.as_str())] {
        let response = registry
            .request(
                method.clone(),
                &format!("/v2/team/web/manifests/{reference}"),
            )
            .header("accept", format!("{DOCKER_MANIFEST}, {OCI_MANIFEST}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{method} {reference}");
        assert_eq!(header(&response, "content-type"), DOCKER_MANIFEST);
        assert_eq!(header(&response, "docker-content-digest"), pushed.digest);
        assert_eq!(
            header(&response, "content-length"),
            pushed.manifest.len().to_string()
        );
        let body = response.bytes().await.unwrap();
        if method == Method::GET {
            assert_eq!(body.as_ref(), pushed.manifest.as_slice(), "byte for byte");
        }
    }

    // An OCI manifest over the same blobs, pushed by digest.
    let mut oci: Value = serde_json::from_slice(&pushed.manifest).unwrap();
    oci.as_object_mut().unwrap().remove("mediaType");
    oci["config"]["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let oci = serde_json::to_vec(&oci).unwrap();
    let oci_digest = digest(&oci);
    let wrong = registry
        .put_manifest("team/web", &digest(b"other"), OCI_MANIFEST, &oci)
        .await;
    let (status, code, _) = error(wrong).await;
    assert_eq!((status, code.as_str()), (400, "DIGEST_INVALID"));
    let response = registry
        .put_manifest("team/web", &oci_digest, OCI_MANIFEST, &oci)
        .await;
    assert_eq!(response.status().as_u16(), 201, "{}", text(response).await);
    let response = registry
        .request(Method::GET, &format!("/v2/team/web/manifests/{oci_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "content-type"), OCI_MANIFEST);

    // An index over both, tagged.
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST, "size": pushed.manifest.len(), "digest": pushed.digest, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "size": oci.len(), "digest": oci_digest, "platform": {"os": "linux", "architecture": "arm64"}},
        ],
    }))
    .unwrap();
    let response = registry
        .put_manifest("team/web", "multi", OCI_INDEX, &index)
        .await;
    assert_eq!(response.status().as_u16(), 201, "{}", text(response).await);
    let response = registry
        .request(Method::GET, "/v2/team/web/manifests/multi")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "content-type"), OCI_INDEX);
    assert_eq!(header(&response, "docker-content-digest"), digest(&index));

    // What a manifest references must be there first.
    let missing_layer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": digest(b"{}")},
        "layers": [],
    }))
    .unwrap();
    let missing_manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "size": 10, "digest": digest(b"no such manifest")}],
    }))
    .unwrap();
    for (media_type, body, absent) in [
        (DOCKER_MANIFEST, &missing_layer, digest(b"{}")),
        (OCI_INDEX, &missing_manifest, digest(b"no such manifest")),
    ] {
        let response = registry
            .put_manifest("team/web", "broken", media_type, body)
            .await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN", "{body}");
        assert_eq!(
            body["errors"][0]["detail"]["digest"],
            absent.as_str(),
            "{body}"
        );
    }
    let response = registry
        .put_manifest("team/web", "v2", DOCKER_MANIFEST, b"{\"schemaVersion\": 1}")
        .await;
    let (status, code, _) = error(response).await;
    assert_eq!((status, code.as_str()), (400, "MANIFEST_INVALID"));
    let response = registry
        .put_manifest("team/web", "-bad-tag", DOCKER_MANIFEST, &pushed.manifest)
        .await;
    let (status, code, _) = error(response).await;
    assert_eq!((status, code.as_str()), (400, "TAG_INVALID"));
    let response = registry
        .request(Method::GET, "/v2/team/web/manifests/v9")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error(response).await;
    assert_eq!((status, code.as_str()), (404, "MANIFEST_UNKNOWN"));

    // The tag moves to the OCI manifest; tags list.
    let response = registry
        .put_manifest("team/web", "v1", OCI_MANIFEST, &oci)
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let response = registry
        .request(Method::GET, "/v2/team/web/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "docker-content-digest"), oci_digest);
    let tags: Value = registry
        .request(Method::GET, "/v2/team/web/tags/list")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags, json!({"name": "team/web", "tags": ["multi", "v1"]}));
    let response = registry
        .request(Method::GET, "/v2/team/web/tags/list?n=1")
        .send()
        .await
        .unwrap();
    assert!(header(&response, "link").contains("last=multi"));
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["tags"], json!(["multi"]));

    // DescribeImages reports what the manifests say.
    let (status, described) = ecr(
        &cloud.endpoint,
        "DescribeImages",
        json!({"repositoryName": "team/web"}),
    )
    .await;
    assert_eq!(status, 200, "{described}");
    let details = described["imageDetails"].as_array().unwrap();
    let detail = |digest: &str| {
        details
            .iter()
            .find(|d| d["imageDigest"] == digest)
            .unwrap_or_else(|| panic!("{digest} in {described}"))
            .clone()
    };
    let docker = detail(&pushed.digest);
    assert_eq!(docker["imageManifestMediaType"], DOCKER_MANIFEST);
    assert_eq!(docker["imageSizeInBytes"], pushed.size);
    assert!(docker.get("imageTags").is_none(), "v1 moved away: {docker}");
    let oci_detail = detail(&oci_digest);
    assert_eq!(oci_detail["imageTags"], json!(["v1"]));
    assert_eq!(
        oci_detail["artifactMediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let index_detail = detail(&digest(&index));
    assert_eq!(index_detail["imageManifestMediaType"], OCI_INDEX);
    assert_eq!(index_detail["imageSizeInBytes"], pushed.size * 2);

    // An index keeps the manifests it lists.
    let (_, answer) = ecr(
        &cloud.endpoint,
        "BatchDeleteImage",
        json!({"repositoryName": "team/web", "imageIds": [{"imageDigest": pushed.digest}]}),
    )
    .await;
    assert_eq!(
        answer["failures"][0]["failureCode"], "ImageReferencedByManifestList",
        "{answer}"
    );
}

#[tokio::test]
async fn an_immutable_repository_keeps_its_tags() {
    let cloud = Cloud::start().await;
    create_repository(
        &cloud.endpoint,
        "fixed",
        json!({"imageTagMutability": "IMMUTABLE"}),
    )
    .await;
    let registry = Registry::login(&cloud.endpoint).await;
    let first = registry.push_image("fixed", "v1", &[b"first"]).await;
    // The same manifest again is fine.
    let response = registry
        .put_manifest("fixed", "v1", DOCKER_MANIFEST, &first.manifest)
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let second = registry.push_image("fixed", "v2", &[b"second"]).await;
    let response = registry
        .put_manifest("fixed", "v1", DOCKER_MANIFEST, &second.manifest)
        .await;
    let (status, code, message) = error(response).await;
    assert_eq!((status, code.as_str()), (400, "TAG_INVALID"));
    assert!(message.contains("immutable"), "{message}");
}

#[tokio::test]
async fn unknown_and_malformed_repositories() {
    let cloud = Cloud::start().await;
    let registry = Registry::login(&cloud.endpoint).await;
    let response = registry
        .request(Method::POST, "/v2/never-created/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let (status, code, message) = error(response).await;
    assert_eq!((status, code.as_str()), (404, "NAME_UNKNOWN"));
    assert_eq!(
        message,
        "The repository with name 'never-created' does not exist in the registry with id '000000000000'"
    );
    let response = registry
        .request(Method::GET, "/v2/Not_Valid/manifests/v1")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error(response).await;
    assert_eq!((status, code.as_str()), (400, "NAME_INVALID"));
}

#[tokio::test]
async fn images_tokens_and_uploads_survive_a_restart() {
    let mut cloud = Cloud::start().await;
    create_repository(&cloud.endpoint, "web", json!({})).await;
    let registry = Registry::login(&cloud.endpoint).await;
    let pushed = registry.push_image("web", "v1", &[b"kept"]).await;
    let location = registry.start_upload("web").await;
    let response = registry
        .request(Method::PATCH, &location)
        .body("half of ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);

    cloud.kill().await;
    cloud.restart().await;

    // The password from before the restart still works.
    let response = registry
        .request(Method::GET, "/v2/web/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        pushed.manifest.as_slice()
    );
    let layer = registry
        .request(Method::GET, &format!("/v2/web/blobs/{}", digest(b"kept")))
        .send()
        .await
        .unwrap();
    assert_eq!(layer.bytes().await.unwrap().as_ref(), b"kept");
    // The upload goes on where it was, and its digest covers both halves.
    let whole = digest(b"half of a blob");
    let response = registry
        .request(Method::PUT, &with_digest(&location, &whole))
        .body("a blob")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", text(response).await);
}

#[tokio::test]
async fn deleting_images_and_repositories_frees_their_blobs() {
    let cloud = Cloud::start().await;
    for name in ["one", "two"] {
        create_repository(&cloud.endpoint, name, json!({})).await;
    }
    let registry = Registry::login(&cloud.endpoint).await;
    let shared = registry.push_image("one", "v1", &[b"shared layer"]).await;
    registry
        .push_image("two", "v1", &[b"shared layer", b"own layer"])
        .await;
    let stored = |what: &[u8]| {
        let hex = digest(what)["sha256:".len()..].to_owned();
        cloud
            .data_dir
            .join("registry/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .exists()
    };
    assert!(stored(b"shared layer") && stored(b"own layer") && stored(&shared.manifest));

    let (status, answer) = ecr(
        &cloud.endpoint,
        "BatchDeleteImage",
        json!({"repositoryName": "one", "imageIds": [{"imageTag": "v1"}]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["imageIds"],
        json!([{"imageDigest": shared.digest, "imageTag": "v1"}])
    );
    assert!(
        !stored(&shared.manifest),
        "the manifest went with its last tag"
    );

    let (status, answer) = ecr(
        &cloud.endpoint,
        "DeleteRepository",
        json!({"repositoryName": "two"}),
    )
    .await;
    assert_eq!(
        (status, answer["__type"].as_str()),
        (400, Some("RepositoryNotEmptyException"))
    );
    let (status, answer) = ecr(
        &cloud.endpoint,
        "DeleteRepository",
        json!({"repositoryName": "two", "force": true}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(!stored(b"own layer"), "only the deleted repository held it");
    assert!(stored(b"shared layer"), "repository one still holds it");
}
