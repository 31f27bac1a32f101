use super::*;
use crate::release::ReleaseMessage;
use http::{HeaderName, HeaderValue};
use serde_json::json;

const SECRET: &str = "correct horse battery staple";

const GITHUB_PUSH: &str = include_str!("fixtures/github-push.json");
const GITHUB_PING: &str = include_str!("fixtures/github-ping.json");
const GITHUB_DELETE: &str = include_str!("fixtures/github-delete.json");
const GITHUB_TAG: &str = include_str!("fixtures/github-tag.json");
const GITLAB_PUSH: &str = include_str!("fixtures/gitlab-push.json");
const GITLAB_TAG_PUSH: &str = include_str!("fixtures/gitlab-tag-push.json");
const GITEA_PUSH: &str = include_str!("fixtures/gitea-push.json");
const GENERIC_PUSH: &str = include_str!("fixtures/generic-push.json");

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Headers as GitHub sends them for `body`, signed with `secret`.
fn github_headers(event: &str, secret: &str, body: &[u8]) -> HeaderMap {
    headers(&[
        ("User-Agent", "GitHub-Hookshot/044aadd"),
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-GitHub-Hook-ID", "30"),
        (
            "X-Hub-Signature",
            "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6",
        ),
        (
            "X-Hub-Signature-256",
            &sha256_signature_header(secret, body),
        ),
    ])
}

/// Headers as Gitea sends them (it also sends GitHub's and Gogs' names),
/// with the signature computed over `signed`.
fn gitea_headers(secret: &str, signed: &[u8], content_type: &str) -> HeaderMap {
    let signature = hmac_sha256_hex(secret, signed);
    headers(&[
        ("Content-Type", content_type),
        ("X-Gitea-Event", "push"),
        ("X-Gitea-Event-Type", "push"),
        ("X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-Gitea-Signature", &signature),
        ("X-Gogs-Event", "push"),
        ("X-Gogs-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-Gogs-Signature", &signature),
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-Hub-Signature-256", &format!("sha256={signature}")),
    ])
}

fn gitlab_headers(event_header: &str, token: &str) -> HeaderMap {
    headers(&[
        ("Content-Type", "application/json"),
        ("User-Agent", "GitLab/17.6.0"),
        ("X-Gitlab-Event", event_header),
        ("X-Gitlab-Token", token),
        ("X-Gitlab-Instance", "https://gitlab.example.com"),
        (
            "X-Gitlab-Webhook-UUID",
            "8c5e2f3a-3c3e-4a8e-9f31-5f6a0c1d2e3f",
        ),
        (
            "X-Gitlab-Event-UUID",
            "2a0c3a3e-77a1-4b56-8a5b-58c1f1e0a9d7",
        ),
        ("Idempotency-Key", "f2b8c4a6-0e5d-4b7f-9a3c-1d2e3f4a5b6c"),
    ])
}

fn generic_headers(event: &str, secret: &str, body: &[u8]) -> HeaderMap {
    headers(&[
        ("Content-Type", "application/json"),
        ("X-Switchyard-Event", event),
        ("X-Switchyard-Delivery", "post-receive-1764235000-4242"),
        (
            "X-Switchyard-Signature",
            &sha256_signature_header(secret, body),
        ),
    ])
}

/// A fixture with some fields replaced, as compact JSON.
fn edited(fixture: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(fixture).unwrap();
    edit(&mut value);
    serde_json::to_string(&value).unwrap()
}

fn github_push_of(body: &str) -> Result<Option<Push>, WebhookError> {
    let delivery = read_delivery(
        Provider::GitHub,
        &github_headers("push", SECRET, body.as_bytes()),
        body.as_bytes(),
    )?;
    assert!(delivery.verify(SECRET));
    delivery.push()
}

fn field_of(error: WebhookError) -> String {
    match error {
        WebhookError::InvalidPayload(FieldError { field, .. }) => field,
        other => panic!("expected an invalid payload, got {other:?}"),
    }
}

// ---- signatures ----

#[test]
fn github_documented_test_vector() {
    let expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(
        hmac_sha256_hex("It's a Secret to Everybody", b"Hello, World!"),
        expected
    );
    assert_eq!(
        sha256_signature_header("It's a Secret to Everybody", b"Hello, World!"),
        format!("sha256={expected}")
    );
    // And the verifying side accepts exactly that header.
    let sent = headers(&[("X-Hub-Signature-256", &format!("sha256={expected}"))]);
    let delivery = Delivery {
        provider: Provider::GitHub,
        event: EventKind::Ping,
        delivery_id: None,
        credential: Credential::HmacSha256(signature_digest(
            &sent,
            "X-Hub-Signature-256",
            "sha256=",
        )),
        signed: b"Hello, World!".to_vec(),
        payload: Value::Null,
        body_sha256: body_sha256(b"Hello, World!"),
    };
    assert!(delivery.verify("It's a Secret to Everybody"));
    assert!(!delivery.verify("It's a secret to everybody"));
}

#[test]
fn github_signature_must_be_present_well_formed_and_right() {
    let body = GITHUB_PUSH.as_bytes();
    let good = sha256_signature_header(SECRET, body);
    let read_with = |signature_headers: &[(&str, &str)]| {
        let mut sent = headers(&[("X-GitHub-Event", "push")]);
        for (name, value) in signature_headers {
            sent.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        read_delivery(Provider::GitHub, &sent, body).unwrap()
    };

    assert!(read_with(&[("X-Hub-Signature-256", &good)]).verify(SECRET));
    // Hex case does not matter.
    assert!(
        read_with(&[(
            "X-Hub-Signature-256",
            &good.to_uppercase().replace("SHA256=", "sha256=")
        )])
        .verify(SECRET)
    );

    let wrong_secret = sha256_signature_header("not the secret", body);
    let truncated = &good[..good.len() - 2];
    let bare_hex = good.trim_start_matches("sha256=").to_owned();
    let not_hex = format!("sha256={}", "zz".repeat(32));
    let refused: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("wrong secret", vec![("X-Hub-Signature-256", &wrong_secret)]),
        ("missing", vec![]),
        ("empty", vec![("X-Hub-Signature-256", "")]),
        (
            "sha256= with nothing after",
            vec![("X-Hub-Signature-256", "sha256=")],
        ),
        ("truncated", vec![("X-Hub-Signature-256", truncated)]),
        (
            "without its sha256= prefix",
            vec![("X-Hub-Signature-256", &bare_hex)],
        ),
        ("not hex", vec![("X-Hub-Signature-256", &not_hex)]),
        (
            "legacy SHA-1 header only",
            vec![(
                "X-Hub-Signature",
                "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6",
            )],
        ),
        (
            "sent twice",
            vec![
                ("X-Hub-Signature-256", &good),
                ("X-Hub-Signature-256", &good),
            ],
        ),
    ];
    for (case, signature_headers) in refused {
        assert!(
            !read_with(&signature_headers).verify(SECRET),
            "{case} verified"
        );
    }
}

#[test]
fn an_empty_secret_never_verifies() {
    // HMAC with an empty key is computable by anyone.
    let body = GITHUB_PUSH.as_bytes();
    let delivery =
        read_delivery(Provider::GitHub, &github_headers("push", "", body), body).unwrap();
    assert!(!delivery.verify(""));

    let gitlab = read_delivery(
        Provider::GitLab,
        &gitlab_headers("Push Hook", ""),
        GITLAB_PUSH.as_bytes(),
    )
    .unwrap();
    assert!(!gitlab.verify(""));
}

#[test]
fn signatures_cover_the_exact_raw_bytes() {
    // The same JSON re-serialised (compact, escaped differently) has other
    // bytes: a signature over the original does not cover it.
    let original = GITHUB_PUSH.as_bytes();
    let reserialised =
        serde_json::to_vec(&serde_json::from_slice::<Value>(original).unwrap()).unwrap();
    let sent = github_headers("push", SECRET, original);
    assert!(
        read_delivery(Provider::GitHub, &sent, original)
            .unwrap()
            .verify(SECRET)
    );
    assert!(
        !read_delivery(Provider::GitHub, &sent, &reserialised)
            .unwrap()
            .verify(SECRET)
    );

    // One changed byte inside the UTF-8 of an emoji breaks it too.
    let mut tampered = original.to_vec();
    let rocket = GITHUB_PUSH.find('🚀').unwrap();
    tampered[rocket + 3] ^= 0x01;
    let delivery = read_delivery(Provider::GitHub, &sent, &tampered);
    assert!(delivery.map_or(true, |d| !d.verify(SECRET)));
}

// ---- GitHub ----

#[test]
fn github_push_fixture() {
    let body = GITHUB_PUSH.as_bytes();
    let delivery = read_delivery(
        Provider::GitHub,
        &github_headers("push", SECRET, body),
        body,
    )
    .unwrap();
    assert_eq!(delivery.provider, Provider::GitHub);
    assert_eq!(delivery.event, EventKind::Push);
    assert_eq!(
        delivery.delivery_id.as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert!(delivery.verify(SECRET));
    assert!(!delivery.verify("correct horse battery stapler"));

    let push = delivery.push().unwrap().expect("a branch push");
    assert_eq!(push.branch, "main");
    assert_eq!(push.before, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    assert_eq!(push.after, "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5");
    assert_eq!(push.pusher, "monalisa");
    assert_eq!(
        push.compare.as_deref(),
        Some("https://github.com/octo-org/app-sample/compare/6113728f27ae...59b20b8d5c6f")
    );
    assert_eq!(push.commit_count, 2);
    let listed: Vec<&str> = push.commits.iter().map(|c| &c.id[..7]).collect();
    assert_eq!(listed, ["59b20b8", "0d1a26e"], "newest first");
    assert_eq!(push.commits[0], push.commit);
    let commit = &push.commit;
    assert_eq!(commit.id, push.after);
    assert_eq!(
        commit.message,
        "Green banner for the new release 🚀\n\nÜbersetzung: „Grün“ — ✓ tested on staging."
    );
    assert_eq!(commit.author_name, "Mona Lisa Octocat");
    assert_eq!(
        commit.author_email.as_deref(),
        Some("monalisa@users.noreply.github.com")
    );
    assert_eq!(commit.author_username.as_deref(), Some("monalisa"));
    assert_eq!(
        commit.timestamp,
        Some(DateTime::parse_from_rfc3339("2026-11-27T10:03:17+01:00").unwrap())
    );
    ReleaseMessage::parse(&commit.message).unwrap();

    let repository = delivery.repository();
    assert_eq!(
        repository.primary(),
        Some("https://github.com/octo-org/app-sample.git")
    );
    for configured in [
        "https://github.com/octo-org/app-sample.git",
        "https://github.com/octo-org/app-sample",
        "https://GitHub.COM/octo-org/app-sample/",
        "git@github.com:octo-org/app-sample.git",
        "ssh://git@github.com/octo-org/app-sample.git",
        "octo-org/app-sample",
    ] {
        assert!(repository.matches(configured), "{configured} did not match");
    }
    assert!(!repository.matches("https://github.com/octo-org/other-app"));
    assert!(!repository.matches(""));
}

#[test]
fn github_ping_fixture() {
    let body = GITHUB_PING.as_bytes();
    let delivery = read_delivery(
        Provider::GitHub,
        &github_headers("ping", SECRET, body),
        body,
    )
    .unwrap();
    assert_eq!(delivery.event, EventKind::Ping);
    assert!(delivery.verify(SECRET));
    assert_eq!(delivery.push().unwrap(), None);
    assert!(
        delivery
            .repository()
            .matches("https://github.com/octo-org/app-sample")
    );
}

#[test]
fn github_other_events_carry_their_name_and_no_push() {
    let body = br#"{"action":"opened","repository":{"full_name":"octo-org/app-sample"}}"#;
    let delivery = read_delivery(
        Provider::GitHub,
        &github_headers("issues", SECRET, body),
        body,
    )
    .unwrap();
    assert_eq!(delivery.event, EventKind::Other("issues".into()));
    assert_eq!(delivery.event.as_str(), "issues");
    assert_eq!(delivery.push().unwrap(), None);
}

#[test]
fn github_form_encoded_is_signed_over_the_form_body() {
    let form = serde_urlencoded::to_string([("payload", GITHUB_PUSH)]).unwrap();
    let mut sent = github_headers("push", SECRET, form.as_bytes());
    sent.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let delivery = read_delivery(Provider::GitHub, &sent, form.as_bytes()).unwrap();
    assert!(delivery.verify(SECRET));
    let push = delivery.push().unwrap().unwrap();
    assert_eq!(push, github_push_of(GITHUB_PUSH).unwrap().unwrap());
    assert!(push.commit.message.contains('🚀'));

    // A signature over the JSON inside does not cover a form delivery.
    sent.insert(
        "X-Hub-Signature-256",
        HeaderValue::from_str(&sha256_signature_header(SECRET, GITHUB_PUSH.as_bytes())).unwrap(),
    );
    assert!(
        !read_delivery(Provider::GitHub, &sent, form.as_bytes())
            .unwrap()
            .verify(SECRET)
    );
}

#[test]
fn github_tag_pushes_and_branch_deletions_are_not_pushes() {
    assert_eq!(github_push_of(GITHUB_TAG).unwrap(), None);
    assert_eq!(github_push_of(GITHUB_DELETE).unwrap(), None);
    // An all-zero `after` is a deletion even without the flag.
    let unflagged = edited(GITHUB_DELETE, |v| {
        v.as_object_mut().unwrap().remove("deleted");
    });
    assert_eq!(github_push_of(&unflagged).unwrap(), None);
}

#[test]
fn github_head_commit_falls_back_to_the_commits_then_to_the_pusher() {
    let without_head = edited(GITHUB_PUSH, |v| v["head_commit"] = Value::Null);
    let push = github_push_of(&without_head).unwrap().unwrap();
    assert_eq!(push.commit.id, push.after);
    assert_eq!(push.commit.author_name, "Mona Lisa Octocat");

    // A new branch at an existing commit may list nothing about it.
    let bare = edited(GITHUB_PUSH, |v| {
        v["head_commit"] = Value::Null;
        v["commits"] = json!([]);
    });
    let push = github_push_of(&bare).unwrap().unwrap();
    assert_eq!(push.commit.id, push.after);
    assert_eq!(push.commit.author_name, "monalisa");
    assert_eq!(push.commit.message, "");
    assert_eq!(push.commit_count, 0);
}

#[test]
fn a_badly_spelled_listed_commit_is_left_out_of_the_list_not_the_push() {
    let odd = edited(GITHUB_PUSH, |v| {
        v["commits"][0]["id"] = json!("not a commit")
    });
    let push = github_push_of(&odd).unwrap().unwrap();
    let listed: Vec<&str> = push.commits.iter().map(|c| &c.id[..7]).collect();
    assert_eq!(listed, ["59b20b8"]);
    assert_eq!(push.commit_count, 2);
}

#[test]
fn github_pusher_is_the_sender_login_else_the_pusher_name() {
    let no_sender = edited(GITHUB_PUSH, |v| {
        v.as_object_mut().unwrap().remove("sender");
        v["pusher"]["name"] = json!("web-flow");
    });
    assert_eq!(
        github_push_of(&no_sender).unwrap().unwrap().pusher,
        "web-flow"
    );
    let nobody = edited(GITHUB_PUSH, |v| {
        v.as_object_mut().unwrap().remove("sender");
        v.as_object_mut().unwrap().remove("pusher");
    });
    assert_eq!(
        field_of(github_push_of(&nobody).unwrap_err()),
        "sender.login"
    );
}

// ---- GitLab ----

#[test]
fn gitlab_push_from_a_system_hook_with_a_redacted_email() {
    for event_header in ["Push Hook", "System Hook"] {
        let delivery = read_delivery(
            Provider::GitLab,
            &gitlab_headers(event_header, SECRET),
            GITLAB_PUSH.as_bytes(),
        )
        .unwrap();
        assert_eq!(delivery.event, EventKind::Push, "{event_header}");
        assert_eq!(
            delivery.delivery_id.as_deref(),
            Some("f2b8c4a6-0e5d-4b7f-9a3c-1d2e3f4a5b6c"),
            "Idempotency-Key comes first"
        );
        assert!(delivery.verify(SECRET));
        let push = delivery.push().unwrap().unwrap();
        assert_eq!(push.branch, "main");
        assert_eq!(push.before, "95790bf891e76fee5e1747ab589903a6a1f80f22");
        assert_eq!(push.after, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
        assert_eq!(push.pusher, "jsmith");
        assert_eq!(push.compare, None);
        assert_eq!(
            push.commit_count, 4,
            "total_commits_count, not the list's length"
        );
        let listed: Vec<&str> = push.commits.iter().map(|c| &c.id[..7]).collect();
        assert_eq!(listed, ["da15608", "b6568db"], "newest first");
        assert_eq!(push.commit.id, push.after);
        assert_eq!(push.commit.message, "fixed readme 🎉\n");
        assert_eq!(push.commit.author_name, "GitLab dev user");
        assert_eq!(
            push.commit.author_email.as_deref(),
            Some("gitlabdev@dv6700.(none)")
        );
        assert_eq!(push.commit.author_username, None);
        assert_eq!(
            push.commit.timestamp,
            Some(DateTime::parse_from_rfc3339("2012-01-03T23:36:29+02:00").unwrap())
        );
        let repository = delivery.repository();
        for configured in [
            "https://gitlab.example.com/mike/diaspora.git",
            "git@gitlab.example.com:mike/diaspora.git",
            "https://gitlab.example.com/mike/diaspora",
            "mike/diaspora",
        ] {
            assert!(repository.matches(configured), "{configured}");
        }
    }

    let redacted = edited(GITLAB_PUSH, |v| {
        v["commits"][1]["author"]["email"] = json!("[REDACTED]")
    });
    let delivery = read_delivery(
        Provider::GitLab,
        &gitlab_headers("Push Hook", SECRET),
        redacted.as_bytes(),
    )
    .unwrap();
    assert_eq!(delivery.push().unwrap().unwrap().commit.author_email, None);
}

#[test]
fn gitlab_token_is_compared_exactly() {
    let body = GITLAB_PUSH.as_bytes();
    let with_token = |token: &str| {
        read_delivery(Provider::GitLab, &gitlab_headers("Push Hook", token), body).unwrap()
    };
    assert!(with_token(SECRET).verify(SECRET));
    for wrong in [
        "",
        "correct horse battery stapl",
        "correct horse battery staple ",
        "CORRECT HORSE BATTERY STAPLE",
        "x",
    ] {
        assert!(!with_token(wrong).verify(SECRET), "{wrong:?} verified");
    }
    let mut no_token = gitlab_headers("Push Hook", SECRET);
    no_token.remove("X-Gitlab-Token");
    assert!(
        !read_delivery(Provider::GitLab, &no_token, body)
            .unwrap()
            .verify(SECRET)
    );
    let mut twice = gitlab_headers("Push Hook", SECRET);
    twice.append("X-Gitlab-Token", HeaderValue::from_static("another"));
    assert!(
        !read_delivery(Provider::GitLab, &twice, body)
            .unwrap()
            .verify(SECRET)
    );
}

#[test]
fn gitlab_debug_output_never_shows_the_token() {
    let delivery = read_delivery(
        Provider::GitLab,
        &gitlab_headers("Push Hook", SECRET),
        GITLAB_PUSH.as_bytes(),
    )
    .unwrap();
    let shown = format!("{delivery:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("token"));
}

#[test]
fn gitlab_delivery_id_falls_back_to_the_event_uuid() {
    let mut sent = gitlab_headers("Push Hook", SECRET);
    sent.remove("Idempotency-Key");
    let delivery = read_delivery(Provider::GitLab, &sent, GITLAB_PUSH.as_bytes()).unwrap();
    assert_eq!(
        delivery.delivery_id.as_deref(),
        Some("2a0c3a3e-77a1-4b56-8a5b-58c1f1e0a9d7")
    );
    sent.remove("X-Gitlab-Event-UUID");
    let delivery = read_delivery(Provider::GitLab, &sent, GITLAB_PUSH.as_bytes()).unwrap();
    assert_eq!(delivery.delivery_id, None);
}

#[test]
fn without_a_delivery_id_the_body_is_the_dedup_key() {
    let mut sent = gitlab_headers("Push Hook", SECRET);
    let with_id = read_delivery(Provider::GitLab, &sent, GITLAB_PUSH.as_bytes()).unwrap();
    assert_eq!(with_id.dedup_key(), "f2b8c4a6-0e5d-4b7f-9a3c-1d2e3f4a5b6c");
    sent.remove("Idempotency-Key");
    sent.remove("X-Gitlab-Event-UUID");
    let first = read_delivery(Provider::GitLab, &sent, GITLAB_PUSH.as_bytes()).unwrap();
    let again = read_delivery(Provider::GitLab, &sent, GITLAB_PUSH.as_bytes()).unwrap();
    assert_eq!(first.dedup_key(), again.dedup_key());
    assert!(
        first.dedup_key().starts_with("body-sha256:") && first.dedup_key().len() == 12 + 64,
        "{}",
        first.dedup_key()
    );
    let other_body = GITLAB_PUSH.replacen('{', "{\"x\": 1, ", 1);
    let other = read_delivery(Provider::GitLab, &sent, other_body.as_bytes()).unwrap();
    assert_ne!(first.dedup_key(), other.dedup_key());
}

#[test]
fn gitlab_event_kind_comes_from_the_payload() {
    // The header says push; the payload says merge request: the payload wins.
    let merge_request = br#"{"object_kind":"merge_request","event_type":"merge_request","project":{"path_with_namespace":"mike/diaspora"}}"#;
    let delivery = read_delivery(
        Provider::GitLab,
        &gitlab_headers("Push Hook", SECRET),
        merge_request,
    )
    .unwrap();
    assert_eq!(delivery.event, EventKind::Other("merge_request".into()));
    assert_eq!(delivery.push().unwrap(), None);

    // System hooks may name it in event_name only.
    let system = edited(GITLAB_PUSH, |v| {
        v.as_object_mut().unwrap().remove("object_kind");
    });
    let delivery = read_delivery(
        Provider::GitLab,
        &gitlab_headers("System Hook", SECRET),
        system.as_bytes(),
    )
    .unwrap();
    assert_eq!(delivery.event, EventKind::Push);
    assert!(delivery.push().unwrap().is_some());

    let unnamed = edited(GITLAB_PUSH, |v| {
        let object = v.as_object_mut().unwrap();
        object.remove("object_kind");
        object.remove("event_name");
    });
    let error = read_delivery(
        Provider::GitLab,
        &gitlab_headers("Push Hook", SECRET),
        unnamed.as_bytes(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("object_kind"), "{error}");
}

#[test]
fn gitlab_tag_pushes_and_branch_deletions_are_not_pushes() {
    let sent = gitlab_headers("Tag Push Hook", SECRET);
    let delivery = read_delivery(Provider::GitLab, &sent, GITLAB_TAG_PUSH.as_bytes()).unwrap();
    assert_eq!(delivery.event, EventKind::Push);
    assert_eq!(delivery.push().unwrap(), None);
    assert!(
        delivery
            .repository()
            .matches("ssh://git@gitlab.example.com/jsmith/example.git")
    );

    let deletion = edited(GITLAB_PUSH, |v| {
        v["before"] = v["after"].clone();
        v["after"] = json!("0000000000000000000000000000000000000000");
        v["checkout_sha"] = Value::Null;
        v["commits"] = json!([]);
        v["total_commits_count"] = json!(0);
    });
    let delivery = read_delivery(
        Provider::GitLab,
        &gitlab_headers("Push Hook", SECRET),
        deletion.as_bytes(),
    )
    .unwrap();
    assert_eq!(delivery.push().unwrap(), None);
}

#[test]
fn gitlab_head_commit_is_the_checkout_sha_else_the_last() {
    let reordered = edited(GITLAB_PUSH, |v| {
        let commits = v["commits"].as_array_mut().unwrap();
        commits.reverse();
    });
    let delivery = read_delivery(
        Provider::GitLab,
        &gitlab_headers("Push Hook", SECRET),
        reordered.as_bytes(),
    )
    .unwrap();
    let push = delivery.push().unwrap().unwrap();
    assert_eq!(push.commit.id, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    // Listed newest first already: kept in that order.
    let listed: Vec<&str> = push.commits.iter().map(|c| &c.id[..7]).collect();
    assert_eq!(listed, ["da15608", "b6568db"]);

    let unlisted = edited(GITLAB_PUSH, |v| {
        v["commits"].as_array_mut().unwrap().pop();
    });
    let delivery = read_delivery(
        Provider::GitLab,
        &gitlab_headers("Push Hook", SECRET),
        unlisted.as_bytes(),
    )
    .unwrap();
    let push = delivery.push().unwrap().unwrap();
    assert_eq!(push.commit.id, "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327");
    assert_eq!(push.commit.author_name, "Jordi Mallach");
}

// ---- Gitea / Forgejo ----

#[test]
fn gitea_push_fixture() {
    let body = GITEA_PUSH.as_bytes();
    let delivery = read_delivery(
        Provider::Gitea,
        &gitea_headers(SECRET, body, "application/json"),
        body,
    )
    .unwrap();
    assert_eq!(delivery.provider, Provider::Gitea);
    assert_eq!(delivery.event, EventKind::Push);
    assert_eq!(
        delivery.delivery_id.as_deref(),
        Some("f6266f16-1bf3-46a5-9ea4-602e06ead473")
    );
    assert!(delivery.verify(SECRET));
    assert!(!delivery.verify("wrong secret"));
    let push = delivery.push().unwrap().unwrap();
    assert_eq!(push.branch, "develop");
    assert_eq!(push.before, "28e1879d029cb852e4844d9c718537df08844e03");
    assert_eq!(push.after, "bffeb74224043ba2feb48d137756c8a9331c449a");
    assert_eq!(push.pusher, "gitea");
    assert_eq!(push.commit_count, 1);
    assert_eq!(
        push.compare.as_deref(),
        Some(
            "https://gitea.example.com/gitea/webhooks/compare/28e1879d029cb852e4844d9c718537df08844e03...bffeb74224043ba2feb48d137756c8a9331c449a"
        )
    );
    assert_eq!(push.commit.message, "Webhooks Yay! ✨\n");
    assert_eq!(push.commit.author_username.as_deref(), Some("gitea"));
    assert_eq!(
        push.commit.timestamp,
        Some(DateTime::parse_from_rfc3339("2017-03-13T13:52:11-04:00").unwrap())
    );
    let repository = delivery.repository();
    for configured in [
        "https://gitea.example.com/gitea/webhooks.git",
        "ssh://gitea@gitea.example.com:2222/gitea/webhooks.git",
        "https://gitea.example.com/gitea/webhooks/",
        "gitea/webhooks",
    ] {
        assert!(repository.matches(configured), "{configured}");
    }
    // Port 2222 is not ssh's default: it is part of the identity.
    assert!(!repository.matches("ssh://gitea@gitea.example.com/gitea/webhooks.git"));
}

#[test]
fn forgejo_headers_are_read_first() {
    let body = GITEA_PUSH.as_bytes();
    let mut sent = gitea_headers(SECRET, body, "application/json");
    sent.insert("X-Forgejo-Event", HeaderValue::from_static("push"));
    sent.insert("X-Forgejo-Event-Type", HeaderValue::from_static("push"));
    sent.insert(
        "X-Forgejo-Delivery",
        HeaderValue::from_static("0a3b52ae-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
    );
    sent.insert(
        "X-Forgejo-Signature",
        HeaderValue::from_str(&hmac_sha256_hex(SECRET, body)).unwrap(),
    );
    let delivery = read_delivery(Provider::Gitea, &sent, body).unwrap();
    assert_eq!(
        delivery.delivery_id.as_deref(),
        Some("0a3b52ae-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
    );
    assert!(delivery.verify(SECRET));

    // Forgejo alone, without the Gitea names, is read as well.
    let forgejo_only = headers(&[
        ("Content-Type", "application/json"),
        ("X-Forgejo-Event", "push"),
        ("X-Forgejo-Delivery", "0a3b52ae-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("X-Forgejo-Signature", &hmac_sha256_hex(SECRET, body)),
    ]);
    let delivery = read_delivery(Provider::Gitea, &forgejo_only, body).unwrap();
    assert!(delivery.verify(SECRET));
    assert!(delivery.push().unwrap().is_some());
}

#[test]
fn gitea_form_encoded_is_signed_over_the_json() {
    let form = serde_urlencoded::to_string([("payload", GITEA_PUSH)]).unwrap();
    let content_type = "application/x-www-form-urlencoded";
    let signed_over_json = gitea_headers(SECRET, GITEA_PUSH.as_bytes(), content_type);
    let delivery = read_delivery(Provider::Gitea, &signed_over_json, form.as_bytes()).unwrap();
    assert!(delivery.verify(SECRET));
    assert_eq!(
        delivery.push().unwrap().unwrap().commit.message,
        "Webhooks Yay! ✨\n"
    );

    let signed_over_form = gitea_headers(SECRET, form.as_bytes(), content_type);
    assert!(
        !read_delivery(Provider::Gitea, &signed_over_form, form.as_bytes())
            .unwrap()
            .verify(SECRET)
    );
}

#[test]
fn gitea_without_a_secret_sends_empty_signatures_which_never_verify() {
    let body = GITEA_PUSH.as_bytes();
    let sent = headers(&[
        ("Content-Type", "application/json"),
        ("X-Gitea-Event", "push"),
        ("X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-Gitea-Signature", ""),
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", "sha256="),
    ]);
    let delivery = read_delivery(Provider::Gitea, &sent, body).unwrap();
    for secret in [SECRET, "", "anything"] {
        assert!(!delivery.verify(secret));
    }
    // A GitHub-style signature is not what the gitea endpoint reads.
    let mut github_style = sent.clone();
    github_style.remove("X-Gitea-Signature");
    github_style.insert(
        "X-Hub-Signature-256",
        HeaderValue::from_str(&sha256_signature_header(SECRET, body)).unwrap(),
    );
    assert!(
        !read_delivery(Provider::Gitea, &github_style, body)
            .unwrap()
            .verify(SECRET)
    );
}

#[test]
fn gitea_deletions_and_test_deliveries() {
    let read = |body: &str| {
        read_delivery(
            Provider::Gitea,
            &gitea_headers(SECRET, body.as_bytes(), "application/json"),
            body.as_bytes(),
        )
        .unwrap()
    };
    let deleted = edited(GITEA_PUSH, |v| {
        v["after"] = json!("0000000000000000000000000000000000000000");
        v["commits"] = json!([]);
        v["head_commit"] = Value::Null;
        v["total_commits"] = json!(0);
    });
    assert_eq!(read(&deleted).push().unwrap(), None);

    // "Test Delivery": before == after, the latest commit of the default branch.
    let test_delivery = edited(GITEA_PUSH, |v| {
        v["before"] = v["after"].clone();
        v["compare_url"] = json!("");
    });
    let push = read(&test_delivery).push().unwrap().unwrap();
    assert_eq!(push.before, push.after);
    assert_eq!(push.compare, None);

    let tag = edited(GITEA_PUSH, |v| v["ref"] = json!("refs/tags/v1.0"));
    assert_eq!(read(&tag).push().unwrap(), None);
}

#[test]
fn each_endpoint_refuses_another_providers_delivery() {
    // Gitea also sends X-GitHub-Event and a valid X-Hub-Signature-256.
    let body = GITEA_PUSH.as_bytes();
    let error = read_delivery(
        Provider::GitHub,
        &gitea_headers(SECRET, body, "application/json"),
        body,
    )
    .unwrap_err();
    assert_eq!(
        error,
        WebhookError::WrongEndpoint {
            sender: Provider::Gitea,
            header: "X-Gitea-Event",
            endpoint: Provider::GitHub,
        }
    );
    assert_eq!(
        error.to_string(),
        "this delivery comes from Gitea/Forgejo (it carries X-Gitea-Event): point the webhook \
         at the gitea endpoint, not the github one"
    );

    let github = github_headers("push", SECRET, GITHUB_PUSH.as_bytes());
    for endpoint in [Provider::Gitea, Provider::GitLab, Provider::Generic] {
        let error = read_delivery(endpoint, &github, GITHUB_PUSH.as_bytes()).unwrap_err();
        assert!(
            matches!(
                error,
                WebhookError::WrongEndpoint {
                    sender: Provider::GitHub,
                    ..
                }
            ),
            "{endpoint}: {error}"
        );
    }
    let gitlab = gitlab_headers("Push Hook", SECRET);
    let error = read_delivery(Provider::GitHub, &gitlab, GITLAB_PUSH.as_bytes()).unwrap_err();
    assert!(matches!(
        error,
        WebhookError::WrongEndpoint {
            sender: Provider::GitLab,
            ..
        }
    ));
}

// ---- generic ----

#[test]
fn generic_push_fixture() {
    let body = GENERIC_PUSH.as_bytes();
    let delivery = read_delivery(
        Provider::Generic,
        &generic_headers("push", SECRET, body),
        body,
    )
    .unwrap();
    assert_eq!(delivery.event, EventKind::Push);
    assert_eq!(
        delivery.delivery_id.as_deref(),
        Some("post-receive-1764235000-4242")
    );
    assert!(delivery.verify(SECRET));
    assert!(!delivery.verify("nope"));
    let push = delivery.push().unwrap().unwrap();
    let commit = CommitInfo {
        id: "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3".into(),
        message: "Release the green page\n\nRefs #42".into(),
        author_name: "Jane Doe".into(),
        author_email: Some("jane@example.com".into()),
        author_username: Some("jane".into()),
        timestamp: None,
    };
    assert_eq!(
        push,
        Push {
            branch: "main".into(),
            before: "1f0c3c6d1b9a4e2f8d7c6b5a493827161504f3e2".into(),
            after: "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3".into(),
            commit: commit.clone(),
            pusher: "jane".into(),
            compare: None,
            commit_count: 1,
            commits: vec![commit],
        }
    );
    let repository = delivery.repository();
    for configured in [
        "/srv/git/app-sample.git",
        "/srv/git/app-sample",
        "/srv/git/app-sample.git/",
        "/srv//git/./app-sample.git",
        "file:///srv/git/app-sample.git",
        "file://localhost/srv/git/app-sample",
    ] {
        assert!(repository.matches(configured), "{configured}");
    }
    assert!(!repository.matches("/srv/git/other.git"));
    assert!(!repository.matches("srv/git/app-sample.git"));
}

#[test]
fn generic_minimal_push_and_ping() {
    let minimal = br#"{"repository":"file:///srv/git/app","branch":"refs/heads/release/2026-11","after":"A94A8FE5CCB19BA61C4C0873D391E987982FBBD3"}"#;
    // curl -d labels JSON as a form; the generic endpoint reads JSON anyway.
    let mut sent = generic_headers("push", SECRET, minimal);
    sent.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let delivery = read_delivery(Provider::Generic, &sent, minimal).unwrap();
    assert!(delivery.verify(SECRET));
    let push = delivery.push().unwrap().unwrap();
    assert_eq!(push.branch, "release/2026-11");
    assert_eq!(push.after, "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3");
    assert_eq!(push.before, "0".repeat(40));
    assert_eq!(push.pusher, "unknown");
    assert_eq!(push.commit.author_name, "unknown");
    assert_eq!(push.commit.message, "");
    assert!(delivery.repository().matches("/srv/git/app.git"));

    let ping = read_delivery(
        Provider::Generic,
        &generic_headers("ping", SECRET, b"{}"),
        b"{}",
    )
    .unwrap();
    assert_eq!(ping.event, EventKind::Ping);
    assert!(ping.verify(SECRET));
    assert_eq!(ping.push().unwrap(), None);
    assert!(ping.repository().is_empty());
}

#[test]
fn generic_input_errors_name_the_field() {
    let push_error = |body: Value| {
        let body = body.to_string();
        let delivery = read_delivery(
            Provider::Generic,
            &generic_headers("push", SECRET, body.as_bytes()),
            body.as_bytes(),
        )
        .unwrap();
        delivery.push().unwrap_err()
    };
    let sha = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
    let cases = [
        (
            json!({"repository": "/r", "brnach": "main", "after": sha}),
            "brnach",
            "unknown field `brnach`",
        ),
        (
            json!({"repository": "/r", "after": sha}),
            "payload",
            "missing field `branch`",
        ),
        (
            json!({"repository": "/r", "branch": "main", "after": "abc123"}),
            "after",
            "40 or 64 hex",
        ),
        (
            json!({"repository": "/r", "branch": "main", "after": 42}),
            "after",
            "invalid type",
        ),
        (
            json!({"repository": "/r", "branch": "a..b", "after": sha}),
            "branch",
            "branch name",
        ),
        (
            json!({"repository": "/r", "branch": "-x", "after": sha}),
            "branch",
            "branch name",
        ),
        (
            json!({"repository": "/r", "branch": "refs/tags/v1", "after": sha}),
            "branch",
            "not a branch",
        ),
        (
            json!({"repository": " ", "branch": "main", "after": sha}),
            "repository",
            "empty",
        ),
        (
            json!({"repository": "/r", "branch": "main", "after": sha, "timestamp": "yesterday"}),
            "timestamp",
            "RFC 3339",
        ),
        (
            json!({"repository": "/r", "branch": "main", "after": sha, "author": {"name": "a\u{7}b"}}),
            "author.name",
            "control",
        ),
        (
            json!({"repository": "/r", "branch": "main", "after": sha, "author": {"nmae": "x"}}),
            "author.nmae",
            "unknown field",
        ),
        (
            json!({"repository": "/r", "branch": "main", "after": sha, "pusher": "p".repeat(257)}),
            "pusher",
            "at most 256",
        ),
    ];
    for (body, field, words) in cases {
        let error = push_error(body.clone());
        let message = error.to_string();
        assert!(message.contains(words), "{body}: {message}");
        assert_eq!(field_of(error), field, "{body}");
    }

    let unknown_event = read_delivery(
        Provider::Generic,
        &generic_headers("deploy", SECRET, b"{}"),
        b"{}",
    )
    .unwrap_err();
    assert_eq!(
        unknown_event.to_string(),
        "the X-Switchyard-Event header is invalid: \"deploy\" is not an event: expected push or ping"
    );
}

// ---- shared rules ----

#[test]
fn header_and_body_errors_say_what_is_wrong() {
    let body = GITHUB_PUSH.as_bytes();
    let missing = read_delivery(Provider::GitHub, &headers(&[]), body).unwrap_err();
    assert_eq!(missing.to_string(), "the X-GitHub-Event header is missing");
    let missing = read_delivery(Provider::Gitea, &headers(&[]), body).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "the X-Gitea-Event (or X-Forgejo-Event) header is missing"
    );
    let missing = read_delivery(Provider::Generic, &headers(&[]), body).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "the X-Switchyard-Event header is missing"
    );

    let push = headers(&[("X-GitHub-Event", "push")]);
    let not_json = read_delivery(Provider::GitHub, &push, b"{\"ref\": ").unwrap_err();
    assert!(
        not_json.to_string().starts_with("the body is not JSON: "),
        "{not_json}"
    );
    let not_utf8 = read_delivery(Provider::GitHub, &push, b"{\"ref\": \"\xff\"}").unwrap_err();
    assert!(matches!(not_utf8, WebhookError::NotJson(_)), "{not_utf8}");
    assert_eq!(
        read_delivery(Provider::GitHub, &push, b"[1, 2]").unwrap_err(),
        WebhookError::NotAnObject
    );
    assert_eq!(
        read_delivery(Provider::GitHub, &push, b"")
            .unwrap_err()
            .to_string(),
        "the body is not JSON: EOF while parsing a value at line 1 column 0"
    );

    let form = headers(&[
        ("X-GitHub-Event", "push"),
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ]);
    let no_payload = read_delivery(Provider::GitHub, &form, b"data=%7B%7D").unwrap_err();
    assert!(
        no_payload.to_string().contains("no payload field"),
        "{no_payload}"
    );
    let bad_escape = read_delivery(Provider::GitHub, &form, b"payload=%7B%7").unwrap_err();
    assert!(
        matches!(bad_escape, WebhookError::InvalidForm(_)),
        "{bad_escape}"
    );
    let twice =
        read_delivery(Provider::GitHub, &form, b"payload=%7B%7D&payload=%7B%7D").unwrap_err();
    assert!(twice.to_string().contains("more than once"), "{twice}");
    let ok = read_delivery(
        Provider::GitHub,
        &form,
        b"other=1&payload=%7B%22zen%22%3A+%22a+b%22%7D",
    )
    .unwrap();
    assert_eq!(ok.payload["zen"], "a b");

    let repeated_event = headers(&[("X-GitHub-Event", "push"), ("X-GitHub-Event", "ping")]);
    let error = read_delivery(Provider::GitHub, &repeated_event, body).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the X-GitHub-Event header is invalid: it is sent more than once"
    );

    let long_id = "d".repeat(201);
    let sent = headers(&[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", &long_id)]);
    let error = read_delivery(Provider::GitHub, &sent, body).unwrap_err();
    assert!(matches!(
        error,
        WebhookError::InvalidHeader {
            header: "X-GitHub-Delivery",
            ..
        }
    ));
    let sent = headers(&[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "")]);
    assert_eq!(
        read_delivery(Provider::GitHub, &sent, body)
            .unwrap()
            .delivery_id,
        None
    );
}

#[test]
fn commit_ids_are_full_hex_of_either_hash() {
    let base = |after: &str| {
        edited(GITHUB_PUSH, |v| {
            v["after"] = json!(after);
            v["head_commit"]["id"] = json!(after);
        })
    };
    let sha1 = "59B20B8D5C6FF8D09518454D4DD8B7B30F095AB5";
    let push = github_push_of(&base(sha1)).unwrap().unwrap();
    assert_eq!(push.after, sha1.to_ascii_lowercase());
    assert_eq!(push.commit.id, sha1.to_ascii_lowercase());
    let sha256 = "a3f1".repeat(16);
    assert_eq!(
        github_push_of(&base(&sha256)).unwrap().unwrap().after,
        sha256
    );
    for bad in [
        "59b20b8",
        &"a".repeat(41),
        &"g".repeat(40),
        "",
        &"ab".repeat(33),
    ] {
        let error = github_push_of(&base(bad)).unwrap_err();
        assert_eq!(field_of(error), "after", "{bad:?}");
    }
    let bad_head = edited(GITHUB_PUSH, |v| v["head_commit"]["id"] = json!("nope"));
    assert_eq!(
        field_of(github_push_of(&bad_head).unwrap_err()),
        "head_commit.id"
    );
}

#[test]
fn refs_and_branch_names_are_checked() {
    let with_ref = |git_ref: &str| edited(GITHUB_PUSH, |v| v["ref"] = json!(git_ref));
    for (git_ref, branch) in [
        ("refs/heads/main", "main"),
        ("refs/heads/feature/blue-green", "feature/blue-green"),
        ("refs/heads/fix-ümlaut", "fix-ümlaut"),
    ] {
        let push = github_push_of(&with_ref(git_ref)).unwrap().unwrap();
        assert_eq!(push.branch, branch);
    }
    let longest = format!("refs/heads/{}", "b".repeat(255));
    assert!(github_push_of(&with_ref(&longest)).unwrap().is_some());
    for other_ref in ["refs/tags/v1.0.0", "refs/notes/commits", "refs/pull/1/head"] {
        assert_eq!(
            github_push_of(&with_ref(other_ref)).unwrap(),
            None,
            "{other_ref}"
        );
    }
    for bad in [
        "main",
        "heads/main",
        "",
        "refs/heads/",
        "refs/heads/a..b",
        "refs/heads/-rf",
        "refs/heads/a b",
        "refs/heads/a\u{1b}[31m",
        "refs/heads/a~1",
        "refs/heads/a^",
        "refs/heads/a:b",
        "refs/heads/x.lock",
        "refs/heads/.hidden",
        "refs/heads/a//b",
        "refs/heads/trailing/",
        "refs/heads/trailing.",
        "refs/heads/@",
        "refs/heads/a@{1}",
        &format!("refs/heads/{}", "b".repeat(256)),
    ] {
        let error = github_push_of(&with_ref(bad)).unwrap_err();
        assert_eq!(field_of(error), "ref", "{bad:?}");
    }
}

#[test]
fn commit_messages_always_make_valid_release_messages() {
    let with_message = |message: &str| {
        edited(GITHUB_PUSH, |v| {
            v["head_commit"]["message"] = json!(message)
        })
    };

    // Emoji and other UTF-8 pass through untouched.
    let emoji = "Ship it 🚢🎉 — naïve café\r\n\tdone";
    assert_eq!(
        github_push_of(&with_message(emoji))
            .unwrap()
            .unwrap()
            .commit
            .message,
        emoji
    );

    // Control characters other than line breaks and tabs are replaced.
    let message = github_push_of(&with_message("red \u{1b}[31mtext\u{7}"))
        .unwrap()
        .unwrap()
        .commit
        .message;
    assert_eq!(message, "red \u{fffd}[31mtext\u{fffd}");
    ReleaseMessage::parse(&message).unwrap();

    // A long message is cut at a character boundary and marked.
    let long = "🚀".repeat(ReleaseMessage::MAX_BYTES); // 4 bytes each
    let message = github_push_of(&with_message(&long))
        .unwrap()
        .unwrap()
        .commit
        .message;
    assert!(message.len() <= ReleaseMessage::MAX_BYTES);
    assert!(message.ends_with("🚀…"));
    ReleaseMessage::parse(&message).unwrap();
    let exact = "x".repeat(ReleaseMessage::MAX_BYTES);
    assert_eq!(
        github_push_of(&with_message(&exact))
            .unwrap()
            .unwrap()
            .commit
            .message,
        exact
    );
}

#[test]
fn author_fields_are_checked_and_optional_ones_may_be_missing() {
    let push = github_push_of(&edited(GITHUB_PUSH, |v| {
        v["head_commit"]["author"] =
            json!({"name": "  Padded Name  ", "email": "", "username": null});
        v["head_commit"]["timestamp"] = json!("not a time");
    }))
    .unwrap()
    .unwrap();
    assert_eq!(push.commit.author_name, "Padded Name");
    assert_eq!(push.commit.author_email, None);
    assert_eq!(push.commit.author_username, None);
    assert_eq!(
        push.commit.timestamp, None,
        "an unreadable time is left out"
    );

    let nameless = github_push_of(&edited(GITHUB_PUSH, |v| {
        v["head_commit"]["author"] = json!({"name": "", "username": "octocat"});
    }))
    .unwrap()
    .unwrap();
    assert_eq!(nameless.commit.author_name, "octocat");

    let error = github_push_of(&edited(GITHUB_PUSH, |v| {
        v["head_commit"]["author"]["name"] = json!("n".repeat(257));
    }))
    .unwrap_err();
    assert_eq!(field_of(error), "head_commit.author.name");
    let error = github_push_of(&edited(GITHUB_PUSH, |v| {
        v["head_commit"]["author"]["email"] = json!("a\nb@example.com");
    }))
    .unwrap_err();
    assert_eq!(field_of(error), "head_commit.author.email");
    let error = github_push_of(&edited(GITHUB_PUSH, |v| v["commits"] = json!("many"))).unwrap_err();
    assert_eq!(field_of(error), "commits");
}

#[test]
fn repository_ids_match_normalised() {
    let ids = RepositoryIds::new([
        "https://git.Example.com/team/app.git",
        "git@git.example.com:team/app.git",
        "team/app",
        "/srv/repos/My Repo.git",
    ]);
    let matching = [
        "https://git.example.com/team/app",
        "https://git.example.com/team/app.git",
        "https://git.example.com/team/app/",
        "https://git.example.com/team/app.git/",
        "HTTPS://GIT.EXAMPLE.COM/team/app",
        "https://git.example.com:443/team/app",
        "https://deploy-bot:token@git.example.com/team/app.git",
        "  https://git.example.com/team/app  ",
        "ssh://git@git.example.com/team/app.git",
        "ssh://git@git.example.com:22/team/app",
        "git@git.example.com:/team/app",
        "git.example.com:team/app",
        "team/app/",
        "team/app.git",
        "/srv/repos/My Repo",
        "/srv/repos/My Repo/.git",
        "file:///srv/repos/My%20Repo.git",
        "FILE:///srv/repos/My Repo/",
    ];
    for configured in matching {
        assert!(ids.matches(configured), "{configured} did not match");
    }
    let not_matching = [
        "",
        "   ",
        "/",
        ".git",
        "http://git.example.com/team/app",
        "https://git.example.com/Team/App",
        "https://git.example.com:8443/team/app",
        "https://git.example.com/team/app2",
        "https://git.example.com/team",
        "https://other.example.com/team/app",
        "team/app2",
        "Team/App",
        "/srv/repos/my repo",
        "file://otherhost/srv/repos/My Repo.git",
        "srv/repos/My Repo.git",
    ];
    for configured in not_matching {
        assert!(!ids.matches(configured), "{configured} matched");
    }
    assert_eq!(ids.as_slice().len(), 4);
    assert_eq!(ids.primary(), Some("https://git.Example.com/team/app.git"));

    // Empty, duplicated and control-character ids are dropped.
    let ids = RepositoryIds::new(["", "a/b", "a/b", "x\u{0}y"]);
    assert_eq!(ids.as_slice(), ["a/b".to_owned()]);
    assert!(RepositoryIds::default().is_empty());
}

#[test]
fn providers_parse_from_their_names() {
    for provider in Provider::ALL {
        assert_eq!(Provider::parse(provider.as_str()).unwrap(), provider);
        assert_eq!(provider.to_string(), provider.as_str());
    }
    assert!(Provider::parse("GitHub").is_err());
    assert!(
        Provider::parse("bitbucket")
            .unwrap_err()
            .to_string()
            .contains("\"github\"")
    );
}

// ---- garbage never panics ----

/// Every operation on a delivery, for inputs that may be anything.
fn exercise(provider: Provider, sent: &HeaderMap, body: &[u8]) {
    if let Ok(delivery) = read_delivery(provider, sent, body) {
        let _ = delivery.verify(SECRET);
        let _ = delivery.push();
        let ids = delivery.repository();
        let _ = ids.matches("https://github.com/octo-org/app-sample.git");
        let _ = format!("{delivery:?}");
    }
}

fn fixtures() -> Vec<(Provider, HeaderMap, &'static str)> {
    let form = "application/x-www-form-urlencoded";
    vec![
        (
            Provider::GitHub,
            github_headers("push", SECRET, b""),
            GITHUB_PUSH,
        ),
        (
            Provider::GitHub,
            github_headers("ping", SECRET, b""),
            GITHUB_PING,
        ),
        (
            Provider::GitHub,
            github_headers("push", SECRET, b""),
            GITHUB_DELETE,
        ),
        (
            Provider::GitHub,
            github_headers("push", SECRET, b""),
            GITHUB_TAG,
        ),
        (
            Provider::GitLab,
            gitlab_headers("System Hook", SECRET),
            GITLAB_PUSH,
        ),
        (
            Provider::GitLab,
            gitlab_headers("Tag Push Hook", SECRET),
            GITLAB_TAG_PUSH,
        ),
        (
            Provider::Gitea,
            gitea_headers(SECRET, b"", "application/json"),
            GITEA_PUSH,
        ),
        (
            Provider::Gitea,
            gitea_headers(SECRET, b"", form),
            GITEA_PUSH,
        ),
        (
            Provider::Generic,
            generic_headers("push", SECRET, b""),
            GENERIC_PUSH,
        ),
    ]
}

#[test]
fn truncated_bodies_never_panic() {
    for (provider, sent, fixture) in fixtures() {
        let body = if is_form(&sent) {
            serde_urlencoded::to_string([("payload", fixture)]).unwrap()
        } else {
            fixture.to_owned()
        };
        let bytes = body.as_bytes();
        for end in 0..bytes.len() {
            exercise(provider, &sent, &bytes[..end]);
        }
    }
}

#[test]
fn every_field_replaced_by_a_wrong_type_never_panics() {
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    pointers(child, format!("{at}/{key}"), out);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    pointers(child, format!("{at}/{index}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }
    let replacements = [
        Value::Null,
        json!(0),
        json!(-1),
        json!(1e308),
        json!(u64::MAX),
        json!(true),
        json!(""),
        json!("0000000000000000000000000000000000000000"),
        json!("refs/heads/"),
        json!("\u{0}\u{1b}🚀"),
        json!("x".repeat(20_000)),
        json!([]),
        json!([null]),
        json!({}),
    ];
    let mut tried = 0;
    for (provider, sent, fixture) in fixtures().into_iter().filter(|(_, sent, _)| !is_form(sent)) {
        let original: Value = serde_json::from_str(fixture).unwrap();
        let mut all = Vec::new();
        pointers(&original, String::new(), &mut all);
        for pointer in all.iter().filter(|p| !p.is_empty()) {
            for replacement in &replacements {
                let mut value = original.clone();
                *value.pointer_mut(pointer).unwrap() = replacement.clone();
                exercise(provider, &sent, &serde_json::to_vec(&value).unwrap());
                tried += 1;
            }
        }
    }
    assert!(tried > 1000, "only {tried} variants tried");
}

#[test]
fn random_bytes_and_deep_nesting_never_panic() {
    // A fixed xorshift sequence: reproducible, no extra dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"{}[]\":,0123456789abcdef-+.eE \\u%&=payload\xff\xc3\x28";
    for (provider, sent, _) in fixtures() {
        for _ in 0..300 {
            let len = (next() % 200) as usize;
            let body: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            exercise(provider, &sent, &body);
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        exercise(provider, &sent, deep.as_bytes());
        let deep_object = format!(
            "{{\"ref\":{}0{}}}",
            "{\"a\":".repeat(50_000),
            "}".repeat(50_000)
        );
        exercise(provider, &sent, deep_object.as_bytes());
        exercise(
            provider,
            &sent,
            format!("payload={}", "%5B".repeat(100_000)).as_bytes(),
        );
    }
}
