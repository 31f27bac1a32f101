//! CloudWatch through aws-sdk-cloudwatch (rpcv2Cbor) and raw requests in
//! both of its protocols.

use crate::helpers::Cloud;
use aws_sdk_cloudwatch as cloudwatch;
use cloudwatch::error::ProvideErrorMetadata;
use std::collections::BTreeMap;

const CBOR_PATH: &str = "/service/GraniteServiceVersion20100801/operation";

pub fn cloudwatch_client(endpoint: &str) -> cloudwatch::Client {
    let config = cloudwatch::Config::builder()
        .behavior_version(cloudwatch::config::BehaviorVersion::latest())
        .region(cloudwatch::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(cloudwatch::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .retry_config(cloudwatch::config::retry::RetryConfig::disabled())
        .build();
    cloudwatch::Client::from_conf(config)
}

#[tokio::test]
async fn the_sdk_gets_answers_and_typed_errors_with_code_and_message() {
    let cloud = Cloud::start().await;
    let client = cloudwatch_client(&cloud.endpoint);
    let described = client.describe_alarms().send().await.unwrap();
    assert!(described.metric_alarms().is_empty(), "{described:?}");
    // An operation without output, refused with the model's error.
    let error = client
        .set_alarm_state()
        .alarm_name("a")
        .state_value(cloudwatch::types::StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_resource_not_found(), "{error:?}");
    assert_eq!(error.code(), Some("ResourceNotFound"), "{error:?}");
    assert!(
        error
            .message()
            .is_some_and(|m| m.contains("Alarm a does not exist")),
        "{error:?}"
    );
    // An operation the local cloud does not serve says so.
    let error = client
        .describe_anomaly_detectors()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(error.code(), Some("InvalidAction"), "{error:?}");
    assert!(
        error
            .message()
            .is_some_and(|m| m.contains("DescribeAnomalyDetectors")),
        "{error:?}"
    );
}

/// A raw rpcv2Cbor request: status, headers and the error body's text members.
async fn post_cbor(
    cloud: &Cloud,
    path: &str,
    headers: Headers<'_>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, BTreeMap<String, String>) {
    let mut request = cloud
        .http
        .post(format!("{}{path}", cloud.endpoint))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, text_map(&response.bytes().await.unwrap()))
}

type Headers<'a> = &'a [(&'a str, &'a str)];

const CBOR_HEADERS: Headers = &[
    ("smithy-protocol", "rpc-v2-cbor"),
    ("content-type", "application/cbor"),
];

#[tokio::test]
async fn bad_requests_get_rpcv2_cbor_errors_never_500() {
    let cloud = Cloud::start().await;
    let describe = format!("{CBOR_PATH}/DescribeAlarms");
    let cases: [(&str, Headers, Vec<u8>, u16, &str); 6] = [
        (
            &describe,
            CBOR_HEADERS,
            vec![0xbf, 0x61],
            400,
            "SerializationException",
        ),
        (
            &describe,
            CBOR_HEADERS,
            vec![0x01],
            400,
            "SerializationException",
        ),
        (
            &describe,
            CBOR_HEADERS,
            vec![0x81; 1000],
            400,
            "SerializationException",
        ),
        (
            &describe,
            &CBOR_HEADERS[1..],
            vec![0xa0],
            400,
            "UnknownOperationException",
        ),
        (
            "/service/AmazonSQS/operation/DescribeAlarms",
            CBOR_HEADERS,
            vec![0xa0],
            400,
            "UnknownOperationException",
        ),
        (
            &describe,
            CBOR_HEADERS,
            vec![0; 3 * 1024 * 1024],
            413,
            "RequestEntityTooLargeException",
        ),
    ];
    for (path, headers, body, status, code) in cases {
        let (got, answer_headers, answer) = post_cbor(&cloud, path, headers, body).await;
        assert_eq!(got, status, "{path} {headers:?}: {answer:?}");
        assert_eq!(answer_headers["smithy-protocol"], "rpc-v2-cbor");
        assert_eq!(answer_headers["content-type"], "application/cbor");
        assert_eq!(
            answer_headers["x-amzn-query-error"],
            format!("{code};Sender").as_str()
        );
        assert_eq!(answer["__type"], code, "{answer:?}");
        assert!(!answer["message"].is_empty());
    }
    // An operation not served, through an empty input map.
    let unserved = format!("{CBOR_PATH}/DescribeAnomalyDetectors");
    let (status, headers, answer) = post_cbor(&cloud, &unserved, CBOR_HEADERS, vec![0xa0]).await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-amzn-query-error"], "InvalidAction;Sender");
    assert_eq!(answer["__type"], "InvalidAction");
}

#[tokio::test]
async fn aws_json_1_0_is_served_with_query_compatible_errors() {
    let cloud = Cloud::start().await;
    let post = |operation: &str, body: &'static str| {
        cloud
            .http
            .post(&cloud.endpoint)
            .header(
                "x-amz-target",
                format!("GraniteServiceVersion20100801.{operation}"),
            )
            .header("content-type", "application/x-amz-json-1.0")
            .body(body)
            .send()
    };
    let described = post("DescribeAlarms", "{}").await.unwrap();
    assert_eq!(described.status(), 200);
    let described: serde_json::Value = described.json().await.unwrap();
    assert_eq!(
        described["MetricAlarms"],
        serde_json::json!([]),
        "{described}"
    );
    for (operation, body, code) in [
        ("DescribeAnomalyDetectors", "{}", "InvalidAction"),
        ("DescribeAlarms", "{nope", "SerializationException"),
    ] {
        let response = post(operation, body).await.unwrap();
        assert_eq!(response.status(), 400);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "application/x-amz-json-1.0");
        assert_eq!(
            headers["x-amzn-query-error"],
            format!("{code};Sender").as_str()
        );
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["__type"], code, "{answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

/// The text members of a CBOR map with definite lengths, which is how the
/// local cloud writes error bodies; empty for anything else.
fn text_map(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut reader = Reader { bytes, at: 0 };
    let mut map = BTreeMap::new();
    let Some(members) = reader.head(5) else {
        return map;
    };
    for _ in 0..members {
        let (Some(key), Some(value)) = (reader.text(), reader.text()) else {
            break;
        };
        map.insert(key, value);
    }
    map
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(taken)
    }

    /// The length in a head of this major type (up to 16 bits).
    fn head(&mut self, major: u8) -> Option<usize> {
        let initial = self.take(1)?[0];
        if initial >> 5 != major {
            return None;
        }
        match initial & 0x1f {
            n @ 0..=23 => Some(n.into()),
            24 => Some(self.take(1)?[0].into()),
            25 => self
                .take(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]).into()),
            _ => None,
        }
    }

    fn text(&mut self) -> Option<String> {
        let len = self.head(3)?;
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}
