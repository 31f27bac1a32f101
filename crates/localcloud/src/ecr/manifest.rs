//! Image manifests as a registry must understand them to store them: which
//! kind a body is (Docker schema 2 or OCI, image or index), the blobs or
//! manifests it references, and the image size ECR reports. Pure: the
//! caller checks the references against what the repository holds.

use super::reference::Digest;
use serde_json::Value;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The largest manifest accepted, as the reference registry limits it.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A content descriptor: what a manifest says of a blob or manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub digest: Digest,
    pub size: u64,
    pub media_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Config and layers: `references` are blobs.
    Image,
    /// A list of per-platform manifests: `references` are manifests.
    Index,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub kind: Kind,
    /// The config's media type (what ECR calls the artifact media type).
    pub artifact_media_type: Option<String>,
    /// What must already be in the repository: for an image its config and
    /// layers (foreign layers, fetched from their own URLs, excluded), for
    /// an index its manifests.
    pub references: Vec<Descriptor>,
    /// Config plus layers, as ECR's imageSizeInBytes counts them; an index
    /// has no size of its own (the caller adds its manifests' sizes).
    pub size: u64,
}

/// Parses a manifest body sent with `content_type` (the request's
/// Content-Type; absent or generic JSON means the body's own `mediaType`).
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Manifest, String> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| format!("the manifest is not valid JSON: {e}"))?;
    let object = json
        .as_object()
        .ok_or("the manifest must be a JSON object")?;
    let declared = object.get("mediaType").and_then(Value::as_str);
    let sent = content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream");
    if let Some(schema1) = [sent, declared]
        .into_iter()
        .flatten()
        .find(|t| DOCKER_SCHEMA1.contains(t))
    {
        return Err(format!(
            "{schema1} (Docker schema 1) manifests are not supported: push with a client that writes schema 2 or OCI manifests"
        ));
    }
    if object.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err("the manifest's schemaVersion must be 2".into());
    }
    let media_type = match (sent, declared) {
        (Some(sent), Some(declared)) if sent != declared => {
            return Err(format!(
                "the manifest was sent as {sent} but its mediaType is {declared}"
            ));
        }
        (Some(media_type), _) | (None, Some(media_type)) => media_type.to_owned(),
        // OCI lets mediaType out; the shape tells which kind it is.
        (None, None) if object.contains_key("manifests") => OCI_INDEX.to_owned(),
        (None, None) if object.contains_key("config") => OCI_MANIFEST.to_owned(),
        (None, None) => {
            return Err(
                "the manifest names no mediaType and is neither an image manifest nor an index"
                    .into(),
            );
        }
    };
    match media_type.as_str() {
        DOCKER_MANIFEST | OCI_MANIFEST => {
            let config = descriptor(
                object
                    .get("config")
                    .ok_or("an image manifest needs a config")?,
                "config",
            )?;
            let layers = list(object.get("layers"), "layers")?;
            let mut references = vec![config.clone()];
            let mut size = config.size;
            for (i, layer) in layers.iter().enumerate() {
                let what = format!("layers[{i}]");
                let descriptor = descriptor(layer, &what)?;
                size += descriptor.size;
                let foreign = layer
                    .get("urls")
                    .and_then(Value::as_array)
                    .is_some_and(|urls| !urls.is_empty());
                if !foreign {
                    references.push(descriptor);
                }
            }
            Ok(Manifest {
                media_type,
                kind: Kind::Image,
                artifact_media_type: config.media_type,
                references,
                size,
            })
        }
        DOCKER_MANIFEST_LIST | OCI_INDEX => {
            let manifests = list(object.get("manifests"), "manifests")?;
            let references = manifests
                .iter()
                .enumerate()
                .map(|(i, m)| descriptor(m, &format!("manifests[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Manifest {
                media_type,
                kind: Kind::Index,
                artifact_media_type: None,
                references,
                size: 0,
            })
        }
        other => Err(format!(
            "manifests of media type {other} are not supported (use {DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}, \
             {OCI_MANIFEST} or {OCI_INDEX})"
        )),
    }
}

fn list<'a>(value: Option<&'a Value>, what: &str) -> Result<&'a [Value], String> {
    match value {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(format!("the manifest's {what} must be a list")),
    }
}

fn descriptor(value: &Value, what: &str) -> Result<Descriptor, String> {
    let digest = value
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} has no digest"))?;
    let digest = Digest::parse(digest).map_err(|why| format!("{what}: {why}"))?;
    let size = value
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{what} needs a size in bytes"))?;
    Ok(Descriptor {
        digest,
        size,
        media_type: value
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn image(media_type: Option<&str>) -> Value {
        let mut m = json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 100, "digest": digest(1)},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1000, "digest": digest(2)},
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 20, "digest": digest(3)},
            ],
        });
        if let Some(t) = media_type {
            m["mediaType"] = json!(t);
        }
        m
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn an_image_manifest_references_its_config_and_layers() {
        let m = parse(Some(DOCKER_MANIFEST), &bytes(&image(Some(DOCKER_MANIFEST)))).unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert_eq!(m.kind, Kind::Image);
        assert_eq!(
            m.artifact_media_type.as_deref(),
            Some("application/vnd.docker.container.image.v1+json")
        );
        let refs: Vec<&str> = m.references.iter().map(|d| d.digest.as_str()).collect();
        assert_eq!(refs, [digest(1), digest(2), digest(3)]);
        assert_eq!(m.size, 1120);
    }

    #[test]
    fn the_media_type_comes_from_the_header_or_the_body() {
        let oci = bytes(&image(None));
        assert_eq!(
            parse(Some(OCI_MANIFEST), &oci).unwrap().media_type,
            OCI_MANIFEST
        );
        // No header and no mediaType: OCI by shape.
        assert_eq!(parse(None, &oci).unwrap().media_type, OCI_MANIFEST);
        let docker = bytes(&image(Some(DOCKER_MANIFEST)));
        assert_eq!(
            parse(Some("application/json"), &docker).unwrap().media_type,
            DOCKER_MANIFEST
        );
        let why = parse(Some(OCI_MANIFEST), &docker).unwrap_err();
        assert!(
            why.contains("sent as") && why.contains(DOCKER_MANIFEST),
            "{why}"
        );
    }

    #[test]
    fn an_index_references_manifests() {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "size": 500, "digest": digest(7), "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "size": 501, "digest": digest(8)},
            ],
        });
        let m = parse(None, &bytes(&index)).unwrap();
        assert_eq!(m.kind, Kind::Index);
        assert_eq!(m.media_type, OCI_INDEX);
        let refs: Vec<&str> = m.references.iter().map(|d| d.digest.as_str()).collect();
        assert_eq!(refs, [digest(7), digest(8)]);
        let list = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": []});
        assert_eq!(
            parse(Some(DOCKER_MANIFEST_LIST), &bytes(&list))
                .unwrap()
                .kind,
            Kind::Index
        );
    }

    #[test]
    fn foreign_layers_are_counted_but_not_required() {
        let mut m = image(Some(DOCKER_MANIFEST));
        m["layers"][1]["urls"] = json!(["https://example.invalid/layer"]);
        let m = parse(None, &bytes(&m)).unwrap();
        assert_eq!(m.references.len(), 2);
        assert_eq!(m.size, 1120);
    }

    #[test]
    fn broken_manifests_say_what_is_wrong() {
        let mut no_digest = image(Some(DOCKER_MANIFEST));
        no_digest["layers"][0]
            .as_object_mut()
            .unwrap()
            .remove("digest");
        let mut bad_digest = image(Some(DOCKER_MANIFEST));
        bad_digest["config"]["digest"] = json!("md5:abc");
        let mut no_size = image(Some(DOCKER_MANIFEST));
        no_size["layers"][1].as_object_mut().unwrap().remove("size");
        let mut schema1 = image(None);
        schema1["schemaVersion"] = json!(1);
        let cases = [
            (None, b"not json".to_vec(), "not valid JSON"),
            (None, b"[1]".to_vec(), "JSON object"),
            (None, bytes(&no_digest), "layers[0] has no digest"),
            (None, bytes(&bad_digest), "config: "),
            (None, bytes(&no_size), "layers[1] needs a size"),
            (None, bytes(&schema1), "schemaVersion must be 2"),
            (
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                bytes(&image(None)),
                "schema 1",
            ),
            (
                Some("application/vnd.example+json"),
                bytes(&json!({"schemaVersion": 2, "mediaType": "application/vnd.example+json"})),
                "not supported",
            ),
            (None, bytes(&json!({"schemaVersion": 2})), "neither"),
        ];
        for (content_type, body, expected) in cases {
            let why = parse(content_type, &body).unwrap_err();
            assert!(why.contains(expected), "{expected:?} in {why:?}");
        }
    }
}
