-- A deployment of ECS's own controller may wait at several PAUSE gates,
-- each its own approval: `token` holds the hook id ContinueServiceDeployment
-- answers (as it holds a pipeline approval's token), `stage_name` the stage
-- the hook holds; approvers see when the hook times out and what ECS does then.
DROP INDEX approvals_per_deployment;
CREATE UNIQUE INDEX approvals_per_deployment ON approvals (deployment_id, COALESCE(token, ''))
    WHERE deployment_id IS NOT NULL;
ALTER TABLE approvals ADD COLUMN expires_at INTEGER;
ALTER TABLE approvals ADD COLUMN timeout_action TEXT CHECK (timeout_action IN ('ROLLBACK', 'CONTINUE'));
