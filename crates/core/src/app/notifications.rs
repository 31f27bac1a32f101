//! Outgoing notifications: queued in the same transaction as the change
//! they announce, sent by one background sender with retries and backoff,
//! so a slow or broken receiver never holds up a deployment.

use super::{App, Result};
use crate::store;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use switchyard_domain::pipeline::NotificationFormat;
use switchyard_domain::slack;

/// Attempts before a notification is given up.
pub const MAX_ATTEMPTS: i64 = 10;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Delay before attempt `attempts + 1`: 1 s, 2 s, 4 s, ... up to 10 minutes.
pub fn backoff_millis(attempts: i64) -> i64 {
    (1_000i64 << attempts.clamp(0, 20)).min(600_000)
}

/// The JSON body for a receiver of `format`.
pub fn body(
    format: NotificationFormat,
    kind: &str,
    environment: &str,
    summary: &str,
    link: &str,
    at: i64,
    extra: &serde_json::Value,
) -> serde_json::Value {
    match format {
        NotificationFormat::Generic => {
            let mut body = json!({
                "event": kind,
                "environment": environment,
                "summary": summary,
                "url": link,
                "at": switchyard_domain::time::rfc3339_millis(at),
            });
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                for (k, v) in extra {
                    body.entry(k.clone()).or_insert(v.clone());
                }
            }
            body
        }
        NotificationFormat::Slack => {
            let icon = match kind {
                "deployment.succeeded" => ":large_green_circle:",
                "deployment.failed" => ":red_circle:",
                "deployment.rolled_back" => ":rewind:",
                "deployment.metric_gate" => ":bar_chart:",
                _ => ":raising_hand:",
            };
            let text = slack::escape(summary);
            let mut blocks = vec![json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": format!("{icon} *{environment}*: {text}\n<{link}|Open in switchyard>")},
            })];
            // Approvers vote from the message (POST /hooks/slack/interactions).
            if let ("approval.requested", Some(approval_id)) = (kind, extra["approval_id"].as_i64())
            {
                blocks.push(slack::approval_buttons(approval_id));
            }
            json!({"text": format!("{icon} {text}"), "blocks": blocks})
        }
    }
}

/// What went wrong with a POST to a receiver, without its URL: the URL
/// may carry a credential (Slack), so only the status or the kind of
/// failure is told.
pub(crate) fn delivery_failure(e: &reqwest::Error) -> String {
    match e.status() {
        Some(status) => format!("the receiver answered {status}"),
        None if e.is_timeout() => "the receiver did not answer in time".to_owned(),
        None => "the receiver could not be reached".to_owned(),
    }
}

impl App {
    /// Queues `kind` for every notification target of the environment,
    /// inside the caller's transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn notify(
        &self,
        tx: &mut sqlx::SqliteConnection,
        environment_id: i64,
        kind: &str,
        summary: &str,
        path: &str,
        extra: serde_json::Value,
        now: i64,
    ) -> Result<()> {
        let targets =
            store::release_policies::notification_targets(&mut *tx, environment_id).await?;
        if targets.is_empty() {
            return Ok(());
        }
        let environment: String = sqlx::query_scalar("SELECT name FROM environments WHERE id = ?")
            .bind(environment_id)
            .fetch_one(&mut *tx)
            .await?;
        let link = self.link(path);
        for target in targets {
            let format =
                NotificationFormat::parse(&target.format).unwrap_or(NotificationFormat::Generic);
            let body = body(format, kind, &environment, summary, &link, now, &extra);
            store::notifications::enqueue(&mut *tx, target.id, kind, &body.to_string(), now)
                .await?;
        }
        Ok(())
    }

    /// Wakes the sender after a commit that may have queued notifications.
    pub(crate) fn notifications_committed(&self) {
        self.notifications_queued.notify_one();
    }

    /// Sends what is due; returns when the next one is due.
    pub async fn send_due_notifications(&self) -> Result<Option<i64>> {
        let now = store::now_millis();
        let due = store::notifications::due(self.store.reader(), now, 32).await?;
        let sends = due.iter().map(|n| async move {
            let outcome = self
                .http
                .post(&n.url)
                .timeout(REQUEST_TIMEOUT)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::USER_AGENT, "switchyard-notifications")
                .body(n.body.clone())
                .send()
                .await
                .and_then(|r| r.error_for_status());
            (n, outcome)
        });
        let results = futures_util::future::join_all(sends).await;
        if !results.is_empty() {
            let now = store::now_millis();
            let mut tx = self.store.begin().await?;
            for (n, outcome) in results {
                match outcome {
                    Ok(_) => store::notifications::delivered(&mut *tx, n.id, now).await?,
                    Err(e) => {
                        let error = delivery_failure(&e);
                        let attempts = n.attempts + 1;
                        let retry_at =
                            (attempts < MAX_ATTEMPTS).then(|| now + backoff_millis(n.attempts));
                        tracing::warn!(notification = n.id, kind = %n.kind, attempts, %error, "a notification was not delivered");
                        store::notifications::failed(&mut *tx, n.id, &error, retry_at, now).await?;
                    }
                }
            }
            tx.commit().await?;
        }
        Ok(store::notifications::next_due_at(self.store.reader()).await?)
    }

    /// The sender: runs until the process ends.
    pub async fn run_notification_sender(self: Arc<Self>) {
        loop {
            let wait = match self.send_due_notifications().await {
                Ok(Some(next)) => {
                    Duration::from_millis((next - store::now_millis()).clamp(10, 60_000) as u64)
                }
                Ok(None) => Duration::from_secs(60),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot send notifications; retrying");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = self.notifications_queued.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff_millis(0), 1_000);
        assert_eq!(backoff_millis(3), 8_000);
        assert_eq!(backoff_millis(30), 600_000);
    }

    #[test]
    fn slack_bodies_escape_and_link() {
        let b = body(
            NotificationFormat::Slack,
            "deployment.failed",
            "prod",
            "v2 <failed> & rolled back",
            "http://sy/deployments/3",
            0,
            &json!({}),
        );
        let text = b["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.contains("&lt;failed&gt; &amp;"), "{text}");
        assert!(text.contains("<http://sy/deployments/3|Open in switchyard>"));
        let g = body(
            NotificationFormat::Generic,
            "approval.requested",
            "prod",
            "s",
            "http://sy/approvals/1",
            0,
            &json!({"approval_id": 1}),
        );
        assert_eq!(g["approval_id"], 1);
        let request = body(
            NotificationFormat::Slack,
            "approval.requested",
            "prod",
            "v2 needs 2 approval(s)",
            "http://sy/approvals/4",
            0,
            &json!({"approval_id": 4}),
        );
        assert_eq!(request["blocks"][1]["elements"][0]["value"], "4");
        assert!(
            b["blocks"].as_array().unwrap().len() == 1,
            "no buttons on outcomes"
        );
        assert_eq!(g["url"], "http://sy/approvals/1");
    }
}
