-- How an environment's stack is shaped: its container and its CodeDeploy
-- deployment group settings. Defaults match what a new stack gets.
ALTER TABLE environments ADD COLUMN container_name TEXT NOT NULL DEFAULT 'web';
ALTER TABLE environments ADD COLUMN container_port INTEGER NOT NULL DEFAULT 80;
ALTER TABLE environments ADD COLUMN health_check_path TEXT NOT NULL DEFAULT '/';
ALTER TABLE environments ADD COLUMN desired_count INTEGER NOT NULL DEFAULT 2;
ALTER TABLE environments ADD COLUMN deployment_config TEXT NOT NULL DEFAULT 'CodeDeployDefault.ECSAllAtOnce';
ALTER TABLE environments ADD COLUMN ready_wait_minutes INTEGER;
ALTER TABLE environments ADD COLUMN ready_action TEXT NOT NULL DEFAULT 'CONTINUE_DEPLOYMENT'
    CHECK (ready_action IN ('CONTINUE_DEPLOYMENT', 'STOP_DEPLOYMENT'));
ALTER TABLE environments ADD COLUMN termination_wait_minutes INTEGER NOT NULL DEFAULT 5;
ALTER TABLE environments ADD COLUMN auto_rollback INTEGER NOT NULL DEFAULT 1 CHECK (auto_rollback IN (0, 1));
ALTER TABLE environments ADD COLUMN prod_url TEXT;
ALTER TABLE environments ADD COLUMN test_url TEXT;

-- One stack per environment; its current state. What happened to it is in
-- events, and the provisioning log of the latest operation is kept here.
CREATE TABLE stacks (
    environment_id INTEGER PRIMARY KEY REFERENCES environments (id),
    status         TEXT    NOT NULL CHECK (status IN ('provisioning', 'ready', 'failed', 'destroying', 'destroyed')),
    operation_id   TEXT    NOT NULL,
    log            TEXT    NOT NULL DEFAULT '',
    outputs        TEXT    NOT NULL DEFAULT '{}',
    started_by     TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER
) STRICT;
