//! The API of a `switchyard serve` a bench started: the CLI's client, with
//! errors that name the path.

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a bench looks at the API while it waits.
pub(crate) const POLL: Duration = Duration::from_millis(100);

pub(crate) struct Api(switchyard::cli::client::ApiClient);

impl Api {
    /// The server at `base` as its first admin, whose token it wrote to its
    /// data dir.
    pub(crate) fn as_admin(base: &str, data_dir: &Path) -> anyhow::Result<Api> {
        let token_file = data_dir.join(switchyard_core::app::users::ADMIN_TOKEN_FILE);
        let token = std::fs::read_to_string(&token_file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", token_file.display()))?;
        Self::with_token(base, token.trim())
    }

    /// The server at `base` as the user whose token this is.
    pub(crate) fn with_token(base: &str, token: &str) -> anyhow::Result<Api> {
        let client = switchyard::cli::client::ApiClient::with_token(base, token.to_owned())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Api(client))
    }

    /// The client underneath, for what the JSON calls do not cover (SSE).
    pub(crate) fn client(&self) -> &switchyard::cli::client::ApiClient {
        &self.0
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.0
            .get(path)
            .await
            .map_err(|e| anyhow::anyhow!("{path}: {e}"))
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.0
            .post(path, &body)
            .await
            .map_err(|e| anyhow::anyhow!("{path}: {e}"))
    }

    /// A plain-text answer, such as a build log.
    pub(crate) async fn text(&self, path: &str) -> anyhow::Result<String> {
        let response = self
            .0
            .http()
            .get(format!("{}{path}", self.0.base()))
            .bearer_auth(self.0.token())
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{path} answered {status}: {text}");
        Ok(text)
    }

    /// Polls `path` until `done`; the answer that was.
    pub(crate) async fn until(
        &self,
        path: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let answer = self.get(path).await?;
            if done(&answer) {
                return Ok(answer);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{path} did not get there within {} s: {answer}",
                limit.as_secs()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}
