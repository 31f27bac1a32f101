//! The served OpenAPI document against the server that serves it: valid for
//! openapi-spec-validator, and schemathesis (`st run --checks all`) finds no
//! server error, no undocumented status, no schema-valid request refused and
//! no schema-violating one accepted.

use crate::helpers::TestServer;
use crate::support;
use reqwest::StatusCode;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// 502 is the documented answer when the cloud cannot be reached, and this
/// server's aws environments point at a closed loopback port; any 500 still
/// fails.
///
/// A `static:<dir>` image is valid by the document when it is an absolute
/// path without `..`; whether that directory exists below a static root is
/// the host's file system's to say, which no schema can, so those two
/// operations may refuse a schema-valid image with 422 (field `image`).
const SCHEMATHESIS_CONFIG: &str = r#"
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "502"]

[[operations]]
include-method = "POST"
include-path-regex = '^/api/environments/\{name\}/(releases|deployments)$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"#;

/// Enough for every operation on this 2-core machine, with room to spare.
const SCHEMATHESIS_LIMIT: Duration = Duration::from_secs(180);

fn tool(venv: &Path, name: &str) -> std::path::PathBuf {
    let path = venv.join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup-test-deps, which installs openapi-spec-validator and schemathesis",
        path.display()
    );
    path
}

async fn run(command: &mut Command, limit: Duration) -> (bool, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the tool starts");
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} did not finish within {limit:?}"))
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn the_document_validates_and_schemathesis_finds_nothing() {
    let venv = support::venv();
    let validator = tool(&venv, "openapi-spec-validator");
    let schemathesis = tool(&venv, "st");
    // No test traffic leaves the machine: AWS calls go to a closed loopback
    // port with static credentials (no instance metadata lookup), and there
    // is no Terraform to reach its registry.
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with_env(
        &dir.path().join("data"),
        &[
            "--aws-endpoint-url",
            "http://127.0.0.1:9",
            "--terraform",
            "/nonexistent/terraform",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    )
    .await;
    let doc = s.get("/api/openapi.json", &s.admin_token).await;
    assert_eq!(doc.status, StatusCode::OK);
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc.body).unwrap()).unwrap();

    let (valid, report) = run(Command::new(&validator).arg(&file), Duration::from_secs(60)).await;
    assert!(valid, "openapi-spec-validator: {report}");

    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, SCHEMATHESIS_CONFIG).unwrap();
    let (clean, report) = run(
        Command::new(&schemathesis)
            .current_dir(dir.path())
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(&file)
            .args(["--url", &s.base])
            .args([
                "--header",
                &format!("Authorization: Bearer {}", s.admin_token),
            ])
            .args(["--checks", "all", "--max-examples", "10", "--seed", "1"])
            .args(["--generation-database", "none", "--request-timeout", "5"])
            .arg("--no-color"),
        SCHEMATHESIS_LIMIT,
    )
    .await;
    assert!(clean, "schemathesis found problems:\n{report}");
    assert!(report.contains("Tested: "), "{report}");
}
