//! What a deployment would change, drawn from the API's diff answer: the
//! unified diff with its lines marked, then the pushed commits. The view
//! and `partials/diff.html` stand alone, so any page can show a diff: put a
//! `DiffView` named `diff` in scope and include the partial.

use super::format::short_commit;
use crate::AppState;
use crate::api::diffs::diff_json;
use switchyard_api::diffs::EnvironmentDiff;
use switchyard_core::app::Actor;
use switchyard_core::app::diffs::Candidate;

/// The diff of `candidate` against what `environment` serves, or why there
/// is none: a page shows it rather than failing.
pub async fn diff_of(
    state: &AppState,
    actor: &Actor,
    environment: &str,
    candidate: &Candidate,
) -> DiffView {
    match state
        .app
        .environment_diff(actor, environment, candidate)
        .await
    {
        Ok(diff) => DiffView::of(&diff_json(diff)),
        Err(e) => DiffView::unavailable(e.to_string()),
    }
}

pub struct DiffView {
    /// "v2 (shop:2) against live v1 (shop:1)".
    pub title: String,
    pub no_changes: bool,
    pub lines: Vec<DiffLine>,
    pub commits: Vec<CommitLine>,
    /// Whether the commit list reaches the live commit.
    pub commits_complete: bool,
    /// Why there is no diff (nothing live yet, the cloud did not answer).
    pub unavailable: Option<String>,
}

pub struct DiffLine {
    /// A CSS class: "head", "hunk", "del", "add" or "ctx".
    pub kind: &'static str,
    pub text: String,
}

pub struct CommitLine {
    pub sha: String,
    pub message: String,
    pub author: String,
}

impl DiffView {
    pub fn of(answer: &EnvironmentDiff) -> DiffView {
        let side = |version: &Option<String>, image: &str| match version {
            Some(v) => format!("{v} ({image})"),
            None => image.to_owned(),
        };
        DiffView {
            title: format!(
                "{} against live {}",
                side(&answer.candidate.version, &answer.candidate.image),
                side(&answer.live.version, &answer.live.image)
            ),
            no_changes: answer.changes.is_empty(),
            lines: answer.unified.lines().map(DiffLine::of).collect(),
            commits: answer
                .commits
                .iter()
                .map(|c| CommitLine {
                    sha: short_commit(&c.sha),
                    message: c
                        .message
                        .as_deref()
                        .and_then(|m| m.lines().next())
                        .unwrap_or_default()
                        .to_owned(),
                    author: c.author.clone().unwrap_or_default(),
                })
                .collect(),
            commits_complete: answer.commits_complete,
            unavailable: None,
        }
    }

    /// A diff that could not be made, and why.
    pub fn unavailable(why: impl Into<String>) -> DiffView {
        DiffView {
            title: String::new(),
            no_changes: true,
            lines: Vec::new(),
            commits: Vec::new(),
            commits_complete: true,
            unavailable: Some(why.into()),
        }
    }
}

impl DiffLine {
    fn of(line: &str) -> DiffLine {
        let kind = if line.starts_with("---") || line.starts_with("+++") {
            "head"
        } else if line.starts_with("@@") {
            "hunk"
        } else if line.starts_with('-') {
            "del"
        } else if line.starts_with('+') {
            "add"
        } else {
            "ctx"
        };
        DiffLine {
            kind,
            text: line.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use askama::Template;
    use switchyard_api::diffs::{Commit, DiffSide};

    #[derive(Template)]
    #[template(source = "{% include \"partials/diff.html\" %}", ext = "html")]
    struct Partial {
        diff: DiffView,
    }

    fn answer() -> EnvironmentDiff {
        let side = |v: &str, image: &str| DiffSide {
            version: Some(v.into()),
            image: image.into(),
            task_definition_arn: None,
            commit: None,
        };
        EnvironmentDiff {
            environment: "shop".into(),
            live: side("v1", "shop:1"),
            candidate: side("v2", "shop:2"),
            changes: serde_json::from_str(
                r#"{"task_cpu":null,"task_memory":{"before":"1","after":"2"},
                "containers_added":[],"containers_removed":[],"containers":[]}"#,
            )
            .unwrap(),
            unified: "--- live\n+++ v2\n@@ container web @@\n-image: shop:1\n+image: shop:2\n+env A=<b>\n"
                .into(),
            commits: vec![Commit {
                sha: "a".repeat(40),
                author: Some("ann".into()),
                message: Some("Add A\n\nbody".into()),
            }],
            commits_complete: true,
        }
    }

    #[test]
    fn lines_are_marked_by_their_sign() {
        let view = DiffView::of(&answer());
        let kinds: Vec<&str> = view.lines.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, ["head", "head", "hunk", "del", "add", "add"]);
        assert_eq!(view.title, "v2 (shop:2) against live v1 (shop:1)");
        assert_eq!(view.commits[0].message, "Add A");
    }

    #[test]
    fn the_partial_escapes_values_and_lists_commits() {
        let html = Partial {
            diff: DiffView::of(&answer()),
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"class="del""#), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains(&"a".repeat(12)), "{html}");
        let html = Partial {
            diff: DiffView::unavailable("nothing is live yet"),
        }
        .render()
        .unwrap();
        assert!(html.contains("nothing is live yet"), "{html}");
        assert!(!html.contains("<pre"), "{html}");
    }
}
