//! The AWS JSON 1.1 protocol as AWS serves it: `POST /` with
//! `X-Amz-Target: <Prefix>.<Operation>`, JSON in and out, errors as HTTP 400
//! with `{"__type": "<ExceptionName>", "message": "..."}` so the SDKs raise
//! their typed errors.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

pub const ECS_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";
pub const CODEDEPLOY_PREFIX: &str = "CodeDeploy_20141006";
pub const CODEPIPELINE_PREFIX: &str = "CodePipeline_20150709";
pub const ECR_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921";
/// CloudWatch speaks awsJson1_0 here, not 1.1: `cloudwatch::protocol` answers it.
pub const CLOUDWATCH_PREFIX: &str = "GraniteServiceVersion20100801";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An AWS error: its exception name and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"__type": self.code, "message": self.message});
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response()
    }
}

/// The largest request body the endpoint reads.
pub const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// A body over `MAX_REQUEST_BYTES`: 413 in AWS's error shape, so SDKs and
/// the CLI name the problem instead of failing to parse a text page.
pub fn too_large() -> Response {
    let body = serde_json::json!({
        "__type": "RequestEntityTooLargeException",
        "message": format!("the request body is larger than {MAX_REQUEST_BYTES} bytes"),
    });
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

pub type OpResult = Result<Value, AwsError>;

/// Splits the target header into service prefix and operation.
pub fn target(headers: &HeaderMap) -> Result<(&str, &str), AwsError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AwsError::new("UnknownOperationException", "missing X-Amz-Target header"))?;
    target.split_once('.').ok_or_else(|| {
        AwsError::new(
            "UnknownOperationException",
            format!("malformed X-Amz-Target {target:?}"),
        )
    })
}

/// The request body as a JSON object. An empty body counts as `{}`, as the
/// SDKs send for operations without input.
pub fn body(bytes: &Bytes) -> Result<Map<String, Value>, AwsError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AwsError::new(
            "SerializationException",
            "the request body must be a JSON object",
        )),
        Err(e) => Err(AwsError::new(
            "SerializationException",
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}

pub fn ok(value: Value) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], value.to_string()).into_response()
}

/// Typed access to request fields, with the error each service uses when a
/// field is missing or of the wrong type.
pub struct Input<'a> {
    pub map: &'a Map<String, Value>,
    /// The exception for bad or missing parameters (ECS: `InvalidParameterException`).
    pub invalid: &'static str,
}

impl<'a> Input<'a> {
    pub fn new(map: &'a Map<String, Value>, invalid: &'static str) -> Input<'a> {
        Input { map, invalid }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, AwsError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(AwsError::new(
                "SerializationException",
                format!("{key} must be a string"),
            )),
        }
    }

    pub fn str(&self, key: &str) -> Result<&'a str, AwsError> {
        self.opt_str(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AwsError::new(self.invalid, format!("{key} is required")))
    }

    /// Like `str`, with the service's own "...RequiredException".
    pub fn required(&self, key: &str, exception: &str) -> Result<&'a str, AwsError> {
        self.opt_str(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AwsError::new(exception, format!("{key} is required")))
    }

    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, AwsError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                AwsError::new(
                    "SerializationException",
                    format!("{key} must be an integer"),
                )
            }),
            Some(_) => Err(AwsError::new(
                "SerializationException",
                format!("{key} must be a number"),
            )),
        }
    }

    /// A number (a timestamp in epoch seconds, a percentage).
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, AwsError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(AwsError::new(
                "SerializationException",
                format!("{key} must be a number"),
            )),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, AwsError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(AwsError::new(
                "SerializationException",
                format!("{key} must be a boolean"),
            )),
        }
    }

    pub fn opt_object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, AwsError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(AwsError::new(
                "SerializationException",
                format!("{key} must be an object"),
            )),
        }
    }

    pub fn list(&self, key: &str) -> Result<&'a [Value], AwsError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(AwsError::new(
                "SerializationException",
                format!("{key} must be a list"),
            )),
        }
    }

    pub fn str_list(&self, key: &str) -> Result<Vec<&'a str>, AwsError> {
        self.list(key)?
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    AwsError::new(
                        "SerializationException",
                        format!("{key} must be a list of strings"),
                    )
                })
            })
            .collect()
    }

    /// `maxResults` within the model's range (AWS refuses, it does not clamp).
    pub fn max_results(&self, default: i64, max: i64) -> Result<usize, AwsError> {
        let n = self.opt_i64("maxResults")?.unwrap_or(default);
        if !(1..=max).contains(&n) {
            return Err(AwsError::new(
                self.invalid,
                format!("maxResults must be between 1 and {max} (got {n})"),
            ));
        }
        Ok(n as usize)
    }

    /// A list of strings of at most `max` items, as the API documents.
    pub fn str_list_at_most(&self, key: &str, max: usize) -> Result<Vec<&'a str>, AwsError> {
        let items = self.str_list(key)?;
        if items.len() > max {
            return Err(AwsError::new(
                self.invalid,
                format!("{key} can have at most {max} items (got {})", items.len()),
            ));
        }
        Ok(items)
    }

    pub fn nested(&self, key: &str) -> Result<Option<Input<'a>>, AwsError> {
        Ok(self.opt_object(key)?.map(|m| Input::new(m, self.invalid)))
    }
}

/// Epoch seconds with a fraction, the timestamp format of these services.
pub fn epoch(millis: i64) -> Value {
    serde_json::json!(millis as f64 / 1000.0)
}

/// Drops null fields, as AWS omits absent members.
pub fn compact(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
        for v in map.values_mut() {
            *v = compact(std::mem::take(v));
        }
    } else if let Value::Array(items) = &mut value {
        for v in items.iter_mut() {
            *v = compact(std::mem::take(v));
        }
    }
    value
}

/// Paginates a list with an opaque numeric `nextToken`.
pub fn paginate<T: Clone>(
    items: &[T],
    next_token: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let start = match next_token {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            AwsError::new("InvalidNextTokenException", "the next token is not valid")
        })?,
    };
    let end = (start + max).min(items.len());
    let page = items.get(start..end).unwrap_or_default().to_vec();
    let next = (end < items.len()).then(|| end.to_string());
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(body(&Bytes::from_static(b"")).unwrap().is_empty());
        assert_eq!(
            body(&Bytes::from_static(b"[1]")).unwrap_err().code,
            "SerializationException"
        );
        assert_eq!(
            body(&Bytes::from_static(b"{nope")).unwrap_err().code,
            "SerializationException"
        );
    }

    #[test]
    fn compact_drops_nulls_deeply() {
        let v =
            compact(serde_json::json!({"a": null, "b": {"c": null, "d": 1}, "e": [{"f": null}]}));
        assert_eq!(v, serde_json::json!({"b": {"d": 1}, "e": [{}]}));
    }

    #[test]
    fn pagination() {
        let items: Vec<u32> = (0..5).collect();
        let (page, next) = paginate(&items, None, 2).unwrap();
        assert_eq!((page, next.as_deref()), (vec![0, 1], Some("2")));
        let (page, next) = paginate(&items, Some("4"), 2).unwrap();
        assert_eq!((page, next), (vec![4], None));
        assert!(paginate(&items, Some("x"), 2).is_err());
    }
}
