//! The served OpenAPI document against the server that serves it: valid for
//! openapi-spec-validator, and schemathesis (`st run --checks all`) finds no
//! server error, no undocumented status, no schema-valid request refused and
//! no schema-violating one accepted, for each of several seeds.

use crate::helpers::TestServer;
use crate::support;
use reqwest::StatusCode;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// 502 is the documented answer when the cloud cannot be reached, and this
/// server's aws environments point at a closed loopback port (and it has no
/// Terraform); any 500 still fails.
///
/// A `static:<dir>` image is valid by the document when it is an absolute
/// path without `..`; whether that directory exists below a static root is
/// the host's file system's to say, which no schema can, so the two
/// operations that take an image may refuse a schema-valid one with 422, as
/// their documented 422 says. (One filter per entry: schemathesis ORs the
/// filters of an entry, so `include-method` and `include-path-regex` side
/// by side would match every POST.)
///
/// An environment's settings have rules across fields that the document
/// states in words, not in its schema: `ecs_deployment` belongs to the ecs
/// controller, the CodeDeploy waits and hooks to the codedeploy one, and
/// `linear` / `canary` to their strategy. So creating, changing or moving an
/// environment may refuse a schema-valid body with its documented 422,
/// which names the field.
///
/// The stateful phase fills `{id}` of the deployment operations from lists
/// whose `deployment_id` may be null (the audit trail, pipeline runs), and
/// schemathesis 4.32.5 picks a null among the matches of such a wildcard
/// link and sends it as the text `None`, which the server rightly refuses
/// with 400; a request with a real id cannot get a 400 there.
const SCHEMATHESIS_CONFIG: &str = r#"
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "502"]

[[operations]]
include-name-regex = '^POST /api/environments/\{name\}/(releases|deployments)$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "502"]

[[operations]]
include-name-regex = '^(POST /api/environments|PATCH /api/environments/\{name\}|POST /api/environments/\{name\}/migrate)$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "502"]

# Exactly one of version and image: a rule between query parameters that
# OpenAPI cannot state, answered 422 naming the field.
[[operations]]
include-name-regex = '^GET /api/environments/\{name\}/diff$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "502"]

[[operations]]
include-path-regex = '^/api/deployments/\{id\}'
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
"#;

/// The seeds every run tries, each against a fresh server. The first runs
/// every phase; the others only the phases whose cases the seed draws
/// (fuzzing and stateful), since the examples and the coverage phase's
/// boundary values are the same whatever the seed.
const SEEDS: [u32; 5] = [1, 2, 3, 4, 5];
const MAX_EXAMPLES: &str = "25";

/// One seed takes about 30 s on an idle 2-core machine; room for a busy one.
const SEED_LIMIT: Duration = Duration::from_secs(150);

/// A request's limit. Checking an aws environment whose endpoint refuses
/// connections spends the SDK's retries on each resource in turn, close to
/// 5 s on an idle machine.
const REQUEST_TIMEOUT: &str = "30";

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

/// A server whose AWS calls stay on the machine: they go to a closed
/// loopback port with static credentials (no instance metadata lookup), and
/// there is no Terraform to reach its registry.
async fn isolated_server(data_dir: &Path) -> TestServer {
    TestServer::start_with_env(
        data_dir,
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
    .await
}

/// Writes the document `s` serves to `file`.
async fn save_document(s: &TestServer, file: &Path) {
    let doc = s.get("/api/openapi.json", &s.admin_token).await;
    assert_eq!(doc.status, StatusCode::OK);
    std::fs::write(file, serde_json::to_vec(&doc.body).unwrap()).unwrap();
}

/// `st run` with one seed against a fresh server: its report if it found
/// something.
async fn schemathesis(st: &Path, dir: &Path, seed: u32) -> Option<String> {
    let s = isolated_server(&dir.join(format!("data-{seed}"))).await;
    let document = dir.join(format!("openapi-{seed}.json"));
    save_document(&s, &document).await;
    let phases = if seed == SEEDS[0] {
        "examples,coverage,fuzzing,stateful"
    } else {
        "fuzzing,stateful"
    };
    let (clean, report) = run(
        Command::new(st)
            .current_dir(dir)
            .arg("--config-file")
            .arg(dir.join("schemathesis.toml"))
            .arg("run")
            .arg(&document)
            .args(["--url", &s.base])
            .args([
                "--header",
                &format!("Authorization: Bearer {}", s.admin_token),
            ])
            .args(["--checks", "all", "--phases", phases])
            .args(["--max-examples", MAX_EXAMPLES, "--seed", &seed.to_string()])
            .args([
                "--generation-database",
                "none",
                "--request-timeout",
                REQUEST_TIMEOUT,
            ])
            .arg("--no-color"),
        SEED_LIMIT,
    )
    .await;
    assert!(report.contains("Tested: "), "seed {seed}: {report}");
    // Every request the run made counted: it did not lock itself out.
    let me = s.get("/api/me", &s.admin_token).await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "seed {seed}: the admin token stopped working"
    );
    (!clean).then(|| {
        format!(
            "seed {seed} (st run --checks all --phases {phases} --max-examples {MAX_EXAMPLES} \
             --seed {seed}):\n{report}"
        )
    })
}

#[tokio::test]
async fn the_document_validates_and_schemathesis_finds_nothing() {
    let venv = support::venv();
    let validator = tool(&venv, "openapi-spec-validator");
    let st = tool(&venv, "st");
    let dir = tempfile::tempdir().unwrap();
    {
        let s = isolated_server(&dir.path().join("data")).await;
        let file = dir.path().join("openapi.json");
        save_document(&s, &file).await;
        let (valid, report) =
            run(Command::new(&validator).arg(&file), Duration::from_secs(60)).await;
        assert!(valid, "openapi-spec-validator: {report}");
    }

    std::fs::write(dir.path().join("schemathesis.toml"), SCHEMATHESIS_CONFIG).unwrap();
    let started = Instant::now();
    let mut failures = Vec::new();
    for seed in SEEDS {
        failures.extend(schemathesis(&st, dir.path(), seed).await);
    }
    eprintln!("schemathesis: seeds {SEEDS:?} in {:.0?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "schemathesis found problems:\n{}",
        failures.join("\n")
    );
}
