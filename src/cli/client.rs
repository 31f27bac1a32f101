//! A small client of the REST API for the CLI.

use super::ClientArgs;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;
use switchyard_api::error::ErrorBody;
use switchyard_api::releases::{Release, ReleasePage};

/// Why a command failed, and its exit status: 1 when the server refused,
/// 2 for bad usage, 3 when the server could not be reached, 4 for local
/// failures.
#[derive(Debug)]
pub enum CliError {
    Api {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    Usage(String),
    Unreachable(String),
    Local(anyhow::Error),
    /// The deployment failed, stopped or rolled back, or a stack operation
    /// failed.
    Deployment(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Api { .. } => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
            CliError::Local(_) => 4,
            CliError::Deployment(_) => super::deploy::DEPLOYMENT_FAILED,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api {
                status,
                code,
                message,
                field,
            } => {
                match field {
                    Some(field) => write!(f, "{field}: {message}")?,
                    None => write!(f, "{message}")?,
                }
                write!(f, " ({status} {code})")
            }
            CliError::Usage(message)
            | CliError::Unreachable(message)
            | CliError::Deployment(message) => f.write_str(message),
            CliError::Local(e) => write!(f, "{e:#}"),
        }
    }
}

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// Percent-encodes one path segment.
pub fn segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl ApiClient {
    /// A client for `base` with a token in hand (the demo, the benchmarks).
    pub fn with_token(base: &str, token: String) -> Result<ApiClient, CliError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("switchyard-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Local(e.into()))?;
        Ok(ApiClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The underlying HTTP client, for what is not JSON (streams, pages).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub(super) fn new(args: &ClientArgs) -> Result<ApiClient, CliError> {
        let token = match (&args.token, &args.token_file) {
            (Some(token), _) => token.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| {
                    CliError::Usage(format!(
                        "cannot read the token file {}: {e}",
                        path.display()
                    ))
                })?
                .trim()
                .to_owned(),
            (None, None) => {
                return Err(CliError::Usage(
                    "no API token: set SWITCHYARD_TOKEN (or pass --token-file DATA_DIR/admin-token)".into(),
                ));
            }
        };
        Self::with_token(&args.server, token)
    }

    /// The answer to a GET, decoded as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CliError> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CliError> {
        self.send(self.http.patch(self.url(path)).json(body)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.send(self.http.delete(self.url(path))).await
    }

    pub async fn releases(
        &self,
        environment: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<ReleasePage, CliError> {
        let mut path = format!(
            "/api/environments/{}/releases?limit={limit}",
            segment(environment)
        );
        if let Some(before) = before {
            path.push_str(&format!("&before={}", segment(before)));
        }
        self.get(&path).await
    }

    /// Every release, following the `next` cursors.
    pub async fn all_releases(
        &self,
        environment: &str,
        limit: u32,
    ) -> Result<Vec<Release>, CliError> {
        let mut all = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let page = self.releases(environment, limit, before.as_deref()).await?;
            all.extend(page.releases);
            match page.next {
                Some(next) => before = Some(next),
                None => return Ok(all),
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CliError> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|e| {
            CliError::Unreachable(format!(
                "cannot reach the switchyard server at {}: {}",
                self.base,
                root_cause(&e)
            ))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            CliError::Unreachable(format!("the connection to {} broke: {e}", self.base))
        })?;
        if status.is_success() {
            // No body (204) reads as `null`: what `()` decodes from.
            let json: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(json).map_err(|e| {
                CliError::Local(anyhow::anyhow!(
                    "the server answered with invalid JSON: {e}"
                ))
            });
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(ErrorBody { error }) => CliError::Api {
                status: status.as_u16(),
                code: error.code,
                message: error.message,
                field: error.field,
            },
            // Not switchyard's error body: a proxy in between, or a crash.
            Err(_) => CliError::Api {
                status: status.as_u16(),
                code: "unknown".into(),
                message: format!("the server answered {status}"),
                field: None,
            },
        })
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
