use super::*;
use http::HeaderValue;

/// Slack's documented example ("Verifying requests from Slack").
const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const DOC_TIMESTAMP: i64 = 1531420618;
const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const DOC_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

fn secret() -> SigningSecret {
    SigningSecret::parse(DOC_SECRET).unwrap()
}

fn headers(timestamp: &str, signature: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).unwrap());
    if let Some(signature) = signature {
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
    }
    headers
}

#[test]
fn slacks_documented_example_verifies() {
    assert_eq!(
        signature_header(&secret(), DOC_TIMESTAMP, DOC_BODY.as_bytes()),
        DOC_SIGNATURE
    );
    let signed = verify(
        &secret(),
        &headers("1531420618", Some(DOC_SIGNATURE)),
        DOC_BODY.as_bytes(),
        DOC_TIMESTAMP + 10,
    )
    .unwrap();
    assert_eq!(signed.signature_hex, &DOC_SIGNATURE[3..]);
}

#[test]
fn a_changed_body_secret_or_signature_is_refused() {
    let h = headers("1531420618", Some(DOC_SIGNATURE));
    let tampered = DOC_BODY.replace("roadrunner", "coyote");
    assert_eq!(
        verify(&secret(), &h, tampered.as_bytes(), DOC_TIMESTAMP),
        Err(SignatureError::Mismatch)
    );
    let other = SigningSecret::parse("another secret").unwrap();
    assert_eq!(
        verify(&other, &h, DOC_BODY.as_bytes(), DOC_TIMESTAMP),
        Err(SignatureError::Mismatch)
    );
    for bad in ["v0=", "v1=a2114d57", "a2114d57b48e", "v0=zz"] {
        assert_eq!(
            verify(
                &secret(),
                &headers("1531420618", Some(bad)),
                DOC_BODY.as_bytes(),
                DOC_TIMESTAMP
            ),
            Err(SignatureError::Mismatch),
            "{bad}"
        );
    }
}

#[test]
fn unsigned_stale_and_future_requests_are_refused() {
    let body = DOC_BODY.as_bytes();
    assert_eq!(
        verify(&secret(), &headers("1531420618", None), body, DOC_TIMESTAMP),
        Err(SignatureError::Unsigned)
    );
    assert_eq!(
        verify(&secret(), &HeaderMap::new(), body, DOC_TIMESTAMP),
        Err(SignatureError::Unsigned)
    );
    let h = headers("1531420618", Some(DOC_SIGNATURE));
    assert!(verify(&secret(), &h, body, DOC_TIMESTAMP + 300).is_ok());
    assert!(verify(&secret(), &h, body, DOC_TIMESTAMP - 300).is_ok());
    assert_eq!(
        verify(&secret(), &h, body, DOC_TIMESTAMP + 301),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify(&secret(), &h, body, DOC_TIMESTAMP - 301),
        Err(SignatureError::Future)
    );
    assert_eq!(
        verify(&secret(), &headers("soon", Some(DOC_SIGNATURE)), body, 0),
        Err(SignatureError::BadTimestamp)
    );
}

#[test]
fn the_secret_never_shows_in_debug() {
    assert_eq!(format!("{:?}", secret()), "***");
    assert!(SigningSecret::parse("  ").is_err());
}

fn form(payload: &serde_json::Value) -> Vec<u8> {
    serde_urlencoded::to_string([("payload", payload.to_string())])
        .unwrap()
        .into_bytes()
}

fn click(action_id: &str, value: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "block_actions",
        "user": {"id": "U2CERLKJA", "username": "roadrunner", "team_id": "T1DC2JH3J"},
        "team": {"id": "T1DC2JH3J", "domain": "testteamnow"},
        "actions": [{"type": "button", "action_id": action_id, "value": value,
                     "block_id": "b", "action_ts": "1"}],
        "response_url": "https://hooks.slack.com/actions/T1DC2JH3J/1/abc",
    })
}

#[test]
fn a_button_click_parses_into_a_typed_vote() {
    let parsed = parse_interaction(&form(&click(APPROVE_ACTION, "42"))).unwrap();
    assert_eq!(parsed.team_id.as_str(), "T1DC2JH3J");
    assert_eq!(parsed.user_id.as_str(), "U2CERLKJA");
    assert_eq!(parsed.approval_id, 42);
    assert_eq!(parsed.decision, Decision::Approve);
    assert_eq!(parsed.response_url.host_str(), Some("hooks.slack.com"));
    let reject = parse_interaction(&form(&click(REJECT_ACTION, "7"))).unwrap();
    assert_eq!(reject.decision, Decision::Reject);
}

#[test]
fn clicks_that_are_not_ours_are_refused() {
    for (payload, expect) in [
        (click("other", "42"), "unknown action_id"),
        (click(APPROVE_ACTION, "x"), "approval id"),
        (click(APPROVE_ACTION, "-1"), "approval id"),
        (
            serde_json::json!({"type": "view_submission", "user": {"id": "U1"}}),
            "block_actions",
        ),
    ] {
        let err = parse_interaction(&form(&payload)).unwrap_err().to_string();
        assert!(err.contains(expect), "{err}");
    }
    let mut no_url = click(APPROVE_ACTION, "1");
    no_url["response_url"] = "ftp://x/y".into();
    assert!(parse_interaction(&form(&no_url)).is_err());
    assert!(parse_interaction(b"text=hi").is_err());
}

#[test]
fn slack_ids_parse() {
    assert!(TeamId::parse("T0123ABC").is_ok());
    assert!(TeamId::parse("E0123").is_ok());
    assert!(UserId::parse("W0123").is_ok());
    for bad in ["", "T", "U123", "t123", "T12-3"] {
        assert!(TeamId::parse(bad).is_err(), "{bad}");
    }
    assert!(UserId::parse("T123").is_err());
}

fn status(outcome: Outcome, approvers: Vec<&'static str>) -> ApprovalStatus<'static> {
    ApprovalStatus {
        approval_id: 3,
        environment: "prod",
        required: 2,
        approvers,
        rejecters: vec!["carol"],
        outcome,
        link: "http://sy/approvals/3",
    }
}

#[test]
fn the_redrawn_message_tells_the_tally_or_the_outcome() {
    assert_eq!(status(Outcome::Pending, vec![]).tally(), "0 of 2 approvals");
    let pending = status(Outcome::Pending, vec!["alice"]);
    assert_eq!(pending.tally(), "1 of 2 approvals: alice");
    let message = redrawn_message(&pending);
    assert_eq!(message["replace_original"], true);
    assert_eq!(message["blocks"][1]["elements"][0]["value"], "3");
    assert_eq!(
        status(Outcome::Approved, vec!["alice", "bob"]).tally(),
        "Approved by alice, bob"
    );
    let rejected = redrawn_message(&status(Outcome::Rejected, vec![]));
    assert!(
        rejected["text"]
            .as_str()
            .unwrap()
            .contains("Rejected by carol"),
        "{rejected}"
    );
    assert_eq!(
        rejected["blocks"].as_array().unwrap().len(),
        1,
        "no buttons once decided"
    );
}

#[test]
fn buttons_carry_the_approval_id_and_ephemeral_answers_are_private() {
    let buttons = approval_buttons(9);
    assert_eq!(buttons["type"], "actions");
    assert_eq!(buttons["elements"][0]["action_id"], APPROVE_ACTION);
    assert_eq!(buttons["elements"][1]["action_id"], REJECT_ACTION);
    assert_eq!(buttons["elements"][1]["value"], "9");
    let answer = ephemeral("no");
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(answer["text"], "no");
}
