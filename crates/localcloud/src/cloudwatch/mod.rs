//! CloudWatch: alarms and metrics. `protocol` puts them on the wire
//! (rpcv2Cbor and awsJson1_0), `cbor` is its codec; `call` runs one operation.

mod cbor;
pub(crate) mod protocol;

use crate::LocalCloud;
use crate::wire::{AwsError, OpResult};
use serde_json::{Map, Value};

/// One CloudWatch operation, its input and output as awsJson documents
/// (timestamps in epoch seconds, blobs in base64), whichever transport
/// carried them.
pub fn call(_cloud: &LocalCloud, operation: &str, _input: &Map<String, Value>) -> OpResult {
    Err(AwsError::new(
        "InvalidAction",
        format!("the local cloud does not serve CloudWatch {operation}"),
    ))
}
