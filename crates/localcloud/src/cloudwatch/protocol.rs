//! CloudWatch on the wire, as its clients send it. Both transports decode to
//! the awsJson document `super::call` takes and encode its answer back:
//!
//! - rpcv2Cbor, what aws-sdk-cloudwatch 1.140 sends:
//!   `POST /service/GraniteServiceVersion20100801/operation/<Operation>`,
//!   `smithy-protocol: rpc-v2-cbor`, CBOR bodies (see `cbor`);
//! - awsJson1_0, what botocore (the AWS CLI 1.46, boto3) sends: it picks
//!   from the model's protocols by its own order, `json` before
//!   `smithy-rpc-v2-cbor` (model.py `resolved_protocol`). `POST /` with
//!   `X-Amz-Target: GraniteServiceVersion20100801.<Operation>`, reached
//!   through the crate's `aws` handler.
//!
//! Errors. CloudWatch is `@awsQueryCompatible`: its errors keep the codes of
//! its old Query protocol (`ResourceNotFound`, `InvalidParameterValue` for
//! the shape `InvalidParameterValueException`), carried in the header
//! `x-amzn-query-error: <Code>;<Sender|Receiver>`. What the clients read:
//! - botocore (parsers.py, `RpcV2CBORParser._do_error_parse`,
//!   `BaseJSONParser._do_error_parse`, `_do_query_compatible_error_parse`):
//!   any status >= 301 is an error; the code is `__type` after its last `#`
//!   (and before any `:`), replaced by the header's code when the header has
//!   two parts; the message is `message` or `Message`. Its error factory
//!   maps that code to the modeled class (`error.code` in service-2.json).
//! - aws-sdk-cloudwatch 1.140 (`cbor_errors.rs`, `aws_query_compatible_errors.rs`,
//!   `parse_http_error_metadata`): the body must be a CBOR map (an empty body
//!   fails to parse), `__type` is cleaned the same way, the message is
//!   `message`, `Message` or `errorMessage`; then the header's code wins and
//!   each operation matches it (`"InvalidNextToken" => InvalidNextToken(..)`).
//! - the Smithy rpcv2Cbor spec: `__type` holds the error's absolute shape id,
//!   the status is the error's `httpError` (404 for ResourceNotFound), else
//!   400, or 500 for a server fault; every response says `smithy-protocol`.
//!
//! So an error goes out with its modeled status, `{"__type":
//! "com.amazonaws.cloudwatch#<Shape>", "message": ...}` and the header with
//! its Query code. Errors the model lacks (`InvalidAction`,
//! `SerializationException`) use their code for both. A request that routes
//! nowhere (no or another `smithy-protocol`, an `X-Amz-Target`, another
//! service) is 400 `UnknownOperationException`, as AWS answers an awsJson
//! request without a known target and as the crate's `aws` handler does.

use super::cbor::{self, Kind};
use crate::LocalCloud;
use crate::wire::{self, AwsError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::sync::Arc;

const SERVICE: &str = wire::CLOUDWATCH_PREFIX;
const NAMESPACE: &str = "com.amazonaws.cloudwatch";
const CBOR: &str = "application/cbor";
const JSON_1_0: &str = "application/x-amz-json-1.0";
const SMITHY_PROTOCOL: &str = "smithy-protocol";
const RPC_V2_CBOR: &str = "rpc-v2-cbor";

/// CloudWatch's modeled errors: Query code, shape, status (service-2.json's
/// `error` traits; a shape without one is its own code, a client error).
/// ResourceNotFound and DashboardNotFoundError share a code: the first wins.
const MODELED: &[(&str, &str, u16)] = &[
    ("ResourceNotFound", "ResourceNotFound", 404),
    ("ResourceNotFound", "DashboardNotFoundError", 404),
    (
        "InvalidParameterValue",
        "InvalidParameterValueException",
        400,
    ),
    ("MissingParameter", "MissingRequiredParameterException", 400),
    (
        "InvalidParameterCombination",
        "InvalidParameterCombinationException",
        400,
    ),
    ("LimitExceeded", "LimitExceededFault", 400),
    ("LimitExceededException", "LimitExceededException", 400),
    ("InvalidNextToken", "InvalidNextToken", 400),
    ("InvalidFormat", "InvalidFormatFault", 400),
    ("InvalidParameterInput", "DashboardInvalidInputError", 400),
    ("InternalServiceError", "InternalServiceFault", 500),
    ("ResourceConflict", "ResourceConflict", 409),
    (
        "ResourceNotFoundException",
        "ResourceNotFoundException",
        404,
    ),
    ("ConflictException", "ConflictException", 409),
    (
        "ConcurrentModificationException",
        "ConcurrentModificationException",
        429,
    ),
    ("KmsAccessDeniedException", "KmsAccessDeniedException", 400),
    ("KmsKeyDisabledException", "KmsKeyDisabledException", 400),
    ("KmsKeyNotFoundException", "KmsKeyNotFoundException", 400),
];

/// Operations without output: the spec wants no body and no Content-Type
/// (both clients ignore any).
const NO_OUTPUT: &[&str] = &[
    "DeleteAlarmMuteRule",
    "DeleteAlarms",
    "DisableAlarmActions",
    "EnableAlarmActions",
    "PutAlarmMuteRule",
    "PutCompositeAlarm",
    "PutLogAlarm",
    "PutMetricAlarm",
    "PutMetricData",
    "SetAlarmState",
];

/// How an output member is typed where a JSON value cannot tell: every
/// timestamp, double and blob member of every CloudWatch output shape in
/// botocore's service-2.json (2010-08-01). No name is typed otherwise in any
/// output, so the name decides; PutMetricAlarm, DescribeAlarms, DeleteAlarms,
/// SetAlarmState, DescribeAlarmHistory, GetMetricData, GetMetricStatistics and
/// ListMetrics use the first five timestamps and Timestamps, Values,
/// Threshold, the datapoint statistics and ExtendedStatistics.
fn member_kind(name: &str) -> Kind {
    match name {
        "StateUpdatedTimestamp"
        | "AlarmConfigurationUpdatedTimestamp"
        | "StateTransitionedTimestamp"
        | "Timestamp"
        | "Timestamps"
        | "CreationDate"
        | "LastUpdateDate"
        | "LastModified"
        | "LastUpdatedTimestamp"
        | "ExpireDate"
        | "StartDate"
        | "StartTime"
        | "EndTime" => Kind::Timestamp,
        "Threshold"
        | "Values"
        | "SampleCount"
        | "Average"
        | "Sum"
        | "Minimum"
        | "Maximum"
        | "AggregateValue"
        | "UniqueContributors"
        | "MaxContributorValue"
        | "ApproximateAggregateValue"
        | "ApproximateValue" => Kind::Double,
        "ExtendedStatistics" => Kind::DoubleMap,
        "MetricWidgetImage" => Kind::Blob,
        _ => Kind::Plain,
    }
}

/// The rpcv2Cbor route.
pub fn router() -> Router<Arc<LocalCloud>> {
    Router::new().route(
        "/service/{service}/operation/{operation}",
        axum::routing::post(rpc_v2_cbor).layer(DefaultBodyLimit::max(wire::MAX_REQUEST_BYTES)),
    )
}

async fn rpc_v2_cbor(
    State(cloud): State<Arc<LocalCloud>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = cbor_request(path, &headers, body).and_then(|(operation, input)| {
        let output = super::call(&cloud, &operation, &input)?;
        Ok(cbor_output(&operation, output))
    });
    answer.unwrap_or_else(Failure::cbor)
}

/// The operation and its input, or why the request is not one.
fn cbor_request(
    path: Result<Path<(String, String)>, PathRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, Map<String, Value>), Failure> {
    let Path((service, operation)) =
        path.map_err(|e| Failure::unroutable(format!("cannot read the request path: {e}")))?;
    check_route(&service, &operation, headers)?;
    let body = read_body(body)?;
    check_content_type(headers)?;
    Ok((operation, cbor_input(&body)?))
}

fn check_route(service: &str, operation: &str, headers: &HeaderMap) -> Result<(), Failure> {
    match headers.get(SMITHY_PROTOCOL).map(HeaderValue::to_str) {
        Some(Ok(RPC_V2_CBOR)) => {}
        None => {
            return Err(Failure::unroutable(format!(
                "the {SMITHY_PROTOCOL} header is missing; rpcv2Cbor requests say {SMITHY_PROTOCOL}: {RPC_V2_CBOR}"
            )));
        }
        Some(other) => {
            return Err(Failure::unroutable(format!(
                "{SMITHY_PROTOCOL} is {other:?}; this endpoint speaks {RPC_V2_CBOR}"
            )));
        }
    }
    // The spec has servers refuse these on rpcv2Cbor requests.
    if headers.contains_key("x-amz-target") || headers.contains_key("x-amzn-target") {
        return Err(Failure::unroutable(
            "rpcv2Cbor requests carry no X-Amz-Target (awsJson1_0 requests go to /)",
        ));
    }
    // Smithy lets clients name the service by its absolute shape id, `#` as `.`.
    let absolute = service
        .strip_prefix(NAMESPACE)
        .and_then(|s| s.strip_prefix('.'));
    if service != SERVICE && absolute != Some(SERVICE) {
        return Err(Failure::unroutable(format!(
            "the local cloud serves no rpcv2Cbor service {service:?}"
        )));
    }
    if !is_identifier(operation) {
        return Err(Failure::unroutable(format!(
            "{operation:?} is not an operation name"
        )));
    }
    Ok(())
}

/// Smithy's shape name syntax.
fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Failure> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::protocol(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                format!(
                    "the request body is larger than {} bytes",
                    wire::MAX_REQUEST_BYTES
                ),
            )
        } else {
            Failure::serialization(format!("cannot read the request body: {rejection}"))
        }
    })
}

/// A body is CBOR; no Content-Type is right for an operation without input.
fn check_content_type(headers: &HeaderMap) -> Result<(), Failure> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = value.to_str().unwrap_or("").split(';').next().unwrap_or("");
    if media.trim().eq_ignore_ascii_case(CBOR) {
        return Ok(());
    }
    Err(Failure::protocol(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaTypeException",
        format!("Content-Type is {value:?}; rpcv2Cbor bodies are {CBOR}"),
    ))
}

/// The input structure; an empty body is an empty input, as clients send
/// for an operation without one.
fn cbor_input(body: &[u8]) -> Result<Map<String, Value>, Failure> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match cbor::decode(body) {
        Ok(Value::Object(input)) => Ok(input),
        Ok(_) => Err(Failure::serialization(
            "the request body must be a CBOR map, the operation's input structure",
        )),
        Err(e) => Err(Failure::serialization(format!(
            "the request body is not valid CBOR: {e}"
        ))),
    }
}

fn cbor_output(operation: &str, output: Value) -> Response {
    if NO_OUTPUT.contains(&operation) {
        return cbor_response(StatusCode::OK, None);
    }
    let body = cbor::encode(&wire::compact(output), &member_kind);
    cbor_response(StatusCode::OK, Some(body))
}

fn cbor_response(status: StatusCode, body: Option<Vec<u8>>) -> Response {
    let mut response = match body {
        Some(body) => (status, [(header::CONTENT_TYPE, CBOR)], body).into_response(),
        None => status.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(SMITHY_PROTOCOL, HeaderValue::from_static(RPC_V2_CBOR));
    with_request_id(response)
}

/// Both clients keep it in the response metadata.
fn with_request_id(mut response: Response) -> Response {
    if let Ok(id) = HeaderValue::from_str(&crate::random_uuid()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), id);
    }
    response
}

/// awsJson1_0: one operation named by the `X-Amz-Target` header.
pub fn json(cloud: &LocalCloud, operation: &str, body: Result<Bytes, BytesRejection>) -> Response {
    let output = read_body(body)
        .and_then(|body| Ok(wire::body(&body)?))
        .and_then(|input| Ok(super::call(cloud, operation, &input)?));
    match output {
        Ok(output) => {
            let body = wire::compact(output).to_string();
            with_request_id(([(header::CONTENT_TYPE, JSON_1_0)], body).into_response())
        }
        Err(failure) => failure.json(),
    }
}

/// An error as both transports send it.
#[derive(Debug, PartialEq, Eq)]
struct Failure {
    status: StatusCode,
    /// The body's `__type`.
    shape_id: String,
    /// The Query code, for `x-amzn-query-error`.
    code: String,
    message: String,
}

impl From<AwsError> for Failure {
    fn from(error: AwsError) -> Failure {
        // A state the local cloud cannot save is CloudWatch's internal error.
        let code = match error.code.as_str() {
            "ServerException" => "InternalServiceError",
            code => code,
        };
        let modeled = MODELED
            .iter()
            .find(|(query, _, _)| *query == code)
            .or_else(|| MODELED.iter().find(|(_, shape, _)| *shape == code));
        match modeled {
            Some(&(query, shape, status)) => Failure {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                shape_id: format!("{NAMESPACE}#{shape}"),
                code: query.to_owned(),
                message: error.message,
            },
            None => Failure::protocol(StatusCode::BAD_REQUEST, code, error.message),
        }
    }
}

impl Failure {
    fn protocol(status: StatusCode, code: &str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            shape_id: code.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    fn unroutable(message: impl Into<String>) -> Failure {
        Failure::protocol(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            message,
        )
    }

    fn serialization(message: impl Into<String>) -> Failure {
        Failure::protocol(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    fn body(&self) -> Value {
        serde_json::json!({"__type": self.shape_id, "message": self.message})
    }

    fn cbor(self) -> Response {
        let body = cbor::encode(&self.body(), &|_| Kind::Plain);
        self.with_query_error(cbor_response(self.status, Some(body)))
    }

    fn json(self) -> Response {
        let response = (
            self.status,
            [(header::CONTENT_TYPE, JSON_1_0)],
            self.body().to_string(),
        )
            .into_response();
        self.with_query_error(with_request_id(response))
    }

    /// `Code;Sender` or `Code;Receiver`, as awsQueryCompatible services say.
    fn with_query_error(&self, mut response: Response) -> Response {
        let fault = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        if let Ok(value) = HeaderValue::from_str(&format!("{};{fault}", self.code)) {
            response.headers_mut().insert("x-amzn-query-error", value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_take_their_modeled_shape_status_and_query_code() {
        let failure = |code: &str| Failure::from(AwsError::new(code, "why"));
        let expected = |status: u16, shape: &str, code: &str| Failure {
            status: StatusCode::from_u16(status).unwrap(),
            shape_id: shape.to_owned(),
            code: code.to_owned(),
            message: "why".to_owned(),
        };
        let not_found = expected(
            404,
            "com.amazonaws.cloudwatch#ResourceNotFound",
            "ResourceNotFound",
        );
        assert_eq!(failure("ResourceNotFound"), not_found);
        let invalid = "com.amazonaws.cloudwatch#InvalidParameterValueException";
        assert_eq!(
            failure("InvalidParameterValue"),
            expected(400, invalid, "InvalidParameterValue")
        );
        // The shape's name works as well as its code.
        assert_eq!(
            failure("InvalidParameterValueException"),
            expected(400, invalid, "InvalidParameterValue")
        );
        let internal = "com.amazonaws.cloudwatch#InternalServiceFault";
        assert_eq!(
            failure("ServerException"),
            expected(500, internal, "InternalServiceError")
        );
        assert_eq!(
            failure("InvalidAction"),
            expected(400, "InvalidAction", "InvalidAction")
        );
    }

    #[test]
    fn routes_need_the_protocol_header_and_the_service() {
        let mut headers = HeaderMap::new();
        assert!(check_route(SERVICE, "DescribeAlarms", &headers).is_err());
        headers.insert(SMITHY_PROTOCOL, HeaderValue::from_static("rpc-v2-json"));
        assert!(check_route(SERVICE, "DescribeAlarms", &headers).is_err());
        headers.insert(SMITHY_PROTOCOL, HeaderValue::from_static(RPC_V2_CBOR));
        assert!(check_route(SERVICE, "DescribeAlarms", &headers).is_ok());
        let absolute = "com.amazonaws.cloudwatch.GraniteServiceVersion20100801";
        assert!(check_route(absolute, "DescribeAlarms", &headers).is_ok());
        assert!(check_route("AmazonSQS", "DescribeAlarms", &headers).is_err());
        assert!(check_route(SERVICE, "Describe-Alarms", &headers).is_err());
        assert!(check_route(SERVICE, "", &headers).is_err());
        headers.insert("x-amz-target", HeaderValue::from_static("x.y"));
        assert!(check_route(SERVICE, "DescribeAlarms", &headers).is_err());
    }

    #[test]
    fn alarm_outputs_tag_their_timestamps_and_doubles() {
        let alarm = serde_json::json!({"MetricAlarms": [{
            "AlarmName": "a", "Period": 60, "Threshold": 5,
            "StateUpdatedTimestamp": 1700000000.5, "StateReason": null,
        }]});
        let decoded = cbor::decode(&cbor::encode(&alarm, &member_kind)).unwrap();
        assert_eq!(
            decoded,
            serde_json::json!({"MetricAlarms": [{
                "AlarmName": "a", "Period": 60, "Threshold": 5.0,
                "StateUpdatedTimestamp": 1700000000.5,
            }]})
        );
        assert!(decoded["MetricAlarms"][0]["Threshold"].is_f64());
    }
}
