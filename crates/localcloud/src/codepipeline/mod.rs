//! CodePipeline, `X-Amz-Target: CodePipeline_20150709.<Op>`: pipelines of
//! Source, Build, Manual approval and Deploy actions (CodeDeployToECS and
//! ECS) that really run on this machine.
//!
//! - `ops`: the operations; `declaration`: CreatePipeline's checks;
//! - `engine`: drives each execution stage by stage from its stored state
//!   (one driver per execution, level-triggered like the deployment engine);
//! - `source`, `build`, `deploy_codedeploy`, `deploy_ecs`: the work of each
//!   action type, run as tasks that report back through the state; a manual
//!   approval is only state.
//!
//! Local conventions (where AWS would use a service the local cloud lacks):
//! - Source: `RepositoryName` (CodeCommit) or `FullRepositoryId`
//!   (CodeStarSourceConnection) is a git URL or an absolute path that `git`
//!   can clone; the branch head, or the `COMMIT_ID` given to
//!   StartPipelineExecution, is checked out afresh for every execution.
//! - Build: there is no CodeBuild project API. `ProjectName` only names the
//!   build; the buildspec is `buildspec.local.yml` in the primary input
//!   artifact if it has one, else `buildspec.yml`. Commands run on the host
//!   with `sh` (or `bash` with `env.shell: bash`) in a fresh copy of the
//!   input, with the CODEBUILD_* variables set; the log is served at
//!   `GET /_localcloud/builds/{actionExecutionId}/log?offset=N`, which is the
//!   action's externalExecutionUrl.
//! - Artifacts are directories under the data dir
//!   (`pipeline-executions/<execution id>/artifacts/<action execution id>/<name>`),
//!   never deleted by the local cloud: a deployed `static:` image serves
//!   from one of them.
//! - Executions start only through StartPipelineExecution (AWS also starts
//!   one when a pipeline is created, and on source changes).

mod build;
mod buildspec;
mod declaration;
mod deploy_codedeploy;
mod deploy_ecs;
mod engine;
mod ops;
mod process;
mod source;
mod variables;

pub use engine::resume;
pub use ops::call;

use std::path::{Path, PathBuf};

/// Where an execution keeps its artifacts and work dirs.
fn execution_dir(data_dir: &Path, execution_id: &str) -> PathBuf {
    data_dir.join("pipeline-executions").join(execution_id)
}

/// The build log of a CodeBuild action execution; None for an id that is
/// not one (ids are UUIDs, so a path cannot be smuggled in).
pub fn build_log_path(data_dir: &Path, action_execution_id: &str) -> Option<PathBuf> {
    is_uuid(action_execution_id).then(|| {
        data_dir
            .join("builds")
            .join(format!("{action_execution_id}.log"))
    })
}

/// The route that serves a build's log, relative to the endpoint.
pub fn build_log_route(action_execution_id: &str) -> String {
    format!("/_localcloud/builds/{action_execution_id}/log")
}

/// `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`, the shape
/// of execution ids and approval tokens.
pub fn is_uuid(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(part, len)| {
            part.len() == len
                && part
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(is_uuid("0123abcd-0000-1111-2222-3333aaaabbbb"));
        assert!(!is_uuid("0123ABCD-0000-1111-2222-3333aaaabbbb"));
        assert!(!is_uuid("../../etc/passwd"));
        assert!(!is_uuid("0123abcd-0000-1111-2222"));
        assert!(build_log_path(Path::new("/d"), "..").is_none());
    }
}
