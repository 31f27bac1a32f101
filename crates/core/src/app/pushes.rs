//! Ingesting git push webhooks: verify the signature with the secret of an
//! environment that follows the repository, record the delivery once, and
//! start the pipeline of each environment that follows the pushed branch.

use super::{App, Error, Result, detail};
use crate::app::pipelines::RunTrigger;
use crate::store::webhooks::PushedCommit;
use crate::store::{self, events::NewEvent, release_policies::Follower};
use serde_json::json;
use sqlx::types::Json;
use switchyard_domain::webhook::{
    CommitInfo, Delivery, EventKind, Provider, Push, WebhookError, read_delivery,
};

/// What a delivery led to.
#[derive(Debug, Clone, Default)]
pub struct Ingested {
    /// A redelivery of one already recorded (the same delivery id, or the
    /// same body when the sender gave no id): nothing was started.
    pub duplicate: bool,
    pub event: String,
    /// Runs started, per environment.
    pub started: Vec<(String, i64)>,
    /// Environments that follow the branch but started nothing, and why.
    pub not_started: Vec<(String, String)>,
}

/// A delivery that cannot be read (a header missing or unreadable, a body
/// that is not JSON) is a 400 naming the header or the body; one that reads
/// but carries a wrong value is a 422.
impl From<WebhookError> for Error {
    fn from(e: WebhookError) -> Self {
        let field = match &e {
            WebhookError::MissingHeader { header } | WebhookError::InvalidHeader { header, .. } => {
                (*header).to_owned()
            }
            WebhookError::InvalidPayload(inner) => inner.field.clone(),
            _ => "body".to_owned(),
        };
        let error = switchyard_domain::FieldError {
            field,
            message: e.to_string(),
        };
        match e {
            WebhookError::MissingHeader { .. }
            | WebhookError::InvalidHeader { .. }
            | WebhookError::InvalidForm(_)
            | WebhookError::NotJson(_) => Error::Malformed(error),
            WebhookError::WrongEndpoint { .. }
            | WebhookError::NotAnObject
            | WebhookError::InvalidPayload(_) => Error::Invalid(error),
        }
    }
}

const BAD_SIGNATURE: &str = "the webhook signature or token is missing or does not match the \
     secret of any environment that follows this repository";

impl App {
    pub async fn ingest_webhook(
        &self,
        provider: Provider,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Ingested> {
        // Nothing is recorded, and nothing tells the sender which part was
        // wrong, until the signature checks out.
        let delivery = read_delivery(provider, headers, body)?;
        let repository = delivery.repository();
        let followers = store::release_policies::followers(self.store.reader()).await?;
        let verified: Vec<&Follower> = followers
            .iter()
            .filter(|f| repository.matches(&f.source_repo))
            .filter(|f| {
                f.webhook_secret
                    .as_deref()
                    .is_some_and(|s| delivery.verify(s))
            })
            .collect();
        if verified.is_empty() {
            return Err(Error::Unauthenticated(BAD_SIGNATURE));
        }
        let push = match delivery.event {
            EventKind::Push => delivery.push()?,
            _ => None,
        };
        let now = store::now_millis();
        let mut outcome = Ingested {
            event: delivery.event.as_str().to_owned(),
            ..Default::default()
        };
        let repo = repository.primary().unwrap_or_default().to_owned();
        let dedup_key = delivery.dedup_key();
        let mut tx = self.store.begin().await?;
        let row = store::webhooks::NewDelivery {
            provider: provider.as_str(),
            delivery_id: Some(&dedup_key),
            event: delivery.event.as_str(),
            repository: &repo,
            branch: push.as_ref().map(|p| p.branch.as_str()),
            before_sha: push.as_ref().map(|p| p.before.as_str()),
            after_sha: push.as_ref().map(|p| p.after.as_str()),
            author: push.as_ref().map(|p| p.commit.author_name.as_str()),
            message: push.as_ref().map(|p| p.commit.message.as_str()),
            pusher: push.as_ref().map(|p| p.pusher.as_str()),
            compare: push.as_ref().and_then(|p| p.compare.as_deref()),
            commit_count: push.as_ref().map(|p| p.commit_count as i64),
            commits: push.as_ref().and_then(listed_beyond_head),
            received_at: now,
        };
        let Some(delivery_row) = store::webhooks::insert_once(&mut *tx, &row).await? else {
            outcome.duplicate = true;
            return Ok(outcome);
        };
        let Some(push) = push else {
            tx.commit().await?;
            return Ok(outcome);
        };
        let followers_of_branch: Vec<&&Follower> = verified
            .iter()
            .filter(|f| f.source_branch == push.branch)
            .collect();
        for f in &followers_of_branch {
            let reason = f
                .pipeline
                .is_none()
                .then_some("the environment has no pipeline");
            store::events::append(
                &mut *tx,
                &NewEvent {
                    environment_id: Some(f.environment_id),
                    deployment_id: None,
                    actor: &push.pusher,
                    kind: "push.received",
                    detail: detail(json!({
                        "delivery": delivery_row, "provider": provider.as_str(),
                        "delivery_id": delivery.delivery_id, "branch": push.branch,
                        "before": push.before, "after": push.after, "compare": push.compare,
                        "author": push.commit.author_name, "message": first_line(&push.commit.message),
                        "commits": push.commit_count, "not_started": reason,
                    })),
                    created_at: now,
                },
            )
            .await?;
            if let Some(reason) = reason {
                outcome
                    .not_started
                    .push((f.environment.clone(), reason.to_owned()));
            }
        }
        tx.commit().await?;
        for f in followers_of_branch.iter().filter(|f| f.pipeline.is_some()) {
            match self
                .start_run_for_push(f, &delivery, &push, delivery_row)
                .await
            {
                Ok(run_id) => outcome.started.push((f.environment.clone(), run_id)),
                Err(e) => {
                    tracing::warn!(environment = %f.environment, error = %e, "a push did not start the pipeline");
                    outcome
                        .not_started
                        .push((f.environment.clone(), e.to_string()));
                }
            }
        }
        Ok(outcome)
    }

    async fn start_run_for_push(
        &self,
        follower: &Follower,
        delivery: &Delivery,
        push: &switchyard_domain::webhook::Push,
        delivery_row: i64,
    ) -> Result<i64> {
        let env = super::environments::find_environment(self.store.reader(), &follower.environment)
            .await?;
        let started_by = format!("webhook:{}", delivery.provider.as_str());
        self.start_run(
            &env,
            &RunTrigger {
                trigger: "push",
                delivery_id: Some(delivery_row),
                commit: Some(&push.after),
                commit_message: &push.commit.message,
                author: &push.pusher,
                started_by: &started_by,
            },
        )
        .await
    }
}

/// The commits a push listed, when there are more than its head commit
/// (whose author and message the delivery keeps in columns of their own).
fn listed_beyond_head(push: &Push) -> Option<Json<Vec<PushedCommit>>> {
    match push.commits.as_slice() {
        [] => None,
        [only] if only.id == push.commit.id => None,
        listed => Some(Json(listed.iter().map(pushed).collect())),
    }
}

/// A listed commit as a delivery stores it.
fn pushed(commit: &CommitInfo) -> PushedCommit {
    PushedCommit {
        sha: commit.id.clone(),
        author: commit.author_name.clone(),
        message: commit.message.clone(),
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}
